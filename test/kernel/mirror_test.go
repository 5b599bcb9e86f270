package kernel_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/flowlog"
	"github.com/palisade-project/palisade/internal/flowlog/capture"
	"github.com/palisade-project/palisade/internal/mirror"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/policy"
	"github.com/palisade-project/palisade/internal/probe"
)

// vxlanCopy is one mirrored copy as the target received it.
type vxlanCopy struct {
	outerSrc           netip.Addr
	vni                uint32
	innerSrcMAC, inDst net.HardwareAddr
	src, dst           netip.Addr
	proto              uint8
	sport, dport       uint16
	ipLen              int // bytes of the inner IP packet received
	ttl                uint8
	// For a whole TCP segment: its payload length and whether its
	// checksum is right.
	tcpPayload int
	tcpSumOK   bool
}

func (c vxlanCopy) String() string {
	return fmt.Sprintf("vni %d from %s: %s:%d -> %s:%d proto %d (%d bytes)", c.vni, c.outerSrc, c.src, c.sport, c.dst, c.dport, c.proto, c.ipLen)
}

// vxlanSink collects the VXLAN datagrams an instance receives on 4789.
type vxlanSink struct {
	mu     sync.Mutex
	copies []vxlanCopy
	bad    []string
	pc     net.PacketConn
}

func listenVXLAN(t *testing.T, ns string) *vxlanSink {
	t.Helper()
	s := &vxlanSink{}
	if err := probe.InNetns(ns, func() error {
		var err error
		s.pc, err = net.ListenPacket("udp4", fmt.Sprintf(":%d", model.MirrorVXLANPort))
		return err
	}); err != nil {
		t.Fatalf("listen on 4789 in %s: %v", ns, err)
	}
	t.Cleanup(func() { s.pc.Close() })
	// Bursts of copies (a bulk transfer) overflow the default buffer.
	if err := s.pc.(*net.UDPConn).SetReadBuffer(4 << 20); err != nil {
		t.Fatal(err)
	}
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := s.pc.ReadFrom(buf)
			if err != nil {
				return
			}
			c, err := parseVXLAN(buf[:n])
			s.mu.Lock()
			if err != nil {
				s.bad = append(s.bad, err.Error())
			} else {
				c.outerSrc = from.(*net.UDPAddr).AddrPort().Addr().Unmap()
				s.copies = append(s.copies, c)
			}
			s.mu.Unlock()
		}
	}()
	return s
}

func (s *vxlanSink) take() ([]vxlanCopy, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, b := s.copies, s.bad
	s.copies, s.bad = nil, nil
	return c, b
}

// mirrorBulk sends a 200,000-byte line from ns to an echo server at dst
// and checks the copies sink then holds: MTU-sized segments with valid
// checksums, carrying every byte each way.
func mirrorBulk(t *testing.T, what string, sink *vxlanSink, ns string, dst netip.AddrPort) {
	t.Helper()
	const bulk = 200000
	sink.take()
	conn, err := probe.DialTCP(context.Background(), ns, dst, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(append(bytes.Repeat([]byte("m"), bulk), '\n')); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(conn, make([]byte, bulk+1)); err != nil {
		t.Fatalf("%s: echo of the bulk transfer: %v", what, err)
	}
	lport := uint16(conn.LocalAddr().(*net.TCPAddr).Port)
	conn.Close()
	time.Sleep(500 * time.Millisecond)
	copies, _ := sink.take()
	var sent, echoed, biggest, badSum int
	for _, c := range copies {
		biggest = max(biggest, c.ipLen)
		if c.proto == policy.IPProtoTCP && !c.tcpSumOK {
			badSum++
		}
		switch {
		case c.sport == lport && c.dport == dst.Port():
			sent += c.tcpPayload
		case c.sport == dst.Port() && c.dport == lport:
			echoed += c.tcpPayload
		}
	}
	t.Logf("%s: %d copies, largest inner packet %d bytes, payload %d sent / %d echoed, %d bad checksums", what, len(copies), biggest, sent, echoed, badSum)
	if biggest > 1500 || badSum > 0 || sent < bulk+1 || echoed < bulk+1 {
		t.Errorf("%s copies: largest %d bytes (want <= 1500), %d bad TCP checksums, payload %d / %d (want >= %d each way)", what, biggest, badSum, sent, echoed, bulk+1)
	}
}

func parseVXLAN(b []byte) (vxlanCopy, error) {
	var c vxlanCopy
	if len(b) < 8+14+20 || b[0] != 0x08 {
		return c, fmt.Errorf("not a VXLAN datagram with an IPv4 frame (%d bytes)", len(b))
	}
	c.vni = binary.BigEndian.Uint32(b[4:8]) >> 8
	eth := b[8:]
	c.inDst, c.innerSrcMAC = slices.Clone(net.HardwareAddr(eth[0:6])), slices.Clone(net.HardwareAddr(eth[6:12]))
	if binary.BigEndian.Uint16(eth[12:14]) != 0x0800 {
		return c, fmt.Errorf("inner ethertype %#x", binary.BigEndian.Uint16(eth[12:14]))
	}
	ip := eth[14:]
	c.ipLen = len(ip)
	ihl := int(ip[0]&0x0f) * 4
	c.proto, c.ttl = ip[9], ip[8]
	c.src = netip.AddrFrom4([4]byte(ip[12:16]))
	c.dst = netip.AddrFrom4([4]byte(ip[16:20]))
	if (c.proto == 6 || c.proto == 17) && len(ip) >= ihl+4 {
		c.sport = binary.BigEndian.Uint16(ip[ihl:])
		c.dport = binary.BigEndian.Uint16(ip[ihl+2:])
	}
	if total := int(binary.BigEndian.Uint16(ip[2:4])); c.proto == 6 && total == len(ip) && len(ip) >= ihl+20 {
		c.tcpPayload = total - ihl - int(ip[ihl+12]>>4)*4
		s := uint32(6 + total - ihl)
		add := func(b []byte) {
			for i := 0; i+1 < len(b); i += 2 {
				s += uint32(b[i])<<8 | uint32(b[i+1])
			}
			if len(b)%2 == 1 {
				s += uint32(b[len(b)-1]) << 8
			}
		}
		add(ip[12:20])
		add(ip[ihl:])
		for s > 0xffff {
			s = s>>16 + s&0xffff
		}
		c.tcpSumOK = s == 0xffff
	}
	return c, nil
}

// TestTrafficMirror mirrors one ENI to another with a filter that accepts
// TCP and UDP to 8080 and drops ICMP, and checks what reaches the target:
// copies in VXLAN from the source's address with the session's VNI, of
// both directions of an allowed connection; nothing of a connection the
// security groups drop, nothing the filter drops; truncation to the
// session's packet length; no conntrack entry for the copies; and, once
// the session is disabled, no table and no copies.
func TestTrafficMirror(t *testing.T) {
	r := newRig(t, "m", 2*time.Second)
	v := r.vswitch("1", "10.77.1.0/24")
	g := r.groupID("g")
	vsw := netip.MustParsePrefix("10.77.1.0/24")
	rule := func(proto string, port int) model.Rule {
		return model.Rule{ID: fmt.Sprintf("sgr-%s%d", strings.ToLower(proto), port), Direction: model.Ingress, Protocol: proto,
			Ports: model.PortRange{From: port, To: port}, PeerCidr: vsw, Policy: model.PolicyAccept, Priority: 1}
	}
	r.put(model.PrefixSecurityGroup+g, model.SecurityGroup{ID: g, VpcID: r.vpc, Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerDrop,
		Rules: []model.Rule{rule(model.ProtoTCP, 8080), rule(model.ProtoUDP, 8080), rule(model.ProtoICMP, -1)}})
	a := r.instance("a", v, "10.77.1.10", g)
	b := r.instance("b", v, "10.77.1.11", g)
	tg := r.instance("t", v, "10.77.1.12", g)
	r.reconcile()
	r.serve(b, []int{8080, 9090}, []int{8080})
	sink := listenVXLAN(t, tg.inst)

	all := model.PortRange{From: -1, To: -1}
	filter := model.MirrorFilter{ID: "tmf-" + r.tag, AccountID: "1",
		Egress: []model.MirrorRule{
			{ID: "tmr-e1", Priority: 1, Action: model.PolicyDrop, Protocol: model.ProtoICMP, SourcePorts: all, DestinationPorts: all},
			{ID: "tmr-e2", Priority: 2, Action: model.PolicyAccept, Protocol: model.ProtoALL, SourcePorts: all, DestinationPorts: all},
		},
		Ingress: []model.MirrorRule{
			{ID: "tmr-i1", Priority: 1, Action: model.PolicyAccept, Protocol: model.ProtoTCP, SourcePorts: model.PortRange{From: 8080, To: 8080}, DestinationPorts: all},
		},
	}
	session := model.MirrorSession{ID: "tms-" + r.tag, AccountID: "1", FilterID: filter.ID, TargetID: tg.eni, TargetType: model.MirrorTargetENI,
		Priority: 1, VNI: 4242, PacketLength: 1500, Enabled: true, SourceIDs: []string{a.eni}}
	r.put(model.PrefixMirrorFilter+filter.ID, filter)
	r.put(model.PrefixMirrorSession+session.ID, session)
	r.reconcile()
	if _, err := r.vpcExec("nft", "list", "table", "inet", mirror.Table); err != nil {
		t.Fatalf("no mirroring table after the session was enabled: %v", err)
	}

	// Allowed: a -> b:8080 (TCP, then UDP), both directions.
	var err error
	for range 5 { // ARP
		if err = tcpProbe(a.inst, 40001, netip.AddrPortFrom(b.addr, 8080), time.Second); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("a -> b:8080: %v", err)
	}
	if err := udpProbe(a.inst, 40002, netip.AddrPortFrom(b.addr, 8080), time.Second); err != nil {
		t.Fatalf("a -> b:8080/udp: %v", err)
	}
	// Dropped by b's security group: never mirrored.
	if err := tcpProbe(a.inst, 40003, netip.AddrPortFrom(b.addr, 9090), 300*time.Millisecond); !probe.IsTimeout(err) {
		t.Fatalf("a -> b:9090: %v, want a silent drop", err)
	}
	// Allowed, but dropped by the filter (egress ICMP; the reply matches
	// no ingress rule).
	if err := icmpProbe(a.inst, b.addr, time.Second); err != nil {
		t.Fatalf("a -> b ping: %v", err)
	}
	// b -> a is not mirrored as a's egress... it is a's ingress: a TCP
	// connection from b to a's closed port 7070 is dropped by a's group.
	time.Sleep(300 * time.Millisecond)
	copies, bad := sink.take()
	for _, s := range bad {
		t.Errorf("malformed copy: %s", s)
	}
	count := map[string]int{}
	for _, c := range copies {
		if c.vni != 4242 || c.outerSrc != a.addr {
			t.Errorf("copy %v: want VNI 4242 from %s", c, a.addr)
		}
		switch {
		case c.proto == policy.IPProtoTCP && c.src == a.addr && c.dst == b.addr && c.sport == 40001 && c.dport == 8080:
			count["tcp egress"]++
			if c.ttl != 64 {
				t.Errorf("egress copy with TTL %d, want 64 as the ENI sent it: %v", c.ttl, c)
			}
			if c.innerSrcMAC.String() != r.eniRecord(0, nil).MAC {
				t.Errorf("egress copy's inner source MAC %s, want the ENI's %s", c.innerSrcMAC, r.eniRecord(0, nil).MAC)
			}
		case c.proto == policy.IPProtoTCP && c.src == b.addr && c.dst == a.addr && c.sport == 8080 && c.dport == 40001:
			count["tcp ingress"]++
			if c.ttl != 63 {
				t.Errorf("ingress copy with TTL %d, want 63 as the ENI received it (one router)", c.ttl)
			}
			if c.inDst.String() != r.eniRecord(0, nil).MAC {
				t.Errorf("ingress copy's inner destination MAC %s, want the ENI's %s", c.inDst, r.eniRecord(0, nil).MAC)
			}
		case c.proto == policy.IPProtoUDP && c.src == a.addr && c.dst == b.addr && c.sport == 40002 && c.dport == 8080:
			count["udp egress"]++
		default:
			t.Errorf("unexpected copy: %v", c)
		}
	}
	t.Logf("copies: %v", count)
	// The handshake, the data and the close: several each way.
	if count["tcp egress"] < 3 || count["tcp ingress"] < 2 || count["udp egress"] < 1 {
		t.Errorf("copies of the allowed traffic: %v, want >= 3 TCP egress, >= 2 TCP ingress, >= 1 UDP egress", count)
	}
	// The copies are not tracked: no flow to 4789 in the VPC's conntrack.
	if out, err := r.vpcExec("conntrack", "-L", "-p", "udp", "--dport", "4789"); err != nil && !strings.Contains(err.Error(), "0 flow entries") {
		t.Fatalf("conntrack -L: %v", err)
	} else if strings.Contains(out, "dport=4789") {
		t.Errorf("copies were tracked by conntrack:\n%s", out)
	}
	st, ok := r.a.MirrorStats(r.vpc)
	t.Logf("mirror stats: %+v", st)
	if !ok || st.SendErrors > 0 {
		t.Errorf("mirror stats %+v (running %v): want no send errors", st, ok)
	}

	// A bulk transfer each way: the kernel hands the VPC namespace
	// offload batches of up to 64 KiB; the target gets MTU-sized
	// segments with valid checksums, carrying every byte.
	mirrorBulk(t, "bulk", sink, a.inst, netip.AddrPortFrom(b.addr, 8080))
	if st, _ := r.a.MirrorStats(r.vpc); st.SendErrors > 0 {
		t.Errorf("mirror stats after the bulk transfer: %+v", st)
	}

	// Truncation: a 1,400-byte datagram mirrored with packet length 200.
	session.PacketLength = 200
	r.put(model.PrefixMirrorSession+session.ID, session)
	r.reconcile()
	if err := probe.InNetns(a.inst, func() error {
		c, err := net.DialUDP("udp4", &net.UDPAddr{Port: 40004}, net.UDPAddrFromAddrPort(netip.AddrPortFrom(b.addr, 8080)))
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write(make([]byte, 1400))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	copies, _ = sink.take()
	if len(copies) != 1 || copies[0].ipLen != 200 || copies[0].sport != 40004 {
		t.Errorf("copies of a 1,428-byte packet with packet length 200: %v, want one of 200 bytes", copies)
	}

	// Drift: the table deleted by hand comes back at the next
	// reconciliation, and mirroring goes on.
	if _, err := r.vpcExec("nft", "delete", "table", "inet", mirror.Table); err != nil {
		t.Fatal(err)
	}
	r.reconcile()
	if _, err := r.vpcExec("nft", "list", "table", "inet", mirror.Table); err != nil {
		t.Fatalf("the mirroring table was not repaired: %v", err)
	}
	if err := udpProbe(a.inst, 40006, netip.AddrPortFrom(b.addr, 8080), time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if copies, _ := sink.take(); len(copies) != 1 || copies[0].sport != 40006 {
		t.Errorf("copies after the repair: %v, want the one UDP datagram", copies)
	}

	// A restarted agent mirrors on: the new mirror takes the NFLOG group
	// over from the old one.
	r.newAgent()
	r.reconcile()
	if err := udpProbe(a.inst, 40007, netip.AddrPortFrom(b.addr, 8080), time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if copies, _ := sink.take(); len(copies) != 1 || copies[0].sport != 40007 {
		t.Errorf("copies after the agent restarted: %v, want the one UDP datagram", copies)
	}

	// The VPC namespace deleted by hand: the agent makes it anew (the
	// instances' too: their veths went with it), and the mirror follows
	// it there (its NFLOG group and socket were the old namespace's,
	// which lives on as long as they do).
	if out, err := exec.Command("ip", "netns", "del", r.vpc).CombinedOutput(); err != nil {
		t.Fatalf("ip netns del %s: %v: %s", r.vpc, err, out)
	}
	r.reconcile()
	r.serve(b, []int{8080}, []int{8080})
	sink = listenVXLAN(t, tg.inst)
	var after []vxlanCopy
	for try := range 5 {
		if err := udpProbe(a.inst, uint16(40010+try), netip.AddrPortFrom(b.addr, 8080), time.Second); err != nil {
			continue // ARP in the new namespaces
		}
		time.Sleep(300 * time.Millisecond)
		if after, _ = sink.take(); len(after) > 0 {
			break
		}
	}
	if len(after) != 1 || after[0].dport != 8080 {
		t.Errorf("copies after the VPC namespace was made anew: %v, want the one UDP datagram", after)
	}

	// Disabled: the table goes, nothing is mirrored.
	session.Enabled = false
	r.put(model.PrefixMirrorSession+session.ID, session)
	r.reconcile()
	if _, err := r.vpcExec("nft", "list", "table", "inet", mirror.Table); err == nil {
		t.Errorf("the mirroring table is still there with no enabled session")
	}
	if err := tcpProbe(a.inst, 40005, netip.AddrPortFrom(b.addr, 8080), time.Second); err != nil {
		t.Fatalf("a -> b:8080 after disabling: %v", err)
	}
	time.Sleep(300 * time.Millisecond)
	if copies, _ := sink.take(); len(copies) > 0 {
		t.Errorf("copies after the session was disabled: %v", copies)
	}
}

// TestMirrorCopiesNotFlowLogged: a flow log on the VPC records the traffic
// a mirror session copies, never the copies themselves (SEMANTICS: flow
// logs do not log mirrored copies): no record of the source's or the
// target's ENI is a copy (UDP to 4789 from the source to the target), and
// the target, which receives only copies, has no record with traffic.
func TestMirrorCopiesNotFlowLogged(t *testing.T) {
	r := newRig(t, "mf", 10*time.Second)
	sink := &fakeFlowSink{}
	r.withFlowAgent(sink, t.TempDir())
	v := r.vswitch("1", "10.77.1.0/24")
	g := r.groupID("g")
	all := model.PortRange{From: -1, To: -1}
	r.put(model.PrefixSecurityGroup+g, model.SecurityGroup{ID: g, VpcID: r.vpc, Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerDrop,
		Rules: []model.Rule{{ID: "sgr-all", Direction: model.Ingress, Protocol: model.ProtoALL, Policy: model.PolicyAccept, Priority: 1, Ports: all,
			PeerCidr: netip.MustParsePrefix("10.77.0.0/16")}}})
	a := r.instance("a", v, "10.77.1.10", g)
	b := r.instance("b", v, "10.77.1.11", g)
	tg := r.instance("t", v, "10.77.1.12", g)
	fl := r.flowLog("all", model.FlowLogResourceVPC, r.vpc, model.FlowLogTrafficAll)
	filter := model.MirrorFilter{ID: "tmf-" + r.tag, AccountID: "1",
		Egress: []model.MirrorRule{{ID: "tmr-e", Priority: 1, Action: model.PolicyAccept, Protocol: model.ProtoALL, SourcePorts: all, DestinationPorts: all}}}
	session := model.MirrorSession{ID: "tms-" + r.tag, AccountID: "1", FilterID: filter.ID, TargetID: tg.eni, TargetType: model.MirrorTargetENI,
		Priority: 1, VNI: 4243, PacketLength: 1500, Enabled: true, SourceIDs: []string{a.eni}}
	r.put(model.PrefixMirrorFilter+filter.ID, filter)
	r.put(model.PrefixMirrorSession+session.ID, session)
	stop := r.run()
	r.waitApplied()
	r.serve(b, nil, []int{9000})
	vx := listenVXLAN(t, tg.inst)

	sink.waitAny(t, fl)
	start := waitBoundary()
	sendUDP(t, a.inst, 42000, netip.AddrPortFrom(b.addr, 9000), 20, 100, true)
	recs := sink.waitWindow(t, fl, start, 3)
	copies, _ := vx.take()
	if len(copies) < 20 {
		t.Fatalf("the target got %d copies of a's 20 datagrams, want 20 at least", len(copies))
	}
	sent := false
	for _, rec := range recs {
		line := recordLine(rec)
		switch {
		case rec.DstPort == model.MirrorVXLANPort || rec.SrcPort == model.MirrorVXLANPort:
			t.Errorf("a mirrored copy was logged: %s", line)
		case rec.ENIID == tg.eni && rec.LogStatus == flowlog.StatusOK:
			t.Errorf("the target, which only receives copies, has a record: %s", line)
		case rec.ENIID == a.eni && rec.SrcPort == 42000 && rec.DstPort == 9000 && rec.Packets == 20:
			sent = true
		}
	}
	if !sent {
		var lines []string
		for _, rec := range recs {
			lines = append(lines, recordLine(rec))
		}
		t.Errorf("no record of a's 20 datagrams to b:9000 among:\n%s", strings.Join(lines, "\n"))
	}
	// The counting table passed the copies by their mark, and counted them.
	out, err := r.vpcExec("nft", "list", "counter", "inet", capture.CountTable, capture.CopiesCounter)
	if err != nil {
		t.Fatalf("the copies' counter: %v", err)
	}
	var n int
	if i := strings.Index(out, "packets "); i < 0 {
		t.Fatalf("the copies' counter: %q", out)
	} else if _, err := fmt.Sscanf(out[i:], "packets %d", &n); err != nil || n < 20 {
		t.Errorf("the copies' counter holds %d packets (%v), want 20 at least:\n%s", n, err, out)
	}

	// The counting table of an older agent, without the copies' rule and
	// counter, is made again by the next agent: it does not keep it.
	stop()
	listing, err := r.vpcExec("nft", "-a", "list", "chain", "inet", capture.CountTable, "count")
	if err != nil {
		t.Fatal(err)
	}
	handle := regexp.MustCompile(`(?m)` + capture.CopiesCounter + `.*# handle (\d+)$`).FindStringSubmatch(listing)
	if handle == nil {
		t.Fatalf("no copies' rule in the count chain:\n%s", listing)
	}
	for _, c := range [][]string{
		{"nft", "delete", "rule", "inet", capture.CountTable, "count", "handle", handle[1]},
		{"nft", "delete", "counter", "inet", capture.CountTable, capture.CopiesCounter},
	} {
		if out, err := r.vpcExec(c...); err != nil {
			t.Fatalf("%v: %v %s", c, err, out)
		}
	}
	r.withFlowAgent(sink, t.TempDir())
	r.run()
	r.waitApplied()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := r.vpcExec("nft", "list", "counter", "inet", capture.CountTable, capture.CopiesCounter); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the next agent kept the counting table without the copies' rule")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
