package kernel_test

import (
	"context"
	"fmt"
	"net/netip"
	osexec "os/exec"
	"strings"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/probe"
)

// plWorld is a consumer VPC (the rig's) and a provider VPC with the same
// CIDR, joined by one endpoint.
type plWorld struct {
	*rig
	provider             string // provider VPC ID
	consumer, p1, p2     node
	svc                  model.EndpointService
	ep                   model.Endpoint
	epENI                model.ENI
	epAddr, transit      netip.Addr
	epGroup, providerGrp string
}

// instanceIn adds an instance of VPC vpc (the rig's instance() is for the
// rig's VPC).
func (r *rig) instanceIn(vpc, short, vsw, addr string, groups ...string) node {
	r.t.Helper()
	n := node{name: short, inst: "i-" + r.tag + short, eni: "eni-" + r.tag + short, vsw: vsw, addr: netip.MustParseAddr(addr)}
	r.nodes = append(r.nodes, n)
	r.put(model.PrefixInstance+n.inst, model.Instance{
		ID: n.inst, ZoneID: rigZone, VpcID: vpc, VSwitchID: vsw, PrimaryENIID: n.eni, Status: model.InstanceRunning,
	})
	e := r.eniRecord(len(r.nodes)-1, groups)
	e.VpcID = vpc
	r.put(model.PrefixENI+n.eni, e)
	return n
}

func newPLWorld(t *testing.T) *plWorld {
	r := newRig(t, "l", 2*time.Second)
	w := &plWorld{rig: r, provider: "vpc-" + r.tag + "p", epAddr: netip.MustParseAddr("10.77.1.100"), transit: netip.MustParseAddr("100.64.0.7")}
	cidr := netip.MustParsePrefix("10.77.1.0/24")
	// The consumer: one instance in a group that may send anything.
	cv := r.vswitch("c", cidr.String())
	gc := r.groupID("c")
	r.put(model.PrefixSecurityGroup+gc, model.SecurityGroup{ID: gc, VpcID: r.vpc, Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerDrop})
	w.consumer = r.instance("c", cv, "10.77.1.10", gc)
	// The provider, same CIDR: two instances that admit 8080-9090 from
	// the transit range only.
	r.put(model.PrefixVPC+w.provider, model.VPC{ID: w.provider, CidrBlock: netip.MustParsePrefix("10.77.0.0/16"), Status: "Available"})
	pv := "vsw-" + r.tag + "p"
	r.put(model.PrefixVSwitch+pv, model.VSwitch{ID: pv, VpcID: w.provider, ZoneID: rigZone, CidrBlock: cidr, Status: "Available"})
	w.providerGrp = r.groupID("p")
	r.put(model.PrefixSecurityGroup+w.providerGrp, model.SecurityGroup{ID: w.providerGrp, VpcID: w.provider, Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerDrop,
		Rules: []model.Rule{{ID: "sgr-p", Direction: model.Ingress, Protocol: model.ProtoTCP, Ports: model.PortRange{From: 8080, To: 9090},
			PeerCidr: model.TransitRange, Policy: model.PolicyAccept, Priority: 1}}})
	w.p1 = r.instanceIn(w.provider, "p1", pv, "10.77.1.10", w.providerGrp) // the consumer's address, on purpose
	w.p2 = r.instanceIn(w.provider, "p2", pv, "10.77.1.11", w.providerGrp)
	// The endpoint: its ENI in the consumer vSwitch, in a group that
	// admits 8080 from the consumer's vSwitch.
	w.epGroup = r.groupID("e")
	r.put(model.PrefixSecurityGroup+w.epGroup, model.SecurityGroup{ID: w.epGroup, VpcID: r.vpc, Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerDrop,
		Rules: []model.Rule{{ID: "sgr-e", Direction: model.Ingress, Protocol: model.ProtoTCP, Ports: model.PortRange{From: 8080, To: 8080},
			PeerCidr: cidr, Policy: model.PolicyAccept, Priority: 1}}})
	w.svc = model.EndpointService{ID: "epsrv-" + r.tag, AccountID: "2", VpcID: w.provider, Status: "Active",
		Resources: []model.EndpointServiceResource{{ResourceID: w.p1.inst, ResourceType: model.EndpointResourceECS, ZoneID: rigZone},
			{ResourceID: w.p2.inst, ResourceType: model.EndpointResourceECS, ZoneID: rigZone}}}
	w.epENI = model.ENI{ID: "eni-" + r.tag + "ep", Type: model.ENITypeSecondary, VpcID: r.vpc, VSwitchID: cv, ZoneID: rigZone,
		MAC: "02:00:00:00:0e:01", PrimaryIP: w.epAddr, SecurityGroupIDs: []string{w.epGroup}, Status: model.ENIInUse, EndpointID: "ep-" + r.tag}
	w.ep = model.Endpoint{ID: "ep-" + r.tag, AccountID: "1", VpcID: r.vpc, ServiceID: w.svc.ID, SecurityGroupIDs: []string{w.epGroup},
		ConnectionStatus: model.EndpointConnected, Status: "Active",
		Zones: []model.EndpointZone{{ZoneID: rigZone, VSwitchID: cv, ENIID: w.epENI.ID, Addr: w.epAddr, TransitAddr: w.transit}}}
	r.put(model.PrefixEndpointService+w.svc.ID, w.svc)
	r.put(model.PrefixENI+w.epENI.ID, w.epENI)
	r.put(model.PrefixEndpoint+w.ep.ID, w.ep)
	r.reconcile()
	serveWho(t, w.p1.inst, "p1", 8080)
	serveWho(t, w.p2.inst, "p2", 8080)
	serveWho(t, w.p1.inst, "p1", 9090)
	serveWho(t, w.p2.inst, "p2", 9090)
	serveWho(t, w.consumer.inst, "consumer", 7070)
	return w
}

// dial connects from namespace ns to dst and asks who answers.
func dialWho(ns string, dst netip.AddrPort, timeout time.Duration) (name, peer string, err error) {
	c, err := probe.DialTCP(context.Background(), ns, dst, timeout)
	if err != nil {
		return "", "", err
	}
	defer c.Close()
	return ask(c)
}

// TestPrivateLink joins a consumer VPC to a provider VPC with the same
// CIDR through an endpoint and checks, with real connections: the consumer
// reaches the service's instances through the endpoint's address, spread
// over both, which see the transit address; the endpoint's security group
// and the provider's decide; the provider cannot open anything toward the
// consumer; a disconnected endpoint carries nothing and leaves no link.
func TestPrivateLink(t *testing.T) {
	w := newPLWorld(t)
	ep := netip.AddrPortFrom(w.epAddr, 8080)
	seen := map[string]int{}
	var err error
	for i := range 30 {
		var name, peer string
		name, peer, err = dialWho(w.consumer.inst, ep, time.Second)
		if err != nil {
			if i < 3 {
				continue // ARP
			}
			t.Fatalf("consumer -> endpoint %s: %v", ep, err)
		}
		seen[name]++
		if !strings.HasPrefix(peer, w.transit.String()+":") {
			t.Errorf("%s saw the connection from %s, want the transit address %s", name, peer, w.transit)
		}
	}
	t.Logf("connections by backend: %v", seen)
	if seen["p1"] == 0 || seen["p2"] == 0 {
		t.Errorf("connections by backend %v: want both instances used", seen)
	}

	// The endpoint's group admits 8080 only (the provider's, 8080-9090).
	if err := tcpProbe(w.consumer.inst, 0, netip.AddrPortFrom(w.epAddr, 9090), 300*time.Millisecond); !probe.IsTimeout(err) {
		t.Errorf("consumer -> endpoint:9090 (the endpoint's group admits 8080 only): %v, want a silent drop", err)
	}
	// Nothing from the provider: not to the transit address, not to the
	// endpoint's address, not to the consumer's (which in the provider
	// VPC is p1's own).
	for _, dst := range []netip.AddrPort{netip.AddrPortFrom(w.transit, 7070), netip.AddrPortFrom(w.epAddr, 7070)} {
		if err := tcpProbe(w.p2.inst, 0, dst, 300*time.Millisecond); err == nil {
			t.Errorf("provider p2 -> %s: connected, want nothing across", dst)
		}
	}

	// The endpoint's group changed to admit 9090 as well: it crosses.
	g := model.SecurityGroup{ID: w.epGroup, VpcID: w.vpc, Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerDrop,
		Rules: []model.Rule{{ID: "sgr-e", Direction: model.Ingress, Protocol: model.ProtoTCP, Ports: model.PortRange{From: 8080, To: 9090},
			PeerCidr: netip.MustParsePrefix("10.77.1.0/24"), Policy: model.PolicyAccept, Priority: 1}}}
	w.put(model.PrefixSecurityGroup+w.epGroup, g)
	w.reconcile()
	if _, _, err := dialWho(w.consumer.inst, netip.AddrPortFrom(w.epAddr, 9090), time.Second); err != nil {
		t.Errorf("consumer -> endpoint:9090 once the endpoint's group admits it: %v", err)
	}
	// The provider's group narrowed to 8080: 9090 no longer crosses.
	w.put(model.PrefixSecurityGroup+w.providerGrp, model.SecurityGroup{ID: w.providerGrp, VpcID: w.provider, Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerDrop,
		Rules: []model.Rule{{ID: "sgr-p", Direction: model.Ingress, Protocol: model.ProtoTCP, Ports: model.PortRange{From: 8080, To: 8080},
			PeerCidr: model.TransitRange, Policy: model.PolicyAccept, Priority: 1}}})
	w.reconcile()
	if err := tcpProbe(w.consumer.inst, 0, netip.AddrPortFrom(w.epAddr, 9090), 300*time.Millisecond); !probe.IsTimeout(err) {
		t.Errorf("consumer -> endpoint:9090 (the provider's group admits 8080 only): %v, want a silent drop", err)
	}
	if _, _, err := dialWho(w.consumer.inst, ep, time.Second); err != nil {
		t.Errorf("consumer -> endpoint:8080 after the change: %v", err)
	}

	// Disconnected by the provider: nothing crosses, the link goes.
	w.ep.ConnectionStatus = model.EndpointDisconnected
	w.put(model.PrefixEndpoint+w.ep.ID, w.ep)
	w.reconcile()
	if err := tcpProbe(w.consumer.inst, 0, ep, 300*time.Millisecond); err == nil {
		t.Errorf("consumer -> endpoint after the connection was disabled: connected")
	}
	out, err := nsExec(w.provider, "ip", "-o", "link", "show")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, " pk") {
		t.Errorf("provider namespace still has an endpoint link after the disconnection:\n%s", out)
	}

	// Connected again: it works again.
	w.ep.ConnectionStatus = model.EndpointConnected
	w.put(model.PrefixEndpoint+w.ep.ID, w.ep)
	w.reconcile()
	if _, _, err := dialWho(w.consumer.inst, ep, time.Second); err != nil {
		t.Errorf("consumer -> endpoint after reconnection: %v", err)
	}

	// Drift: the provider's end of the link and both tables removed by
	// hand; the next reconciliation restores them.
	out, err = nsExec(w.provider, "sh", "-c", "ip -o link show | grep -o 'pk[a-z0-9]*' | head -1")
	if err != nil || strings.TrimSpace(out) == "" {
		t.Fatalf("no endpoint link in the provider namespace: %q %v", out, err)
	}
	for _, cmd := range [][]string{
		{w.provider, "ip", "link", "del", strings.TrimSpace(out)},
		{w.provider, "nft", "delete", "table", "ip", "palisade_plp"},
		{w.vpc, "nft", "delete", "table", "ip", "palisade_plc"},
	} {
		if _, err := nsExec(cmd[0], cmd[1:]...); err != nil {
			t.Fatal(err)
		}
	}
	if err := tcpProbe(w.consumer.inst, 0, ep, 300*time.Millisecond); err == nil {
		t.Errorf("consumer -> endpoint with the link gone: connected")
	}
	w.reconcile()
	if _, peer, err := dialWho(w.consumer.inst, ep, time.Second); err != nil || !strings.HasPrefix(peer, w.transit.String()+":") {
		t.Errorf("consumer -> endpoint after the repair: %q, %v", peer, err)
	}

	// A connection open across the endpoint lives on through a
	// reconciliation and a restarted agent; new ones are made.
	long, err := probe.DialTCP(context.Background(), w.consumer.inst, ep, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer long.Close()
	w.reconcile()
	if _, _, err := ask(long); err != nil {
		t.Errorf("a connection across the endpoint after a reconciliation: %v", err)
	}
	w.newAgent()
	w.reconcile()
	if _, _, err := ask(long); err != nil {
		t.Errorf("a connection across the endpoint after the agent restarted: %v", err)
	}
	if _, _, err := dialWho(w.consumer.inst, ep, time.Second); err != nil {
		t.Errorf("consumer -> endpoint after the agent restarted: %v", err)
	}
}

// nsExec runs a command in a namespace.
func nsExec(ns string, args ...string) (string, error) {
	out, err := osexec.Command("nsenter", append([]string{"--net=/run/netns/" + ns}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%v in %s: %w: %s", args, ns, err, out)
	}
	return string(out), nil
}
