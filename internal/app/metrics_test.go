package app_test

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/app"
)

// scrapeMetrics GETs /metrics with Basic credentials (none when id is
// empty) and returns the status, the challenge and the body.
func scrapeMetrics(t *testing.T, env *apitest.Env, id, secret string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+env.Endpoint+app.MetricsPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	if id != "" {
		req.SetBasicAuth(id, secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), string(body)
}

// TestMetricsEndpointAuth: /metrics on the API listener answers only the
// full keys of the admin account (HTTP Basic: key ID and secret); no or
// wrong credentials get 401 with a challenge, another account's key and
// an agent key 403. No secret reaches the log.
func TestMetricsEndpointAuth(t *testing.T) {
	logs := &syncBuffer{}
	env := apitest.Start(t, apitest.WithBackend(app.BackendMemory),
		apitest.WithLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	bob := env.NewAccount(t, "bob")
	out, err := env.Common(t, env.Admin, api.VersionPalisade, "CreateAccessKey", map[string]string{"AgentZoneId": "local-b"})
	if err != nil {
		t.Fatal(err)
	}
	agentID, agentSecret := out["AccessKeyId"].(string), out["AccessKeySecret"].(string)
	// A call to count.
	if _, err := env.Common(t, env.Admin, api.VersionPalisade, "DescribeAccounts", nil); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name       string
		id, secret string
		status     int
	}{
		{"no credentials", "", "", http.StatusUnauthorized},
		{"unknown key", "LTAInosuchkey", "whatever", http.StatusUnauthorized},
		{"admin key, wrong secret", env.Admin.AccessKeyID, "wrong-" + env.Admin.Secret, http.StatusUnauthorized},
		{"admin key, empty secret", env.Admin.AccessKeyID, "", http.StatusUnauthorized},
		{"another account's key", bob.AccessKeyID, bob.Secret, http.StatusForbidden},
		{"agent key of the admin", agentID, agentSecret, http.StatusForbidden},
		{"agent key, wrong secret", agentID, "wrong", http.StatusUnauthorized},
		{"admin key", env.Admin.AccessKeyID, env.Admin.Secret, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, challenge, body := scrapeMetrics(t, env, tc.id, tc.secret)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, body)
			}
			wantChallenge := ""
			if status == http.StatusUnauthorized {
				wantChallenge = `Basic realm="palisade metrics"`
			}
			if challenge != wantChallenge {
				t.Errorf("WWW-Authenticate %q, want %q", challenge, wantChallenge)
			}
			if status != http.StatusOK {
				if strings.Contains(body, "palisade_api_requests_total") {
					t.Errorf("refused request got metrics: %s", body)
				}
				return
			}
			for _, want := range []string{
				`palisade_api_requests_total{action="DescribeAccounts",code="OK",version="2026-11-01"} 1`,
				`palisade_api_request_duration_seconds_count{action="DescribeAccounts",version="2026-11-01"} 1`,
				"go_goroutines ",
				"process_resident_memory_bytes ",
			} {
				if !strings.Contains(body, want) {
					t.Errorf("metrics lack %q", want)
				}
			}
			for _, secret := range []string{env.Admin.Secret, bob.AccountID, agentID} {
				if strings.Contains(body, secret) {
					t.Errorf("metrics show %q", secret)
				}
			}
		})
	}
	for _, secret := range []string{env.Admin.Secret, bob.Secret, agentSecret} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("a secret is in the log")
		}
	}
}
