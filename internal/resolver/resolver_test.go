package resolver

import (
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// listen opens a UDP and a TCP socket on one loopback port.
func listen(t *testing.T) (net.PacketConn, net.Listener, string) {
	t.Helper()
	for range 10 {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := pc.LocalAddr().String()
		ln, err := net.Listen("tcp4", addr)
		if err != nil {
			pc.Close()
			continue
		}
		return pc, ln, addr
	}
	t.Fatal("no port free for both UDP and TCP")
	return nil, nil, ""
}

// upstream answers every A question with 192.0.2.1.
func upstream(t *testing.T) string {
	t.Helper()
	pc, ln, addr := listen(t)
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg).SetReply(r)
		m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 1)})
		_ = w.WriteMsg(m)
	})
	for _, s := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		go func() { _ = s.ActivateAndServe() }()
		t.Cleanup(func() { _ = s.Shutdown() })
	}
	return addr
}

func TestResolver(t *testing.T) {
	up := upstream(t)
	dead, deadLn, deadAddr := listen(t) // a port where nothing answers
	dead.Close()
	deadLn.Close()
	pc, ln, addr := listen(t)
	s := Serve(Config{Zones: []string{"privatelink.palisade.local"}, Upstream: []string{deadAddr, up}, Timeout: 300 * time.Millisecond}, pc, ln)
	defer s.Close()
	s.SetRecords(Records{"EP-1.epsrv-1.local.privatelink.palisade.local": {netip.MustParseAddr("10.0.1.5"), netip.MustParseAddr("10.0.2.5")}})

	ask := func(net, name string, qtype uint16) *dns.Msg {
		t.Helper()
		m := new(dns.Msg).SetQuestion(dns.Fqdn(name), qtype)
		c := &dns.Client{Net: net, Timeout: 3 * time.Second}
		r, _, err := c.Exchange(m, addr)
		if err != nil {
			t.Fatalf("%s %s: %v", net, name, err)
		}
		return r
	}
	for _, transport := range []string{"udp", "tcp"} {
		r := ask(transport, "ep-1.epsrv-1.local.privatelink.palisade.local", dns.TypeA)
		if r.Rcode != dns.RcodeSuccess || !r.Authoritative || len(r.Answer) != 2 || r.Answer[0].(*dns.A).A.String() != "10.0.1.5" {
			t.Errorf("%s: endpoint domain: %v", transport, r)
		}
		if r := ask(transport, "ep-2.epsrv-1.local.privatelink.palisade.local", dns.TypeA); r.Rcode != dns.RcodeNameError || !r.Authoritative {
			t.Errorf("%s: unknown name of the zone: %v, want an authoritative NXDOMAIN", transport, r)
		}
		if r := ask(transport, "ep-1.epsrv-1.local.privatelink.palisade.local", dns.TypeAAAA); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 {
			t.Errorf("%s: AAAA of an IPv4 name: %v, want no answer and no error", transport, r)
		}
		// Another name goes upstream, past the server that does not answer.
		if r := ask(transport, "example.com", dns.TypeA); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "192.0.2.1" {
			t.Errorf("%s: forwarded: %v", transport, r)
		}
	}
	s.SetRecords(nil)
	if r := ask("udp", "ep-1.epsrv-1.local.privatelink.palisade.local", dns.TypeA); r.Rcode != dns.RcodeNameError {
		t.Errorf("after the records were removed: %v", r)
	}

	pc2, ln2, addr2 := listen(t)
	lone := Serve(Config{Zones: []string{"privatelink.palisade.local"}, Upstream: []string{deadAddr}, Timeout: 200 * time.Millisecond}, pc2, ln2)
	defer lone.Close()
	r, _, err := (&dns.Client{Timeout: 3 * time.Second}).Exchange(new(dns.Msg).SetQuestion("example.com.", dns.TypeA), addr2)
	if err != nil || r.Rcode != dns.RcodeServerFailure {
		t.Errorf("no upstream answers: %v %v, want SERVFAIL", r, err)
	}
}

func TestHostUpstream(t *testing.T) {
	path := t.TempDir() + "/resolv.conf"
	if err := writeFile(path, "# comment\nnameserver 192.0.2.53\nnameserver 2001:db8::53\nsearch example.com\n"); err != nil {
		t.Fatal(err)
	}
	got := HostUpstream(path)
	if len(got) != 2 || got[0] != "192.0.2.53:53" || got[1] != "[2001:db8::53]:53" {
		t.Errorf("HostUpstream: %v", got)
	}
	if got := HostUpstream(path + ".missing"); got != nil {
		t.Errorf("missing file: %v", got)
	}
}

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o644) }

// TestCloseRightAfterServe: Close returns even when it follows Serve at
// once, before the servers' goroutines have run (it once hung forever).
func TestCloseRightAfterServe(t *testing.T) {
	type sockets struct {
		pc net.PacketConn
		ln net.Listener
	}
	var socks []sockets
	for range 200 {
		pc, ln, _ := listen(t)
		socks = append(socks, sockets{pc, ln})
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, s := range socks {
			Serve(Config{}, s.pc, s.ln).Close()
		}
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Close did not return")
	}
}
