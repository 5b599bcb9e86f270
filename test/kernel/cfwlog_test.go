package kernel_test

import (
	"fmt"
	"io"
	nethttp "net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/app"
)

// firewallLogs waits up to 10 s for the Cloud Firewall traffic logs of
// account c that match params (DescribeFirewallLogs) to include one for
// which ok holds, and returns every log of the last answer.
func firewallLogs(t testing.TB, env *apitest.Env, c apitest.Creds, params map[string]string, ok func(map[string]any) bool) []map[string]any {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		out, err := env.Common(t, c, api.VersionPalisade, "DescribeFirewallLogs", params)
		if err != nil {
			t.Fatalf("DescribeFirewallLogs %v: %v", params, err)
		}
		raw, _ := out["Logs"].([]any)
		var logs []map[string]any
		found := false
		for _, r := range raw {
			if m, isMap := r.(map[string]any); isMap {
				logs = append(logs, m)
				found = found || ok(m)
			}
		}
		if found {
			return logs
		}
		if time.Now().After(deadline) {
			t.Fatalf("DescribeFirewallLogs %v: no matching log after 10 s; got %v", params, logs)
		}
	}
}

// logField is a log's field as text (numbers without a fraction).
func logField(m map[string]any, k string) string {
	switch v := m[k].(type) {
	case float64:
		return fmt.Sprint(int64(v))
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

// agentReconciles reads palisade_agent_reconciles_total (both results) from
// the server's metrics endpoint with the admin's key.
func agentReconciles(t testing.TB, env *apitest.Env) float64 {
	t.Helper()
	req, err := nethttp.NewRequest(nethttp.MethodGet, "http://"+env.Endpoint+app.MetricsPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(env.Admin.AccessKeyID, env.Admin.Secret)
	resp, err := nethttp.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != nethttp.StatusOK {
		t.Fatalf("metrics: %d %v", resp.StatusCode, err)
	}
	var n float64
	for _, line := range strings.Split(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, "palisade_agent_reconciles_total{"); ok {
			if i := strings.LastIndexByte(rest, ' '); i >= 0 {
				v, err := strconv.ParseFloat(rest[i+1:], 64)
				if err != nil {
					t.Fatalf("metrics line %q: %v", line, err)
				}
				n += v
			}
		}
	}
	return n
}
