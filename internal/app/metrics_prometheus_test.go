package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/app"
)

// prometheusBinary is the Prometheus server of the Debian package.
const prometheusBinary = "/usr/bin/prometheus"

// TestPrometheusScrapesMetrics: a real Prometheus scrapes /metrics with
// the admin key as Basic credentials and stores the API's counters: the
// series of the action called appears in its query API, and the job is up.
func TestPrometheusScrapesMetrics(t *testing.T) {
	bin := prometheusBinary
	if _, err := os.Stat(bin); err != nil {
		if p, lerr := exec.LookPath("prometheus"); lerr == nil {
			bin = p
		} else if os.Getenv("PALISADE_REQUIRE_TOOLS") == "1" {
			t.Fatalf("prometheus is not installed (apt-get install prometheus) and PALISADE_REQUIRE_TOOLS=1")
		} else {
			t.Skip("prometheus is not installed (apt-get install prometheus); set PALISADE_REQUIRE_TOOLS=1 to make this a failure")
		}
	}
	env := apitest.Start(t, apitest.WithBackend(app.BackendMemory))
	if _, err := env.Common(t, env.Admin, api.VersionPalisade, "DescribeAccounts", nil); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	promAddr := freeAddr(t)
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: palisade
    metrics_path: %s
    scheme: http
    basic_auth:
      username: %q
      password: %q
    static_configs:
      - targets: [%q]
`, app.MetricsPath, env.Admin.AccessKeyID, env.Admin.Secret, env.Endpoint)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "prometheus.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+promAddr)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				t.Logf("prometheus log:\n%s", b)
			}
		}
	})

	query := func(q string) ([]promSample, error) {
		resp, err := http.Get("http://" + promAddr + "/api/v1/query?query=" + url.QueryEscape(q))
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		var r struct {
			Status string `json:"status"`
			Error  string `json:"error"`
			Data   struct {
				Result []promSample `json:"result"`
			} `json:"data"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			return nil, fmt.Errorf("decode query answer: %w", err)
		}
		if r.Status != "success" {
			return nil, fmt.Errorf("query %s: %s", q, r.Error)
		}
		return r.Data.Result, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var last string
	for {
		select {
		case <-exited:
			t.Fatal("prometheus exited")
		case <-ctx.Done():
			t.Fatalf("no palisade_api_requests_total{action=\"DescribeAccounts\"} in Prometheus after 30 s; last: %s", last)
		case <-time.After(500 * time.Millisecond):
		}
		res, err := query(`palisade_api_requests_total{job="palisade",action="DescribeAccounts",code="OK"}`)
		if err != nil {
			last = err.Error()
			continue
		}
		if len(res) == 0 {
			last = "no series yet"
			continue
		}
		if v := res[0].value(); v != "1" {
			t.Errorf("palisade_api_requests_total{action=DescribeAccounts} = %s, want 1", v)
		}
		break
	}
	up, err := query(`up{job="palisade"}`)
	if err != nil {
		t.Fatal(err)
	}
	if len(up) != 1 || up[0].value() != "1" {
		t.Errorf("up{job=palisade} = %+v, want one series of 1", up)
	}
	// The Go runtime's collectors are scraped too.
	if g, err := query(`go_goroutines{job="palisade"}`); err != nil || len(g) != 1 {
		t.Errorf("go_goroutines: %v %+v", err, g)
	}
	// No series of the API names an account or a key.
	all, err := query(`{job="palisade",__name__=~"palisade_.*"}`)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range all {
		for k, v := range s.Metric {
			if strings.Contains(v, env.Admin.AccountID) || strings.Contains(v, env.Admin.AccessKeyID) {
				t.Errorf("series label %s=%q names the admin", k, v)
			}
		}
	}
}

// promSample is one series of an instant query's answer.
type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"` // [time, "value"]
}

func (s promSample) value() string {
	v, _ := s.Value[1].(string)
	return v
}

// freeAddr returns a loopback address with a port free at the time.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
