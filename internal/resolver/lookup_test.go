package resolver

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// zoneServer serves a fixed zone on UDP and TCP: answers by name (lower
// case, with the final dot); a name it lacks is NXDOMAIN. "servfail." and
// names under it fail; "big.example." has more A records than a UDP
// answer holds, so its UDP answer is truncated.
func zoneServer(t *testing.T, answers map[string][]dns.RR) string {
	t.Helper()
	pc, ln, addr := listen(t)
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg).SetReply(r)
		name := dns.CanonicalName(r.Question[0].Name)
		rrs, ok := answers[name]
		switch {
		case strings.HasSuffix(name, "servfail."):
			m.Rcode = dns.RcodeServerFailure
		case !ok:
			m.Rcode = dns.RcodeNameError
		default:
			m.Answer = rrs
		}
		if _, udp := w.LocalAddr().(*net.UDPAddr); udp {
			m.Truncate(dns.MinMsgSize)
		}
		_ = w.WriteMsg(m)
	})
	for _, s := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		go func() { _ = s.ActivateAndServe() }()
		t.Cleanup(func() { _ = s.Shutdown() })
	}
	return addr
}

func rrA(name, addr string) dns.RR {
	return &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP(addr)}
}

func rrCNAME(name, target string) dns.RR {
	return &dns.CNAME{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: 60}, Target: target}
}

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func TestLookupA(t *testing.T) {
	var big []dns.RR
	var bigWant []netip.Addr
	for i := range 60 {
		a := netip.AddrFrom4([4]byte{198, 51, 100, byte(i + 1)})
		big = append(big, rrA("big.example.", a.String()))
		bigWant = append(bigWant, a)
	}
	up := zoneServer(t, map[string][]dns.RR{
		"www.example.com.": {rrA("www.example.com.", "192.0.2.2"), rrA("www.example.com.", "192.0.2.1"), rrA("www.example.com.", "192.0.2.2")},
		// A CNAME chain within the answer, and a record of another name
		// that is not the question's.
		"cdn.example.com.": {rrCNAME("cdn.example.com.", "edge.example.net."), rrCNAME("edge.example.net.", "pop1.example.net."),
			rrA("pop1.example.net.", "203.0.113.7"), rrA("unrelated.example.org.", "203.0.113.99")},
		"nodata.example.com.": {},
		"big.example.":        big,
	})
	dead, deadLn, deadAddr := listen(t) // a port where nothing answers
	dead.Close()
	deadLn.Close()
	ctx := context.Background()
	const timeout = 300 * time.Millisecond
	if r, _, err := (&dns.Client{Timeout: time.Second}).Exchange(new(dns.Msg).SetQuestion("big.example.", dns.TypeA), up); err != nil || !r.Truncated {
		t.Fatalf("the fixture's UDP answer for big.example is not truncated: %v %v", r, err)
	}

	tests := []struct {
		name     string
		upstream []string
		want     []netip.Addr
		err      string // a substring of the error; "" = none
	}{
		{"www.example.com", []string{up}, addrs("192.0.2.1", "192.0.2.2"), ""},
		{"WWW.Example.COM.", []string{up}, addrs("192.0.2.1", "192.0.2.2"), ""},
		{"cdn.example.com", []string{up}, addrs("203.0.113.7"), ""},
		{"nodata.example.com", []string{up}, nil, ""},
		{"nxdomain.example.com", []string{up}, nil, ""},
		{"big.example", []string{up}, bigWant, ""}, // truncated over UDP, whole over TCP
		// The first server does not answer: the next does.
		{"www.example.com", []string{deadAddr, up}, addrs("192.0.2.1", "192.0.2.2"), ""},
		{"x.servfail", []string{up}, nil, up + ": SERVFAIL"},
		{"www.example.com", []string{deadAddr}, nil, deadAddr + ": "},
		{"www.example.com", nil, nil, ErrNoUpstream.Error()},
	}
	for _, tc := range tests {
		got, err := LookupA(ctx, tc.upstream, tc.name, timeout)
		if tc.err == "" {
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("LookupA(%s, %v) = %v, %v; want %v", tc.name, tc.upstream, got, err, tc.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) || got != nil {
			t.Errorf("LookupA(%s, %v) = %v, %v; want an error with %q", tc.name, tc.upstream, got, err, tc.err)
		}
	}

	// An unchanged failure reads the same every time (the store keeps
	// the text: a new text would be a change).
	_, e1 := LookupA(ctx, []string{deadAddr}, "www.example.com", timeout)
	_, e2 := LookupA(ctx, []string{deadAddr}, "www.example.com", timeout)
	if e1 == nil || e2 == nil || e1.Error() != e2.Error() {
		t.Errorf("the same failure twice: %v / %v", e1, e2)
	}

	// A server that never answers: the lookup gives up after timeout.
	silent, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	start := time.Now()
	_, err = LookupA(ctx, []string{silent.LocalAddr().String()}, "www.example.com", timeout)
	if err == nil || !strings.Contains(err.Error(), "timed out") || time.Since(start) > 5*time.Second {
		t.Errorf("silent server: %v after %v", err, time.Since(start))
	}

	// A cancelled context ends the lookup with its error.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := LookupA(cctx, []string{up}, "www.example.com", timeout); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// TestLookupACancelled: a lookup waiting on a server that does not answer
// ends as soon as its context does, not at the timeout.
func TestLookupACancelled(t *testing.T) {
	silent, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err = LookupA(ctx, []string{silent.LocalAddr().String()}, "www.example.com", time.Minute)
	if !errors.Is(err, context.Canceled) || time.Since(start) > 10*time.Second {
		t.Errorf("cancelled after 100 ms: %v after %v", err, time.Since(start))
	}
}
