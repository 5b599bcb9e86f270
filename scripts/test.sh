#!/usr/bin/env bash
# Installs what Palisade's tests need, then runs them all: format and vet
# checks, the unit, API (official SDK), kernel (real namespaces, nftables,
# conntrack; needs root) and end-to-end tests with the race detector, and a
# short run of every fuzz target.
#
# Usage: bash scripts/test.sh            (everything)
#        FUZZTIME=200000x bash scripts/test.sh
#
# The fuzz budget is a number of executions, not a duration: with a
# duration, Go 1.26's fuzz coordinator can report its own deadline as a
# failure ("context deadline exceeded", no failing input) when a worker is
# busy at the end (golang/go#75804, fixed in Go 1.27).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:$(go env GOPATH 2>/dev/null || echo /root/go)/bin"

FUZZTIME=${FUZZTIME:-20000x}

# Tools the kernel tests call; installed from Debian when missing.
need=()
command -v nft >/dev/null       || need+=(nftables)
command -v ip >/dev/null        || need+=(iproute2)
command -v conntrack >/dev/null || need+=(conntrack)
command -v ncat >/dev/null      || need+=(ncat)
command -v ping >/dev/null      || need+=(iputils-ping)
command -v nsenter >/dev/null   || need+=(util-linux)
command -v nfcapd >/dev/null    || need+=(nfdump)
command -v prometheus >/dev/null || need+=(prometheus)
command -v chromium >/dev/null  || need+=(chromium)
if ((${#need[@]})); then
	if [[ $(id -u) -ne 0 ]]; then
		echo "missing ${need[*]}: run as root so that they can be installed" >&2
		exit 1
	fi
	echo "--- installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# Debian's prometheus package ships a service: the tests run their own
	# Prometheus, so nothing is started at install (policy-rc.d says no,
	# the Debian way) and the service is not enabled for the next boot.
	rcd=
	if [[ ! -e /usr/sbin/policy-rc.d ]]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		rcd=1
	fi
	rc=0
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null || rc=$?
	[[ -z $rcd ]] || rm -f /usr/sbin/policy-rc.d
	((rc == 0)) || exit "$rc"
	if [[ " ${need[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null; then
		systemctl disable --now prometheus >/dev/null 2>&1 || true
	fi
fi
if [[ $(id -u) -ne 0 ]]; then
	echo "the kernel data-plane tests need root (network namespaces, nftables); run as root" >&2
	exit 1
fi
modprobe nf_conntrack 2>/dev/null || true

echo "--- npm ci (test/console: playwright-core drives Debian's chromium; it downloads no browser)"
(cd test/console && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)

echo "--- go mod download"
go mod download

echo "--- gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [[ -n $unformatted ]]; then
	echo "not gofmt-ed:" >&2
	echo "$unformatted" >&2
	exit 1
fi

echo "--- go vet"
go vet ./...

echo "--- go test -race"
# Tests that need a tool installed above fail instead of skipping.
export PALISADE_REQUIRE_TOOLS=1
go test -race -count=1 -timeout 20m ./...

echo "--- WAF: OWASP CRS regression suite through go-ftw, and its requests through pruned and unpruned engines (about two minutes)"
PALISADE_CRS_REGRESSION=1 go test -count=1 -timeout 20m -run '^(TestCRSRegression|TestParanoiaPruningEquivalent)$' ./internal/waf

echo "--- WAF: gotestwaf detection goal at paranoia level 1"
bash scripts/gotestwaf.sh 1

echo "--- fuzz ($FUZZTIME each)"
# Every Fuzz target, found in the test files, run briefly.
grep -rl --include='*_test.go' '^func Fuzz' internal | while read -r file; do
	pkg=./$(dirname "$file")
	for target in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$file" | cut -d' ' -f2); do
		echo "fuzz $pkg $target"
		go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$pkg"
	done
done

echo "--- all tests passed"
