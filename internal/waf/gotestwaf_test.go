package waf

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/waf/wafrule"
)

// TestGotestwaf runs gotestwaf (wallarm/gotestwaf v0.5.8, built from the
// tools/gotestwaf module) against Palisade's WAF proxy on loopback for
// each paranoia level of the default profile (Block, anomaly threshold 5)
// and reports the share of attacks blocked and of normal requests passed.
// A request counts as blocked when the WAF answers its block status (405)
// and as passed when the upstream's 200 comes through.
//
// It needs the gotestwaf binary and a copy of its testcases folder with
// its config.yaml beside it, so scripts/gotestwaf.sh runs it:
//
//	PALISADE_GOTESTWAF=/path/to/gotestwaf PALISADE_GOTESTWAF_CASES=/path/to/testcases \
//	  [PALISADE_GOTESTWAF_PL=1,2] go test ./internal/waf -run Gotestwaf -v -timeout 60m
//
// The goal of issue 8 (paranoia level 1: at least 55% of attacks blocked
// with at least 95% of normal requests passed) is checked at level 1.
func TestGotestwaf(t *testing.T) {
	bin, cases := os.Getenv("PALISADE_GOTESTWAF"), os.Getenv("PALISADE_GOTESTWAF_CASES")
	if bin == "" || cases == "" {
		t.Skip("set PALISADE_GOTESTWAF and PALISADE_GOTESTWAF_CASES (scripts/gotestwaf.sh does)")
	}
	levels := []int{1, 2, 3, 4}
	if s := os.Getenv("PALISADE_GOTESTWAF_PL"); s != "" {
		levels = nil
		for _, f := range strings.Split(s, ",") {
			pl, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				t.Fatalf("PALISADE_GOTESTWAF_PL: %v", err)
			}
			levels = append(levels, pl)
		}
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "ok")
	}))
	defer up.Close()
	u, _ := url.Parse(up.URL)
	type row struct {
		pl                    int
		blocked, attacks      int
		passed, normal        int
		blockedPct, passedPct float64
		took                  time.Duration
	}
	var rows []row
	for _, pl := range levels {
		px, err := NewProxy(Options{ObjectID: "gotestwaf", Upstream: u, Cache: testCache},
			Policy{Profile: Profile{Action: wafrule.Block, ParanoiaLevel: pl}})
		if err != nil {
			t.Fatal(err)
		}
		front := httptest.NewServer(px)
		dir := t.TempDir()
		start := time.Now()
		cmd := exec.Command(bin,
			"--url", front.URL+"/",
			"--testCasesPath", cases,
			"--configPath", filepath.Join(filepath.Dir(cases), "config.yaml"),
			"--blockStatusCodes", strconv.Itoa(DefaultBlockStatus),
			"--passStatusCodes", "200,404",
			"--workers", "4", "--sendDelay", "0", "--randomDelay", "1", // 0 panics in v0.5.8
			"--skipWAFIdentification", "--noEmailReport", "--wafName", "palisade",
			"--reportFormat", "json", "--reportPath", dir, "--reportName", "report",
			"--logLevel", "warn")
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		front.Close()
		if err != nil {
			t.Fatalf("gotestwaf at PL%d: %v\n%s", pl, err, out)
		}
		if keep := os.Getenv("PALISADE_GOTESTWAF_REPORTS"); keep != "" {
			// Keep the full report (every payload and its verdict).
			rb, _ := os.ReadFile(filepath.Join(dir, "report.json"))
			_ = os.WriteFile(filepath.Join(keep, fmt.Sprintf("gotestwaf-pl%d.json", pl)), rb, 0o644)
		}
		rep, err := readGotestwafReport(filepath.Join(dir, "report.json"))
		if err != nil {
			t.Fatalf("PL%d: %v\n%s", pl, err, out)
		}
		r := row{pl: pl, took: time.Since(start),
			blocked: rep.Summary.TruePositive.Summary.Blocked, attacks: rep.Summary.TruePositive.Summary.Blocked + rep.Summary.TruePositive.Summary.Bypassed,
			passed: rep.Summary.TrueNegative.Summary.Bypassed, normal: rep.Summary.TrueNegative.Summary.Blocked + rep.Summary.TrueNegative.Summary.Bypassed}
		r.blockedPct = 100 * float64(r.blocked) / float64(max(r.attacks, 1))
		r.passedPct = 100 * float64(r.passed) / float64(max(r.normal, 1))
		rows = append(rows, r)
		t.Logf("PL%d: attacks blocked %d/%d (%.1f%%), normal requests passed %.1f%% of %d; unresolved %d+%d; %v",
			pl, r.blocked, r.attacks, r.blockedPct, r.passedPct, r.normal,
			rep.Summary.TruePositive.Summary.Unresolved, rep.Summary.TrueNegative.Summary.Unresolved, r.took.Round(time.Second))
	}
	var b strings.Builder
	b.WriteString("| Paranoia level | attacks blocked | normal requests passed |\n|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %d | %.1f%% (%d of %d) | %.1f%% (of %d) |\n", r.pl, r.blockedPct, r.blocked, r.attacks, r.passedPct, r.normal)
	}
	t.Logf("gotestwaf v0.5.8 against Palisade's WAF (default profile, Block):\n%s", b.String())
	for _, r := range rows {
		if r.pl == 1 && (r.blockedPct < 55 || r.passedPct < 95) {
			t.Errorf("PL1: %.1f%% of attacks blocked, %.1f%% of normal requests passed: want at least 55%% and 95%%", r.blockedPct, r.passedPct)
		}
	}
}

type gotestwafStats struct {
	Sent       int `json:"total_sent"`
	Blocked    int `json:"blocked_tests"`
	Bypassed   int `json:"bypassed_tests"`
	Unresolved int `json:"unresolved_tests"`
	Failed     int `json:"failed_tests"`
}

type gotestwafReport struct {
	Summary struct {
		TruePositive struct {
			Summary gotestwafStats `json:"summary"`
		} `json:"true_positive_tests"`
		TrueNegative struct {
			Summary gotestwafStats `json:"summary"`
		} `json:"true_negative_tests"`
	} `json:"summary"`
}

func readGotestwafReport(p string) (*gotestwafReport, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var r gotestwafReport
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return &r, nil
}
