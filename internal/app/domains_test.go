package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/resolver"
	"github.com/palisade-project/palisade/internal/service"
	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/store/memory"
)

// fixedDNS is a loopback DNS server (UDP) answering A questions from a
// table the test changes.
type fixedDNS struct {
	addr string
	mu   sync.Mutex
	a    map[string]string // fqdn -> address
}

func startFixedDNS(t *testing.T) *fixedDNS {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &fixedDNS{addr: pc.LocalAddr().String(), a: map[string]string{}}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, NotifyStartedFunc: func() { close(started) }, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg).SetReply(r)
		d.mu.Lock()
		a, ok := d.a[dns.CanonicalName(r.Question[0].Name)]
		d.mu.Unlock()
		if !ok {
			m.Rcode = dns.RcodeNameError
		} else {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 30}, A: net.ParseIP(a)})
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	return d
}

func (d *fixedDNS) set(name, addr string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.a[dns.Fqdn(name)] = addr
}

// storedAddrs returns the addresses stored for each domain.
func storedAddrs(t *testing.T, st store.Store) map[string][]netip.Addr {
	t.Helper()
	out := map[string][]netip.Addr{}
	if err := st.View(context.Background(), func(tx store.ReadTxn) error {
		return tx.List(model.PrefixDomainResolution, func(_ string, v []byte) error {
			var r model.DomainResolution
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			out[r.Domain] = r.Addrs
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5 s", what)
		}
	}
}

// TestDomainResolverLoop: the loop resolves the domains there are when it
// starts, a new domain soon after its policy is written (it watches the
// policies, not the clock), drops the record of a domain no longer named,
// follows DNS every period, and stops with its context.
func TestDomainResolverLoop(t *testing.T) {
	up := startFixedDNS(t)
	up.set("a.example.com", "192.0.2.1")
	up.set("b.example.com", "192.0.2.2")
	st := memory.New()
	defer st.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := service.New(st, service.Config{Logger: log})
	ctx := context.Background()
	if _, err := st.Update(ctx, func(tx store.Txn) error {
		b, _ := json.Marshal(model.Account{ID: "1", Name: "alice"})
		return tx.Put(model.PrefixAccount+"1", b)
	}); err != nil {
		t.Fatal(err)
	}
	add := func(dst string) model.FirewallPolicy {
		t.Helper()
		s := func(v string) *string { return &v }
		p, err := svc.AddControlPolicy(ctx, "1", service.AddControlPolicyInput{Direction: "out", NewOrder: "-1", PolicyInput: service.PolicyInput{
			AclAction: s("drop"), Proto: s("ANY"), Source: s("0.0.0.0/0"), SourceType: s("net"), Destination: s(dst), DestinationType: s("domain"), Description: s(dst),
		}})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	add("a.example.com")

	// A long period: the passes after the first come from the watch.
	d := newDomainResolver(svc, st, log, []string{up.addr}, time.Hour)
	loopCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.run(loopCtx)
	}()
	waitFor(t, "the first pass", func() bool {
		return slices.Equal(storedAddrs(t, st)["a.example.com"], []netip.Addr{netip.MustParseAddr("192.0.2.1")})
	})
	b := add("b.example.com")
	waitFor(t, "a new domain", func() bool { return len(storedAddrs(t, st)["b.example.com"]) == 1 })
	if err := svc.DeleteControlPolicy(ctx, "1", b.ID, "out"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a domain no longer named", func() bool { _, ok := storedAddrs(t, st)["b.example.com"]; return !ok })
	// Asked for, a pass looks up every domain again.
	up.set("a.example.com", "192.0.2.9")
	if err := d.pass(ctx, true); err != nil {
		t.Fatal(err)
	}
	if got := storedAddrs(t, st)["a.example.com"]; !slices.Equal(got, []netip.Addr{netip.MustParseAddr("192.0.2.9")}) {
		t.Errorf("after a full pass: %v", got)
	}
	stop()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the loop did not stop with its context")
	}

	// The period: every domain is looked up again, without any change
	// of the policies.
	d = newDomainResolver(svc, st, log, []string{up.addr}, 50*time.Millisecond)
	loopCtx, stop = context.WithCancel(ctx)
	done = make(chan struct{})
	go func() {
		defer close(done)
		d.run(loopCtx)
	}()
	defer func() { stop(); <-done }()
	up.set("a.example.com", "192.0.2.10")
	waitFor(t, "the periodic pass", func() bool {
		return slices.Equal(storedAddrs(t, st)["a.example.com"], []netip.Addr{netip.MustParseAddr("192.0.2.10")})
	})
}

// TestNewDomainResolverDefaults: no upstream given means the host's
// resolv.conf; an empty list means none; no period means 30 s.
func TestNewDomainResolverDefaults(t *testing.T) {
	d := newDomainResolver(nil, nil, slog.Default(), nil, 0)
	if d.period != DefaultDomainResolvePeriod || !slices.Equal(d.upstream, resolver.HostUpstream(HostResolvConf)) {
		t.Errorf("defaults: %+v", d)
	}
	if d := newDomainResolver(nil, nil, slog.Default(), []string{}, time.Second); d.upstream == nil || len(d.upstream) != 0 || d.period != time.Second {
		t.Errorf("no upstream: %+v", d)
	}
}
