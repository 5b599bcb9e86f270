package kernel_test

import (
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"

	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/app"
	"github.com/palisade-project/palisade/internal/probe"
)

// primaryENI returns the primary ENI of an instance, through the SDK.
func (w *world) primaryENI(name string) string {
	w.t.Helper()
	req := ecs.CreateDescribeNetworkInterfacesRequest()
	req.InstanceId = w.ids[name]
	resp, err := w.ecs.DescribeNetworkInterfaces(req)
	if err != nil {
		w.t.Fatal(err)
	}
	for _, n := range resp.NetworkInterfaceSets.NetworkInterfaceSet {
		if n.Type == "Primary" {
			return n.NetworkInterfaceId
		}
	}
	w.t.Fatalf("no primary ENI for %s", name)
	return ""
}

// mirrorTrio runs "src" and "peer" (10.8.1.10 and .11, an echo server on
// 8080) in srcVsw with group "web", and "tgt" at tgtIP in tgtVsw with
// tgtGroup; it returns the source's and the target's primary ENIs, a VXLAN
// sink in the target and the peer's echo address.
func mirrorTrio(t *testing.T, w *world, srcVsw, tgtVsw, tgtIP, tgtGroup string) (srcENI, tgtENI string, sink *vxlanSink, dst netip.AddrPort) {
	t.Helper()
	w.run("src", srcVsw, "10.8.1.10", "web")
	w.run("peer", srcVsw, "10.8.1.11", "web")
	w.run("tgt", tgtVsw, tgtIP, tgtGroup)
	w.waitRunning()
	srv, err := probe.Serve(w.ids["peer"], []int{8080}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return w.primaryENI("src"), w.primaryENI("tgt"), listenVXLAN(t, w.ids["tgt"]), netip.AddrPortFrom(w.addr["peer"], 8080)
}

// TestTrafficMirrorSDK drives traffic mirroring through the official SDK
// end to end: a filter and a session made with the VPC client, created
// disabled (nothing mirrored), enabled (copies reach the target in VXLAN
// with the session's VNI, from the source's address), the source removed
// (nothing mirrored), and the session and filter deleted.
func TestTrafficMirrorSDK(t *testing.T) {
	requireKernel(t)
	env := apitest.Start(t, apitest.WithBackend(app.BackendMemory), apitest.WithAgent(randTag(t)))
	w := newWorld(t, env)
	vpcID := w.mustVPC("10.8.0.0/16")
	vsw := w.mustVSwitch(vpcID, "10.8.1.0/24")
	w.mustGroup("web", vpcID, "normal", "")
	w.authorize("web", ruleSpec{proto: "tcp", ports: "8080/8080", peer: "10.8.0.0/16", policy: "accept", priority: 1})
	srcENI, tgtENI, sink, dst := mirrorTrio(t, w, vsw, vsw, "10.8.1.12", "web")
	connect := func(sport uint16) {
		t.Helper()
		var err error
		for range 5 { // ARP
			if err = tcpProbe(w.ids["src"], sport, dst, time.Second); err == nil {
				return
			}
		}
		t.Fatalf("src -> peer:8080: %v", err)
	}
	copiesOf := func(sport uint16) []vxlanCopy {
		time.Sleep(300 * time.Millisecond)
		all, bad := sink.take()
		if len(bad) > 0 {
			t.Errorf("malformed copies: %v", bad)
		}
		var out []vxlanCopy
		for _, c := range all {
			if c.sport == sport || c.dport == sport {
				out = append(out, c)
			} else {
				t.Errorf("unexpected copy %v", c)
			}
		}
		return out
	}

	freq := vpc.CreateCreateTrafficMirrorFilterRequest()
	freq.TrafficMirrorFilterName = "web"
	freq.EgressRules = &[]vpc.CreateTrafficMirrorFilterEgressRules{{
		Action: "accept", Protocol: "TCP", Priority: "1", DestinationCidrBlock: "10.8.1.0/24",
		SourcePortRange: "-1/-1", DestinationPortRange: "8080/8080"}}
	fresp, err := w.vpc.CreateTrafficMirrorFilter(freq)
	if err != nil {
		t.Fatalf("CreateTrafficMirrorFilter: %v", err)
	}
	sreq := vpc.CreateCreateTrafficMirrorSessionRequest()
	sreq.TrafficMirrorFilterId, sreq.TrafficMirrorTargetId, sreq.TrafficMirrorTargetType = fresp.TrafficMirrorFilterId, tgtENI, "NetworkInterface"
	sreq.Priority, sreq.VirtualNetworkId = requests.NewInteger(1), requests.NewInteger(777)
	sreq.TrafficMirrorSourceIds = &[]string{srcENI}
	sresp, err := w.vpc.CreateTrafficMirrorSession(sreq)
	if err != nil {
		t.Fatalf("CreateTrafficMirrorSession: %v", err)
	}
	session := sresp.TrafficMirrorSessionId
	w.settle()
	connect(41001)
	if c := copiesOf(41001); len(c) > 0 {
		t.Errorf("copies while the session is disabled (sessions are created disabled): %v", c)
	}

	ureq := vpc.CreateUpdateTrafficMirrorSessionAttributeRequest()
	ureq.TrafficMirrorSessionId, ureq.Enabled = session, requests.NewBoolean(true)
	if _, err := w.vpc.UpdateTrafficMirrorSessionAttribute(ureq); err != nil {
		t.Fatalf("enable the session: %v", err)
	}
	w.settle()
	connect(41002)
	got := copiesOf(41002)
	if len(got) < 3 {
		t.Errorf("%d copies of the connection's egress, want its handshake, data and close: %v", len(got), got)
	}
	for _, c := range got {
		if c.vni != 777 || c.outerSrc != w.addr["src"] || c.src != w.addr["src"] || c.dport != 8080 {
			t.Errorf("copy %v: want VNI 777, outer source %s, src's egress to 8080 only", c, w.addr["src"])
		}
	}

	rreq := vpc.CreateRemoveSourcesFromTrafficMirrorSessionRequest()
	rreq.TrafficMirrorSessionId, rreq.TrafficMirrorSourceIds = session, &[]string{srcENI}
	if _, err := w.vpc.RemoveSourcesFromTrafficMirrorSession(rreq); err != nil {
		t.Fatalf("RemoveSourcesFromTrafficMirrorSession: %v", err)
	}
	w.settle()
	connect(41003)
	if c := copiesOf(41003); len(c) > 0 {
		t.Errorf("copies after the source was removed: %v", c)
	}

	dreq := vpc.CreateDeleteTrafficMirrorSessionRequest()
	dreq.TrafficMirrorSessionId = session
	if _, err := w.vpc.DeleteTrafficMirrorSession(dreq); err != nil {
		t.Fatalf("DeleteTrafficMirrorSession: %v", err)
	}
	dfreq := vpc.CreateDeleteTrafficMirrorFilterRequest()
	dfreq.TrafficMirrorFilterId = fresp.TrafficMirrorFilterId
	if _, err := w.vpc.DeleteTrafficMirrorFilter(dfreq); err != nil {
		t.Fatalf("DeleteTrafficMirrorFilter: %v", err)
	}
}

// TestTrafficMirrorAcrossPeeringSDK mirrors an ENI to a target in another
// VPC, through the official SDK: refused while no peering joins the two
// VPCs, accepted once one does; the copies then reach the target (from
// its VPC's namespace, not judged by its groups, which admit nothing from
// the source's VPC) exactly while the source's VPC routes the target's
// address over the peering, as a copy to it would be routed.
func TestTrafficMirrorAcrossPeeringSDK(t *testing.T) {
	requireKernel(t)
	env := apitest.Start(t, apitest.WithBackend(app.BackendMemory), apitest.WithAgent(randTag(t)))
	w := newWorld(t, env)
	vpcA, vpcB := w.mustVPC("10.8.0.0/16"), w.mustVPC("10.9.0.0/16")
	vswA, vswB := w.mustVSwitch(vpcA, "10.8.1.0/24"), w.mustVSwitch(vpcB, "10.9.1.0/24")
	w.mustGroup("web", vpcA, "normal", "")
	w.authorize("web", ruleSpec{proto: "tcp", ports: "8080/8080", peer: "10.8.0.0/16", policy: "accept", priority: 1})
	w.mustGroup("ids", vpcB, "normal", "Drop")
	srcENI, tgtENI, sink, dst := mirrorTrio(t, w, vswA, vswB, "10.9.1.12", "ids")
	var sport uint16 = 42000
	// connect opens and closes one connection from src to peer and
	// returns the copies of it the target received.
	connect := func() []vxlanCopy {
		t.Helper()
		sink.take()
		sport++
		var err error
		for range 5 { // ARP
			if err = tcpProbe(w.ids["src"], sport, dst, time.Second); err == nil {
				break
			}
		}
		if err != nil {
			t.Fatalf("src -> peer:8080: %v", err)
		}
		time.Sleep(300 * time.Millisecond)
		all, bad := sink.take()
		if len(bad) > 0 {
			t.Errorf("malformed copies: %v", bad)
		}
		for _, c := range all {
			if c.vni != 778 || c.outerSrc != w.addr["src"] || c.sport != sport && c.dport != sport {
				t.Errorf("copy %v: want VNI 778 from %s, of the connection from port %d", c, w.addr["src"], sport)
			}
		}
		return all
	}

	freq := vpc.CreateCreateTrafficMirrorFilterRequest()
	freq.EgressRules = &[]vpc.CreateTrafficMirrorFilterEgressRules{{Action: "accept", Protocol: "TCP", Priority: "1",
		DestinationCidrBlock: "10.8.0.0/16", SourcePortRange: "-1/-1", DestinationPortRange: "8080/8080"}}
	freq.IngressRules = &[]vpc.CreateTrafficMirrorFilterIngressRules{{Action: "accept", Protocol: "TCP", Priority: "1",
		SourceCidrBlock: "10.8.0.0/16", SourcePortRange: "8080/8080", DestinationPortRange: "-1/-1"}}
	fresp, err := w.vpc.CreateTrafficMirrorFilter(freq)
	if err != nil {
		t.Fatalf("CreateTrafficMirrorFilter: %v", err)
	}
	sreq := vpc.CreateCreateTrafficMirrorSessionRequest()
	sreq.TrafficMirrorFilterId, sreq.TrafficMirrorTargetId, sreq.TrafficMirrorTargetType = fresp.TrafficMirrorFilterId, tgtENI, "NetworkInterface"
	sreq.Priority, sreq.VirtualNetworkId, sreq.Enabled = requests.NewInteger(1), requests.NewInteger(778), requests.NewBoolean(true)
	sreq.TrafficMirrorSourceIds = &[]string{srcENI}
	if _, err := w.vpc.CreateTrafficMirrorSession(sreq); err == nil || !strings.Contains(err.Error(), "OperationDenied.TrafficMirrorSourceVpc") {
		t.Fatalf("a session to a target in an unpeered VPC: %v, want OperationDenied.TrafficMirrorSourceVpc", err)
	}
	_, pcc, _ := peerVPCs(t, env, vpcA, vpcB)
	if _, err := w.vpc.CreateTrafficMirrorSession(sreq); err != nil {
		t.Fatalf("a session to a target in a peered VPC: %v", err)
	}
	w.settle()
	if c := connect(); len(c) > 0 {
		t.Errorf("%d copies while the source's VPC routes nothing over the peering: %v", len(c), c)
	}
	route, err := w.addRoute(vpcA, "10.9.0.0/16", pcc)
	if err != nil {
		t.Fatalf("CreateRouteEntry: %v", err)
	}
	w.settle()
	if c := connect(); len(c) < 5 {
		t.Errorf("%d copies across the peering, want both directions of the connection's handshake, data and close: %v", len(c), c)
	}
	mirrorBulk(t, "bulk across the peering", sink, w.ids["src"], dst)
	// The copies are not tracked where they are sent from, the target's
	// VPC namespace, as on one VPC.
	if out, err := exec.Command("ip", "netns", "exec", vpcB, "conntrack", "-L", "-p", "udp", "--dport", "4789").CombinedOutput(); err != nil &&
		!strings.Contains(string(out), "0 flow entries") {
		t.Fatalf("conntrack -L in %s: %v: %s", vpcB, err, out)
	} else if strings.Contains(string(out), "dport=4789") {
		t.Errorf("copies were tracked by conntrack in the target's VPC namespace:\n%s", out)
	}
	// The target's VPC namespace deleted by hand: the agent makes it (and
	// the target's, whose veth went with it) anew within its resync, and
	// the copies follow.
	tgtIno := nsIno(t, w.ids["tgt"])
	if out, err := exec.Command("ip", "netns", "del", vpcB).CombinedOutput(); err != nil {
		t.Fatalf("ip netns del %s: %v: %s", vpcB, err, out)
	}
	sink.pc.Close()
	var copies []vxlanCopy
	for deadline := time.Now().Add(10 * time.Second); len(copies) == 0 && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if ino := nsIno(t, w.ids["tgt"]); ino == 0 || ino == tgtIno {
			continue // not made anew yet
		}
		if sink.pc != nil {
			sink.pc.Close()
		}
		sink = listenVXLAN(t, w.ids["tgt"])
		copies = connect()
	}
	if len(copies) < 5 {
		t.Errorf("%d copies after the target's VPC namespace was made anew, want the connection both ways", len(copies))
	}
	dr := vpc.CreateDeleteRouteEntryRequest()
	dr.RouteEntryId = route
	if _, err := w.vpc.DeleteRouteEntry(dr); err != nil {
		t.Fatalf("DeleteRouteEntry: %v", err)
	}
	w.settle()
	if c := connect(); len(c) > 0 {
		t.Errorf("%d copies after the route over the peering was deleted: %v", len(c), c)
	}
}
