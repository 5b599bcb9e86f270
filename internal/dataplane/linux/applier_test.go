package linux

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/dataplane"
	"github.com/palisade-project/palisade/internal/model"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

// world is a test topology with IDs unique to this test run.
type world struct {
	tag  string
	host dataplane.Host
	// by short name (a1, a2, …)
	enis  map[string]dataplane.ENI
	vpcA  string
	vpcB  string
	veths map[string]string // short name -> host veth
}

func randHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func gwPrefix(p netip.Prefix) netip.Prefix {
	return netip.PrefixFrom(model.VSwitchGateway(p), p.Bits())
}

// newWorld: VPC A with vSwitches 10.20.1.0/24 (with IPv6) and 10.20.2.0/24,
// ENIs a1, a2 (vsw1) and a3 (vsw2); VPC B with the overlapping vSwitch
// 10.20.1.0/24, ENIs b1 (same address as a2) and b2 (an address unknown
// in A).
func newWorld(t *testing.T) *world {
	tag := randHex(t, 4)
	w := &world{tag: tag, enis: map[string]dataplane.ENI{}, veths: map[string]string{}}
	w.vpcA, w.vpcB = "vpc-"+tag+"a", "vpc-"+tag+"b"
	vsw1 := netip.MustParsePrefix("10.20.1.0/24")
	vsw1v6 := netip.MustParsePrefix("fd00:20:1::/64")
	vsw2 := netip.MustParsePrefix("10.20.2.0/24")
	mk := func(short string, n int, vsw, vsw6 netip.Prefix, addrs ...string) dataplane.ENI {
		e := dataplane.ENI{
			ID:          "eni-" + tag + short + "x0123456789",
			InstanceID:  "i-" + tag + short,
			MAC:         fmt.Sprintf("02:%s:%s:%s:00:%02x", tag[0:2], tag[2:4], tag[4:6], n),
			VSwitchCidr: vsw,
			Gateway:     model.VSwitchGateway(vsw),
		}
		if vsw6.IsValid() {
			e.VSwitchCidr6 = vsw6
			e.Gateway6 = model.VSwitchGateway(vsw6)
		}
		for _, a := range addrs {
			e.Addrs = append(e.Addrs, netip.MustParseAddr(a))
		}
		w.enis[short] = e
		w.veths[short] = VethName(e.ID)
		return e
	}
	w.host = dataplane.Host{VPCs: []dataplane.VPC{
		{
			ID:       w.vpcA,
			Gateways: []netip.Prefix{gwPrefix(vsw1), gwPrefix(vsw1v6), gwPrefix(vsw2)},
			ENIs: []dataplane.ENI{
				mk("a1", 1, vsw1, vsw1v6, "10.20.1.10", "10.20.1.50", "fd00:20:1::10"),
				mk("a2", 2, vsw1, vsw1v6, "10.20.1.11", "fd00:20:1::11"),
				mk("a3", 3, vsw2, netip.Prefix{}, "10.20.2.10"),
			},
		},
		{
			ID:       w.vpcB,
			Gateways: []netip.Prefix{gwPrefix(vsw1)},
			ENIs: []dataplane.ENI{
				mk("b1", 4, vsw1, netip.Prefix{}, "10.20.1.11"),
				mk("b2", 5, vsw1, netip.Prefix{}, "10.20.1.20"),
			},
		},
	}}
	return w
}

func (w *world) inst(short string) string { return w.enis[short].InstanceID }

// nsRun runs a command in a named namespace.
func nsRun(ns string, args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...).CombinedOutput()
	return string(out), err
}

func mustNS(t *testing.T, ns string, args ...string) string {
	t.Helper()
	out, err := nsRun(ns, args...)
	if err != nil {
		t.Fatalf("in %s: %v: %v\n%s", ns, args, err, out)
	}
	return out
}

func ping(ns, dst string, extra ...string) bool {
	args := append([]string{"ping", "-n", "-q", "-c", "1", "-W", "1"}, extra...)
	_, err := nsRun(ns, append(args, dst)...)
	return err == nil
}

// pingEventually tolerates the first packets after a change (ARP/NDP).
func pingEventually(ns, dst string) bool {
	for i := 0; i < 3; i++ {
		if ping(ns, dst) {
			return true
		}
	}
	return false
}

func newApplier(t *testing.T, tag string) *Applier {
	t.Helper()
	a := New(Config{Tag: tag})
	t.Cleanup(func() {
		if err := a.Cleanup(context.Background()); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		names, _ := a.Namespaces()
		if len(names) > 0 {
			t.Errorf("namespaces left after cleanup: %v", names)
		}
	})
	return a
}

func apply(t *testing.T, a *Applier, h dataplane.Host) dataplane.Status {
	t.Helper()
	st, err := a.Apply(context.Background(), h)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	for _, v := range h.VPCs {
		for _, e := range v.ENIs {
			if !st.Ready(e.ID) {
				t.Fatalf("eni %s not ready: %s", e.ID, st.ENIs[e.ID].Error)
			}
		}
	}
	return st
}

// startServer runs an ncat server in ns that answers every TCP connection
// on port with reply.
func startServer(t *testing.T, ns string, port int, reply string) {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, "ncat", "-lk", strconv.Itoa(port), "--sh-exec", "echo "+reply)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start ncat in %s: %v", ns, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
}

// tcpReply connects from ns to dst:port and returns what the server said,
// trying up to attempts times (the server may still be starting).
func tcpReply(ns, dst string, port, attempts int) string {
	for i := 0; i < attempts; i++ {
		o, err := nsRun(ns, "ncat", "-w", "1", "--recv-only", dst, strconv.Itoa(port))
		if err == nil {
			return strings.TrimSpace(o)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return ""
}

func TestTopology(t *testing.T) {
	needRoot(t)
	w := newWorld(t)
	a := newApplier(t, w.tag)
	apply(t, a, w.host)

	t.Run("namespaces", func(t *testing.T) {
		names, err := a.Namespaces()
		if err != nil {
			t.Fatal(err)
		}
		want := []string{w.vpcA, w.vpcB}
		for _, e := range w.enis {
			want = append(want, e.InstanceID)
		}
		slices.Sort(want)
		slices.Sort(names)
		if !slices.Equal(names, want) {
			t.Fatalf("namespaces = %v, want %v", names, want)
		}
		out := mustNS(t, w.inst("a1"), "ip", "-o", "addr", "show", "dev", "eth0")
		for _, s := range []string{"10.20.1.10/24", "10.20.1.50/24", "fd00:20:1::10/64", w.enis["a1"].MAC} {
			if !strings.Contains(out, s) && !strings.Contains(mustNS(t, w.inst("a1"), "ip", "-o", "link", "show", "eth0"), s) {
				t.Errorf("eth0 of a1 lacks %s:\n%s", s, out)
			}
		}
		if r := mustNS(t, w.inst("a1"), "ip", "route", "show", "default"); !strings.Contains(r, "via 10.20.1.253") {
			t.Errorf("default route of a1: %q", r)
		}
		if r := mustNS(t, w.inst("a1"), "ip", "-6", "route", "show", "default"); !strings.Contains(r, "via "+w.enis["a1"].Gateway6.String()) {
			t.Errorf("IPv6 default route of a1: %q", r)
		}
		sysctls := map[string]string{
			"net.ipv4.ip_forward":                                "1",
			"net.ipv4.conf." + w.veths["a1"] + ".proxy_arp":      "1",
			"net.ipv4.neigh." + w.veths["a1"] + ".proxy_delay":   "0",
			"net.ipv6.conf." + w.veths["a1"] + ".proxy_ndp":      "1",
			"net.netfilter.nf_conntrack_tcp_loose":               "0",
			"net.netfilter.nf_conntrack_tcp_timeout_established": "910",
			"net.netfilter.nf_conntrack_udp_timeout_stream":      "910",
		}
		for k, v := range sysctls {
			if got := strings.TrimSpace(mustNS(t, w.vpcA, "sysctl", "-n", k)); got != v {
				t.Errorf("%s in %s = %q, want %q", k, w.vpcA, got, v)
			}
		}
		if r := mustNS(t, w.vpcA, "ip", "route", "show", "10.20.1.10/32"); !strings.Contains(r, "dev "+w.veths["a1"]) {
			t.Errorf("host route of a1 in %s: %q", w.vpcA, r)
		}
	})

	t.Run("reachability", func(t *testing.T) {
		cases := []struct {
			from, to string
			want     bool
		}{
			{"a1", "10.20.1.11", true},    // same vSwitch
			{"a1", "10.20.2.10", true},    // across vSwitches
			{"a3", "10.20.1.50", true},    // secondary address
			{"a1", "10.20.1.253", true},   // gateway
			{"a2", "fd00:20:1::10", true}, // IPv6, same vSwitch
			{"b2", "10.20.1.11", true},    // overlapping CIDR works in B
			{"a1", "10.20.1.20", false},   // b2's address: only in VPC B
			{"b1", "10.20.2.10", false},   // a3's address: only in VPC A
			{"b2", "10.20.1.10", false},   // a1's address: only in VPC A
		}
		for _, c := range cases {
			got := ping(w.inst(c.from), c.to)
			if c.want && !got {
				got = pingEventually(w.inst(c.from), c.to)
			}
			if got != c.want {
				t.Errorf("ping %s -> %s = %v, want %v", c.from, c.to, got, c.want)
			}
		}
	})

	t.Run("tcp and isolation of overlapping addresses", func(t *testing.T) {
		startServer(t, w.inst("a2"), 7000, "a2")
		startServer(t, w.inst("b1"), 7000, "b1")
		startServer(t, w.inst("a3"), 7001, "a3")
		if got := tcpReply(w.inst("a1"), "10.20.1.11", 7000, 10); got != "a2" {
			t.Errorf("a1 -> 10.20.1.11:7000 answered %q, want a2", got)
		}
		if got := tcpReply(w.inst("b2"), "10.20.1.11", 7000, 10); got != "b1" {
			t.Errorf("b2 -> 10.20.1.11:7000 answered %q, want b1", got)
		}
		if got := tcpReply(w.inst("a1"), "10.20.2.10", 7001, 10); got != "a3" {
			t.Errorf("a1 -> 10.20.2.10:7001 answered %q, want a3", got)
		}
		if got := tcpReply(w.inst("b2"), "10.20.2.10", 7001, 1); got != "" {
			t.Errorf("b2 -> 10.20.2.10:7001 (VPC A) answered %q, want nothing", got)
		}
	})

	t.Run("instance exec", func(t *testing.T) {
		var out, errb bytes.Buffer
		code, err := a.InstanceExec(context.Background(), w.inst("a1"),
			[]string{"sh", "-c", "read x; echo got:$x; ip -o link show eth0 >&2; exit 3"},
			strings.NewReader("hello\n"), &out, &errb)
		if err != nil {
			t.Fatal(err)
		}
		if code != 3 || out.String() != "got:hello\n" || !strings.Contains(errb.String(), "eth0") {
			t.Errorf("exit %d stdout %q stderr %q", code, out.String(), errb.String())
		}
		if _, err := a.InstanceExec(context.Background(), "i-"+w.tag+"nosuch", []string{"true"}, nil, nil, nil); err == nil {
			t.Error("exec in a missing instance: no error")
		}
	})

	t.Run("anti-spoofing", func(t *testing.T) {
		src := w.inst("a1")
		if !pingEventually(src, "10.20.1.11") {
			t.Fatal("control ping a1 -> a2 failed")
		}
		before := spoofDrops(t, w.vpcA)
		// a3's real address, added by hand inside a1: without anti-spoofing
		// a2 would receive the request and answer a3.
		mustNS(t, src, "ip", "addr", "add", "10.20.2.10/32", "dev", "eth0")
		if ping(src, "10.20.1.11", "-I", "10.20.2.10") {
			t.Error("spoofed ping from a1 as 10.20.2.10 passed")
		}
		if after := spoofDrops(t, w.vpcA); after <= before {
			t.Errorf("spoof drop counter %d -> %d: packet not dropped by anti-spoofing", before, after)
		}
		// IPv6 likewise: a2's address used by a1.
		before = spoofDrops(t, w.vpcA)
		if !pingEventually(src, w.enis["a1"].Gateway6.String()) {
			t.Fatal("control IPv6 ping a1 -> gateway failed")
		}
		mustNS(t, src, "ip", "addr", "add", "fd00:20:1::11/128", "dev", "eth0", "nodad")
		if ping(src, w.enis["a2"].Gateway6.String(), "-I", "fd00:20:1::11") {
			t.Error("spoofed IPv6 ping from a1 as a2 passed")
		}
		if after := spoofDrops(t, w.vpcA); after <= before {
			t.Errorf("IPv6: spoof drop counter %d -> %d: packet not dropped", before, after)
		}
		// Apply removes the hand-made addresses (drift) and traffic is normal.
		apply(t, a, w.host)
		if out := mustNS(t, src, "ip", "-o", "addr", "show", "dev", "eth0"); strings.Contains(out, "10.20.2.10") || strings.Contains(out, "fd00:20:1::11") {
			t.Errorf("hand-made address survived Apply:\n%s", out)
		}
	})

	t.Run("idempotent", func(t *testing.T) {
		before := snapshot(t, w)
		apply(t, a, w.host)
		after := snapshot(t, w)
		if before != after {
			t.Errorf("second Apply changed the kernel:\nbefore:\n%s\nafter:\n%s", before, after)
		}
	})

	t.Run("drift repair", func(t *testing.T) {
		mustNS(t, w.vpcA, "ip", "link", "del", w.veths["a2"])
		mustNS(t, w.vpcA, "ip", "route", "del", "10.20.2.10/32")
		mustNS(t, w.vpcA, "nft", "delete", "table", "inet", spoofTable)
		if ping(w.inst("a1"), "10.20.1.11") || ping(w.inst("a1"), "10.20.2.10") {
			t.Fatal("traffic still passes after the drift: the test damages nothing")
		}
		apply(t, a, w.host)
		for _, dst := range []string{"10.20.1.11", "10.20.2.10"} {
			if !pingEventually(w.inst("a1"), dst) {
				t.Errorf("after repair: ping a1 -> %s fails", dst)
			}
		}
		mustNS(t, w.vpcA, "nft", "list", "table", "inet", spoofTable)
	})

	t.Run("removal", func(t *testing.T) {
		h := w.host
		h.VPCs = []dataplane.VPC{h.VPCs[0]}               // drop VPC B
		h.VPCs[0].ENIs = slices.Clone(h.VPCs[0].ENIs[:2]) // drop a3
		apply(t, a, h)
		names, err := a.Namespaces()
		if err != nil {
			t.Fatal(err)
		}
		for _, gone := range []string{w.vpcB, w.inst("a3"), w.inst("b1"), w.inst("b2")} {
			if slices.Contains(names, gone) {
				t.Errorf("namespace %s still there", gone)
			}
			if _, err := os.Stat(netnsDir + "/" + gone); err == nil {
				t.Errorf("%s/%s still there", netnsDir, gone)
			}
		}
		links := mustNS(t, w.vpcA, "ip", "-o", "link")
		if strings.Contains(links, w.veths["a3"]) {
			t.Errorf("veth of a3 still in %s:\n%s", w.vpcA, links)
		}
		if routes := mustNS(t, w.vpcA, "ip", "route"); strings.Contains(routes, "10.20.2.10") {
			t.Errorf("route to a3 still in %s:\n%s", w.vpcA, routes)
		}
		if !pingEventually(w.inst("a1"), "10.20.1.11") {
			t.Error("a1 -> a2 broken by the removal of others")
		}
	})

	t.Run("cleanup", func(t *testing.T) {
		// A namespace with a Palisade-like name but not ours must survive.
		foreign := "i-" + w.tag + "foreign"
		if out, err := exec.Command("ip", "netns", "add", foreign).CombinedOutput(); err != nil {
			t.Fatalf("ip netns add: %v %s", err, out)
		}
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", foreign).Run() })
		if err := a.Cleanup(context.Background()); err != nil {
			t.Fatal(err)
		}
		if names, _ := a.Namespaces(); len(names) != 0 {
			t.Errorf("left after cleanup: %v", names)
		}
		all, _ := listNamedNS()
		for _, n := range all {
			if strings.Contains(n, w.tag) && n != foreign {
				t.Errorf("left after cleanup: %s", n)
			}
		}
		if !slices.Contains(all, foreign) {
			t.Error("cleanup removed a namespace that is not Palisade's")
		}
	})
}

var dropCounter = regexp.MustCompile(`counter packets (\d+) bytes \d+ drop`)

func spoofDrops(t *testing.T, vpcNS string) int {
	t.Helper()
	out := mustNS(t, vpcNS, "nft", "list", "chain", "inet", spoofTable, spoofChain)
	m := dropCounter.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no drop counter in:\n%s", out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// snapshot renders the kernel state Apply manages; link indexes and nftables
// handles change when anything is recreated.
func snapshot(t *testing.T, w *world) string {
	t.Helper()
	var b strings.Builder
	nss := []string{w.vpcA, w.vpcB}
	for _, e := range w.enis {
		nss = append(nss, e.InstanceID)
	}
	slices.Sort(nss)
	for _, ns := range nss {
		fmt.Fprintf(&b, "== %s\n", ns)
		// iproute2 names a link's peer namespace by walking /run/netns and
		// complains on stderr when one there is being deleted meanwhile
		// (other tests of the host): noise, not a change of this world.
		b.WriteString(strings.ReplaceAll(mustNS(t, ns, "ip", "-o", "link"), "Error: Peer netns reference is invalid.\n", ""))
		b.WriteString(mustNS(t, ns, "ip", "-o", "addr"))
		b.WriteString(mustNS(t, ns, "ip", "route"))
		b.WriteString(mustNS(t, ns, "ip", "-6", "route"))
		if strings.HasPrefix(ns, vpcNSPrefix) {
			b.WriteString(mustNS(t, ns, "ip", "-6", "neigh", "show", "proxy"))
			out := mustNS(t, ns, "nft", "-a", "list", "table", "inet", spoofTable)
			b.WriteString(dropCounter.ReplaceAllString(out, "counter drop"))
		}
	}
	return b.String()
}

func TestForeignNamespaceRefused(t *testing.T) {
	needRoot(t)
	tag := randHex(t, 4)
	a := newApplier(t, tag)
	// A namespace of a desired name that holds links and no marker is not
	// taken over.
	name := "vpc-" + tag + "foreign"
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	mustNS(t, name, "ip", "link", "add", "x0", "type", "bridge")
	e := dataplane.ENI{ID: "eni-" + tag, InstanceID: "i-" + tag, MAC: "02:00:00:00:00:01",
		Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.5")}}
	st, err := a.Apply(context.Background(), dataplane.Host{VPCs: []dataplane.VPC{{ID: name, ENIs: []dataplane.ENI{e}}}})
	if err == nil || st.Ready(e.ID) {
		t.Fatalf("Apply over a foreign namespace: err %v, ready %v", err, st.Ready(e.ID))
	}
	if out := mustNS(t, name, "ip", "-o", "link"); !strings.Contains(out, "x0") || strings.Contains(out, "pgw") {
		t.Errorf("foreign namespace changed:\n%s", out)
	}
}

func TestInvalidENIsReported(t *testing.T) {
	tag := "t" // no kernel access needed: planning only
	st := dataplane.Status{ENIs: map[string]dataplane.ENIStatus{}}
	ok := dataplane.ENI{ID: "eni-ok", InstanceID: "i-" + tag, MAC: "02:00:00:00:00:01"}
	h := dataplane.Host{VPCs: []dataplane.VPC{
		{ID: "vpc-" + tag, ENIs: []dataplane.ENI{
			ok,
			{ID: "eni-badmac", InstanceID: "i-x", MAC: "zz"},
			{ID: "eni-badinst", InstanceID: "../etc", MAC: "02:00:00:00:00:02"},
			{ID: "eni-dupdev", InstanceID: "i-" + tag, MAC: "02:00:00:00:00:03"},
		}},
		{ID: "vpc-other", ENIs: []dataplane.ENI{
			{ID: "eni-othervpc", InstanceID: "i-" + tag, DeviceIndex: 1, MAC: "02:00:00:00:00:04"},
		}},
		{ID: "bad", ENIs: []dataplane.ENI{{ID: "eni-badvpc", InstanceID: "i-y", MAC: "02:00:00:00:00:05"}}},
	}}
	plans, errs := planHost(h, st)
	if len(errs) != 5 {
		t.Errorf("want 5 errors, got %d: %v", len(errs), errs)
	}
	if len(plans) != 2 || len(plans[0].enis) != 1 || plans[0].enis[0].ID != "eni-ok" || len(plans[1].enis) != 0 {
		t.Errorf("plans: %+v", plans)
	}
	for _, id := range []string{"eni-badmac", "eni-badinst", "eni-dupdev", "eni-othervpc", "eni-badvpc"} {
		if s := st.ENIs[id]; s.Ready || s.Error == "" {
			t.Errorf("%s: %+v, want an error", id, s)
		}
	}
}

// TestSecondaryENISourceRouting: an instance with ENIs in two vSwitches
// answers on its secondary ENI from outside that ENI's subnet, and sends
// from the secondary ENI's address through that ENI (source routing);
// nothing of it outlives the secondary ENI's detachment.
func TestSecondaryENISourceRouting(t *testing.T) {
	needRoot(t)
	tag := randHex(t, 4)
	vsw1, vsw2, vsw3 := netip.MustParsePrefix("10.30.1.0/24"), netip.MustParsePrefix("10.30.2.0/24"), netip.MustParsePrefix("10.30.3.0/24")
	vsw2v6 := netip.MustParsePrefix("fd00:30:2::/64")
	n := 0
	mk := func(inst string, dev int, vsw, vsw6 netip.Prefix, addrs ...string) dataplane.ENI {
		n++
		e := dataplane.ENI{ID: fmt.Sprintf("eni-%s%s%d", tag, inst, dev), InstanceID: "i-" + tag + inst, DeviceIndex: dev,
			MAC: fmt.Sprintf("02:%s:%s:%s:00:%02x", tag[0:2], tag[2:4], tag[4:6], n), VSwitchCidr: vsw, Gateway: model.VSwitchGateway(vsw)}
		if vsw6.IsValid() {
			e.VSwitchCidr6, e.Gateway6 = vsw6, model.VSwitchGateway(vsw6)
		}
		for _, ad := range addrs {
			e.Addrs = append(e.Addrs, netip.MustParseAddr(ad))
		}
		return e
	}
	m0 := mk("m", 0, vsw1, netip.Prefix{}, "10.30.1.10")
	m1 := mk("m", 1, vsw2, vsw2v6, "10.30.2.10", "10.30.2.11", "fd00:30:2::10")
	c := mk("c", 0, vsw3, netip.Prefix{}, "10.30.3.10")
	vpc := dataplane.VPC{ID: "vpc-" + tag, Gateways: []netip.Prefix{gwPrefix(vsw1), gwPrefix(vsw2), gwPrefix(vsw2v6), gwPrefix(vsw3)}}
	host := func(enis ...dataplane.ENI) dataplane.Host {
		v := vpc
		v.ENIs = enis
		return dataplane.Host{VPCs: []dataplane.VPC{v}}
	}
	a := newApplier(t, tag)
	apply(t, a, host(m0, m1, c))
	m, cl := m0.InstanceID, c.InstanceID
	drops := spoofDrops(t, vpc.ID)

	// The reply to a connection that came in on eth1 from another subnet.
	startServer(t, m, 7001, "from-m")
	for _, dst := range []string{"10.30.2.10", "10.30.2.11", "10.30.1.10"} {
		if got := tcpReply(cl, dst, 7001, 20); got != "from-m" {
			t.Errorf("c -> m %s:7001: got %q, want from-m", dst, got)
		}
	}
	// A socket bound to eth1's address, to another subnet.
	startServer(t, cl, 7002, "from-c")
	if o, err := nsRun(m, "ncat", "-w", "1", "--recv-only", "-s", "10.30.2.10", "10.30.3.10", "7002"); err != nil || strings.TrimSpace(o) != "from-c" {
		t.Errorf("m bound to 10.30.2.10 -> c: %v %q", err, o)
	}
	for _, c := range []struct{ from, to, dev string }{
		{"10.30.2.10", "10.30.3.10", "eth1"},
		{"10.30.2.11", "10.30.1.99", "eth1"}, // eth0's subnet, from eth1's address
		{"10.30.1.10", "10.30.2.99", "eth0"}, // eth1's subnet, from eth0's address
		{"fd00:30:2::10", "fd00:99::1", "eth1"},
	} {
		out := mustNS(t, m, "ip", "route", "get", c.to, "from", c.from)
		if !strings.Contains(out, "dev "+c.dev+" ") {
			t.Errorf("route from %s to %s: %s, want dev %s", c.from, c.to, out, c.dev)
		}
	}
	// Without a source, the main table decides, as before; its IPv6
	// default route is on eth1, the first ENI with an IPv6 address.
	if out := mustNS(t, m, "ip", "route", "get", "10.30.3.10"); !strings.Contains(out, "dev eth0 ") {
		t.Errorf("route to 10.30.3.10: %s, want the default route on eth0", out)
	}
	if out := mustNS(t, m, "ip", "-6", "route", "show", "default"); !strings.Contains(out, "dev eth1 ") {
		t.Errorf("IPv6 default route: %q, want it on eth1", out)
	}
	if got := spoofDrops(t, vpc.ID); got != drops {
		t.Errorf("anti-spoofing dropped %d packets: something left through the wrong ENI", got-drops)
	}
	// One ENI only: no rules, no tables.
	if rules := mustNS(t, cl, "ip", "rule"); strings.Contains(rules, "lookup 10") {
		t.Errorf("single-ENI instance has source rules:\n%s", rules)
	}

	// In place, a sync changes nothing (no rule or route is replaced on
	// every reconciliation).
	ref, err := openNS(m)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	var links []eniLink
	for _, e := range []dataplane.ENI{m0, m1} {
		l, err := ref.nl.LinkByName(InstanceIfName(e.DeviceIndex))
		if err != nil {
			t.Fatal(err)
		}
		links = append(links, eniLink{eni: e, linkIdx: l.Attrs().Index})
	}
	if n, err := syncSourceRouting(ref.nl, links); err != nil || n != 0 {
		t.Errorf("sync of the routing in place: %d changes, %v; want none", n, err)
	}

	// A rule deleted by hand comes back.
	mustNS(t, m, "ip", "rule", "del", "from", "10.30.2.11", "lookup", "1001")
	apply(t, a, host(m0, m1, c))
	if rules := mustNS(t, m, "ip", "rule"); !strings.Contains(rules, "from 10.30.2.11 lookup 1001") {
		t.Errorf("rule not repaired:\n%s", rules)
	}

	// eth1 detached: its rules and tables go with it.
	apply(t, a, host(m0, c))
	rules := mustNS(t, m, "ip", "rule") + mustNS(t, m, "ip", "-6", "rule")
	routes := mustNS(t, m, "ip", "route", "show", "table", "all") + mustNS(t, m, "ip", "-6", "route", "show", "table", "all")
	if strings.Contains(rules, "lookup 100") || strings.Contains(routes, "table 100") {
		t.Errorf("source routing left after eth1 was detached:\n%s\n%s", rules, routes)
	}
	if got := tcpReply(cl, "10.30.1.10", 7001, 20); got != "from-m" {
		t.Errorf("c -> m eth0 after the detachment: got %q", got)
	}
	if out := mustNS(t, m, "ip", "-6", "route", "show", "default"); strings.TrimSpace(out) != "" {
		t.Errorf("IPv6 default route left with no IPv6 ENI: %q", out)
	}
	// One left on eth0 (by an older agent, which put both defaults on the
	// first ENI) goes: eth0 has no IPv6 address to send from.
	mustNS(t, m, "ip", "-6", "route", "add", "default", "via", "fd00:30:1::fffd", "dev", "eth0", "onlink", "proto", "0x9a")
	apply(t, a, host(m0, c))
	if out := mustNS(t, m, "ip", "-6", "route", "show", "default"); strings.TrimSpace(out) != "" {
		t.Errorf("stale IPv6 default route kept: %q", out)
	}
}
