#!/usr/bin/env bash
# gotestwaf v0.5.8 against Palisade's WAF on loopback: attacks blocked and
# normal requests passed, per paranoia level of the default profile
# (internal/waf/gotestwaf_test.go; results in BENCHMARKS.md).
#
# gotestwaf is built from its own tools module (tools/gotestwaf) so that its
# dependencies stay out of Palisade's; its test cases and config are copied
# out of the module cache.
#
# Usage: bash scripts/gotestwaf.sh [LEVELS]     LEVELS e.g. 1,2,3,4 (default) or 1
#        GOTESTWAF_REPORTS=dir bash scripts/gotestwaf.sh   (keep the JSON reports)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "--- building gotestwaf (tools/gotestwaf)"
go build -C tools/gotestwaf -o "$work/gotestwaf" github.com/wallarm/gotestwaf/cmd/gotestwaf
src=$(go list -C tools/gotestwaf -m -f '{{.Dir}}' github.com/wallarm/gotestwaf)
cp -r "$src/testcases" "$work/testcases"
cp "$src/config.yaml" "$work/config.yaml"
chmod -R u+w "$work"

echo "--- gotestwaf against the WAF, paranoia levels ${1:-1,2,3,4}"
PALISADE_GOTESTWAF="$work/gotestwaf" PALISADE_GOTESTWAF_CASES="$work/testcases" \
	PALISADE_GOTESTWAF_PL="${1:-1,2,3,4}" PALISADE_GOTESTWAF_REPORTS="${GOTESTWAF_REPORTS:-}" \
	go test -count=1 -timeout 60m -run '^TestGotestwaf$' -v ./internal/waf
