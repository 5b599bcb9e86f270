package kernel_test

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/analysis"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/policy"
	"github.com/palisade-project/palisade/internal/probe"
	"github.com/palisade-project/palisade/internal/store"
)

// TestKernelMatchesAnalyzer is a differential test of the reachability
// analyzer against the kernel: each set combines random security groups
// and memberships (genDiffSet), random network ACLs and vSwitch
// associations (genACLDiffSet) and sometimes a stopped instance; it is
// written to the store and reconciled, then TCP, UDP and ICMP probes run
// between the three instances, and each delivery must equal the
// analyzer's answer (analysis.Reach: reachable = the request passes every
// decision point and the stateless ACLs pass the reply).
//
// PALISADE_ANALYSIS_SEED fixes the seed, PALISADE_ANALYSIS_SETS the number
// of sets (default 60).
func TestKernelMatchesAnalyzer(t *testing.T) {
	requireKernel(t)
	seed := envInt(t, "PALISADE_ANALYSIS_SEED", uint64(time.Now().UnixNano()))
	sets := int(envInt(t, "PALISADE_ANALYSIS_SETS", 60))
	t.Logf("seed %d, %d sets (replay with PALISADE_ANALYSIS_SEED=%d)", seed, sets, seed)
	r := newDiffRig(t, "z")
	var vsw [2]string
	for _, n := range r.nodes {
		if vsw[0] == "" || vsw[0] == n.vsw {
			vsw[0] = n.vsw
		} else {
			vsw[1] = n.vsw
		}
	}
	start := time.Now()
	fails, probes, delivered := 0, 0, 0
	verdicts := map[string]int{}
	for i := range sets {
		n, ok, bad := r.runAnalysisSet(seed, i, vsw, verdicts)
		probes += n
		delivered += ok
		if bad {
			if fails++; fails >= 3 {
				t.Fatalf("stopped after %d differing sets (seed %d)", fails, seed)
			}
		}
	}
	t.Logf("%d sets, %d probes (%d delivered) in %v; analyzer verdicts %v (seed %d)",
		sets, probes, delivered, time.Since(start).Round(time.Millisecond), verdicts, seed)
}

func (r *rig) runAnalysisSet(seed uint64, i int, vsw [2]string, verdicts map[string]int) (int, int, bool) {
	t := r.t
	t.Helper()
	s := genDiffSet(r, seed, i)
	as := genACLDiffSet(r, rand.New(rand.NewPCG(seed^0x5eed, uint64(i))), i)
	rng := rand.New(rand.NewPCG(seed, uint64(i)^0xa11))
	stopped := -1
	if rng.IntN(8) == 0 {
		stopped = rng.IntN(len(r.nodes))
	}
	w := &analysis.World{
		VPCs:   []model.VPC{{ID: r.vpc, CidrBlock: netip.MustParsePrefix("10.77.0.0/16")}},
		Groups: s.groups,
		ACLs:   as.acls,
	}
	for v := range 2 {
		w.VSwitches = append(w.VSwitches, model.VSwitch{ID: vsw[v], VpcID: r.vpc, ZoneID: rigZone, CidrBlock: r.vswCID[vsw[v]],
			Status: "Available", NetworkAclID: as.assoc[v]})
	}
	for k, n := range r.nodes {
		w.ENIs = append(w.ENIs, r.eniRecord(k, s.member[k]))
		st := model.InstanceRunning
		if k == stopped {
			st = model.InstanceStopped
		}
		w.Instances = append(w.Instances, model.Instance{ID: n.inst, ZoneID: rigZone, VpcID: r.vpc, VSwitchID: n.vsw, PrimaryENIID: n.eni, Status: st})
	}
	r.update(func(tx store.Txn) error {
		for g := range diffMaxGroups {
			if err := tx.Delete(model.PrefixSecurityGroup + r.groupID(fmt.Sprintf("g%d", g))); err != nil {
				return err
			}
		}
		for _, g := range w.Groups {
			if err := putJSON(tx, model.PrefixSecurityGroup+g.ID, g); err != nil {
				return err
			}
		}
		for _, a := range w.ACLs {
			if err := putJSON(tx, model.PrefixNetworkACL+a.ID, a); err != nil {
				return err
			}
		}
		for _, v := range w.VSwitches {
			if err := putJSON(tx, model.PrefixVSwitch+v.ID, v); err != nil {
				return err
			}
		}
		for k := range w.ENIs {
			if err := putJSON(tx, model.PrefixENI+w.ENIs[k].ID, w.ENIs[k]); err != nil {
				return err
			}
			if err := putJSON(tx, model.PrefixInstance+w.Instances[k].ID, w.Instances[k]); err != nil {
				return err
			}
		}
		return nil
	})
	r.reconcile()
	r.flushConntrack()
	a := analysis.New(w)

	results := r.sendProbes(s.probes, diffTimeout)

	var diffs []string
	delivered := 0
	for k, p := range s.probes {
		from, to := r.nodes[p.from], r.nodes[p.to]
		q := analysis.ReachQuery{From: from.eni, To: to.eni, Protocol: analysis.ProtoName(p.proto)}
		if p.proto != policy.IPProtoICMP {
			q.Port, q.SourcePort = int(p.dport), int(p.sport)
		}
		ans, err := a.Reach(q)
		if err != nil {
			t.Fatalf("reach %+v: %v", q, err)
		}
		path := ans.Paths[0]
		verdicts[ans.Verdict]++
		res := r.confirmDrop(t, p, results[k], path.Reachable)
		if res.ok {
			delivered++
		}
		if res.err != nil || res.ok != path.Reachable {
			got := "dropped"
			if res.ok {
				got = "delivered"
			}
			if res.err != nil {
				got = "error: " + res.err.Error()
			}
			var steps []string
			for _, st := range append(path.Steps, path.Reply...) {
				steps = append(steps, fmt.Sprintf("%s %v %s", st.Point, st.Allow, st.Detail))
			}
			diffs = append(diffs, fmt.Sprintf("%s -> %s %v: kernel %s, analyzer %s\n    %s", from.name, to.name, p, got, ans.Verdict, strings.Join(steps, "\n    ")))
		}
	}
	if len(diffs) > 0 {
		t.Errorf("seed %d set %d (stopped node %d, ACLs %v): %d of %d probes differ (replay: PALISADE_ANALYSIS_SEED=%d)\n%s\n  %s",
			seed, i, stopped, as.assoc, len(diffs), len(s.probes), seed, r.describeSet(s), strings.Join(diffs, "\n  "))
	}
	return len(s.probes), delivered, len(diffs) > 0
}

// TestKernelMatchesAnalyzerMultiAddress compares the analyzer with real
// TCP probes where an instance has several addresses: a dual-stack VPC
// whose security group opens SSH to IPv6 only, and instances with two
// ENIs, whose own routing picks the ENI (and source address) a packet
// leaves through. For every ordered pair of instances and port, each path
// of Reach (one per destination address) must equal a probe from the
// source instance to that address, the verdict must be reachable exactly
// when one of them delivers, and the matrix cell must agree; packets sent
// from an address of the ENI that the instance's routing does not pick
// must be dropped (anti-spoofing) as Reach from that ENI says.
func TestKernelMatchesAnalyzerMultiAddress(t *testing.T) {
	r := newRig(t, "m", time.Hour)
	vpc := model.VPC{ID: r.vpc, CidrBlock: netip.MustParsePrefix("10.77.0.0/16"), Ipv6CidrBlock: netip.MustParsePrefix("fd00:77::/56"), Status: "Available"}
	r.put(model.PrefixVPC+r.vpc, vpc)
	vsw := func(short, cidr, cidr6 string) model.VSwitch {
		v := model.VSwitch{ID: "vsw-" + r.tag + short, VpcID: r.vpc, ZoneID: rigZone, CidrBlock: netip.MustParsePrefix(cidr), Status: "Available"}
		if cidr6 != "" {
			v.Ipv6CidrBlock = netip.MustParsePrefix(cidr6)
		}
		r.vswCID[v.ID] = v.CidrBlock
		r.put(model.PrefixVSwitch+v.ID, v)
		return v
	}
	w1 := vsw("w1", "10.77.1.0/24", "fd00:77:0:1::/64")
	w2 := vsw("w2", "10.77.2.0/24", "fd00:77:0:2::/64")
	w3 := vsw("w3", "10.77.3.0/24", "")
	gV6, gLock, gOpen := r.groupID("v6"), r.groupID("lock"), r.groupID("open")
	rule := func(id, dir string, port int, peer, pol string) model.Rule {
		return model.Rule{ID: "sgr-" + r.tag + id, Direction: dir, Protocol: model.ProtoTCP, Ports: model.PortRange{From: port, To: port},
			PeerCidr: netip.MustParsePrefix(peer), Policy: pol, Priority: 1}
	}
	groups := []model.SecurityGroup{
		{ID: gV6, VpcID: r.vpc, Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerDrop, Rules: []model.Rule{
			rule("v6ssh", model.Ingress, 22, "::/0", model.PolicyAccept)}},
		{ID: gLock, VpcID: r.vpc, Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerDrop, Rules: []model.Rule{
			rule("lockout", model.Egress, 7002, "0.0.0.0/0", model.PolicyDrop)}},
		{ID: gOpen, VpcID: r.vpc, Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerDrop, Rules: []model.Rule{
			rule("open4", model.Ingress, 7002, "10.77.0.0/16", model.PolicyAccept),
			rule("open6", model.Ingress, 7002, "fd00:77::/56", model.PolicyAccept)}},
	}
	for _, g := range groups {
		r.put(model.PrefixSecurityGroup+g.ID, g)
	}
	w := &analysis.World{VPCs: []model.VPC{vpc}, VSwitches: []model.VSwitch{w1, w2, w3}, Groups: groups}
	type eniSpec struct {
		vsw      model.VSwitch
		addr, v6 string
		group    string
	}
	var insts []node
	nENI := 0
	add := func(short string, specs ...eniSpec) {
		n := node{name: short, inst: "i-" + r.tag + short}
		for dev, s := range specs {
			nENI++
			e := model.ENI{
				ID: fmt.Sprintf("eni-%s%s%d", r.tag, short, dev), Type: model.ENITypePrimary, VpcID: r.vpc, VSwitchID: s.vsw.ID, ZoneID: rigZone,
				InstanceID: n.inst, DeviceIndex: dev, MAC: fmt.Sprintf("02:%s:%s:%s:01:%02x", r.tag[1:3], r.tag[3:5], r.tag[5:7], nENI),
				PrimaryIP: netip.MustParseAddr(s.addr), SecurityGroupIDs: []string{s.group}, Status: model.ENIInUse,
			}
			if dev > 0 {
				e.Type = model.ENITypeSecondary
			}
			if s.v6 != "" {
				e.IPv6s = []netip.Addr{netip.MustParseAddr(s.v6)}
			}
			if dev == 0 {
				n.eni, n.vsw, n.addr = e.ID, e.VSwitchID, e.PrimaryIP
			}
			r.put(model.PrefixENI+e.ID, e)
			w.ENIs = append(w.ENIs, e)
		}
		in := model.Instance{ID: n.inst, ZoneID: rigZone, VpcID: r.vpc, VSwitchID: n.vsw, PrimaryENIID: n.eni, Status: model.InstanceRunning}
		r.put(model.PrefixInstance+n.inst, in)
		w.Instances = append(w.Instances, in)
		insts = append(insts, n)
	}
	add("x1", eniSpec{w1, "10.77.1.10", "fd00:77:0:1::10", gV6})
	add("x2", eniSpec{w1, "10.77.1.11", "fd00:77:0:1::11", gV6})
	// eth0 without IPv6 in a dual-stack vSwitch: IPv6 leaves through
	// eth1, the first ENI with an IPv6 address.
	add("ia", eniSpec{w1, "10.77.1.5", "", gLock}, eniSpec{w2, "10.77.2.4", "fd00:77:0:2::4", gOpen})
	// eth0 in an IPv4-only vSwitch: no IPv6 route at all.
	add("ib", eniSpec{w3, "10.77.3.6", "", gOpen}, eniSpec{w2, "10.77.2.6", "fd00:77:0:2::6", gOpen})
	add("id", eniSpec{w2, "10.77.2.3", "fd00:77:0:2::3", gOpen})
	add("ic", eniSpec{w3, "10.77.3.3", "", gOpen})
	r.reconcile()
	for _, n := range insts {
		r.serve(n, []int{22, 7002}, nil)
	}
	a := analysis.New(w)
	ports := []int{22, 7002}
	specs, _ := analysis.ParsePorts("22,7002")
	m, err := a.Matrix(analysis.MatrixQuery{VpcID: r.vpc, Ports: specs})
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, in := range m.Instances {
		col[in.Instance] = i
	}

	// Every address of every ENI of each instance, and its families.
	addrs := map[string][]netip.Addr{}
	fams := map[string][2]bool{}
	for _, e := range w.ENIs {
		addrs[e.InstanceID] = append(addrs[e.InstanceID], e.Addrs()...)
		f := fams[e.InstanceID]
		for _, ad := range e.Addrs() {
			f[b2i(ad.Is6())] = true
		}
		fams[e.InstanceID] = f
	}
	type job struct {
		from, to node
		port     int
		res      *analysis.ReachResult
		dsts     []netip.Addr // every address of to, probed whatever the analyzer says
		results  []probeResult
	}
	var jobs []*job
	for _, f := range insts {
		for _, to := range insts {
			if f.inst == to.inst {
				continue
			}
			for _, port := range ports {
				res, err := a.Reach(analysis.ReachQuery{From: f.inst, To: to.inst, Protocol: "tcp", Port: port})
				if err != nil {
					t.Fatalf("reach %s -> %s %d: %v", f.name, to.name, port, err)
				}
				jobs = append(jobs, &job{from: f, to: to, port: port, res: res, dsts: addrs[to.inst], results: make([]probeResult, len(addrs[to.inst]))})
			}
		}
	}
	var wg sync.WaitGroup
	for _, j := range jobs {
		for k, dst := range j.dsts {
			wg.Go(func() {
				err := tcpProbe(j.from.inst, 0, netip.AddrPortFrom(dst, uint16(j.port)), eipTimeout)
				switch {
				case err == nil:
					j.results[k] = probeResult{ok: true}
				case probe.IsTimeout(err):
				default:
					j.results[k] = probeResult{err: err}
				}
			})
		}
	}
	wg.Wait()

	var diffs []string
	probes, delivered := 0, 0
	for _, j := range jobs {
		any := false
		var tried, reached [2]bool
		for k, dst := range j.dsts {
			got := j.results[k]
			probes++
			fam := b2i(dst.Is6())
			if fams[j.from.inst][fam] {
				tried[fam] = true
			}
			if got.ok {
				delivered++
				any = true
				reached[fam] = true
			}
			var p *analysis.PathResult
			for i := range j.res.Paths {
				if j.res.Paths[i].To.Address == dst.String() {
					p = &j.res.Paths[i]
				}
			}
			switch {
			case p == nil && got.ok:
				diffs = append(diffs, fmt.Sprintf("%s -> %s (%s) tcp %d: kernel delivered, the analyzer has no path to this address", j.from.name, j.to.name, dst, j.port))
			case p == nil && fams[j.from.inst][fam]:
				diffs = append(diffs, fmt.Sprintf("%s -> %s (%s) tcp %d: the analyzer has no path to this address (kernel ok=%v err=%v)", j.from.name, j.to.name, dst, j.port, got.ok, got.err))
			case p != nil && got.ok != p.Reachable:
				var steps []string
				for _, st := range append(p.Steps, p.Reply...) {
					steps = append(steps, fmt.Sprintf("%s %v %s", st.Point, st.Allow, st.Detail))
				}
				diffs = append(diffs, fmt.Sprintf("%s -> %s (%s) tcp %d: kernel ok=%v err=%v, analyzer %s -> %s reachable=%v\n    %s",
					j.from.name, j.to.name, dst, j.port, got.ok, got.err, p.From, p.To, p.Reachable, strings.Join(steps, "\n    ")))
			}
		}
		if any != j.res.Reachable {
			diffs = append(diffs, fmt.Sprintf("%s -> %s tcp %d: some address delivered=%v, verdict %s", j.from.name, j.to.name, j.port, any, j.res.Verdict))
		}
		want := byte(analysis.CellBlocked)
		switch {
		case (reached[0] || reached[1]) && reached == tried:
			want = analysis.CellReachable
		case reached[0]:
			want = analysis.CellReachable4
		case reached[1]:
			want = analysis.CellReachable6
		}
		pi := slices.Index(ports, j.port)
		got := m.Rows[col[j.from.inst]].Cells[pi][col[j.to.inst]]
		if got == analysis.CellOneWay && want == analysis.CellBlocked {
			// Probes cannot tell a dropped first packet from dropped
			// replies: the paths of Reach (checked above) say which.
			want = got
		}
		if got != want {
			diffs = append(diffs, fmt.Sprintf("%s -> %s tcp %d: matrix %c, probes say %c", j.from.name, j.to.name, j.port, got, want))
		}
	}

	// Sent from an address of an ENI the routing does not pick.
	bound := func(ns string, src netip.Addr, dst netip.AddrPort) error {
		var c net.Conn
		err := probe.InNetns(ns, func() error {
			d := net.Dialer{Timeout: eipTimeout, LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0))}
			var err error
			c, err = d.Dial("tcp", dst.String())
			return err
		})
		if err != nil {
			return err
		}
		defer c.Close()
		return probe.Echo(c, "probe", eipTimeout)
	}
	ia, ib := insts[2], insts[3]
	for _, c := range []struct {
		ns, fromENI string
		src, dst    string
	}{
		{ia.inst, ia.eni, "10.77.1.5", "10.77.2.3"},                           // eth0's address to eth1's subnet
		{ia.inst, "eni-" + r.tag + "ia1", "10.77.2.4", "10.77.3.3"},           // eth1's address to the default route
		{ia.inst, "eni-" + r.tag + "ia1", "10.77.2.4", "10.77.2.3"},           // eth1's address to its own subnet
		{ib.inst, "eni-" + r.tag + "ib1", "fd00:77:0:2::6", "fd00:77:0:2::3"}, // eth1 carries the IPv6 default route
	} {
		dst := netip.MustParseAddr(c.dst)
		res, err := a.Reach(analysis.ReachQuery{From: c.fromENI, To: c.dst, Protocol: "tcp", Port: 7002})
		if err != nil {
			diffs = append(diffs, fmt.Sprintf("reach %s -> %s: %v", c.fromENI, c.dst, err))
			continue
		}
		err = bound(c.ns, netip.MustParseAddr(c.src), netip.AddrPortFrom(dst, 7002))
		probes++
		if err == nil {
			delivered++
		}
		if (err == nil) != res.Reachable {
			var b strings.Builder
			analysis.WriteReach(&b, res)
			diffs = append(diffs, fmt.Sprintf("from %s bound to %s -> %s:7002: kernel err=%v, analyzer:\n%s", c.ns, c.src, c.dst, err, b.String()))
		}
	}
	if len(diffs) > 0 {
		var b strings.Builder
		analysis.WriteMatrix(&b, m)
		t.Fatalf("%d differences (of %d probes):\n  %s\n%s", len(diffs), probes, strings.Join(diffs, "\n  "), b.String())
	}
	t.Logf("%d probes, %d delivered, all as the analyzer says", probes, delivered)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
