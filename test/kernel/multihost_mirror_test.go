package kernel_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"

	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/mirror"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/policy"
	"github.com/palisade-project/palisade/internal/probe"
)

// mirrorAcrossHosts mirrors across the two hosts both ways at once: in a
// VPC with instance A on this host (zone local-a) and B on the other
// (local-b), session 1 mirrors A to B and session 2 mirrors B to A,
// made through the official SDK. One connection from A to B is then seen
// by both targets: B receives A's copies (relayed by this host to the
// other's agent) and A receives B's (relayed the other way), each in
// VXLAN from its source's address with its session's VNI, as on one host.
// Copies are not mirrored again (A is a source and a target), a bulk
// transfer arrives whole in MTU-sized segments, a relayed datagram from
// the other host for a source it does not run is refused, and the relay
// goes with the last session that crosses hosts. local is this host's
// underlay address.
func mirrorAcrossHosts(t *testing.T, env *apitest.Env, other *otherHost, local netip.Addr, eventually func(string, func() error)) {
	t.Helper()
	e, v := env.ECS(t, env.Admin), env.VPC(t, env.Admin)
	vpcID, vsw := twoZoneVPC(t, v, "10.79")
	// Members reach each other only through rules: TCP 8080. Nothing
	// admits UDP 4789; copies are not judged by the target's groups,
	// on one host or across two.
	sg := newGroup(t, e, vpcID, true, ecs.AuthorizeSecurityGroupPermissions{IpProtocol: "tcp", PortRange: "8080/8080", SourceCidrIp: "10.79.0.0/16"})
	addrA, addrB := netip.MustParseAddr("10.79.1.10"), netip.MustParseAddr("10.79.2.10")
	run := func(zone string, addr netip.Addr) (inst, eni string) {
		ri := ecs.CreateRunInstancesRequest()
		ri.ImageId, ri.InstanceType, ri.VSwitchId, ri.SecurityGroupId, ri.PrivateIpAddress = "img", "t", vsw[zone], sg, addr.String()
		rr, err := e.RunInstances(ri)
		if err != nil {
			t.Fatal(err)
		}
		inst = rr.InstanceIdSets.InstanceIdSet[0]
		d := ecs.CreateDescribeNetworkInterfacesRequest()
		d.InstanceId = inst
		dr, err := e.DescribeNetworkInterfaces(d)
		if err != nil || len(dr.NetworkInterfaceSets.NetworkInterfaceSet) != 1 {
			t.Fatalf("DescribeNetworkInterfaces of %s: %v %+v", inst, err, dr)
		}
		return inst, dr.NetworkInterfaceSets.NetworkInterfaceSet[0].NetworkInterfaceId
	}
	instA, eniA := run("local-a", addrA)
	instB, eniB := run("local-b", addrB)
	waitStatus(t, e, instA, "Running")
	waitStatus(t, e, instB, "Running")
	nsA, nsB := instA, other.netns(instB)
	srv, err := probe.Serve(nsB, []int{8080}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	sinkA, sinkB := listenVXLAN(t, nsA), listenVXLAN(t, nsB)
	toB := netip.AddrPortFrom(addrB, 8080)
	eventually("A reaches B:8080 across hosts", func() error { return probe.TCP(context.Background(), nsA, toB, 500*time.Millisecond) })

	all := "-1/-1"
	fr := vpc.CreateCreateTrafficMirrorFilterRequest()
	fr.EgressRules = &[]vpc.CreateTrafficMirrorFilterEgressRules{{Action: "accept", Protocol: "TCP", Priority: "1",
		DestinationCidrBlock: "0.0.0.0/0", SourceCidrBlock: "0.0.0.0/0", SourcePortRange: all, DestinationPortRange: all}}
	fr.IngressRules = &[]vpc.CreateTrafficMirrorFilterIngressRules{{Action: "accept", Protocol: "TCP", Priority: "1",
		DestinationCidrBlock: "0.0.0.0/0", SourceCidrBlock: "0.0.0.0/0", SourcePortRange: all, DestinationPortRange: all}}
	fresp, err := v.CreateTrafficMirrorFilter(fr)
	if err != nil {
		t.Fatalf("CreateTrafficMirrorFilter: %v", err)
	}
	session := func(prio, vni int, src, target string) string {
		sr := vpc.CreateCreateTrafficMirrorSessionRequest()
		sr.TrafficMirrorFilterId, sr.TrafficMirrorTargetId, sr.TrafficMirrorTargetType = fresp.TrafficMirrorFilterId, target, "NetworkInterface"
		sr.Priority, sr.VirtualNetworkId, sr.Enabled = requests.NewInteger(prio), requests.NewInteger(vni), requests.NewBoolean(true)
		sr.TrafficMirrorSourceIds = &[]string{src}
		resp, err := v.CreateTrafficMirrorSession(sr)
		if err != nil {
			t.Fatalf("CreateTrafficMirrorSession %s -> %s (another zone): %v", src, target, err)
		}
		return resp.TrafficMirrorSessionId
	}
	toOther := session(901, 901, eniA, eniB)
	toHere := session(902, 902, eniB, eniA)

	// Both sessions are served once both agents have reconciled.
	eventually("copies cross the hosts both ways", func() error {
		sinkA.take()
		sinkB.take()
		if err := probe.TCP(context.Background(), nsA, toB, 500*time.Millisecond); err != nil {
			return err
		}
		time.Sleep(200 * time.Millisecond)
		a, _ := sinkA.take()
		b, _ := sinkB.take()
		if len(a) == 0 || len(b) == 0 {
			return fmt.Errorf("%d copies at A, %d at B", len(a), len(b))
		}
		return nil
	})

	// One connection, seen by both targets.
	sinkA.take()
	sinkB.take()
	const sport = 41901
	if err := tcpProbe(nsA, sport, toB, time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	check := func(who string, s *vxlanSink, vni uint32, source netip.Addr) {
		t.Helper()
		copies, bad := s.take()
		for _, b := range bad {
			t.Errorf("%s: malformed copy: %s", who, b)
		}
		count := map[string]int{}
		for _, c := range copies {
			if c.vni != vni || c.outerSrc != source {
				t.Errorf("%s: copy %v, want VNI %d from %s", who, c, vni, source)
			}
			switch {
			case c.proto == policy.IPProtoTCP && c.src == addrA && c.dst == addrB && c.sport == sport && c.dport == 8080:
				count["A to B"]++
			case c.proto == policy.IPProtoTCP && c.src == addrB && c.dst == addrA && c.sport == 8080 && c.dport == sport:
				count["B to A"]++
			default:
				t.Errorf("%s: unexpected copy %v (a copy mirrored again?)", who, c)
			}
		}
		t.Logf("%s received %v", who, count)
		// The handshake, the data and the close: several each way.
		if count["A to B"] < 3 || count["B to A"] < 2 {
			t.Errorf("%s: copies %v, want >= 3 from A to B and >= 2 back", who, count)
		}
	}
	check("B (session 1: A's copies, relayed by this host)", sinkB, 901, addrA)
	check("A (session 2: B's copies, relayed by the other host)", sinkA, 902, addrB)

	// A bulk transfer: the source's host cuts the offload batches into
	// MTU-sized segments, which cross in relay datagrams; every byte
	// reaches the other host's target.
	mirrorBulk(t, "bulk across hosts, at B", sinkB, nsA, toB)
	sinkA.take()
	st, ok := env.Up.Agent.RelayStats()
	t.Logf("this host's relay: %+v", st)
	if !ok || st.Sent == 0 || st.SendErrors > 0 || st.Delivered == 0 || st.DeliverErrors > 0 {
		t.Errorf("this host's relay stats %+v (open %v): want copies sent and delivered, no errors", st, ok)
	}

	// The other host relays a "copy" of session 2 claiming to come from
	// A, which runs here, not there: refused, and A receives nothing.
	forged := mirror.Encap{Src: addrA, Dst: addrA, VNI: 902, InnerSrc: net.HardwareAddr{2, 0, 0, 0, 0, 1}, InnerDst: net.HardwareAddr{2, 0, 0, 0, 0, 2}}.
		Build(nil, []byte{0x45, 0, 0, 20, 0, 0, 0, 0, 64, 6, 0, 0, 10, 79, 1, 10, 10, 79, 2, 10})
	file := filepath.Join(t.TempDir(), "forged")
	if err := os.WriteFile(file, mirror.AppendRelay(nil, toHere, forged), 0o600); err != nil {
		t.Fatal(err)
	}
	relayPort := fmt.Sprint(mirror.RelayPort(model.DefaultUnderlayPort))
	if out, err := other.run("sh", "-c", "ncat -u --send-only "+local.String()+" "+relayPort+" < "+file); err != nil {
		t.Fatalf("send the forged relay datagram from the other host: %v: %s", err, out)
	}
	eventually("the forged datagram is refused", func() error {
		if now, _ := env.Up.Agent.RelayStats(); now.Refused <= st.Refused {
			return fmt.Errorf("relay stats %+v: nothing refused yet", now)
		}
		return nil
	})
	if copies, _ := sinkA.take(); len(copies) > 0 {
		t.Errorf("A received a forged copy: %v", copies)
	}
	if now, _ := env.Up.Agent.RelayStats(); now.Delivered != st.Delivered {
		t.Errorf("relay delivered %d copies more after the forged datagram", now.Delivered-st.Delivered)
	}
	// The underlay filter admits the relay's port from the other host
	// (the host of session 2's source) only.
	ruleset, err := exec.Command("nft", "list", "ruleset").CombinedOutput()
	if err != nil || !strings.Contains(string(ruleset), "udp dport "+relayPort) || !strings.Contains(string(ruleset), "@relay") {
		t.Errorf("no underlay rule for the relay port %s: %v\n%s", relayPort, err, ruleset)
	}

	// Session 1 disabled: B receives nothing more; session 2 goes on.
	ur := vpc.CreateUpdateTrafficMirrorSessionAttributeRequest()
	ur.TrafficMirrorSessionId, ur.Enabled = toOther, requests.NewBoolean(false)
	if _, err := v.UpdateTrafficMirrorSessionAttribute(ur); err != nil {
		t.Fatal(err)
	}
	env.Settle(t)
	time.Sleep(300 * time.Millisecond)
	sinkA.take()
	sinkB.take()
	if err := tcpProbe(nsA, sport+1, toB, time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if c, _ := sinkB.take(); len(c) > 0 {
		t.Errorf("B received %d copies after session 1 was disabled", len(c))
	}
	if c, _ := sinkA.take(); len(c) == 0 {
		t.Errorf("A received no copies from session 2 after session 1 was disabled")
	}
	// Both deleted: this host's relay closes (no session crosses hosts).
	for _, id := range []string{toOther, toHere} {
		dr := vpc.CreateDeleteTrafficMirrorSessionRequest()
		dr.TrafficMirrorSessionId = id
		if _, err := v.DeleteTrafficMirrorSession(dr); err != nil {
			t.Fatal(err)
		}
	}
	eventually("this host's relay closes with the last session across hosts, and its port is admitted no more", func() error {
		if st, ok := env.Up.Agent.RelayStats(); ok {
			return fmt.Errorf("relay still open: %+v", st)
		}
		if out, _ := exec.Command("nft", "list", "ruleset").CombinedOutput(); strings.Contains(string(out), "udp dport "+relayPort) {
			return fmt.Errorf("the underlay filter still has the relay's port")
		}
		return nil
	})
	dfr := vpc.CreateDeleteTrafficMirrorFilterRequest()
	dfr.TrafficMirrorFilterId = fresp.TrafficMirrorFilterId
	if _, err := v.DeleteTrafficMirrorFilter(dfr); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{instA, instB} {
		del := ecs.CreateDeleteInstanceRequest()
		del.InstanceId, del.Force = id, "true"
		if _, err := e.DeleteInstance(del); err != nil {
			t.Fatal(err)
		}
	}
}
