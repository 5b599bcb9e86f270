package dataplane_test

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/probe"
	"github.com/palisade-project/palisade/internal/store"
)

// natEnv is one VPC whose client instance has no EIP: it reaches the
// internet (a sink in the root namespace) through a NAT gateway's SNAT
// entry for its vSwitch.
type natEnv struct {
	w          *kworld
	client     string
	vpcID, gw  string
	pub        netip.Addr // the gateway's EIP
	inet       netip.Addr // the root namespace's address on the uplink
	sink       *sink
	policyKeys []string
}

var (
	natOnce sync.Once
	natE    *natEnv
	natErr  error
)

func getNATEnv(b *testing.B) *natEnv {
	b.Helper()
	needKernel(b)
	natOnce.Do(func() { natE, natErr = buildNATEnv() })
	if natErr != nil {
		b.Fatal(natErr)
	}
	return natE
}

// rootNetns is the network namespace the benchmark started in, the
// host's (the internet side).
const rootNetns = "/proc/self/ns/net"

func buildNATEnv() (*natEnv, error) {
	w := newKWorld(randTag())
	cleanups = append(cleanups, w.close)
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 11))
	e := &natEnv{w: w, pub: netip.AddrFrom4([4]byte{198, 19, byte(200 + r.IntN(50)), byte(2 + r.IntN(250))})}
	var vswID string
	var err error
	if e.vpcID, vswID, err = w.vpc("n", "10.78.0.0/16"); err != nil {
		return nil, err
	}
	gid := "sg-" + w.tag + "n"
	open := model.Rule{ID: "sgr-" + w.tag + "nopen", Direction: model.Egress, Protocol: model.ProtoALL,
		Ports: model.PortRange{From: -1, To: -1}, PeerCidr: netip.MustParsePrefix("0.0.0.0/0"),
		Policy: model.PolicyAccept, Priority: 1}
	if err := w.group(gid, e.vpcID, []model.Rule{open}); err != nil {
		return nil, err
	}
	if e.client, _, err = w.instance("nc", e.vpcID, vswID, netip.MustParseAddr("10.78.1.10"), gid); err != nil {
		return nil, err
	}
	e.gw = "ngw-" + w.tag
	eipID := "eip-" + w.tag + "n"
	if err := w.put(map[string]any{
		model.PrefixNatGateway + e.gw: model.NatGateway{ID: e.gw, VpcID: e.vpcID, VSwitchID: vswID, ZoneID: zone,
			NatType: "Enhanced", NetworkType: "internet", Status: "Available"},
		model.PrefixEIP + eipID: model.EIP{ID: eipID, Address: e.pub, InstanceID: e.gw, InstanceType: model.EIPInstanceNat,
			VpcID: e.vpcID, ZoneID: zone, Status: model.EIPInUse},
		model.PrefixSnatEntry + "snat-" + w.tag: model.SnatEntry{ID: "snat-" + w.tag, NatGatewayID: e.gw, VpcID: e.vpcID,
			SourceVSwitchID: vswID, SourceCIDR: netip.MustParsePrefix("10.78.0.0/16"), SnatIPs: []netip.Addr{e.pub}, Status: "Available"},
		model.PrefixRouteEntry + "rte-" + w.tag: model.RouteEntry{ID: "rte-" + w.tag, VpcID: e.vpcID,
			DestinationCidr: netip.MustParsePrefix("0.0.0.0/0"), NextHopType: model.RouteNextHopNat, NextHopID: e.gw},
	}); err != nil {
		return nil, err
	}
	if err := w.a.Reconcile(w.ctx); err != nil {
		return nil, fmt.Errorf("reconcile: %w", err)
	}
	// The sink listens in the root namespace with a deep queue, which
	// raises the host's somaxconn: put it back afterwards.
	old, err := os.ReadFile("/proc/sys/net/core/somaxconn")
	if err != nil {
		return nil, err
	}
	cleanups = append(cleanups, func() { _ = os.WriteFile("/proc/sys/net/core/somaxconn", old, 0) })
	if e.sink, err = startSink(rootNetns); err != nil {
		return nil, err
	}
	cleanups = append(cleanups, e.sink.close)
	u, err := net.Dial("udp4", netip.AddrPortFrom(e.pub, 9).String())
	if err != nil {
		return nil, err
	}
	e.inet = netip.MustParseAddrPort(u.LocalAddr().String()).Addr()
	u.Close()
	return e, nil
}

// setPolicies gives the gateway's NAT firewall n policies (none: no
// firewall chain at all), each new connection walking all of them.
func (e *natEnv) setPolicies(n int) error {
	var err error
	e.policyKeys, err = setFirewallPolicies(e.w, e.vpcID, e.policyKeys, n, func(p *model.FirewallPolicy) (string, string) {
		p.NatGatewayID, p.Direction = e.gw, model.FirewallOut
		return model.PrefixNatFirewallPolicy, "palisade_nat"
	})
	return err
}

// setFirewallPolicies replaces the policies at keys with n new ones
// (none: no firewall rule at all) that kind places (it sets the policy's
// firewall and returns its store prefix and the table that holds it): n-1
// drops of sources that are none of the benchmark's, then an accept of
// everything, so that a new connection walks all of them before the last
// decides. It reconciles and returns the new policies' keys.
func setFirewallPolicies(w *kworld, vpcID string, keys []string, n int, kind func(*model.FirewallPolicy) (string, string)) ([]string, error) {
	if _, err := w.st.Update(w.ctx, func(tx store.Txn) error {
		for _, k := range keys {
			if err := tx.Delete(k); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	keys = nil
	kv := map[string]any{}
	table := ""
	for i := range n {
		id := fmt.Sprintf("fwp-%s-%04d", w.tag, i)
		p := model.FirewallPolicy{ID: id, Order: i + 1,
			Action: model.FirewallDrop, SourceType: model.FirewallNet, DestinationType: model.FirewallNet,
			Destination: "0.0.0.0/0", Proto: model.FirewallProtoTCP, DestPortType: model.FirewallPort, Enabled: true,
			Source: fmt.Sprintf("10.99.%d.%d/32", 2+i/250, 1+i%250)}
		if i == n-1 {
			p.Action, p.Source, p.Proto = model.FirewallAccept, "0.0.0.0/0", model.FirewallProtoANY
		}
		var prefix string
		prefix, table = kind(&p)
		kv[prefix+id] = p
		keys = append(keys, prefix+id)
	}
	if err := w.put(kv); err != nil {
		return nil, err
	}
	if err := w.a.Reconcile(w.ctx); err != nil {
		return nil, fmt.Errorf("reconcile: %w", err)
	}
	if n > 0 {
		out, err := nsNft(vpcID, "", "list", "table", "ip", table)
		if table == "palisade_nat" {
			out, err = nsNft(vpcID, "", "list", "table", "inet", table)
		}
		if err != nil {
			return nil, err
		}
		if got := strings.Count(out, "counter packets"); got < n {
			return nil, fmt.Errorf("%s has %d counters, want the %d policies' at least", table, got, n)
		}
	}
	return keys, nil
}

// BenchmarkNATFirewallCost compares, round by round (counterbalanced), new
// TCP connections per second from an instance to the internet through
// its NAT gateway with no NAT-firewall policy and with 1,000 (each new
// connection walks them all), and reports the median of the per-round
// ratios (-benchtime 8x for eight rounds).
func BenchmarkNATFirewallCost(b *testing.B) {
	e := getNATEnv(b)
	const conns = 20_000
	dst := &unix.SockaddrInet4{Port: tcpPort, Addr: e.inet.As4()}
	if err := probe.InNetns(e.client, func() error {
		c, err := net.DialTimeout("tcp4", netip.AddrPortFrom(e.inet, tcpPort).String(), 2*time.Second)
		if err == nil {
			c.Close()
		}
		return err
	}); err != nil {
		b.Fatalf("the client cannot reach the internet side %s through %s: %v", e.inet, e.gw, err)
	}
	set := func(n int) {
		if err := e.setPolicies(n); err != nil {
			b.Fatal(err)
		}
	}
	ratio := connRatioRounds(b, 0, 1000, set, func() (connBurst, error) { return dialN(e.client, dst, e.sink, conns) },
		func(n int) string { return fmt.Sprintf("%d NAT-firewall policies", n) })
	set(0)
	b.ReportMetric(median(ratio), "conns-ratio")
}

// connRatioRounds runs b.N rounds of two bursts of new connections (dial),
// with the data plane set (set) to base and to mode, in counterbalanced
// order, logging each burst (name names a mode), and returns the
// per-round ratios of mode's rate to base's.
func connRatioRounds[M comparable](b *testing.B, base, mode M, set func(M), dial func() (connBurst, error), name func(M) string) []float64 {
	b.Helper()
	modes := []M{base, mode}
	var ratio []float64
	for round := range b.N {
		rate := map[M]float64{}
		for _, i := range counterbalanced(round, len(modes)) {
			set(modes[i])
			burst, err := dial()
			if err != nil {
				b.Fatal(err)
			}
			rate[modes[i]] = burst.rate
			b.Logf("round %d: %s: %.0f conns/s (SYNs sent again: %d)", round, name(modes[i]), burst.rate, burst.synRetrans)
		}
		ratio = append(ratio, rate[mode]/rate[base])
	}
	return ratio
}

// BenchmarkInternetFirewallCost is BenchmarkNATFirewallCost for the
// Internet firewall: new TCP connections per second from the internet (the
// root namespace) to a server's EIP with no policy and with 1,000 in
// policies that each new connection walks.
func BenchmarkInternetFirewallCost(b *testing.B) {
	e := getEIPEnv(b)
	const conns = 20_000
	dst := &unix.SockaddrInet4{Port: tcpPort, Addr: e.eip.As4()}
	var keys []string
	set := func(n int) {
		var err error
		keys, err = setFirewallPolicies(e.w, e.vpcID, keys, n, func(p *model.FirewallPolicy) (string, string) {
			p.Direction = model.FirewallIn
			return model.PrefixFirewallPolicy, "palisade_cfw"
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	ratio := connRatioRounds(b, 0, 1000, set, func() (connBurst, error) { return dialN("", dst, e.sink, conns) },
		func(n int) string { return fmt.Sprintf("%d Internet-firewall policies", n) })
	set(0)
	b.ReportMetric(median(ratio), "conns-ratio")
}

// BenchmarkFirewallLogCost compares, round by round (counterbalanced), new
// TCP connections per second from the internet to a server's EIP whose
// Internet firewall has one policy that decides them all: accept (counted
// only) and log (allowed, counted and handed to the traffic log, at most
// dataplane.FirewallLogRate a second, with the agent's listener reading
// them). It reports the median of the per-round ratios log / accept.
func BenchmarkFirewallLogCost(b *testing.B) {
	e := getEIPEnv(b)
	const conns = 20_000
	dst := &unix.SockaddrInet4{Port: tcpPort, Addr: e.eip.As4()}
	var keys []string
	set := func(action string) {
		var err error
		keys, err = setFirewallPolicies(e.w, e.vpcID, keys, 1, func(p *model.FirewallPolicy) (string, string) {
			p.Direction, p.Action = model.FirewallIn, action
			return model.PrefixFirewallPolicy, "palisade_cfw"
		})
		if err != nil {
			b.Fatal(err)
		}
		if out, err := nsNft(e.vpcID, "", "list", "table", "ip", "palisade_cfw"); err != nil || strings.Contains(out, "log prefix") != (action == model.FirewallLog) {
			b.Fatalf("%s policy: the table logs %v, want %v (%v)", action, strings.Contains(out, "log prefix"), action == model.FirewallLog, err)
		}
	}
	ratio := connRatioRounds(b, model.FirewallAccept, model.FirewallLog, set, func() (connBurst, error) { return dialN("", dst, e.sink, conns) },
		func(action string) string { return "one " + action + " policy" })
	set(model.FirewallAccept)
	b.ReportMetric(median(ratio), "conns-ratio")
}
