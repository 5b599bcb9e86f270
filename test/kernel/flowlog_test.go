package kernel_test

// Flow logs in the kernel path (issue 6): exact packet and byte counts of
// accepted flows (conntrack) and rejected packets (NFLOG on the deny
// chains), both ENIs and directions, window boundaries, NODATA, traffic
// type filters, and an agent restart in the middle of a window.

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"

	"github.com/palisade-project/palisade/internal/agent"
	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/app"
	"github.com/palisade-project/palisade/internal/dataplane/linux"
	"github.com/palisade-project/palisade/internal/flowlog"
	"github.com/palisade-project/palisade/internal/flowlog/capture"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/probe"
	"github.com/palisade-project/palisade/internal/service"
)

// fakeFlowSink collects the batches an agent reports.
type fakeFlowSink struct {
	mu      sync.Mutex
	batches []flowlog.Batch
}

func (s *fakeFlowSink) ReportFlowRecords(_ context.Context, b flowlog.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches = append(s.batches, b)
	return nil
}

func (s *fakeFlowSink) records() []flowlog.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []flowlog.Record
	for _, b := range s.batches {
		out = append(out, b.Records...)
	}
	return out
}

// waitWindow waits until the sink has the records of the window [start,
// start+w) of the flow log (at least one per covered ENI).
func (s *fakeFlowSink) waitWindow(t *testing.T, logID string, start int64, enis int) []flowlog.Record {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var got []flowlog.Record
		seen := map[string]bool{}
		for _, r := range s.records() {
			if r.FlowLogID == logID && windowOf(r) == start {
				got = append(got, r)
				seen[r.ENIID] = true
			}
		}
		if len(seen) >= enis {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("window %d of %s not reported (have %d ENIs of %d)", start, logID, len(seen), enis)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitAny waits for the first record of the flow log: its capture runs.
func (s *fakeFlowSink) waitAny(t *testing.T, logID string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for _, r := range s.records() {
			if r.FlowLogID == logID {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no record of %s", logID)
}

// windowOf is the window start of a record.
func windowOf(r flowlog.Record) int64 { return r.Start - r.Start%flowWindow }

const flowWindow = 2 // seconds

// withFlowAgent replaces the rig's agent with one that captures flow logs
// into sink, with its checkpoints in dir.
func (r *rig) withFlowAgent(sink agent.FlowRecordSink, dir string) {
	r.ap = linux.New(linux.Config{Tag: "k-" + r.tag, Logger: r.log})
	r.fw = &agent.NlFirewall{GuardPrefix: linux.VethPrefix}
	r.a = agent.New(agent.Config{
		Store: r.st, Zone: rigZone, Topology: r.ap, Firewall: r.fw,
		IfName: linux.VethName, Resync: r.resync, Logger: r.log,
		FlowRecords: sink, FlowLogDir: dir, FlowLogSetSize: r.flowSetSize,
	})
}

func (r *rig) flowLog(short, resType, resID, traffic string) string {
	id := "fl-" + r.tag + short
	r.put(model.PrefixFlowLog+id, model.FlowLog{ID: id, AccountID: "acct-" + r.tag, ResourceType: resType, ResourceID: resID,
		VpcID: r.vpc, TrafficType: traffic, AggregationInterval: 1, WindowSeconds: flowWindow, Status: model.FlowLogActive})
	return id
}

// sendUDP sends n datagrams of size bytes from ns (source port sport) to
// dst and, when echo, waits for each echo.
func sendUDP(t *testing.T, ns string, sport uint16, dst netip.AddrPort, n, size int, echo bool) {
	t.Helper()
	var c *net.UDPConn
	if err := probe.InNetns(ns, func() error {
		var err error
		c, err = net.DialUDP("udp", &net.UDPAddr{Port: int(sport)}, net.UDPAddrFromAddrPort(dst))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := make([]byte, size)
	buf := make([]byte, 2048)
	for i := range n {
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		if echo {
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			if _, err := c.Read(buf); err != nil {
				t.Fatalf("udp echo %d from %s: %v", i, dst, err)
			}
		}
	}
}

// oracle counts forwarded packets in the VPC namespace independently of
// Palisade (a table of its own, after the security-group chains, so only
// accepted packets): counter "<name>" per (source, destination, protocol).
type oracle struct {
	r     *rig
	rules []string
	// prio is the forward priority of its chain (default filter + 50:
	// after Palisade's chains, so accepted packets only).
	prio string
}

func (o *oracle) count(name string, src, dst netip.Addr, proto string) {
	o.rules = append(o.rules, fmt.Sprintf("ip saddr %s ip daddr %s meta l4proto %s counter name %q", src, dst, proto, name))
}

func (o *oracle) load() {
	o.r.t.Helper()
	var b strings.Builder
	b.WriteString("table inet fltest {\n")
	for _, rl := range o.rules {
		name := regexp.MustCompile(`counter name "(\w+)"`).FindStringSubmatch(rl)[1]
		fmt.Fprintf(&b, "\tcounter %s {}\n", name)
	}
	prio := o.prio
	if prio == "" {
		prio = "filter + 50"
	}
	fmt.Fprintf(&b, "\tchain count {\n\t\ttype filter hook forward priority %s; policy accept;\n", prio)
	for _, rl := range o.rules {
		fmt.Fprintf(&b, "\t\t%s\n", rl)
	}
	b.WriteString("\t}\n}\n")
	cmd := "nft -f - <<'EOF'\n" + b.String() + "EOF\n"
	if out, err := o.r.vpcExec("sh", "-c", cmd); err != nil {
		o.r.t.Fatalf("oracle: %v: %s", err, out)
	}
}

func (o *oracle) read() map[string][2]uint64 {
	o.r.t.Helper()
	out, err := o.r.vpcExec("nft", "list", "counters", "table", "inet", "fltest")
	if err != nil {
		o.r.t.Fatal(err)
	}
	m := map[string][2]uint64{}
	for _, x := range regexp.MustCompile(`counter (\w+) \{\s*packets (\d+) bytes (\d+)`).FindAllStringSubmatch(out, -1) {
		p, _ := strconv.ParseUint(x[2], 10, 64)
		b, _ := strconv.ParseUint(x[3], 10, 64)
		m[x[1]] = [2]uint64{p, b}
	}
	return m
}

// waitBoundary sleeps until just after the next window boundary and
// returns that window's start.
func waitBoundary() int64 {
	now := time.Now()
	next := now.Unix() - now.Unix()%flowWindow + flowWindow
	time.Sleep(time.Until(time.Unix(next, 0).Add(150 * time.Millisecond)))
	return next
}

func recordLine(r flowlog.Record) string {
	if r.LogStatus != flowlog.StatusOK {
		return fmt.Sprintf("%s %s", r.ENIID, r.LogStatus)
	}
	return fmt.Sprintf("%s %s %s %s:%d>%s:%d p%d %d/%d f%d", r.ENIID, r.Direction, r.Action, r.SrcAddr, r.SrcPort, r.DstAddr, r.DstPort,
		r.Protocol, r.Packets, r.Bytes, r.TCPFlags)
}

// TestFlowLogExactness sends known traffic inside one 2 s window: TCP
// (one connection, counted by an independent nft counter), UDP (20
// datagrams of 100 bytes, echoed) and ICMP (5 echoes of 36 bytes) from a
// to b across vSwitches, UDP through an ACL deny (b's vSwitch ingress
// drops UDP 9999) and an SG deny (d accepts nothing), and nothing from c.
// It checks every record of the window field by field: counts and bytes
// on both ENIs and in both directions, actions (the sender's own decision
// for packets the receiver drops), tcp-flags, start/end inside the
// window, NODATA for the idle ENI, and the Allow and Drop filters.
func TestFlowLogExactness(t *testing.T) {
	r := newRig(t, "fl", 10*time.Second)
	sink := &fakeFlowSink{}
	r.withFlowAgent(sink, t.TempDir())
	va := r.vswitch("a", "10.77.1.0/24")
	vb := r.vswitch("b", "10.77.2.0/24")
	acl := "nacl-" + r.tag
	all := model.PortRange{From: -1, To: -1}
	anyNet := netip.MustParsePrefix("0.0.0.0/0")
	r.put(model.PrefixNetworkACL+acl, model.NetworkACL{ID: acl, VpcID: r.vpc, Status: "Available",
		Ingress: []model.ACLEntry{
			{ID: "nae-1", Name: "no9999", Policy: "drop", Protocol: "udp", Ports: model.PortRange{From: 9999, To: 9999}, Cidr: anyNet, EntryType: "custom"},
			{ID: "nae-2", Name: "all", Policy: "accept", Protocol: "all", Ports: all, Cidr: anyNet, EntryType: "custom"},
		},
		Egress: []model.ACLEntry{{ID: "nae-3", Name: "all", Policy: "accept", Protocol: "all", Ports: all, Cidr: anyNet, EntryType: "custom"}},
	})
	r.put(model.PrefixVSwitch+vb, model.VSwitch{ID: vb, VpcID: r.vpc, ZoneID: rigZone, CidrBlock: r.vswCID[vb], Status: "Available", NetworkAclID: acl})
	open, closed := r.groupID("open"), r.groupID("closed")
	r.put(model.PrefixSecurityGroup+open, model.SecurityGroup{ID: open, VpcID: r.vpc, Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerDrop,
		Rules: []model.Rule{{ID: "sgr-all", Direction: model.Ingress, Protocol: "ALL", Policy: model.PolicyAccept, Priority: 1, Ports: all,
			PeerCidr: netip.MustParsePrefix("10.77.0.0/16")}}})
	r.put(model.PrefixSecurityGroup+closed, model.SecurityGroup{ID: closed, VpcID: r.vpc, Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerDrop})
	a := r.instance("a", va, "10.77.1.10", open)
	b := r.instance("b", vb, "10.77.2.20", open)
	c := r.instance("c", va, "10.77.1.30", open)
	d := r.instance("d", vb, "10.77.2.40", closed)
	flAll := r.flowLog("all", model.FlowLogResourceVPC, r.vpc, model.FlowLogTrafficAll)
	flAllow := r.flowLog("allow", model.FlowLogResourceENI, a.eni, model.FlowLogTrafficAllow)
	flDrop := r.flowLog("drop", model.FlowLogResourceENI, a.eni, model.FlowLogTrafficDrop)
	r.run()
	r.waitApplied()
	r.serve(b, []int{8080}, []int{9000, 9999})
	r.serve(d, nil, []int{7000})

	ora := &oracle{r: r}
	ora.count("tcp_ab", a.addr, b.addr, "tcp")
	ora.count("tcp_ba", b.addr, a.addr, "tcp")
	ora.load()

	// Capture runs once the first window is reported.
	sink.waitAny(t, flAll)
	start := waitBoundary()
	if err := tcpProbe(a.inst, 41000, netip.AddrPortFrom(b.addr, 8080), 2*time.Second); err != nil {
		t.Fatalf("tcp a->b: %v", err)
	}
	sendUDP(t, a.inst, 42000, netip.AddrPortFrom(b.addr, 9000), 20, 100, true)
	for range 5 {
		if err := icmpProbe(a.inst, b.addr, 2*time.Second); err != nil {
			t.Fatalf("ping a->b: %v", err)
		}
	}
	sendUDP(t, a.inst, 43000, netip.AddrPortFrom(b.addr, 9999), 7, 50, false) // ACL deny
	sendUDP(t, a.inst, 44000, netip.AddrPortFrom(d.addr, 7000), 9, 60, false) // SG deny
	if time.Now().Unix() >= start+flowWindow {
		t.Fatalf("traffic took longer than the window (%d s); rerun on a less loaded machine", flowWindow)
	}
	time.Sleep(100 * time.Millisecond)
	tcpCounts := ora.read() // the TCP flow is over (TIME_WAIT): final counts
	ab, ba := tcpCounts["tcp_ab"], tcpCounts["tcp_ba"]
	if ab[0] == 0 || ba[0] == 0 {
		t.Fatalf("oracle saw no TCP: %v", tcpCounts)
	}

	recs := sink.waitWindow(t, flAll, start, 4)
	A, B := a.addr.String(), b.addr.String()
	// The probe's flags both ways: SYN (or SYN+ACK), ACK, PSH with its
	// data, FIN.
	tcp := func(eni, dir, src string, sp int, dst string, dp int, c [2]uint64) string {
		return fmt.Sprintf("%s %s ACCEPT %s:%d>%s:%d p6 %d/%d f27", eni, dir, src, sp, dst, dp, c[0], c[1])
	}
	want := []string{
		tcp(a.eni, "out", A, 41000, B, 8080, ab), tcp(a.eni, "in", B, 8080, A, 41000, ba),
		tcp(b.eni, "in", A, 41000, B, 8080, ab), tcp(b.eni, "out", B, 8080, A, 41000, ba),
		fmt.Sprintf("%s out ACCEPT %s:42000>%s:9000 p17 20/2560 f0", a.eni, A, B),
		fmt.Sprintf("%s in ACCEPT %s:9000>%s:42000 p17 20/2560 f0", a.eni, B, A),
		fmt.Sprintf("%s in ACCEPT %s:42000>%s:9000 p17 20/2560 f0", b.eni, A, B),
		fmt.Sprintf("%s out ACCEPT %s:9000>%s:42000 p17 20/2560 f0", b.eni, B, A),
		fmt.Sprintf("%s out ACCEPT %s:0>%s:0 p1 5/180 f0", a.eni, A, B),
		fmt.Sprintf("%s in ACCEPT %s:0>%s:0 p1 5/180 f0", a.eni, B, A),
		fmt.Sprintf("%s in ACCEPT %s:0>%s:0 p1 5/180 f0", b.eni, A, B),
		fmt.Sprintf("%s out ACCEPT %s:0>%s:0 p1 5/180 f0", b.eni, B, A),
		// ACL deny at b's vSwitch ingress: b in REJECT; a's own decision
		// (its egress allows) is ACCEPT.
		fmt.Sprintf("%s in REJECT %s:43000>%s:9999 p17 7/546 f0", b.eni, A, B),
		fmt.Sprintf("%s out ACCEPT %s:43000>%s:9999 p17 7/546 f0", a.eni, A, B),
		// SG deny at d's ingress.
		fmt.Sprintf("%s in REJECT %s:44000>%s:7000 p17 9/792 f0", d.eni, A, d.addr),
		fmt.Sprintf("%s out ACCEPT %s:44000>%s:7000 p17 9/792 f0", a.eni, A, d.addr),
		c.eni + " NODATA",
	}
	check := func(logID string, recs []flowlog.Record, want []string) {
		t.Helper()
		var got []string
		for _, rec := range recs {
			got = append(got, recordLine(rec))
			if rec.Version != flowlog.Version || rec.AccountID != "acct-"+r.tag || rec.VpcID != r.vpc || rec.FlowLogID != logID {
				t.Errorf("identity of %+v", rec)
			}
			if rec.LogStatus == flowlog.StatusOK && (rec.Start < start || rec.End > start+flowWindow || rec.Start > rec.End) {
				t.Errorf("%s: start %d end %d outside the window [%d,%d)", recordLine(rec), rec.Start, rec.End, start, start+flowWindow)
			}
			if rec.LogStatus != flowlog.StatusOK && (rec.Start != start || rec.End != start+flowWindow) {
				t.Errorf("%s: window %d-%d, want %d-%d", recordLine(rec), rec.Start, rec.End, start, start+flowWindow)
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s records of window %d:\n%s\nwant:\n%s", logID, start, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	check(flAll, recs, want)
	for _, rec := range recs {
		eni := map[string]node{a.eni: a, b.eni: b, c.eni: c, d.eni: d}[rec.ENIID]
		if rec.VMID != eni.inst || rec.VSwitchID != eni.vsw {
			t.Errorf("vm-id/vswitch-id of %s: %s %s", recordLine(rec), rec.VMID, rec.VSwitchID)
		}
	}
	var allow, drop []string
	for _, w := range want {
		if strings.HasPrefix(w, a.eni+" ") && strings.Contains(w, " ACCEPT ") {
			allow = append(allow, w)
		}
		if strings.HasPrefix(w, a.eni+" ") && strings.Contains(w, " REJECT ") {
			drop = append(drop, w)
		}
	}
	check(flAllow, sink.waitWindow(t, flAllow, start, 1), allow)
	// a itself rejected nothing (its egress allows all): NODATA.
	check(flDrop, sink.waitWindow(t, flDrop, start, 1), append(drop, a.eni+" NODATA"))
	// The next window is idle for everyone.
	idle := sink.waitWindow(t, flAll, start+flowWindow, 4)
	for _, rec := range idle {
		if rec.LogStatus != flowlog.StatusNoData {
			// The TCP flow's TIME_WAIT has no packets; anything else
			// here is a miscount.
			t.Errorf("idle window: %s", recordLine(rec))
		}
	}
}

// newFlowPair is a rig (resync period resync) whose agent captures flow
// logs into sink (checkpoints in dir), with instances a (10.77.1.10) and
// b (.11) on one vSwitch in a group that admits everything from the VPC,
// and a VPC-wide flow log fl of all traffic.
func newFlowPair(t *testing.T, tag string, resync time.Duration, sink *fakeFlowSink, dir string) (r *rig, a, b node, fl string) {
	t.Helper()
	r = newRig(t, tag, resync)
	r.withFlowAgent(sink, dir)
	va := r.vswitch("a", "10.77.1.0/24")
	g := r.groupID("open")
	all := model.PortRange{From: -1, To: -1}
	r.put(model.PrefixSecurityGroup+g, model.SecurityGroup{ID: g, VpcID: r.vpc, Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerDrop,
		Rules: []model.Rule{{ID: "sgr-all", Direction: model.Ingress, Protocol: "ALL", Policy: model.PolicyAccept, Priority: 1, Ports: all,
			PeerCidr: netip.MustParsePrefix("10.77.0.0/16")}}})
	a = r.instance("a", va, "10.77.1.10", g)
	b = r.instance("b", va, "10.77.1.11", g)
	fl = r.flowLog("all", model.FlowLogResourceVPC, r.vpc, model.FlowLogTrafficAll)
	return r, a, b, fl
}

// TestFlowLogRestart restarts the agent in the middle of a window while a
// UDP stream runs: the window's records count every datagram exactly once
// (no duplicate, none lost), or say SKIPDATA where the restart spanned a
// boundary; no record of any window is reported twice. Then it restarts
// the agent across a boundary: the window it stopped in says SKIPDATA and
// the downtime's datagrams are counted in the window after it.
func TestFlowLogRestart(t *testing.T) {
	sink := &fakeFlowSink{}
	dir := t.TempDir()
	r, a, b, fl := newFlowPair(t, "fr", 10*time.Second, sink, dir)
	stop := r.run()
	r.waitApplied()
	r.serve(b, nil, []int{9000})
	sink.waitAny(t, fl)

	dst := netip.AddrPortFrom(b.addr, 9000)
	const n1, n2, n3 = 10, 7, 5
	start := waitBoundary()
	sendUDP(t, a.inst, 45000, dst, n1, 100, true)
	stop() // graceful: the open window goes into the checkpoint
	sendUDP(t, a.inst, 45000, dst, n2, 100, true)
	r.withFlowAgent(sink, dir)
	stopSecond := r.run()
	r.waitApplied()
	sendUDP(t, a.inst, 45000, dst, n3, 100, true)
	end := time.Now().Unix()

	// Every window from start to the end of the traffic.
	last := end - end%flowWindow
	total := map[string]uint64{}
	skipped := false
	for w := start; w <= last; w += flowWindow {
		recs := sink.waitWindow(t, fl, w, 2)
		for _, rec := range recs {
			if rec.LogStatus == flowlog.StatusSkipData {
				skipped = true
				continue
			}
			if rec.LogStatus == flowlog.StatusOK {
				total[fmt.Sprintf("%s %s", rec.ENIID, rec.Direction)] += rec.Packets
			}
		}
	}
	// No record twice.
	noDuplicates := func() {
		seen := map[string]bool{}
		for _, rec := range sink.records() {
			k := fmt.Sprintf("%s %d %s", rec.FlowLogID, windowOf(rec), recordLine(rec))
			k = regexp.MustCompile(` p\d+ \d+/\d+`).ReplaceAllString(k, "") // key without counts
			if seen[k] {
				t.Errorf("record reported twice: %s", k)
			}
			seen[k] = true
		}
	}
	noDuplicates()
	want := uint64(n1 + n2 + n3)
	for _, k := range []string{a.eni + " out", a.eni + " in", b.eni + " in", b.eni + " out"} {
		if total[k] != want && !skipped {
			t.Errorf("%s: %d packets over the windows, want %d (no SKIPDATA said)", k, total[k], want)
		}
		if total[k] > want {
			t.Errorf("%s: %d packets, more than the %d sent", k, total[k], want)
		}
	}
	t.Logf("windows %d..%d, totals %v, skipdata %v", start, last, total, skipped)

	// A restart across a window boundary: the window the agent stopped in
	// says SKIPDATA (the traffic of the downtime is counted in the window
	// after it), and nothing is lost.
	const n4, n5 = 4, 3
	stopAt := waitBoundary()
	sendUDP(t, a.inst, 45000, dst, n4, 100, true)
	stopSecond()
	time.Sleep(time.Until(time.Unix(stopAt+flowWindow, 0).Add(200 * time.Millisecond)))
	r.withFlowAgent(sink, dir)
	r.run()
	r.waitApplied()
	sendUDP(t, a.inst, 45000, dst, n5, 100, true)
	end = time.Now().Unix()
	sum := map[string]uint64{}
	skip := map[string]bool{}
	for w := stopAt; w <= end-end%flowWindow; w += flowWindow {
		for _, rec := range sink.waitWindow(t, fl, w, 2) {
			switch rec.LogStatus {
			case flowlog.StatusSkipData:
				if w == stopAt {
					skip[rec.ENIID] = true
				}
			case flowlog.StatusOK:
				sum[rec.ENIID+" "+rec.Direction] += rec.Packets
			}
		}
	}
	if !skip[a.eni] || !skip[b.eni] {
		t.Errorf("window %d, in which the agent stopped before a boundary passed, says SKIPDATA for %v, want both ENIs", stopAt, skip)
	}
	for _, k := range []string{a.eni + " out", a.eni + " in", b.eni + " in", b.eni + " out"} {
		if sum[k] != n4+n5 {
			t.Errorf("%s after the second restart: %d packets, want %d", k, sum[k], n4+n5)
		}
	}
	noDuplicates()
}

// TestFlowLogSDK drives a flow log through the official SDK against
// `palisade up` (server and local agent, windows scaled to 2 s): a
// VPC-wide log, pings between two instances, and the records read back
// through the service: exact counts on both ENIs, NODATA for the idle
// third instance.
func TestFlowLogSDK(t *testing.T) {
	requireKernel(t)
	tag := randTag(t)
	env := apitest.Start(t, apitest.WithBackend(app.BackendMemory), apitest.WithAgent(tag), apitest.WithFlowLogWindowScale(60/flowWindow))
	w := newWorld(t, env)
	v := w.mustVPC("10.0.0.0/16")
	vs := w.mustVSwitch(v, "10.0.1.0/24")
	w.mustGroup("open", v, "normal", "")
	w.authorize("open", ruleSpec{proto: "all", ports: "-1/-1", peer: "0.0.0.0/0", policy: "accept", priority: 1})
	w.run("x1", vs, "10.0.1.11", "open")
	w.run("x2", vs, "10.0.1.12", "open")
	w.run("x3", vs, "10.0.1.13", "open")
	w.waitRunning()
	w.settle()

	fl := w.createFlowLog("VPC", v, "All", "sdk-"+tag)
	svc := env.App.Service()
	records := func(since int64) []flowlog.Record {
		res, err := svc.DescribeFlowLogRecords(context.Background(), env.Admin.AccountID, service.FlowRecordQuery{FlowLogID: fl, Since: since})
		if err != nil {
			t.Fatal(err)
		}
		return res.Records
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 20 s", what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitFor("first records", func() bool { return len(records(0)) > 0 })

	start := waitBoundary()
	const n = 6
	for range n {
		if err := icmpProbe(w.ids["x1"], w.addr["x2"], 2*time.Second); err != nil {
			t.Fatalf("ping x1->x2: %v", err)
		}
	}
	var got []flowlog.Record
	waitFor("the window's records", func() bool {
		got = nil
		for _, r := range records(start) {
			if windowOf(r) == start {
				got = append(got, r)
			}
		}
		return len(got) >= 5 // 4 ICMP records and x3's NODATA
	})
	x1, x2 := w.addr["x1"].String(), w.addr["x2"].String()
	enis := map[string]string{}
	for _, r := range got {
		enis[r.VMID] = r.ENIID
	}
	want := []string{
		fmt.Sprintf("%s out ACCEPT %s:0>%s:0 p1 %d/%d f0", enis[w.ids["x1"]], x1, x2, n, 36*n),
		fmt.Sprintf("%s in ACCEPT %s:0>%s:0 p1 %d/%d f0", enis[w.ids["x1"]], x2, x1, n, 36*n),
		fmt.Sprintf("%s in ACCEPT %s:0>%s:0 p1 %d/%d f0", enis[w.ids["x2"]], x1, x2, n, 36*n),
		fmt.Sprintf("%s out ACCEPT %s:0>%s:0 p1 %d/%d f0", enis[w.ids["x2"]], x2, x1, n, 36*n),
		enis[w.ids["x3"]] + " NODATA",
	}
	var lines []string
	for _, r := range got {
		lines = append(lines, recordLine(r))
	}
	slices.Sort(lines)
	slices.Sort(want)
	if !slices.Equal(lines, want) {
		t.Errorf("records of window %d:\n%s\nwant:\n%s", start, strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

// createFlowLog creates an active flow log of 1-minute windows through
// the SDK and returns its ID.
func (w *world) createFlowLog(resType, resID, traffic, name string) string {
	w.t.Helper()
	req := vpc.CreateCreateFlowLogRequest()
	req.ResourceType, req.ResourceId, req.TrafficType = resType, resID, traffic
	req.AggregationInterval = requests.NewInteger(1)
	req.FlowLogName, req.ProjectName, req.LogStoreName = name, "palisade", "flows"
	resp, err := w.vpc.CreateFlowLog(req)
	if err != nil {
		w.t.Fatal(err)
	}
	return resp.FlowLogId
}

// TestFlowLogRateLimit floods an SG deny with more packets than the deny
// chains hand to NFLOG (policy.FlowLogRate per second, burst
// policy.FlowLogBurst): every packet is either in a REJECT record or
// counted as missed (the batch's Missed, SKIPDATA in the window), never
// silently lost.
func TestFlowLogRateLimit(t *testing.T) {
	r := newRig(t, "rl", 10*time.Second)
	sink := &fakeFlowSink{}
	r.withFlowAgent(sink, t.TempDir())
	va := r.vswitch("a", "10.77.1.0/24")
	all := model.PortRange{From: -1, To: -1}
	open, closed := r.groupID("open"), r.groupID("closed")
	r.put(model.PrefixSecurityGroup+open, model.SecurityGroup{ID: open, VpcID: r.vpc, Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerDrop,
		Rules: []model.Rule{{ID: "sgr-all", Direction: model.Ingress, Protocol: "ALL", Policy: model.PolicyAccept, Priority: 1, Ports: all,
			PeerCidr: netip.MustParsePrefix("10.77.0.0/16")}}})
	r.put(model.PrefixSecurityGroup+closed, model.SecurityGroup{ID: closed, VpcID: r.vpc, Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerDrop})
	a := r.instance("a", va, "10.77.1.10", open)
	d := r.instance("d", va, "10.77.1.40", closed)
	fl := r.flowLog("drop", model.FlowLogResourceENI, d.eni, model.FlowLogTrafficDrop)
	r.run()
	r.waitApplied()
	sink.waitAny(t, fl)

	// What reaches the forward hook (a flood may lose packets on the way,
	// in veth backlogs, before any filter).
	ora := &oracle{r: r, prio: "filter - 20"}
	ora.count("udp_ad", a.addr, d.addr, "udp")
	ora.load()

	const n = 30000
	start := waitBoundary()
	t0 := time.Now()
	sendUDP(t, a.inst, 46000, netip.AddrPortFrom(d.addr, 7000), n, 10, false)
	took := time.Since(t0)
	// The window of the last datagram (on a slow machine the flood may
	// spill over a boundary; the counts are summed over the windows).
	end := time.Now().Unix()
	// And the window after it: on a loaded machine the last messages
	// reach the agent after the boundary and count in the next window.
	sink.waitWindow(t, fl, end-end%flowWindow+flowWindow, 1)
	var rejected uint64
	skip := false
	for _, rec := range sink.records() {
		if rec.FlowLogID != fl || rec.Start < start {
			continue
		}
		switch {
		case rec.LogStatus == flowlog.StatusSkipData:
			skip = true
		case rec.Action == flowlog.ActionReject && rec.ENIID == d.eni:
			rejected += rec.Packets
		}
	}
	var missed int64
	sink.mu.Lock()
	for _, b := range sink.batches {
		missed += b.Missed[fl]
	}
	sink.mu.Unlock()
	arrived := ora.read()["udp_ad"][0]
	t.Logf("%d datagrams sent in %v, %d reached the filter: %d in REJECT records, %d missed, SKIPDATA %v",
		n, took.Round(time.Millisecond), arrived, rejected, missed, skip)
	if rejected+uint64(missed) != arrived {
		t.Errorf("REJECT %d + missed %d = %d, want the %d datagrams that reached the filter", rejected, missed, rejected+uint64(missed), arrived)
	}
	if (missed > 0) != skip {
		t.Errorf("missed %d but SKIPDATA %v", missed, skip)
	}
	if took < 500*time.Millisecond && missed == 0 {
		t.Errorf("%d datagrams in %v, over the rate limit, but nothing missed", n, took)
	}
}

// nextBoundary sleeps until just after the next boundary of windows of
// window seconds and returns it.
func nextBoundary(window int64) int64 {
	now := time.Now()
	next := now.Unix() - now.Unix()%window + window
	time.Sleep(time.Until(time.Unix(next, 0).Add(150 * time.Millisecond)))
	return next
}

// windowLines waits for the records of the flow log's window that starts
// at start, from two ENIs at least, and returns them sorted.
func windowLines(t *testing.T, sink *fakeFlowSink, id string, window, start int64) []string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var lines []string
		enis := map[string]bool{}
		for _, rec := range sink.records() {
			if rec.FlowLogID == id && rec.Start-rec.Start%window == start {
				lines = append(lines, recordLine(rec))
				enis[rec.ENIID] = true
			}
		}
		if len(enis) >= 2 {
			slices.Sort(lines)
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("window %d not reported: %v", start, lines)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// udpFlowRig is two instances of one vSwitch whose group accepts UDP to
// port 9000 (b serves it, echoing), and a VPC-wide flow log of all
// traffic with windows of window seconds, reported once.
type udpFlowRig struct {
	*rig
	sink     *fakeFlowSink
	a, b     node
	id       string
	setRules func([]model.Rule)
	allow    []model.Rule
}

func newUDPFlowRig(t *testing.T, idp string, window, setSize int) *udpFlowRig {
	r := newRig(t, idp, 10*time.Second)
	u := &udpFlowRig{rig: r, sink: &fakeFlowSink{}, id: "fl-" + r.tag + idp}
	r.flowSetSize = setSize
	r.withFlowAgent(u.sink, t.TempDir())
	va := r.vswitch("a", "10.77.1.0/24")
	g := r.groupID("udp")
	u.allow = []model.Rule{{ID: "sgr-udp9000", Direction: model.Ingress, Protocol: model.ProtoUDP, Policy: model.PolicyAccept, Priority: 1,
		Ports: model.PortRange{From: 9000, To: 9000}, PeerCidr: netip.MustParsePrefix("10.77.0.0/16")}}
	u.setRules = func(rules []model.Rule) {
		r.put(model.PrefixSecurityGroup+g, model.SecurityGroup{ID: g, VpcID: r.vpc, Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerDrop, Rules: rules})
	}
	u.setRules(u.allow)
	u.a = r.instance("a", va, "10.77.1.10", g)
	u.b = r.instance("b", va, "10.77.1.20", g)
	r.put(model.PrefixFlowLog+u.id, model.FlowLog{ID: u.id, AccountID: "acct-" + r.tag, ResourceType: model.FlowLogResourceVPC, ResourceID: r.vpc,
		VpcID: r.vpc, TrafficType: model.FlowLogTrafficAll, AggregationInterval: 1, WindowSeconds: window, Status: model.FlowLogActive})
	r.run()
	r.waitApplied()
	r.serve(u.b, nil, []int{9000})
	u.sink.waitAny(t, u.id)
	return u
}

// TestFlowLogSetFull: packets of flows that find their counting set full
// are not counted, and the window says SKIPDATA for every covered ENI
// instead of staying quiet; the flows that fit are counted exactly.
func TestFlowLogSetFull(t *testing.T) {
	const window = 4
	u := newUDPFlowRig(t, "ff", window, 1) // per set: capture.CountShards sets per key shape
	r, sink, a, b, id := u.rig, u.sink, u.a, u.b, u.id

	// Twelve echoed flows, two elements each, in 16 sets of one.
	start := nextBoundary(window)
	for i := range 12 {
		sendUDP(t, a.inst, uint16(45000+i), netip.AddrPortFrom(b.addr, 9000), 1, 100, true)
	}
	got := windowLines(t, sink, id, window, start)
	for _, eni := range []string{a.eni, b.eni} {
		if !slices.Contains(got, eni+" "+flowlog.StatusSkipData) {
			t.Errorf("%s does not say SKIPDATA:\n%s", eni, strings.Join(got, "\n"))
		}
	}
	accepted := 0
	for _, l := range got {
		if strings.Contains(l, " ACCEPT ") {
			accepted++
			if !strings.HasSuffix(l, " p17 1/128 f0") {
				t.Errorf("not exact: %s", l)
			}
		}
	}
	// Each element counted gives two records (the sender's out and the
	// receiver's in).
	if capacity := capture.CountShards * r.flowSetSize; accepted == 0 || accepted > 2*capacity {
		t.Errorf("%d ACCEPT records from %d elements at most:\n%s", accepted, capacity, strings.Join(got, "\n"))
	}
}

// TestFlowLogCutAndFlush: a flow that a policy change denies is cut by the
// agent; its records count it exactly up to the cut and its window says OK.
// Flows that leave conntrack behind capture's back (conntrack -F), one
// that a dump has seen and one born and flushed between two dumps, are
// reported exactly too: capture counts packets in its own sets, not in
// conntrack. The counting table deleted by hand loses what it counted
// since the last dump: the window says SKIPDATA, the table comes back and
// the next window is exact again.
func TestFlowLogCutAndFlush(t *testing.T) {
	const window = 4
	u := newUDPFlowRig(t, "fc", window, 0)
	r, sink, a, b, id, setRules, allow := u.rig, u.sink, u.a, u.b, u.id, u.setRules, u.allow

	boundary := func() int64 { return nextBoundary(window) }
	windowLines := func(start int64) []string { return windowLines(t, sink, id, window, start) }
	A, B := a.addr.String(), b.addr.String()
	dst := netip.AddrPortFrom(b.addr, 9000)

	// The cut: 10 echoed datagrams, then the rule goes.
	start := boundary()
	sendUDP(t, a.inst, 45000, dst, 10, 100, true)
	setRules(nil)
	r.waitApplied()
	if out, _ := r.vpcExec("conntrack", "-L", "-p", "udp", "--sport", "45000"); strings.Contains(out, "sport=45000") {
		t.Fatalf("the denied flow was not cut:\n%s", out)
	}
	if time.Now().Unix() >= start+window {
		t.Fatalf("the cut took longer than the window (%d s); rerun on a less loaded machine", window)
	}
	want := []string{
		fmt.Sprintf("%s in ACCEPT %s:45000>%s:9000 p17 10/1280 f0", b.eni, A, B),
		fmt.Sprintf("%s in ACCEPT %s:9000>%s:45000 p17 10/1280 f0", a.eni, B, A),
		fmt.Sprintf("%s out ACCEPT %s:45000>%s:9000 p17 10/1280 f0", a.eni, A, B),
		fmt.Sprintf("%s out ACCEPT %s:9000>%s:45000 p17 10/1280 f0", b.eni, B, A),
	}
	slices.Sort(want)
	if got := windowLines(start); !slices.Equal(got, want) {
		t.Errorf("window of the cut:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// The flush: the rule is back, a flow runs, capture sees it (the
	// boundary dump), more of it runs, and conntrack is flushed by hand.
	setRules(allow)
	r.waitApplied()
	boundary()
	sendUDP(t, a.inst, 46000, dst, 5, 100, true)
	start = boundary()
	sendUDP(t, a.inst, 46000, dst, 5, 100, true)
	r.flushConntrack()
	exact := func(sport, n int) []string {
		w := []string{
			fmt.Sprintf("%s in ACCEPT %s:%d>%s:9000 p17 %d/%d f0", b.eni, A, sport, B, n, n*128),
			fmt.Sprintf("%s in ACCEPT %s:9000>%s:%d p17 %d/%d f0", a.eni, B, A, sport, n, n*128),
			fmt.Sprintf("%s out ACCEPT %s:%d>%s:9000 p17 %d/%d f0", a.eni, A, sport, B, n, n*128),
			fmt.Sprintf("%s out ACCEPT %s:9000>%s:%d p17 %d/%d f0", b.eni, B, A, sport, n, n*128),
		}
		slices.Sort(w)
		return w
	}
	if got := windowLines(start); !slices.Equal(got, exact(46000, 5)) {
		t.Errorf("window of the flush:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(exact(46000, 5), "\n"))
	}

	// A flow born and flushed between two dumps: no dump ever lists it.
	start = boundary()
	sendUDP(t, a.inst, 47000, dst, 3, 100, true)
	r.flushConntrack()
	if got := windowLines(start); !slices.Equal(got, exact(47000, 3)) {
		t.Errorf("window of the unseen flow:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(exact(47000, 3), "\n"))
	}

	// The counting table deleted by hand with what it counted.
	start = boundary()
	sendUDP(t, a.inst, 48000, dst, 3, 100, true)
	if out, err := r.vpcExec("nft", "delete", "table", "inet", capture.CountTable); err != nil {
		t.Fatalf("delete the counting table: %v: %s", err, out)
	}
	got := windowLines(start)
	for _, eni := range []string{a.eni, b.eni} {
		if !slices.Contains(got, eni+" "+flowlog.StatusSkipData) {
			t.Errorf("window of a deleted counting table: %s does not say SKIPDATA:\n%s", eni, strings.Join(got, "\n"))
		}
	}
	start = boundary()
	sendUDP(t, a.inst, 49000, dst, 4, 100, true)
	if got := windowLines(start); !slices.Equal(got, exact(49000, 4)) {
		t.Errorf("window after the counting table came back:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(exact(49000, 4), "\n"))
	}
}

// TestFlowLogNamespaceMadeAnew: the VPC namespace deleted by hand is made
// anew by the agent (the instances' too), and the flow log's capture
// follows it there: the traffic after the repair is recorded, exactly.
func TestFlowLogNamespaceMadeAnew(t *testing.T) {
	sink := &fakeFlowSink{}
	r, a, b, fl := newFlowPair(t, "fn", time.Second, sink, t.TempDir())
	r.run()
	r.waitApplied()
	r.serve(b, nil, []int{9000})
	sink.waitAny(t, fl)

	bIno := nsIno(t, b.inst)
	if out, err := exec.Command("ip", "netns", "del", r.vpc).CombinedOutput(); err != nil {
		t.Fatalf("ip netns del %s: %v: %s", r.vpc, err, out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for ino := nsIno(t, b.inst); ino == 0 || ino == bIno; ino = nsIno(t, b.inst) {
		if time.Now().After(deadline) {
			t.Fatal("the instance namespaces were not made anew")
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond) // the next resync after the repair settles
	r.serve(b, nil, []int{9000})
	dst := netip.AddrPortFrom(b.addr, 9000)
	for range 5 { // ARP in the new namespaces
		if err := udpProbe(a.inst, 45100, dst, time.Second); err == nil {
			break
		}
	}
	const n = 6
	start := waitBoundary()
	sendUDP(t, a.inst, 45101, dst, n, 100, true)
	got := map[string]uint64{}
	for _, rec := range sink.waitWindow(t, fl, start, 2) {
		if rec.LogStatus == flowlog.StatusOK && (rec.SrcPort == 45101 || rec.DstPort == 45101) {
			got[rec.ENIID+" "+rec.Direction] += rec.Packets
		}
	}
	for _, k := range []string{a.eni + " out", b.eni + " in", b.eni + " out", a.eni + " in"} {
		if got[k] != n {
			t.Errorf("%s: %d packets recorded after the namespace was made anew, want %d (all: %v)", k, got[k], n, got)
		}
	}
}
