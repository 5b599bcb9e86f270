package policy

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/policy/policytest"
)

func ae(id, name, pol, proto, ports, cidr string) model.ACLEntry {
	return policytest.ACLEntry(id, name, pol, proto, ports, cidr)
}
func nacl(id string, ingress, egress []model.ACLEntry) model.NetworkACL {
	return policytest.NACL(id, ingress, egress)
}
func vswitch(id, cidr, cidr6, aclID string) model.VSwitch {
	return policytest.VSwitch(id, cidr, cidr6, aclID)
}
func inVSwitch(e model.ENI, vsw string) model.ENI { return policytest.InVSwitch(e, vsw) }

// aclWorld: vsw-a 10.0.1.0/24 (a1 .11, a2 .12, fd00:1::11 on a1),
// vsw-b 10.0.2.0/24 (b1 .21), vsw-c 10.0.3.0/24 (c1 .31, no ACL unless a
// case associates one). Every ENI is in sg-open, which allows everything
// both ways (by rules, not intra-group), so only ACLs deny unless a case
// says otherwise.
func aclWorld(aclA, aclB string, acls []model.NetworkACL, groups ...model.SecurityGroup) *Snapshot {
	if groups == nil {
		groups = []model.SecurityGroup{group("sg-open", basic, "Drop",
			rl("r-in", in, "ALL", "", "0.0.0.0/0", acc, 1), rl("r-in6", in, "ALL", "", "::/0", acc, 1))}
	}
	gid := []string{groups[0].ID}
	return NewWorld(groups, []model.ENI{
		inVSwitch(eni("eni-a1", "vpc-1", gid, "10.0.1.11", "fd00:1::11"), "vsw-a"),
		inVSwitch(eni("eni-a2", "vpc-1", gid, "10.0.1.12"), "vsw-a"),
		inVSwitch(eni("eni-b1", "vpc-1", gid, "10.0.2.21", "fd00:2::21"), "vsw-b"),
		inVSwitch(eni("eni-c1", "vpc-1", gid, "10.0.3.31"), "vsw-c"),
	}, []model.VSwitch{
		vswitch("vsw-a", "10.0.1.0/24", "fd00:1::/64", aclA),
		vswitch("vsw-b", "10.0.2.0/24", "fd00:2::/64", aclB),
		vswitch("vsw-c", "10.0.3.0/24", "", ""),
	}, acls)
}

func TestEvaluateACL(t *testing.T) {
	web := nacl("nacl-web",
		[]model.ACLEntry{
			ae("nae-1", "http", acc, "tcp", "80/80", "10.0.1.0/24"),
			ae("nae-2", "ping", acc, "icmp", "", "10.0.0.0/16"),
		},
		[]model.ACLEntry{ae("nae-3", "ephemeral", acc, "tcp", "1024/65535", "10.0.1.0/24")},
	)
	order := nacl("nacl-order",
		[]model.ACLEntry{
			ae("nae-d", "no-ssh", drp, "tcp", "22/22", "10.0.1.12/32"),
			ae("nae-a", "ssh", acc, "tcp", "22/22", "10.0.0.0/8"),
			ae("nae-all", "rest", acc, "all", "", "0.0.0.0/0"),
		},
		[]model.ACLEntry{ae("nae-o", "out", acc, "all", "", "0.0.0.0/0")},
	)
	swapped := nacl("nacl-order", []model.ACLEntry{order.Ingress[1], order.Ingress[0], order.Ingress[2]}, order.Egress)
	empty := nacl("nacl-empty", nil, nil)
	v6 := nacl("nacl-v6",
		[]model.ACLEntry{ae("nae-6", "ping6", acc, "icmp", "", "fd00::/16"), ae("nae-u", "udp6", acc, "udp", "53/53", "fd00:1::/64")},
		[]model.ACLEntry{ae("nae-6o", "all6", acc, "all", "", "::/0")},
	)
	// sg-web of the ACL+SG case allows only TCP 80 in.
	sgWeb := group("sg-web", basic, "Drop", rl("r80", in, "TCP", "80/80", "0.0.0.0/0", acc, 1))

	type tc struct {
		name       string
		w          *Snapshot
		from, to   string
		p          Packet
		allow      bool
		kind       ReasonKind // of the decisive stage
		entry      string     // decisive entry ID, if any
		acl        string     // ACLID of the decisive stage, if any
		aclOut, in ReasonKind // kinds of the two ACL stages, when not zero
	}
	wB := func(acls ...model.NetworkACL) *Snapshot { return aclWorld("", acls[0].ID, acls) }
	tests := []tc{
		{name: "no ACL anywhere", w: aclWorld("", "", nil), from: "eni-a1", to: "eni-b1",
			p: pkt(IPProtoTCP, "10.0.1.11", "10.0.2.21", 40000, 22), allow: true, kind: ReasonRule, aclOut: ReasonNoACL, in: ReasonNoACL},
		{name: "ingress entry admits the request", w: wB(web), from: "eni-a1", to: "eni-b1",
			p: pkt(IPProtoTCP, "10.0.1.11", "10.0.2.21", 40000, 80), allow: true, kind: ReasonRule, aclOut: ReasonNoACL, in: ReasonACLEntry},
		{name: "reply needs its own egress entry: ephemeral port allowed", w: wB(web), from: "eni-b1", to: "eni-a1",
			p: pkt(IPProtoTCP, "10.0.2.21", "10.0.1.11", 80, 40000), allow: true, kind: ReasonRule, aclOut: ReasonACLEntry, in: ReasonNoACL},
		{name: "reply to a port below 1024 has no egress entry", w: wB(web), from: "eni-b1", to: "eni-a1",
			p: pkt(IPProtoTCP, "10.0.2.21", "10.0.1.11", 80, 1000), allow: false, kind: ReasonACLDefault, acl: "nacl-web"},
		{name: "stateless: without the egress entry the reply dies", w: wB(nacl("nacl-web", web.Ingress, nil)), from: "eni-b1", to: "eni-a1",
			p: pkt(IPProtoTCP, "10.0.2.21", "10.0.1.11", 80, 40000), allow: false, kind: ReasonACLDefault, acl: "nacl-web"},
		{name: "no matching ingress entry: implicit deny", w: wB(web), from: "eni-a1", to: "eni-b1",
			p: pkt(IPProtoTCP, "10.0.1.11", "10.0.2.21", 40000, 443), allow: false, kind: ReasonACLDefault, acl: "nacl-web"},
		{name: "port matches the destination port only", w: wB(web), from: "eni-a1", to: "eni-b1",
			p: pkt(IPProtoTCP, "10.0.1.11", "10.0.2.21", 80, 8080), allow: false, kind: ReasonACLDefault},
		{name: "source outside the entry CIDR", w: wB(web), from: "eni-c1", to: "eni-b1",
			p: pkt(IPProtoTCP, "10.0.3.31", "10.0.2.21", 40000, 80), allow: false, kind: ReasonACLDefault},
		{name: "icmp entry", w: wB(web), from: "eni-c1", to: "eni-b1",
			p: pkt(IPProtoICMP, "10.0.3.31", "10.0.2.21", 0, 0), allow: true, kind: ReasonRule, in: ReasonACLEntry},
		{name: "udp does not match a tcp entry", w: wB(web), from: "eni-a1", to: "eni-b1",
			p: pkt(IPProtoUDP, "10.0.1.11", "10.0.2.21", 40000, 80), allow: false, kind: ReasonACLDefault},
		{name: "same vSwitch is not filtered", w: aclWorld("nacl-empty", "", []model.NetworkACL{empty}), from: "eni-a1", to: "eni-a2",
			p: pkt(IPProtoTCP, "10.0.1.11", "10.0.1.12", 40000, 5432), allow: true, kind: ReasonRule, aclOut: ReasonACLSameVSwitch, in: ReasonACLSameVSwitch},
		{name: "empty ACL denies egress", w: aclWorld("nacl-empty", "", []model.NetworkACL{empty}), from: "eni-a1", to: "eni-c1",
			p: pkt(IPProtoTCP, "10.0.1.11", "10.0.3.31", 40000, 80), allow: false, kind: ReasonACLDefault, acl: "nacl-empty"},
		{name: "empty ACL denies ingress", w: aclWorld("nacl-empty", "", []model.NetworkACL{empty}), from: "eni-c1", to: "eni-a1",
			p: pkt(IPProtoICMP, "10.0.3.31", "10.0.1.11", 0, 0), allow: false, kind: ReasonACLDefault, acl: "nacl-empty", aclOut: ReasonNoACL},
		{name: "both ACLs: egress of the sender first", w: aclWorld("nacl-empty", "nacl-web", []model.NetworkACL{empty, web}), from: "eni-a1", to: "eni-b1",
			p: pkt(IPProtoTCP, "10.0.1.11", "10.0.2.21", 40000, 80), allow: false, kind: ReasonACLDefault, acl: "nacl-empty", in: ReasonACLEntry},
		{name: "metadata exempt", w: aclWorld("nacl-empty", "", []model.NetworkACL{empty}), from: "eni-a1", to: "eni-c1",
			p: pkt(IPProtoTCP, "10.0.1.11", "100.100.100.200", 40000, 80), allow: true, kind: ReasonRule, aclOut: ReasonACLExempt},
		{name: "DNS reply exempt", w: aclWorld("nacl-empty", "", []model.NetworkACL{empty}), from: "eni-c1", to: "eni-a1",
			p: pkt(IPProtoUDP, "100.100.2.136", "10.0.1.11", 53, 40000), allow: true, kind: ReasonRule, in: ReasonACLExempt},
		{name: "DNS second range exempt", w: aclWorld("nacl-empty", "", []model.NetworkACL{empty}), from: "eni-a1", to: "eni-c1",
			p: pkt(IPProtoUDP, "10.0.1.11", "100.100.2.120", 40000, 53), allow: true, kind: ReasonRule, aclOut: ReasonACLExempt},
		{name: "just outside the DNS range", w: aclWorld("nacl-empty", "", []model.NetworkACL{empty}), from: "eni-a1", to: "eni-c1",
			p: pkt(IPProtoUDP, "10.0.1.11", "100.100.2.144", 40000, 53), allow: false, kind: ReasonACLDefault},
		{name: "DHCP exempt", w: aclWorld("nacl-empty", "", []model.NetworkACL{empty}), from: "eni-a1", to: "eni-c1",
			p: pkt(IPProtoUDP, "10.0.1.11", "10.0.3.31", 68, 67), allow: true, kind: ReasonRule, aclOut: ReasonACLExempt},
		{name: "DHCP reply exempt", w: aclWorld("nacl-empty", "", []model.NetworkACL{empty}), from: "eni-c1", to: "eni-a1",
			p: pkt(IPProtoUDP, "10.0.3.31", "10.0.1.11", 67, 68), allow: true, kind: ReasonRule, in: ReasonACLExempt},
		{name: "UDP 67 from another port is not DHCP", w: aclWorld("nacl-empty", "", []model.NetworkACL{empty}), from: "eni-a1", to: "eni-c1",
			p: pkt(IPProtoUDP, "10.0.1.11", "10.0.3.31", 40000, 67), allow: false, kind: ReasonACLDefault},
		{name: "order: drop entry first denies", w: wB(order), from: "eni-a2", to: "eni-b1",
			p: pkt(IPProtoTCP, "10.0.1.12", "10.0.2.21", 40000, 22), allow: false, kind: ReasonACLEntry, entry: "nae-d", acl: "nacl-order"},
		{name: "order: other sources reach the accept", w: wB(order), from: "eni-a1", to: "eni-b1",
			p: pkt(IPProtoTCP, "10.0.1.11", "10.0.2.21", 40000, 22), allow: true, kind: ReasonRule, in: ReasonACLEntry},
		{name: "order: swapped, the accept wins", w: wB(swapped), from: "eni-a2", to: "eni-b1",
			p: pkt(IPProtoTCP, "10.0.1.12", "10.0.2.21", 40000, 22), allow: true, kind: ReasonRule, in: ReasonACLEntry},
		{name: "ACL allows, SG denies", w: aclWorld("", "nacl-web", []model.NetworkACL{web}, sgWeb), from: "eni-a1", to: "eni-b1",
			p: pkt(IPProtoICMP, "10.0.1.11", "10.0.2.21", 0, 0), allow: false, kind: ReasonDefault, in: ReasonACLEntry},
		{name: "SG allows, ACL denies", w: aclWorld("", "nacl-web", []model.NetworkACL{web}, sgWeb), from: "eni-c1", to: "eni-b1",
			p: pkt(IPProtoTCP, "10.0.3.31", "10.0.2.21", 40000, 80), allow: false, kind: ReasonACLDefault},
		{name: "both allow", w: aclWorld("", "nacl-web", []model.NetworkACL{web}, sgWeb), from: "eni-a1", to: "eni-b1",
			p: pkt(IPProtoTCP, "10.0.1.11", "10.0.2.21", 40000, 80), allow: true, kind: ReasonRule, in: ReasonACLEntry},
		{name: "unknown ACL fails closed", w: aclWorld("", "nacl-gone", nil), from: "eni-a1", to: "eni-b1",
			p: pkt(IPProtoTCP, "10.0.1.11", "10.0.2.21", 40000, 80), allow: false, kind: ReasonUnknownACL, acl: "nacl-gone"},
		{name: "IPv6 icmp entry matches ICMPv6", w: wB(v6), from: "eni-a1", to: "eni-b1",
			p: pkt(IPProtoICMPv6, "fd00:1::11", "fd00:2::21", 0, 0), allow: true, kind: ReasonRule, in: ReasonACLEntry},
		{name: "IPv6 icmp entry does not match ICMPv4", w: wB(v6), from: "eni-a1", to: "eni-b1",
			p: pkt(IPProtoICMP, "10.0.1.11", "10.0.2.21", 0, 0), allow: false, kind: ReasonACLDefault},
		{name: "IPv6 udp entry", w: wB(v6), from: "eni-a1", to: "eni-b1",
			p: pkt(IPProtoUDP, "fd00:1::11", "fd00:2::21", 999, 53), allow: true, kind: ReasonRule, in: ReasonACLEntry},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := Evaluate(tc.w, tc.from, tc.to, tc.p)
			dec := d.Decisive()
			if d.Allow != tc.allow || dec.Reason.Kind != tc.kind {
				t.Fatalf("got %v, decisive %v; want allow=%v by %v", d, dec.Reason.Kind, tc.allow, tc.kind)
			}
			if tc.entry != "" && dec.Reason.RuleID != tc.entry {
				t.Errorf("decisive entry %q, want %q (%v)", dec.Reason.RuleID, tc.entry, d)
			}
			if tc.acl != "" && dec.Reason.ACLID != tc.acl {
				t.Errorf("decisive ACL %q, want %q (%v)", dec.Reason.ACLID, tc.acl, d)
			}
			if tc.aclOut != 0 && d.ACLEgress.Reason.Kind != tc.aclOut {
				t.Errorf("ACL egress stage %v, want %v", d.ACLEgress.Reason.Kind, tc.aclOut)
			}
			if tc.in != 0 && d.ACLIngress.Reason.Kind != tc.in {
				t.Errorf("ACL ingress stage %v, want %v", d.ACLIngress.Reason.Kind, tc.in)
			}
			// The compiled program agrees.
			ifaces := map[string]string{}
			for _, id := range []string{"eni-a1", "eni-a2", "eni-b1", "eni-c1"} {
				ifaces[id] = "pv-" + strings.TrimPrefix(id, "eni-")
			}
			prog := Compile(tc.w, ifaces)
			if got := runPath(t, prog, tc.w, tc.from, tc.to, tc.p); got != tc.allow {
				t.Errorf("compiled program allow=%v, evaluator %v", got, d)
			}
		})
	}
}

// TestACLTrace checks that a decision names the entry (ID, name, position)
// or the implicit deny of the ACL that decided.
func TestACLTrace(t *testing.T) {
	a := nacl("nacl-t", []model.ACLEntry{
		ae("nae-x", "deny-ssh", drp, "tcp", "22/22", "0.0.0.0/0"),
		ae("nae-y", "web", acc, "tcp", "80/80", "0.0.0.0/0"),
	}, nil)
	w := aclWorld("", "nacl-t", []model.NetworkACL{a})
	d := Evaluate(w, "eni-a1", "eni-b1", pkt(IPProtoTCP, "10.0.1.11", "10.0.2.21", 4000, 22))
	r := d.ACLIngress.Reason
	if d.Allow || r.Kind != ReasonACLEntry || r.RuleID != "nae-x" || r.EntryName != "deny-ssh" || r.Priority != 1 ||
		r.Policy != drp || r.ACLID != "nacl-t" || r.VSwitchID != "vsw-b" {
		t.Errorf("trace: %+v", r)
	}
	if s := d.Decisive().String(); !strings.Contains(s, "nae-x") || !strings.Contains(s, "deny-ssh") || !strings.Contains(s, "nacl-t") {
		t.Errorf("String() does not name the entry: %s", s)
	}
	d = Evaluate(w, "eni-a1", "eni-b1", pkt(IPProtoTCP, "10.0.1.11", "10.0.2.21", 4000, 80))
	if r := d.ACLIngress.Reason; !d.Allow || r.RuleID != "nae-y" || r.Priority != 2 {
		t.Errorf("trace: %+v", r)
	}
	d = Evaluate(w, "eni-a1", "eni-b1", pkt(IPProtoUDP, "10.0.1.11", "10.0.2.21", 4000, 80))
	if s := d.Decisive().String(); d.Allow || !strings.Contains(s, "implicit deny of nacl-t") {
		t.Errorf("implicit deny trace: %s", s)
	}
}

// aclGoldenWorld is policytest.ACLGolden as a snapshot.
func aclGoldenWorld() (*Snapshot, map[string]string) {
	g := policytest.ACLGolden()
	return NewWorld(g.Groups, g.ENIs, g.VSwitches, g.ACLs), g.Ifaces
}

func TestRenderACLGolden(t *testing.T) {
	w, ifaces := aclGoldenWorld()
	p := Compile(w, ifaces)
	p.GuardPrefix = "pv"
	got := p.Render()
	path := filepath.Join("testdata", "program_acl.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create): %v", err)
	}
	if got != string(want) {
		t.Fatalf("rendered program differs from %s (run with -update if intended):\n%s", path, lineDiff(string(want), got))
	}
	// Shape facts the golden file shows but does not explain.
	if !strings.Contains(got, "chain acl_forward {\n\t\ttype filter hook forward priority filter - 1; policy accept;\n\t\tiifname vmap @acl_out_ifaces\n\t\toifname vmap @acl_in_ifaces\n\t}") {
		t.Error("acl_forward must hook forward before the security groups, with no conntrack shortcut")
	}
	var acl *ACLChain
	for _, c := range p.ACLChains {
		if c.Name == "acl_web_in" {
			acl = c
		}
	}
	if acl == nil {
		t.Fatal("acl_web_in not compiled")
	}
	// SSH: accepted from 10.0.0.0/16 except 10.0.2.0/24 (dropped first);
	// GRE dropped before "all" accepts the VPC.
	for _, c := range []struct {
		p     Packet
		allow bool
	}{
		{pkt(IPProtoTCP, "10.0.2.5", "10.0.1.11", 4000, 22), false},
		{pkt(IPProtoTCP, "10.0.2.5", "10.0.1.11", 4000, 23), true},
		{pkt(IPProtoTCP, "10.0.1.5", "10.0.1.11", 4000, 22), true},
		{pkt(IPProtoTCP, "10.0.3.5", "10.0.1.11", 4000, 22), true},
		{pkt(IPProtoTCP, "192.168.0.1", "10.0.1.11", 4000, 22), false},
		{pkt(IPProtoTCP, "192.168.0.1", "10.0.1.11", 4000, 443), true},
		{pkt(IPProtoGRE, "10.0.3.5", "10.0.1.11", 0, 0), false},
		{pkt(IPProtoICMP, "10.0.3.5", "10.0.1.11", 0, 0), true},
		{pkt(IPProtoICMPv6, "fd00:9::1", "fd00:1::11", 0, 0), true},
	} {
		if got := runACL(t, p, "eni-a1", Ingress, c.p); got != c.allow {
			t.Errorf("%+v: compiled ACL allow=%v, want %v", c.p, got, c.allow)
		}
	}
	checkACLDisjoint(t, p)
	if !strings.Contains(got, `"pv-c1"`) || strings.Contains(got, `"pv-c1" : jump vsw`) {
		t.Error("an ENI of a vSwitch without ACL must not be dispatched to an ACL chain")
	}
}

// TestRenderNoACLUnchanged: a world without ACLs renders no ACL object, so
// hosts without ACLs keep the program they had.
func TestRenderNoACLUnchanged(t *testing.T) {
	w, ifaces := goldenWorld()
	if got := Compile(w, ifaces).Render(); strings.Contains(got, "acl") {
		t.Errorf("ACL objects rendered without ACLs:\n%s", got)
	}
}

func checkACLDisjoint(t *testing.T, p *Program) {
	t.Helper()
	ov := func(a, b ACLElement) bool {
		return a.Peer.From.Compare(b.Peer.To) <= 0 && b.Peer.From.Compare(a.Peer.To) <= 0 &&
			a.Proto.From <= b.Proto.To && b.Proto.From <= a.Proto.To && a.DPort.From <= b.DPort.To && b.DPort.From <= a.DPort.To
	}
	for _, c := range p.ACLChains {
		for _, es := range [][]ACLElement{c.Ports4, c.Ports6, c.Any4, c.Any6} {
			for i := range es {
				for j := range i {
					if ov(es[i], es[j]) {
						t.Fatalf("%s: elements overlap: %+v and %+v", c.Name, es[i], es[j])
					}
				}
			}
		}
	}
}

// runPath interprets the compiled program for a packet from ENI from to
// ENI to as the kernel's forward hook does for a new flow: acl_forward
// (sender's egress ACL, receiver's ingress ACL), then the security groups.
func runPath(t *testing.T, p *Program, w World, from, to string, pkt Packet) bool {
	t.Helper()
	return runACL(t, p, from, Egress, pkt) && runACL(t, p, to, Ingress, pkt) &&
		runProgram(t, p, w, from, Egress, pkt) && runProgram(t, p, w, to, Ingress, pkt)
}

// runACL interprets the ACL dispatch of ENI eniID: its vSwitch chain (the
// rendered returns for local and exempt peers) and the ACL chain's sets.
func runACL(t *testing.T, p *Program, eniID string, dir Direction, pkt Packet) bool {
	t.Helper()
	var ep *ENIProgram
	for i := range p.ENIs {
		if p.ENIs[i].ENIID == eniID {
			ep = &p.ENIs[i]
		}
	}
	if ep == nil {
		t.Fatalf("ENI %s not compiled", eniID)
	}
	name := ep.ACLIngress
	if dir == Egress {
		name = ep.ACLEgress
	}
	if name == "" {
		return true
	}
	var vc *VSwitchChain
	for i := range p.VSwitchChains {
		if p.VSwitchChains[i].Name == name {
			vc = &p.VSwitchChains[i]
		}
	}
	if vc == nil {
		t.Fatalf("vSwitch chain %s missing", name)
	}
	peer := pkt.Src.Unmap()
	if dir == Egress {
		peer = pkt.Dst.Unmap()
	}
	for _, l := range vc.Local {
		if l.Contains(peer) {
			return true
		}
	}
	for _, e := range ACLExemptPrefixes() {
		if e.Contains(peer) {
			return true
		}
	}
	if pkt.Proto == IPProtoUDP && ((pkt.SrcPort == 67 && pkt.DstPort == 68) || (pkt.SrcPort == 68 && pkt.DstPort == 67)) {
		return true
	}
	var c *ACLChain
	for _, x := range p.ACLChains {
		if x.Name == vc.ACL {
			c = x
		}
	}
	if c == nil {
		t.Fatalf("ACL chain %s missing", vc.ACL)
	}
	if c.Missing {
		return false
	}
	within := func(r AddrRange, a netip.Addr) bool {
		return r.From.Is4() == a.Is4() && r.From.Compare(a) <= 0 && a.Compare(r.To) <= 0
	}
	inR := func(r Range, v uint16) bool { return r.From <= v && v <= r.To }
	lookup := func(es []ACLElement, ports bool) bool {
		for _, e := range es {
			if within(e.Peer, peer) && inR(e.Proto, uint16(pkt.Proto)) && (!ports || inR(e.DPort, pkt.DstPort)) {
				return true
			}
		}
		return false
	}
	tcpudp := pkt.Proto == IPProtoTCP || pkt.Proto == IPProtoUDP
	switch {
	case tcpudp && peer.Is4():
		return lookup(c.Ports4, true)
	case tcpudp:
		return lookup(c.Ports6, true)
	case peer.Is4():
		return lookup(c.Any4, false)
	default:
		return lookup(c.Any6, false)
	}
}
