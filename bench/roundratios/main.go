// Command roundratios pools the per-round lines of
// BenchmarkInterleavedRatio (bench/dataplane) from one or more -test.v
// outputs and prints, for each ratio of the 1,000-rule program to no
// policy, the median, the quartiles and a 95% bootstrap interval of the
// median. The benchmark's own metrics are medians of one run; pooling the
// rounds of several runs is how BENCHMARKS.md states whether a goal is
// shown to be met.
//
//	go run ./bench/roundratios bench/results/dataplane-ratio-session18-2026-11-27.txt bench/results/dataplane-ratio-ctguard-2026-11-27.txt
package main

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"strconv"
)

// roundLine is one round of BenchmarkInterleavedRatio: both modes' rates
// and CPU microseconds per datagram and per connection.
var roundLine = regexp.MustCompile(`round: none ([\d.]+) pps \(([\d.]+) µs CPU each\) ([\d.]+) conns/s \(([\d.]+) µs\); compiled/1000 ([\d.]+) pps \(([\d.]+) µs\) ([\d.]+) conns/s \(([\d.]+) µs\)`)

// round holds one round's ratios, program over no policy: rates, and CPU
// costs inverted (no policy's cost over the program's), so that every
// ratio reads "fraction of the no-policy figure".
type round struct {
	pps, conns, pktCPU, connCPU float64
}

// parse reads the rounds of r.
func parse(r io.Reader) ([]round, error) {
	var out []round
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		m := roundLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		var v [8]float64
		for i := range v {
			f, err := strconv.ParseFloat(m[i+1], 64)
			if err != nil || f <= 0 {
				return nil, fmt.Errorf("round line %q: field %d is not a positive number", sc.Text(), i+1)
			}
			v[i] = f
		}
		out = append(out, round{pps: v[4] / v[0], conns: v[6] / v[2], pktCPU: v[1] / v[5], connCPU: v[3] / v[7]})
	}
	return out, sc.Err()
}

// median of a sorted slice.
func median(s []float64) float64 {
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// quantile of a sorted slice, by linear interpolation between closest
// ranks.
func quantile(s []float64, q float64) float64 {
	pos := q * float64(len(s)-1)
	i := int(pos)
	if i+1 >= len(s) {
		return s[len(s)-1]
	}
	return s[i] + (pos-float64(i))*(s[i+1]-s[i])
}

// bootstrap returns the 2.5% and 97.5% quantiles of the medians of n
// resamples of v (with replacement), with a fixed seed: the same input
// gives the same interval.
func bootstrap(v []float64, n int) (lo, hi float64) {
	r := rand.New(rand.NewPCG(1, 2))
	meds := make([]float64, n)
	sample := make([]float64, len(v))
	for i := range meds {
		for j := range sample {
			sample[j] = v[r.IntN(len(v))]
		}
		slices.Sort(sample)
		meds[i] = median(sample)
	}
	slices.Sort(meds)
	return quantile(meds, 0.025), quantile(meds, 0.975)
}

// summary is what is printed for one ratio.
type summary struct {
	median, q1, q3, lo, hi float64
}

func summarize(v []float64) summary {
	s := slices.Clone(v)
	slices.Sort(s)
	lo, hi := bootstrap(s, 5000)
	return summary{median: median(s), q1: quantile(s, 0.25), q3: quantile(s, 0.75), lo: lo, hi: hi}
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: roundratios FILE... (outputs of BenchmarkInterleavedRatio with -test.v)")
		os.Exit(2)
	}
	var rounds []round
	for _, name := range os.Args[1:] {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		rs, err := parse(f)
		f.Close()
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
			os.Exit(1)
		}
		rounds = append(rounds, rs...)
	}
	if len(rounds) < 2 {
		fmt.Fprintln(os.Stderr, "fewer than two rounds: run the benchmark with -test.v")
		os.Exit(1)
	}
	fmt.Printf("%d rounds; ratios of the 1,000-rule program to no policy\n", len(rounds))
	fmt.Printf("%-18s %7s %15s %24s\n", "ratio", "median", "quartiles", "95% interval of median")
	for _, c := range []struct {
		name string
		get  func(round) float64
	}{
		{"conns/s", func(r round) float64 { return r.conns }},
		{"conn CPU cost", func(r round) float64 { return r.connCPU }},
		{"UDP pps", func(r round) float64 { return r.pps }},
		{"UDP CPU cost", func(r round) float64 { return r.pktCPU }},
	} {
		v := make([]float64, len(rounds))
		for i, r := range rounds {
			v[i] = c.get(r)
		}
		s := summarize(v)
		fmt.Printf("%-18s %7.3f %7.3f-%-7.3f %11.3f-%.3f\n", c.name, s.median, s.q1, s.q3, s.lo, s.hi)
	}
}
