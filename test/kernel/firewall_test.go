package kernel_test

import (
	"crypto/rand"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/probe"
)

// TestInternetFirewall puts an instance behind an EIP and checks the
// account's Internet-firewall policies on real connections from and to
// the host (the internet): inbound drop by port, an earlier accept from an
// address book that wins, an outbound drop, connections established
// before a drop that live on, and the per-IP switch.
func TestInternetFirewall(t *testing.T) {
	r := newRig(t, "f", 2*time.Second)
	const acct = "acct-f"
	r.put(model.PrefixVPC+r.vpc, model.VPC{ID: r.vpc, AccountID: acct, CidrBlock: netip.MustParsePrefix("10.77.0.0/16"), Status: "Available"})
	v := r.vswitch("1", "10.77.1.0/24")
	g := r.groupID("g")
	r.put(model.PrefixSecurityGroup+g, model.SecurityGroup{ID: g, VpcID: r.vpc, Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerDrop,
		Rules: []model.Rule{{ID: "sgr-web", Direction: model.Ingress, Protocol: model.ProtoTCP, Ports: model.PortRange{From: 8080, To: 9090},
			PeerCidr: netip.MustParsePrefix("0.0.0.0/0"), Policy: model.PolicyAccept, Priority: 1}}})
	a := r.instance("a", v, "10.77.1.10", g)
	b := make([]byte, 2)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	eip := netip.MustParseAddr(fmt.Sprintf("198.18.%d.%d", b[0]&0x0f, 2+int(b[1])%253))
	r.put(model.PrefixEIP+"eip-"+r.tag, model.EIP{ID: "eip-" + r.tag, AccountID: acct, Address: eip, Status: model.EIPInUse,
		InstanceID: a.inst, InstanceType: "EcsInstance", ENIID: a.eni, PrivateIP: a.addr, VpcID: r.vpc, ZoneID: rigZone})
	r.reconcile()
	serveWho(t, a.inst, "a", 8080)
	serveWho(t, a.inst, "a", 9090)
	inet := serveWho(t, "", "internet", 0)

	reach := func(port uint16) (peer string, err error) {
		c, err := dialRoot(netip.AddrPortFrom(eip, port))
		if err != nil {
			return "", err
		}
		defer c.Close()
		_, peer, err = ask(c)
		return peer, err
	}
	peer, err := reach(8080)
	for i := 0; err != nil && i < 5; i++ { // ARP
		peer, err = reach(8080)
	}
	if err != nil {
		t.Fatalf("internet -> %s:8080 with no policy: %v", eip, err)
	}
	host, _, _ := strings.Cut(peer, ":")
	hostAddr := netip.MustParseAddr(host) // the internet client, as the instance sees it
	inetAP := netip.AddrPortFrom(hostAddr, uint16(inet.port()))
	outbound := func() error {
		c, err := probe.DialTCP(t.Context(), a.inst, inetAP, eipTimeout)
		if err != nil {
			return err
		}
		defer c.Close()
		_, _, err = ask(c)
		return err
	}
	if err := outbound(); err != nil {
		t.Fatalf("a -> internet %s with no policy: %v", inetAP, err)
	}
	// An established connection, opened before the policies below.
	long, err := dialRoot(netip.AddrPortFrom(eip, 9090))
	if err != nil {
		t.Fatal(err)
	}
	defer long.Close()

	pol := func(id string, order int, dir, action, src, srcType, dst, dstType, proto, port string) model.FirewallPolicy {
		return model.FirewallPolicy{ID: id, AccountID: acct, Direction: dir, Order: order, Action: action, Source: src, SourceType: srcType,
			Destination: dst, DestinationType: dstType, Proto: proto, DestPort: port, DestPortType: model.FirewallPort, Enabled: true}
	}
	// Inbound: 9090 dropped for everyone.
	r.put(model.PrefixFirewallPolicy+"p-drop", pol("p-drop", 1, model.FirewallIn, model.FirewallDrop, "0.0.0.0/0", model.FirewallNet, eip.String()+"/32", model.FirewallNet, "TCP", "9090"))
	r.reconcile()
	if _, err := reach(8080); err != nil {
		t.Errorf("internet -> :8080 (no policy matches): %v", err)
	}
	if _, err := reach(9090); !probe.IsTimeout(err) {
		t.Errorf("internet -> :9090 under a drop policy: %v, want a silent drop", err)
	}
	if _, _, err := ask(long); err != nil {
		t.Errorf("a connection established before the drop policy: %v, want it alive (only new connections are judged)", err)
	}
	r.newAgent()
	r.reconcile()
	if _, _, err := ask(long); err != nil {
		t.Errorf("that connection after the agent restarted: %v", err)
	}
	if _, err := reach(9090); !probe.IsTimeout(err) {
		t.Errorf("internet -> :9090 after the agent restarted: %v, want a silent drop", err)
	}
	// An address book holding the host, accepted first: it wins.
	r.put(model.PrefixAddressBook+"b-home", model.AddressBook{ID: "b-home", AccountID: acct, Name: "home", Type: model.AddressBookIP, Addresses: []string{hostAddr.String() + "/32", "203.0.113.0/24"}})
	r.put(model.PrefixFirewallPolicy+"p-drop", pol("p-drop", 2, model.FirewallIn, model.FirewallDrop, "0.0.0.0/0", model.FirewallNet, eip.String()+"/32", model.FirewallNet, "TCP", "9090"))
	r.put(model.PrefixFirewallPolicy+"p-home", pol("p-home", 1, model.FirewallIn, model.FirewallLog, "home", model.FirewallGroup, "0.0.0.0/0", model.FirewallNet, "ANY", ""))
	r.reconcile()
	if _, err := reach(9090); err != nil {
		t.Errorf("internet (in the accepted book) -> :9090: %v", err)
	}
	// Outbound: the instance may not open connections to the internet's
	// port, whatever its groups allow.
	r.put(model.PrefixFirewallPolicy+"p-out", pol("p-out", 1, model.FirewallOut, model.FirewallDrop, eip.String(), model.FirewallNet, "0.0.0.0/0", model.FirewallNet, "TCP", fmt.Sprint(inetAP.Port())))
	r.reconcile()
	if err := outbound(); !probe.IsTimeout(err) {
		t.Errorf("a -> internet under an outbound drop policy: %v, want a silent drop", err)
	}
	// Everything dropped first; then the switch off for the EIP: no
	// policy applies to it.
	r.put(model.PrefixFirewallPolicy+"p-drop", pol("p-drop", 1, model.FirewallIn, model.FirewallDrop, "0.0.0.0/0", model.FirewallNet, "0.0.0.0/0", model.FirewallNet, "ANY", ""))
	r.put(model.PrefixFirewallPolicy+"p-home", pol("p-home", 2, model.FirewallIn, model.FirewallLog, "home", model.FirewallGroup, "0.0.0.0/0", model.FirewallNet, "ANY", ""))
	r.reconcile()
	if _, err := reach(8080); !probe.IsTimeout(err) {
		t.Errorf("internet -> :8080 under a drop-everything policy first: %v, want a silent drop", err)
	}
	r.put(model.FirewallOffKey(acct, eip), struct{}{})
	r.reconcile()
	if _, err := reach(8080); err != nil {
		t.Errorf("internet -> :8080 with the firewall switched off for %s: %v", eip, err)
	}
	if err := outbound(); err != nil {
		t.Errorf("a -> internet with the firewall switched off: %v", err)
	}
	if out, err := r.vpcExec("nft", "list", "tables"); err != nil || strings.Contains(out, "palisade_cfw") {
		t.Errorf("the firewall table is still there with every EIP switched off: %q %v", out, err)
	}
}
