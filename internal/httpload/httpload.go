// Package httpload is the HTTP load generator of the WAF benchmarks: the
// requests of issue 8's performance goal (a small GET and a 16 KiB form
// POST) sent by concurrent keep-alive clients, with requests/s and p99
// latency. It is shared by the benchmark of Palisade's WAF
// (internal/waf) and the baseline of Coraza's own middleware
// (bench/wafbaseline), so that both load their targets the same way.
package httpload

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Kinds are the requests of the goal: "get" and "post16k".
var Kinds = []string{"get", "post16k"}

// Path is the target of both requests.
const Path = "/products/42?page=2&sort=price"

// Client is a keep-alive client for one load.
func Client() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
}

// Sender returns a function sending one request of kind (get or post16k)
// to base with client and checking that it passed (status 200).
func Sender(client *http.Client, base, kind string) func() error {
	target := base + Path
	form := Form16K()
	return func() error {
		var req *http.Request
		if kind == "get" {
			req, _ = http.NewRequest("GET", target, nil)
		} else {
			req, _ = http.NewRequest("POST", target, strings.NewReader(form))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		req.Header.Set("User-Agent", "Mozilla/5.0 (bench)")
		req.Header.Set("Accept", "text/html")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("%s %s: status %d", req.Method, base, resp.StatusCode)
		}
		return nil
	}
}

// Load runs clients concurrent senders of kind against base for d and
// returns requests/s and the p99 latency in seconds.
func Load(base, kind string, clients int, d time.Duration) (rps, p99 float64, err error) {
	client := Client()
	defer client.CloseIdleConnections()
	lat := make([][]time.Duration, clients)
	errs := make([]error, clients)
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for i := range clients {
		wg.Go(func() {
			send := Sender(client, base, kind)
			for time.Now().Before(deadline) {
				t := time.Now()
				if err := send(); err != nil {
					errs[i] = err
					return
				}
				lat[i] = append(lat[i], time.Since(t))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	for _, err := range errs {
		if err != nil {
			return 0, 0, err
		}
	}
	all := slices.Concat(lat...)
	if len(all) == 0 {
		return 0, 0, fmt.Errorf("no request to %s completed in %v", base, d)
	}
	slices.Sort(all)
	return float64(len(all)) / elapsed.Seconds(), all[(len(all)*99)/100].Seconds(), nil
}

// Median is the median of v (0 for none).
func Median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Form16K is a 16 KiB urlencoded form of plain prose in 16 fields, the
// "16 KiB form POST" of the performance goal.
func Form16K() string {
	words := strings.Fields("the customer asked about delivery times for the blue chair and whether a second cushion could be added before shipping next week thanks again for the quick answer kind regards from our small team in the north")
	var b strings.Builder
	for f := 0; b.Len() < 16<<10; f++ {
		if f > 0 {
			b.WriteByte('&')
		}
		fmt.Fprintf(&b, "field%02d=", f)
		for i := 0; i < 170 && b.Len() < 16<<10; i++ {
			if i > 0 {
				b.WriteByte('+')
			}
			b.WriteString(words[(f*7+i)%len(words)])
		}
	}
	return b.String()[:16<<10]
}

// Ratios returns a[i]/b[i] for each round.
func Ratios(a, b []float64) []float64 {
	out := make([]float64, len(a))
	for i := range a {
		out[i] = a[i] / b[i]
	}
	return out
}

// Round loads targets[0] and targets[1] in turn for d each, the first
// one first in even rounds and last in odd ones, so that both see the
// same machine load; it appends each side's requests/s and p99 to rps and
// p99.
func Round(round int, targets [2]string, kind string, clients int, d time.Duration, rps, p99 *[2][]float64) error {
	for i := range 2 {
		which := (i + round) % 2
		r, p, err := Load(targets[which], kind, clients, d)
		if err != nil {
			return err
		}
		rps[which] = append(rps[which], r)
		p99[which] = append(p99[which], p)
	}
	return nil
}

// Report reports the medians over rounds of each side's requests/s and
// p99 latency, named after sides (e.g. "bare" and "waf"), and the medians
// of the per-round ratios: requests/s of the second side over the first,
// and p99 of the first over the second (1 when equal, lower when the
// second is slower).
func Report(b *testing.B, sides [2]string, rps, p99 [2][]float64) {
	for i, side := range sides {
		b.ReportMetric(Median(rps[i]), side+"-req/s")
		b.ReportMetric(Median(p99[i])*1e3, side+"-p99-ms")
	}
	b.ReportMetric(Median(Ratios(rps[1], rps[0])), "rps-ratio")
	b.ReportMetric(Median(Ratios(p99[0], p99[1])), "p99-ratio")
}
