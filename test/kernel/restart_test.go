package kernel_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/dataplane/linux"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/policy"
	"github.com/palisade-project/palisade/internal/probe"
)

// prober keeps probing a path and records every failure.
type prober struct {
	mu    sync.Mutex
	fails []string
	count map[string]int
	wg    sync.WaitGroup
	stop  chan struct{}
}

func newProber() *prober { return &prober{count: map[string]int{}, stop: make(chan struct{})} }

// every runs fn every period until halt.
func (p *prober) every(name string, period time.Duration, fn func(n int) error) {
	p.wg.Go(func() {
		tick := time.NewTicker(period)
		defer tick.Stop()
		for n := 0; ; n++ {
			err := fn(n)
			p.mu.Lock()
			p.count[name]++
			if err != nil {
				p.fails = append(p.fails, fmt.Sprintf("%s %s #%d: %v", time.Now().Format("15:04:05.000"), name, n, err))
			}
			p.mu.Unlock()
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
		}
	})
}

func (p *prober) halt() {
	close(p.stop)
	p.wg.Wait()
}

// TestAgentRestartUnderProbing stops the agent and starts a new process's
// worth of agent (new applier of the same tag, new firewall, same store)
// while connections are opened every 20 ms, pings fly every 50 ms and one
// long-lived connection exchanges a line every 50 ms: none may fail, and
// the new agent applies what changed in the store while none ran.
func TestAgentRestartUnderProbing(t *testing.T) {
	r := newRig(t, "r", 2*time.Second)
	v := r.vswitch("1", "10.77.1.0/24")
	g := r.groupID("g")
	vsw := netip.MustParsePrefix("10.77.1.0/24")
	rule := func(proto string, port int) model.Rule {
		return model.Rule{ID: fmt.Sprintf("sgr-%s%d", strings.ToLower(proto), port), Direction: model.Ingress, Protocol: proto,
			Ports: model.PortRange{From: port, To: port}, PeerCidr: vsw, Policy: model.PolicyAccept, Priority: 1}
	}
	group := func(rules ...model.Rule) model.SecurityGroup {
		return model.SecurityGroup{ID: g, VpcID: r.vpc, Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerDrop, Rules: rules}
	}
	r.put(model.PrefixSecurityGroup+g, group(rule(model.ProtoTCP, 8080), rule(model.ProtoICMP, -1)))
	a := r.instance("a", v, "10.77.1.10", g)
	b := r.instance("b", v, "10.77.1.11", g)
	stopFirst := r.run()
	r.waitApplied()
	r.serve(b, []int{8080, 9090}, nil)
	dst := netip.AddrPortFrom(b.addr, 8080)
	var err error
	for range 5 { // the first packets wait for ARP
		if err = tcpProbe(a.inst, 0, dst, time.Second); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("a -> b:8080 before the restart: %v", err)
	}
	if err := tcpProbe(a.inst, 0, netip.AddrPortFrom(b.addr, 9090), 300*time.Millisecond); !probe.IsTimeout(err) {
		t.Fatalf("a -> b:9090 before the restart: %v, want a silent drop", err)
	}
	long, err := probe.DialTCP(context.Background(), a.inst, dst, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer long.Close()

	p := newProber()
	p.every("connect", 20*time.Millisecond, func(int) error { return tcpProbe(a.inst, 0, dst, time.Second) })
	p.every("ping", 50*time.Millisecond, func(int) error { return icmpProbe(a.inst, b.addr, time.Second) })
	p.every("long-lived", 50*time.Millisecond, func(n int) error { return probe.Echo(long, fmt.Sprint("line ", n), time.Second) })

	time.Sleep(400 * time.Millisecond)
	began := time.Now()
	stopFirst()
	t.Logf("agent stopped")
	// While no agent runs: the store changes (9090 is opened).
	r.put(model.PrefixSecurityGroup+g, group(rule(model.ProtoTCP, 8080), rule(model.ProtoICMP, -1), rule(model.ProtoTCP, 9090)))
	time.Sleep(400 * time.Millisecond)
	r.newAgent()
	r.run()
	r.waitApplied()
	t.Logf("new agent applied the store %v after the old one stopped", time.Since(began).Round(time.Millisecond))
	time.Sleep(500 * time.Millisecond)
	p.halt()

	for _, f := range p.fails {
		t.Errorf("probe failed: %s", f)
	}
	t.Logf("probes: %v, %d failed", p.count, len(p.fails))
	if p.count["connect"] < 40 || p.count["long-lived"] < 20 {
		t.Errorf("too few probes ran: %v", p.count)
	}
	if err := probe.Echo(long, "after", time.Second); err != nil {
		t.Errorf("long-lived connection did not survive the restart: %v", err)
	}
	if err := tcpProbe(a.inst, 0, netip.AddrPortFrom(b.addr, 9090), time.Second); err != nil {
		t.Errorf("a -> b:9090, opened while no agent ran, after the restart: %v", err)
	}
	if err := tcpProbe(b.inst, 0, netip.AddrPortFrom(a.addr, 7070), 300*time.Millisecond); !probe.IsTimeout(err) {
		t.Errorf("b -> a:7070 (no rule) after the restart: %v, want a silent drop", err)
	}
}

// driftState is what the drift test expects of the kernel: b reaches a on
// 8080, c does not, and a cannot ping b.
type driftState struct{ allowed, deniedTCP, deniedICMP error }

func (s driftState) ok() bool { return s.allowed == nil && s.deniedTCP == nil && s.deniedICMP == nil }

func (s driftState) String() string {
	return fmt.Sprintf("b->a:8080 %v; c->a:8080 %v; a->b icmp %v", errStr(s.allowed), errStr(s.deniedTCP), errStr(s.deniedICMP))
}

func errStr(err error) string {
	if err == nil {
		return "as intended"
	}
	return err.Error()
}

// TestDriftRepair changes the kernel by hand under a running agent (resync
// 500 ms): the security-group table deleted, an instance's veth deleted, a
// stray accept rule added. Within about one resync period the agent must
// restore the intended state. While the table is gone, the VPC namespace
// must not forward ENI traffic (fail closed).
func TestDriftRepair(t *testing.T) {
	const resync = 500 * time.Millisecond
	r := newRig(t, "d", resync)
	v := r.vswitch("1", "10.77.1.0/24")
	ga, gb := r.groupID("a"), r.groupID("b")
	b0 := netip.MustParseAddr("10.77.1.11")
	r.put(model.PrefixSecurityGroup+ga, model.SecurityGroup{ID: ga, VpcID: r.vpc, Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerDrop,
		Rules: []model.Rule{{ID: "sgr-a8080", Direction: model.Ingress, Protocol: model.ProtoTCP, Ports: model.PortRange{From: 8080, To: 8080},
			PeerCidr: netip.PrefixFrom(b0, 32), Policy: model.PolicyAccept, Priority: 1}}})
	r.put(model.PrefixSecurityGroup+gb, model.SecurityGroup{ID: gb, VpcID: r.vpc, Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerDrop})
	a := r.instance("a", v, "10.77.1.10", ga)
	b := r.instance("b", v, b0.String(), gb)
	c := r.instance("c", v, "10.77.1.12", gb)
	stopFirst := r.run()
	r.waitApplied()
	r.serve(a, []int{8080}, nil)
	r.serve(b, []int{8080}, nil)

	const short = 200 * time.Millisecond
	state := func() driftState {
		var s driftState
		var wg sync.WaitGroup
		wg.Go(func() { s.allowed = tcpProbe(b.inst, 0, netip.AddrPortFrom(a.addr, 8080), short) })
		wg.Go(func() {
			if err := tcpProbe(c.inst, 0, netip.AddrPortFrom(a.addr, 8080), short); !probe.IsTimeout(err) {
				s.deniedTCP = fmt.Errorf("not dropped: %v", errStr(err))
			}
		})
		wg.Go(func() {
			if err := icmpProbe(a.inst, b.addr, short); !probe.IsTimeout(err) {
				s.deniedICMP = fmt.Errorf("not dropped: %v", errStr(err))
			}
		})
		wg.Wait()
		return s
	}
	// waitRepaired polls until the intended state holds and returns how long
	// that took.
	waitRepaired := func(step string, since time.Time) {
		t.Helper()
		limit := 3*resync + time.Second
		var s driftState
		for time.Since(since) < limit {
			if s = state(); s.ok() {
				t.Logf("%s: repaired %v after the change", step, time.Since(since).Round(time.Millisecond))
				if d := time.Since(since); d > 2*resync+500*time.Millisecond {
					t.Errorf("%s: repair took %v, more than about one resync period (%v)", step, d.Round(time.Millisecond), resync)
				}
				return
			}
		}
		t.Fatalf("%s: not repaired within %v: %v", step, limit, s)
	}
	tableGone := func() bool {
		_, err := r.vpcExec("nft", "list", "table", "inet", policy.TableName)
		return err != nil
	}

	for range 5 { // ARP
		if state().ok() {
			break
		}
	}
	if s := state(); !s.ok() {
		t.Fatalf("initial state: %v", s)
	}

	// (a0) The window: with no agent running to repair it, the table is
	// deleted; nothing may pass between ENIs, not even what the groups
	// allow (fail closed).
	// A connection the groups allow, open before the table goes: the
	// guard passes the flows the program stamped, so it goes on, while
	// no new flow starts, allowed or not.
	held, err := probe.DialTCP(context.Background(), b.inst, netip.AddrPortFrom(a.addr, 8080), time.Second)
	if err != nil {
		t.Fatalf("(a0) b -> a:8080 before the table is deleted: %v", err)
	}
	defer held.Close()
	if err := probe.Echo(held, "before", time.Second); err != nil {
		t.Fatalf("(a0) echo over b -> a:8080 before the table is deleted: %v", err)
	}
	stopFirst()
	if _, err := r.vpcExec("nft", "delete", "table", "inet", policy.TableName); err != nil {
		t.Fatal(err)
	}
	if err := tcpProbe(c.inst, 0, netip.AddrPortFrom(a.addr, 8080), 300*time.Millisecond); err == nil {
		t.Errorf("(a0) with the table gone, c -> a:8080 (denied by the groups) was forwarded: the namespace fails open")
	} else {
		t.Logf("(a0) with the table gone, c -> a:8080: %v", err)
	}
	if err := tcpProbe(b.inst, 0, netip.AddrPortFrom(a.addr, 8080), 300*time.Millisecond); err == nil {
		t.Errorf("(a0) with the table gone, a new connection b -> a:8080 was forwarded: no program judged it")
	} else {
		t.Logf("(a0) with the table gone, a new connection b -> a:8080 (allowed by the groups): %v", err)
	}
	if err := probe.Echo(held, "during", time.Second); err != nil {
		t.Errorf("(a0) with the table gone, the established b -> a:8080 broke: %v", err)
	}
	r.newAgent()
	r.run()
	r.waitApplied()
	if s := state(); !s.ok() {
		t.Fatalf("(a0) after a new agent started: %v", s)
	}

	// (a) The security-group table deleted by hand under the running agent.
	if _, err := r.vpcExec("nft", "delete", "table", "inet", policy.TableName); err != nil {
		t.Fatal(err)
	}
	changed := time.Now()
	err = tcpProbe(c.inst, 0, netip.AddrPortFrom(a.addr, 8080), 150*time.Millisecond)
	stillGone := tableGone()
	switch {
	case !stillGone:
		t.Logf("(a) the agent restored the table before the window could be probed")
	case err == nil:
		t.Errorf("(a) while the table was gone, c -> a:8080 (denied by the groups) was forwarded: the namespace fails open")
	default:
		t.Logf("(a) while the table was gone, c -> a:8080: %v (closed)", err)
	}
	waitRepaired("(a) table deleted", changed)

	// (b) An instance's veth deleted by hand.
	veth := linux.VethName(a.eni)
	if _, err := r.vpcExec("ip", "link", "del", veth); err != nil {
		t.Fatal(err)
	}
	changed = time.Now()
	waitRepaired("(b) veth of a deleted", changed)
	if _, err := r.vpcExec("ip", "link", "show", veth); err != nil {
		t.Errorf("(b) veth %s not recreated: %v", veth, err)
	}

	// (c) A stray rule accepting c's traffic into a.
	if _, err := r.vpcExec("nft", "insert", "rule", "inet", policy.TableName, policy.IngressChain,
		"ip", "saddr", c.addr.String(), "accept"); err != nil {
		t.Fatal(err)
	}
	changed = time.Now()
	err = tcpProbe(c.inst, 0, netip.AddrPortFrom(a.addr, 8080), 150*time.Millisecond)
	listing, _ := r.vpcExec("nft", "list", "chain", "inet", policy.TableName, policy.IngressChain)
	if strings.Contains(listing, "ip saddr "+c.addr.String()+" accept") {
		got := "delivered"
		if err != nil {
			got = err.Error()
		}
		t.Logf("(c) with the stray rule in place, c -> a:8080: %s", got)
	}
	waitRepaired("(c) stray rule", changed)
	if listing, err := r.vpcExec("nft", "list", "chain", "inet", policy.TableName, policy.IngressChain); err != nil ||
		strings.Contains(listing, "ip saddr "+c.addr.String()+" accept") {
		t.Errorf("(c) stray rule still listed (%v):\n%s", err, listing)
	}

	// (d) The guard table deleted by hand: the groups still hold, and the
	// agent puts it back.
	if _, err := r.vpcExec("nft", "delete", "table", "inet", policy.GuardTable); err != nil {
		t.Fatal(err)
	}
	changed = time.Now()
	waitRepaired("(d) guard table deleted", changed)
	deadline := time.Now().Add(3 * resync)
	for {
		if _, err := r.vpcExec("nft", "list", "table", "inet", policy.GuardTable); err == nil {
			t.Logf("(d) guard table back %v after the change", time.Since(changed).Round(time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("(d) guard table not restored within %v", 3*resync)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
}
