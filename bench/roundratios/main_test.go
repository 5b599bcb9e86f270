package main

import (
	"math"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	in := `    rate_test.go:536: policy none loaded in 18ms
    rate_test.go:555: round: none 400000 pps (4.00 µs CPU each) 50000 conns/s (30.0 µs); compiled/1000 360000 pps (5.00 µs) 45000 conns/s (40.0 µs)
BenchmarkInterleavedRatio-2   	      12	3781908073 ns/op	         0.9088 conn-cpu-ratio
    rate_test.go:555: round: none 100 pps (1 µs CPU each) 10 conns/s (2 µs); compiled/1000 200 pps (0.5 µs) 20 conns/s (4 µs)
`
	rs, err := parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []round{{pps: 0.9, conns: 0.9, pktCPU: 0.8, connCPU: 0.75}, {pps: 2, conns: 2, pktCPU: 2, connCPU: 0.5}}
	if len(rs) != len(want) {
		t.Fatalf("%d rounds, want %d", len(rs), len(want))
	}
	for i := range want {
		g, w := rs[i], want[i]
		if !near(g.pps, w.pps) || !near(g.conns, w.conns) || !near(g.pktCPU, w.pktCPU) || !near(g.connCPU, w.connCPU) {
			t.Errorf("round %d: %+v, want %+v", i, g, w)
		}
	}
	if _, err := parse(strings.NewReader("round: none 0 pps (1 µs CPU each) 1 conns/s (1 µs); compiled/1000 1 pps (1 µs) 1 conns/s (1 µs)")); err == nil {
		t.Error("a zero rate was accepted")
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		v              []float64
		median, q1, q3 float64
	}{
		{[]float64{5, 1, 3, 2, 4}, 3, 2, 4},
		{[]float64{4, 1, 3, 2}, 2.5, 1.75, 3.25},
		{[]float64{7, 7, 7}, 7, 7, 7},
	} {
		s := summarize(tc.v)
		if !near(s.median, tc.median) || !near(s.q1, tc.q1) || !near(s.q3, tc.q3) {
			t.Errorf("%v: median %v quartiles %v-%v, want %v %v-%v", tc.v, s.median, s.q1, s.q3, tc.median, tc.q1, tc.q3)
		}
		if s.lo > s.median || s.hi < s.median {
			t.Errorf("%v: interval %v-%v does not hold the median %v", tc.v, s.lo, s.hi, s.median)
		}
	}
	// The same input gives the same interval (a fixed seed).
	v := []float64{0.8, 0.95, 0.7, 1.1, 0.9, 0.85, 1.0, 0.6}
	a, b := summarize(v), summarize(v)
	if a != b {
		t.Errorf("two summaries of one input differ: %+v %+v", a, b)
	}
}
