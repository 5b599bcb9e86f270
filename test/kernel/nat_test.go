package kernel_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/cloudfw"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"
	mdns "github.com/miekg/dns"

	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/app"
	"github.com/palisade-project/palisade/internal/dataplane/linux"
	"github.com/palisade-project/palisade/internal/probe"
)

// natWorld drives an Internet NAT gateway through the official SDK.
type natWorld struct {
	*eipWorld
	gwID, snatTable, fwdTable string
}

func (w *natWorld) createGateway(vswID string) {
	w.t.Helper()
	req := vpc.CreateCreateNatGatewayRequest()
	req.VpcId, req.VSwitchId, req.NatType, req.Name = w.vpcID, vswID, "Enhanced", "edge"
	resp, err := w.vpc.CreateNatGateway(req)
	if err != nil {
		w.t.Fatalf("CreateNatGateway: %v", err)
	}
	if len(resp.SnatTableIds.SnatTableId) != 1 || len(resp.ForwardTableIds.ForwardTableId) != 1 {
		w.t.Fatalf("CreateNatGateway: want one SNAT and one forward table, got %+v", resp)
	}
	w.gwID, w.snatTable, w.fwdTable = resp.NatGatewayId, resp.SnatTableIds.SnatTableId[0], resp.ForwardTableIds.ForwardTableId[0]
}

func (w *natWorld) associateNat(eipID string) {
	w.t.Helper()
	req := vpc.CreateAssociateEipAddressRequest()
	req.AllocationId, req.InstanceId, req.InstanceType = eipID, w.gwID, "Nat"
	if _, err := w.vpc.AssociateEipAddress(req); err != nil {
		w.t.Fatalf("associate %s with %s: %v", eipID, w.gwID, err)
	}
}

func (w *natWorld) snat(source string, ips ...netip.Addr) string {
	w.t.Helper()
	req := vpc.CreateCreateSnatEntryRequest()
	req.SnatTableId = w.snatTable
	if strings.HasPrefix(source, "vsw-") {
		req.SourceVSwitchId = source
	} else {
		req.SourceCIDR = source
	}
	var s []string
	for _, a := range ips {
		s = append(s, a.String())
	}
	req.SnatIp = strings.Join(s, ",")
	resp, err := w.vpc.CreateSnatEntry(req)
	if err != nil {
		w.t.Fatalf("CreateSnatEntry %s -> %v: %v", source, ips, err)
	}
	return resp.SnatEntryId
}

func (w *natWorld) forward(ext netip.Addr, extPort, proto, internal, intPort string) string {
	w.t.Helper()
	req := vpc.CreateCreateForwardEntryRequest()
	req.ForwardTableId, req.ExternalIp, req.ExternalPort, req.IpProtocol = w.fwdTable, ext.String(), extPort, proto
	req.InternalIp, req.InternalPort = w.addr[internal].String(), intPort
	resp, err := w.vpc.CreateForwardEntry(req)
	if err != nil {
		w.t.Fatalf("CreateForwardEntry %v:%s %s -> %s:%s: %v", ext, extPort, proto, internal, intPort, err)
	}
	return resp.ForwardEntryId
}

func (w *natWorld) deleteForward(id string) {
	w.t.Helper()
	req := vpc.CreateDeleteForwardEntryRequest()
	req.ForwardTableId, req.ForwardEntryId = w.fwdTable, id
	if _, err := w.vpc.DeleteForwardEntry(req); err != nil {
		w.t.Fatalf("DeleteForwardEntry %s: %v", id, err)
	}
}

// leavesWith checks that instance reaches the internet server and that the
// server sees want as its source.
func (w *natWorld) leavesWith(instance string, inet netip.AddrPort, want netip.Addr) {
	w.t.Helper()
	c, src, err := w.outbound(instance, inet)
	if err != nil {
		w.t.Errorf("%s -> internet: %v, want it to leave with %s", instance, err, want)
		return
	}
	c.Close()
	if src != want.String() {
		w.t.Errorf("%s -> internet: left with source %s, want %s", instance, src, want)
	}
}

// analyzed asks the analyzer whether from reaches to on TCP port, and
// returns its answer whole.
func (w *natWorld) analyzed(from, to string, port uint16) (bool, map[string]any) {
	w.t.Helper()
	out, err := w.env.Common(w.t, w.env.Admin, api.VersionPalisade, "AnalyzeReachability",
		map[string]string{"From": from, "To": to, "Protocol": "tcp", "Port": strconv.Itoa(int(port))})
	if err != nil {
		w.t.Fatalf("AnalyzeReachability %s -> %s:%d: %v", from, to, port, err)
	}
	return out["Reachable"] == true, out
}

// agrees checks that the analyzer says what the kernel did.
func (w *natWorld) agrees(from, to string, port uint16, kernel bool, must ...string) {
	w.t.Helper()
	got, out := w.analyzed(from, to, port)
	if got != kernel {
		w.t.Errorf("analyzer: %s -> %s:%d reachable %v, the kernel %v\n%v", from, to, port, got, kernel, out)
		return
	}
	b, _ := json.Marshal(out)
	for _, m := range must {
		if !strings.Contains(string(b), m) {
			w.t.Errorf("analyzer: %s -> %s:%d does not mention %s:\n%s", from, to, port, m, b)
		}
	}
}

func (w *natWorld) staysIn(instance string, inet netip.AddrPort, why string) {
	w.t.Helper()
	if c, src, err := w.outbound(instance, inet); err == nil {
		c.Close()
		w.t.Errorf("%s -> internet (%s): left with %s, want a silent drop", instance, why, src)
	} else if !probe.IsTimeout(err) {
		w.t.Errorf("%s -> internet (%s): %v, want a silent drop", instance, why, err)
	}
}

// natFirewall: the gateway's NAT firewall (Cloud Firewall) judges what the
// gateway translates on the way out, by the private source: a drop policy
// on a2 (an SNAT entry) and one on m1 (an IP mapping) keep them in, an
// accept policy before them lets a2 reach one port, a drop policy on e1
// (which has its own EIP) does nothing; the policies count their hits,
// and deleting them lets everything out again.
func (w *natWorld) natFirewall(fw *cloudfw.Client, inetAP netip.AddrPort, natA, natB, natC, own netip.Addr) {
	t := w.t
	t.Helper()
	add := func(action, src, port, order string) string {
		t.Helper()
		req := cloudfw.CreateCreateNatFirewallControlPolicyRequest()
		req.NatGatewayId, req.Direction, req.AclAction, req.Proto, req.NewOrder = w.gwID, "out", action, "TCP", order
		req.Source, req.SourceType, req.Destination, req.DestinationType = src, "net", "0.0.0.0/0", "net"
		req.DestPortType, req.DestPort, req.Description = "port", port, "NAT firewall "+action+" "+src
		req.ApplicationNameList = &[]string{"ANY"}
		resp, err := fw.CreateNatFirewallControlPolicy(req)
		if err != nil {
			t.Fatalf("CreateNatFirewallControlPolicy %s %s: %v", action, src, err)
		}
		return resp.AclUuid
	}
	inetAddr, inetPort := inetAP.Addr().String(), inetAP.Port()
	everyPort := "0/0"
	dropA2 := add("drop", w.addr["a2"].String()+"/32", everyPort, "-1")
	dropM1 := add("drop", w.addr["m1"].String()+"/32", everyPort, "-1")
	dropE1 := add("drop", w.addr["e1"].String()+"/32", everyPort, "-1")
	w.settle()
	w.staysIn("a2", inetAP, "the NAT firewall drops a2")
	w.staysIn("m1", inetAP, "the NAT firewall drops m1 (IP mapping)")
	w.leavesWith("a1", inetAP, natA)
	w.leavesWith("e1", inetAP, own) // its own EIP: not the gateway's to judge
	w.agrees(w.ids["a2"], inetAddr, inetPort, false, dropA2)
	w.agrees(w.ids["m1"], inetAddr, inetPort, false, dropM1)
	w.agrees(w.ids["a1"], inetAddr, inetPort, true, natA.String())
	w.agrees(w.ids["e1"], inetAddr, inetPort, true, own.String())
	// Inbound through the IP mapping is the Internet firewall's business.
	w.mustReach(netip.AddrPortFrom(natC, 8080), "m1").Close()

	// An accept policy first lets a2 reach the server's port, and only it.
	acceptA2 := add("accept", w.addr["a2"].String()+"/32", fmt.Sprintf("%d/%d", inetPort, inetPort), "1")
	w.settle()
	w.leavesWith("a2", inetAP, natB)
	w.agrees(w.ids["a2"], inetAddr, inetPort, true, acceptA2)

	// The hits: the agent reads the rules' counters every few seconds.
	hits := map[string]int{}
	for range 40 {
		req := cloudfw.CreateDescribeNatFirewallControlPolicyRequest()
		req.NatGatewayId, req.Direction, req.CurrentPage, req.PageSize = w.gwID, "out", "1", "50"
		resp, err := fw.DescribeNatFirewallControlPolicy(req)
		if err != nil {
			t.Fatalf("DescribeNatFirewallControlPolicy: %v", err)
		}
		if len(resp.Policys) != 4 || resp.Policys[0].AclUuid != acceptA2 {
			t.Fatalf("DescribeNatFirewallControlPolicy: %+v, want 4 policies, %s first", resp.Policys, acceptA2)
		}
		for _, p := range resp.Policys {
			hits[p.AclUuid] = p.HitTimes
		}
		if hits[dropA2] > 0 && hits[dropM1] > 0 && hits[acceptA2] > 0 {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if hits[dropA2] == 0 || hits[dropM1] == 0 || hits[acceptA2] == 0 || hits[dropE1] != 0 {
		t.Errorf("NAT firewall hits %v: want some on %s, %s and %s, none on %s (e1 has its own EIP)", hits, dropA2, dropM1, acceptA2, dropE1)
	}
	// The drops were logged with the private sources they judged (the
	// accept logs nothing, e1's drop never decided).
	natLogs := firewallLogs(t, w.env, w.env.Admin, map[string]string{"LogType": "nat_firewall_log"}, func(m map[string]any) bool {
		return logField(m, "acl_rule_id") == dropM1
	})
	srcOf := map[string]string{dropA2: w.addr["a2"].String(), dropM1: w.addr["m1"].String()}
	for _, m := range natLogs {
		id := logField(m, "acl_rule_id")
		if srcOf[id] == "" || logField(m, "src_ip") != srcOf[id] || logField(m, "dst_ip") != inetAddr || logField(m, "rule_result") != "drop" ||
			logField(m, "direction") != "out" || logField(m, "firewall_id") != w.gwID {
			t.Errorf("NAT firewall traffic log %v, want a drop by %s or %s of a private source to %s through %s", m, dropA2, dropM1, inetAddr, w.gwID)
		}
	}

	for _, id := range []string{acceptA2, dropA2, dropM1, dropE1} {
		req := cloudfw.CreateDeleteNatFirewallControlPolicyRequest()
		req.AclUuid, req.NatGatewayId, req.Direction = id, w.gwID, "out"
		if _, err := fw.DeleteNatFirewallControlPolicy(req); err != nil {
			t.Fatalf("DeleteNatFirewallControlPolicy %s: %v", id, err)
		}
	}
	w.settle()
	w.leavesWith("m1", inetAP, natC)
	w.leavesWith("a2", inetAP, natB)
}

// testDNS is a DNS server (UDP, on the root namespace's loopback) that
// answers A questions for the names set, and NXDOMAIN for any other.
type testDNS struct {
	addr string
	mu   sync.Mutex
	a    map[string]netip.Addr
}

func startDNS(t *testing.T) *testDNS {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &testDNS{addr: pc.LocalAddr().String(), a: map[string]netip.Addr{}}
	started := make(chan struct{})
	srv := &mdns.Server{PacketConn: pc, NotifyStartedFunc: func() { close(started) }, Handler: mdns.HandlerFunc(func(rw mdns.ResponseWriter, r *mdns.Msg) {
		m := new(mdns.Msg).SetReply(r)
		d.mu.Lock()
		a, ok := d.a[strings.TrimSuffix(strings.ToLower(r.Question[0].Name), ".")]
		d.mu.Unlock()
		switch {
		case !ok:
			m.Rcode = mdns.RcodeNameError
		case r.Question[0].Qtype == mdns.TypeA:
			m.Answer = []mdns.RR{&mdns.A{Hdr: mdns.RR_Header{Name: r.Question[0].Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 5}, A: a.AsSlice()}}
		}
		_ = rw.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	<-started // Shutdown before the start would be refused, and the server would run on
	t.Cleanup(func() { _ = srv.Shutdown() })
	return d
}

func (d *testDNS) set(name string, a netip.Addr) {
	d.mu.Lock()
	d.a[name] = a
	d.mu.Unlock()
}

// domainPolicies: a policy whose destination is a domain matches the
// addresses the server's resolver found for it, in the NAT firewall (a2
// may reach the domain's address, nothing else) and in the Internet
// firewall (an out policy keeps e1 from it); when the domain moves to
// another address, so do the policies.
func (w *natWorld) domainPolicies(fw *cloudfw.Client, names *testDNS, inetAP netip.AddrPort, natB, own netip.Addr) {
	t := w.t
	t.Helper()
	const domain = "api.palisade.test"
	names.set(domain, inetAP.Addr())
	inetAddr, inetPort := inetAP.Addr().String(), inetAP.Port()
	port := fmt.Sprintf("%d/%d", inetPort, inetPort)
	nat := func(action, dst, dstType, order string) string {
		t.Helper()
		req := cloudfw.CreateCreateNatFirewallControlPolicyRequest()
		req.NatGatewayId, req.Direction, req.AclAction, req.Proto, req.NewOrder = w.gwID, "out", action, "TCP", order
		req.Source, req.SourceType, req.Destination, req.DestinationType = w.addr["a2"].String()+"/32", "net", dst, dstType
		req.DestPortType, req.DestPort, req.Description = "port", port, "a2 to "+dst
		req.ApplicationNameList = &[]string{"ANY"}
		if dstType == "domain" {
			req.DomainResolveType = requests.NewInteger(1)
		}
		resp, err := fw.CreateNatFirewallControlPolicy(req)
		if err != nil {
			t.Fatalf("CreateNatFirewallControlPolicy %s %s: %v", action, dst, err)
		}
		return resp.AclUuid
	}
	toDomain := nat("accept", domain, "domain", "1")
	rest := nat("drop", "0.0.0.0/0", "net", "2")
	inet := cloudfw.CreateAddControlPolicyRequest()
	inet.Direction, inet.AclAction, inet.Proto, inet.NewOrder = "out", "drop", "TCP", "1"
	inet.Source, inet.SourceType, inet.Destination, inet.DestinationType = own.String()+"/32", "net", domain, "domain"
	inet.DestPortType, inet.DestPort, inet.ApplicationName, inet.Description = "port", port, "ANY", "e1 not to "+domain
	inetResp, err := fw.AddControlPolicy(inet)
	if err != nil {
		t.Fatalf("AddControlPolicy out to %s: %v", domain, err)
	}
	w.env.ResolveDomains(t)
	w.settle()
	w.leavesWith("a2", inetAP, natB)
	w.staysIn("e1", inetAP, "the Internet firewall's out policy to "+domain)
	w.agrees(w.ids["a2"], inetAddr, inetPort, true, toDomain, "destination domain "+domain)
	w.agrees(w.ids["e1"], inetAddr, inetPort, false, inetResp.AclUuid)

	// The domain moves: the internet server is no longer it.
	names.set(domain, netip.MustParseAddr("192.0.2.250"))
	w.env.ResolveDomains(t)
	w.settle()
	w.staysIn("a2", inetAP, "the domain resolves elsewhere: the drop policy")
	w.leavesWith("e1", inetAP, own)
	w.agrees(w.ids["a2"], inetAddr, inetPort, false, rest)
	w.agrees(w.ids["e1"], inetAddr, inetPort, true)

	for _, id := range []string{toDomain, rest} {
		req := cloudfw.CreateDeleteNatFirewallControlPolicyRequest()
		req.AclUuid, req.NatGatewayId, req.Direction = id, w.gwID, "out"
		if _, err := fw.DeleteNatFirewallControlPolicy(req); err != nil {
			t.Fatalf("DeleteNatFirewallControlPolicy %s: %v", id, err)
		}
	}
	del := cloudfw.CreateDeleteControlPolicyRequest()
	del.AclUuid, del.Direction = inetResp.AclUuid, "out"
	if _, err := fw.DeleteControlPolicy(del); err != nil {
		t.Fatalf("DeleteControlPolicy: %v", err)
	}
	w.settle()
	w.leavesWith("a2", inetAP, natB)
}

// TestNATGatewaySDK drives an Internet NAT gateway end to end with the
// official SDK, the root namespace playing the internet: SNAT entries give
// instances without an EIP the internet with the gateway's address (the
// most specific entry wins, an instance's own EIP comes first, an IP
// mapping gives its instance that address both ways), forward entries open
// one port to one instance whose security groups still judge the real
// client, the Internet firewall judges the gateway's EIPs both ways, the
// gateway answers pings, deleting a forward entry ends its
// connections, and deleting the gateway closes everything it opened.
func TestNATGatewaySDK(t *testing.T) {
	requireKernel(t)
	tag := randTag(t)
	var vpcID string
	var public []netip.Addr
	t.Cleanup(func() {
		if vpcID == "" {
			return
		}
		if out, _ := exec.Command("ip", "-o", "link", "show", linux.UplinkName(vpcID)).CombinedOutput(); strings.Contains(string(out), linux.UplinkName(vpcID)+"@") {
			t.Errorf("cleanup left the uplink in the root namespace: %s", out)
		}
		out, _ := exec.Command("ip", "-4", "route", "show", "proto", "0x9a").CombinedOutput()
		for _, a := range public {
			if strings.Contains(string(out), a.String()+" ") {
				t.Errorf("cleanup left a route to %s in the root namespace:\n%s", a, out)
			}
		}
	})
	names := startDNS(t)
	env := apitest.Start(t, apitest.WithBackend(app.BackendMemory), apitest.WithAgent(tag), apitest.WithDNSUpstream(names.addr))
	w := &natWorld{eipWorld: &eipWorld{world: newWorld(t, env)}}
	vpcID = w.mustVPC("10.9.0.0/16")
	w.vpcID = vpcID
	vsw := w.mustVSwitch(vpcID, "10.9.1.0/24")
	w.mustGroup("web", vpcID, "normal", "")
	w.mustGroup("closed", vpcID, "normal", "")
	w.authorize("web", ruleSpec{proto: "tcp", ports: "8080/8080", peer: "0.0.0.0/0", policy: "accept", priority: 1})
	w.authorize("closed", ruleSpec{proto: "tcp", ports: "8080/8080", peer: "10.0.0.0/8", policy: "accept", priority: 1})
	w.run("a1", vsw, "10.9.1.11", "web")
	w.run("a2", vsw, "10.9.1.12", "web")
	w.run("e1", vsw, "10.9.1.13", "web") // has an EIP of its own
	w.run("c1", vsw, "10.9.1.14", "closed")
	w.run("m1", vsw, "10.9.1.15", "web") // gets an IP mapping
	w.waitRunning()
	for _, n := range []string{"a1", "a2", "e1", "c1", "m1"} {
		serveWho(t, w.ids[n], n, 8080)
	}
	ownID, own := w.allocate()
	w.associate(ownID, "e1")
	w.waitInUse(ownID)
	inet := serveWho(t, "", "internet", 0)
	probeConn, err := net.Dial("udp4", netip.AddrPortFrom(own, 9).String())
	if err != nil {
		t.Fatal(err)
	}
	inetAP := netip.AddrPortFrom(netip.MustParseAddrPort(probeConn.LocalAddr().String()).Addr(), uint16(inet.port()))
	probeConn.Close()

	w.staysIn("a1", inetAP, "no NAT gateway")
	inetAddr, inetPort := inetAP.Addr().String(), inetAP.Port()
	w.agrees(w.ids["a1"], inetAddr, inetPort, false)

	w.createGateway(vsw)
	natAID, natA := w.allocate()
	natBID, natB := w.allocate()
	natCID, natC := w.allocate()
	public = []netip.Addr{own, natA, natB, natC}
	for _, id := range []string{natAID, natBID, natCID} {
		w.associateNat(id)
	}
	for _, id := range []string{natAID, natBID, natCID} {
		w.waitInUse(id)
	}
	t.Logf("gateway %s: %s %s %s; e1's own EIP %s; internet %s", w.gwID, natA, natB, natC, own, inetAP)
	w.staysIn("a1", inetAP, "a gateway without SNAT entries")

	// SNAT: the vSwitch leaves with natA; a2 alone with natB (the more
	// specific entry); e1 keeps its own EIP.
	w.snat(vsw, natA)
	w.settle()
	w.leavesWith("a1", inetAP, natA)
	w.leavesWith("a2", inetAP, natA)
	w.leavesWith("e1", inetAP, own)
	w.snat("10.9.1.12/32", natB)
	w.settle()
	w.leavesWith("a2", inetAP, natB)
	w.leavesWith("a1", inetAP, natA)
	w.agrees(w.ids["a1"], inetAddr, inetPort, true, w.gwID, natA.String())
	w.agrees(w.ids["a2"], inetAddr, inetPort, true, w.gwID, natB.String())

	// Nothing comes in through the gateway without a forward entry.
	w.mustNotReach(netip.AddrPortFrom(natA, 8080), "no forward entry")
	if err := exec.Command("ping", "-c", "1", "-W", "1", natA.String()).Run(); err != nil {
		t.Errorf("ping the gateway's %s: %v, want an answer (IcmpReplyEnabled by default)", natA, err)
	}

	// Forward entries: natA:80 to a1:8080 (its group admits everyone),
	// natA:81 to c1:8080 (its group admits 10/8 only: dropped).
	fwd := w.forward(natA, "80", "TCP", "a1", "8080")
	w.forward(natA, "81", "tcp", "c1", "8080")
	w.settle()
	held := w.mustReach(netip.AddrPortFrom(natA, 80), "a1")
	w.mustNotReach(netip.AddrPortFrom(natA, 81), "c1's security group admits 10.0.0.0/8 only")
	w.mustNotReach(netip.AddrPortFrom(natA, 82), "no forward entry for the port")
	w.agrees(inetAddr, natA.String(), 80, true, w.gwID)
	w.agrees(inetAddr, natA.String(), 81, false)
	w.agrees(inetAddr, natA.String(), 82, false)

	// The Internet firewall judges the gateway's EIPs like any other: an in
	// policy on natA:80 drops the forwarded port, an out policy on natB
	// (after SNAT) keeps a2 in; both gone, both open again.
	fw := env.Cloudfw(t, env.Admin)
	addPolicy := func(dir, src, dst, port string) string {
		t.Helper()
		req := cloudfw.CreateAddControlPolicyRequest()
		req.Direction, req.AclAction, req.Proto, req.NewOrder = dir, "drop", "TCP", "1"
		req.Source, req.SourceType, req.Destination, req.DestinationType = src, "net", dst, "net"
		req.DestPortType, req.DestPort, req.ApplicationName, req.Description = "port", port, "ANY", "NAT EIP "+dir
		resp, err := fw.AddControlPolicy(req)
		if err != nil {
			t.Fatalf("AddControlPolicy %s: %v", dir, err)
		}
		return resp.AclUuid
	}
	inPol := addPolicy("in", "0.0.0.0/0", natA.String()+"/32", "80")
	outPol := addPolicy("out", natB.String()+"/32", "0.0.0.0/0", strconv.Itoa(int(inetPort)))
	w.settle()
	w.mustNotReach(netip.AddrPortFrom(natA, 80), "the Internet firewall's in policy")
	w.staysIn("a2", inetAP, "the Internet firewall's out policy on natB")
	w.leavesWith("a1", inetAP, natA)
	w.agrees(inetAddr, natA.String(), 80, false, "internet-firewall")
	w.agrees(w.ids["a2"], inetAddr, inetPort, false, "internet-firewall")
	for uuid, dir := range map[string]string{inPol: "in", outPol: "out"} {
		del := cloudfw.CreateDeleteControlPolicyRequest()
		del.AclUuid, del.Direction = uuid, dir
		if _, err := fw.DeleteControlPolicy(del); err != nil {
			t.Fatalf("DeleteControlPolicy: %v", err)
		}
	}
	w.settle()
	w.mustReach(netip.AddrPortFrom(natA, 80), "a1").Close()
	w.leavesWith("a2", inetAP, natB)

	// An IP mapping: every port of natC goes to m1, and m1 leaves with natC.
	w.forward(natC, "Any", "Any", "m1", "Any")
	w.settle()
	w.mustReach(netip.AddrPortFrom(natC, 8080), "m1").Close()
	w.leavesWith("m1", inetAP, natC)
	w.agrees(inetAddr, natC.String(), 8080, true, w.gwID)
	w.agrees(w.ids["m1"], inetAddr, inetPort, true, natC.String())

	w.natFirewall(fw, inetAP, natA, natB, natC, own)
	w.domainPolicies(fw, names, inetAP, natB, own)

	// Deleting the forward entry ends its connection and opens nothing.
	w.deleteForward(fwd)
	w.settle()
	mustBeDead(t, held, "connection through a deleted forward entry")
	w.mustNotReach(netip.AddrPortFrom(natA, 80), "forward entry deleted")

	// Deleting the gateway (Force: with its entries and EIPs) closes it all.
	req := vpc.CreateDeleteNatGatewayRequest()
	req.NatGatewayId, req.Force = w.gwID, requests.NewBoolean(true)
	if _, err := w.vpc.DeleteNatGateway(req); err != nil {
		t.Fatalf("DeleteNatGateway: %v", err)
	}
	w.settle()
	w.staysIn("a1", inetAP, "gateway deleted")
	w.staysIn("m1", inetAP, "gateway deleted")
	// Its addresses are no longer routed to the VPC (where the packet goes
	// instead is the host's business).
	if c, err := dialRoot(netip.AddrPortFrom(natC, 8080)); err == nil {
		if name, _, err := ask(c); err == nil && w.ids[name] != "" {
			t.Errorf("internet -> %v of the deleted gateway: answered by instance %s", natC, name)
		}
		c.Close()
	}
	w.leavesWith("e1", inetAP, own)
	w.agrees(w.ids["a1"], inetAddr, inetPort, false)
	out, err := exec.Command("ip", "-4", "route", "show", "proto", "0x9a").CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []netip.Addr{natA, natB, natC} {
		if strings.Contains(string(out), a.String()+" ") {
			t.Errorf("the deleted gateway's %s is still routed into the VPC:\n%s", a, out)
		}
	}
}
