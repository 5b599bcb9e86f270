package kernel_test

import (
	"context"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/apiclient"
	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/app"
	"github.com/palisade-project/palisade/internal/probe"
)

// BenchmarkWAFSteered measures small GETs from the internet side (the
// root namespace) to a web server in an instance, through the instance's
// EIP: on a port the WAF does not protect (direct), on one it protects
// with a template whose mode is off (the steered proxy path without the
// WAF) and on one it protects with the default template (CRS paranoia 1,
// Block); the three alternate round by round (order alternating too), 8
// kept-alive clients for 2 s each. It reports the medians of the rates
// and of the per-round ratios. This is the whole kernel path of issue 8's
// feature (tproxy, the WAF, the transparent upstream connection, security
// groups on it), where internal/waf's BenchmarkWAFRatio is the proxy
// alone on loopback:
//
//	go test -c -o /tmp/kbench ./test/kernel && /tmp/kbench -test.run '^$' -test.bench WAFSteered -test.benchtime 7x
func BenchmarkWAFSteered(b *testing.B) {
	requireKernel(b)
	env := apitest.Start(b, apitest.WithBackend(app.BackendMemory), apitest.WithAgent(randTag(b)))
	w := &eipWorld{world: newWorld(b, env)}
	vpcID := w.mustVPC("10.9.0.0/16")
	vsw := w.mustVSwitch(vpcID, "10.9.1.0/24")
	w.mustGroup("web", vpcID, "normal", "")
	w.authorize("web", ruleSpec{proto: "tcp", ports: "80/80", peer: "0.0.0.0/0", policy: "accept", priority: 5})
	w.authorize("web", ruleSpec{proto: "tcp", ports: "8080/8081", peer: "0.0.0.0/0", policy: "accept", priority: 5})
	w.run("web1", vsw, "10.9.1.11", "web")
	w.waitRunning()
	for _, port := range []int{80, 8080, 8081} {
		var ln net.Listener
		if err := probe.InNetns(w.ids["web1"], func() error {
			var err error
			ln, err = net.Listen("tcp4", fmt.Sprintf(":%d", port))
			return err
		}); err != nil {
			b.Fatal(err)
		}
		srv := &nethttp.Server{Handler: nethttp.HandlerFunc(func(rw nethttp.ResponseWriter, _ *nethttp.Request) { io.WriteString(rw, "ok") })}
		go srv.Serve(ln) //nolint:errcheck // ends with Close
		b.Cleanup(func() { srv.Close() })
	}
	eipID, eip := w.allocate()
	w.associate(eipID, "web1")
	w.waitInUse(eipID)
	call := func(action string, p map[string]string) map[string]any {
		resp, err := env.Common(b, env.Admin, apiclient.VersionPalisade, action, p)
		if err != nil {
			b.Fatalf("%s: %v", action, err)
		}
		return resp
	}
	call("CreateWafProtection", map[string]string{"InstanceId": w.ids["web1"], "Port": "80"})
	off := call("CreateWafTemplate", map[string]string{"Name": "off", "Mode": "off"})["TemplateId"].(string)
	call("CreateWafProtection", map[string]string{"InstanceId": w.ids["web1"], "Port": "8081", "TemplateId": off})
	w.settle()
	const path = "/products/42?page=2&sort=price"
	modes := []string{"direct", "proxy", "waf"}
	urls := []string{fmt.Sprintf("http://%s:8080%s", eip, path), fmt.Sprintf("http://%s:8081%s", eip, path), fmt.Sprintf("http://%s:80%s", eip, path)}
	for _, u := range urls { // both paths answer before anything is measured
		var err error
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if _, err = steeredLoad(u, 1, 50*time.Millisecond); err == nil {
				break
			}
		}
		if err != nil {
			b.Fatalf("%s: %v", u, err)
		}
	}
	rates := make([][]float64, len(modes))
	var wafProxy, wafDirect []float64
	b.ResetTimer()
	for round := range b.N {
		rps := make([]float64, len(modes))
		for i := range modes {
			m := i
			if round%2 == 1 {
				m = len(modes) - 1 - i
			}
			r, err := steeredLoad(urls[m], 8, 2*time.Second)
			if err != nil {
				b.Fatal(err)
			}
			rps[m] = r
			rates[m] = append(rates[m], r)
		}
		wafProxy, wafDirect = append(wafProxy, rps[2]/rps[1]), append(wafDirect, rps[2]/rps[0])
		b.Logf("round: direct %.0f req/s, steered without WAF %.0f req/s, through the WAF %.0f req/s", rps[0], rps[1], rps[2])
	}
	for m, name := range modes {
		b.ReportMetric(medianOf(rates[m]), name+"-req/s")
	}
	b.ReportMetric(medianOf(wafProxy), "waf/proxy")
	b.ReportMetric(medianOf(wafDirect), "waf/direct")
}

// steeredLoad sends GETs to u from n kept-alive clients (one connection
// each) for d and returns the rate of 200 answers.
func steeredLoad(u string, n int, d time.Duration) (float64, error) {
	var ok atomic.Int64
	var errOnce sync.Once
	var firstErr error
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	start := time.Now()
	for range n {
		wg.Go(func() {
			tr := &nethttp.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1}
			defer tr.CloseIdleConnections()
			c := &nethttp.Client{Transport: tr, Timeout: 5 * time.Second}
			for ctx.Err() == nil {
				resp, err := c.Get(u)
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
				io.Copy(io.Discard, resp.Body) //nolint:errcheck // drained
				resp.Body.Close()
				if resp.StatusCode != nethttp.StatusOK {
					errOnce.Do(func() { firstErr = fmt.Errorf("GET %s: %s", u, resp.Status) })
					return
				}
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(ok.Load()) / time.Since(start).Seconds(), firstErr
}

func medianOf(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}
