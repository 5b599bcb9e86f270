package analysis

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/model"
)

// matrixPeerWorld: vpc-a (10.0.0.0/16: i-a1, i-a2) peered with vpc-b
// (10.1.0.0/16: i-b1) by pcc-ab, Activated, with route entries both
// ways. vpc-c overlaps vpc-b (i-c1 has i-b1's address) and vpc-d
// (10.2.0.0/16: i-d1) is apart; neither is peered. Security groups: vpc-a
// and vpc-b admit SSH from vpc-a only, HTTP from 10.0.0.0/8; vpc-c and
// vpc-d admit both from 10.0.0.0/8.
func matrixPeerWorld() *World {
	w := &World{}
	for _, x := range []struct{ v, cidr, vsw string }{
		{"a", "10.0.0.0/16", "10.0.1.0/24"}, {"b", "10.1.0.0/16", "10.1.1.0/24"},
		{"c", "10.1.0.0/16", "10.1.1.0/24"}, {"d", "10.2.0.0/16", "10.2.1.0/24"},
	} {
		w.VPCs = append(w.VPCs, model.VPC{ID: "vpc-" + x.v, CidrBlock: pfx(x.cidr)})
		w.VSwitches = append(w.VSwitches, model.VSwitch{ID: "vsw-" + x.v, VpcID: "vpc-" + x.v, CidrBlock: pfx(x.vsw)})
		ssh := "10.0.0.0/16"
		if x.v == "c" || x.v == "d" {
			ssh = "10.0.0.0/8"
		}
		w.Groups = append(w.Groups, model.SecurityGroup{ID: "sg-" + x.v, VpcID: "vpc-" + x.v, Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerDrop,
			Rules: []model.Rule{
				tcp("sgr-"+x.v+"22", model.Ingress, 22, ssh, model.PolicyAccept, 1),
				tcp("sgr-"+x.v+"80", model.Ingress, 80, "10.0.0.0/8", model.PolicyAccept, 1),
			}})
	}
	for _, x := range []struct{ id, v, addr string }{
		{"a1", "a", "10.0.1.10"}, {"a2", "a", "10.0.1.11"}, {"b1", "b", "10.1.1.10"}, {"c1", "c", "10.1.1.10"}, {"d1", "d", "10.2.1.10"},
	} {
		w.ENIs = append(w.ENIs, model.ENI{ID: "eni-" + x.id, InstanceID: "i-" + x.id, VSwitchID: "vsw-" + x.v, VpcID: "vpc-" + x.v,
			PrimaryIP: ip(x.addr), SecurityGroupIDs: []string{"sg-" + x.v}, Type: model.ENITypePrimary, Status: model.ENIInUse})
		w.Instances = append(w.Instances, model.Instance{ID: "i-" + x.id, VpcID: "vpc-" + x.v, VSwitchID: "vsw-" + x.v,
			PrimaryENIID: "eni-" + x.id, Status: model.InstanceRunning})
	}
	w.Peerings = []model.PeerConnection{{ID: "pcc-ab", VpcID: "vpc-a", AcceptingVpcID: "vpc-b", Status: model.PeerActivated}}
	w.RouteEntries = []model.RouteEntry{
		route("rte-ab", "vpc-a", "10.1.0.0/16", "pcc-ab"),
		route("rte-ba", "vpc-b", "10.0.0.0/16", "pcc-ab"),
	}
	return w
}

func route(id, vpc, cidr, pcc string) model.RouteEntry {
	return model.RouteEntry{ID: id, VpcID: vpc, DestinationCidr: pfx(cidr), NextHopType: model.RouteNextHopPeer, NextHopID: pcc}
}

// dropRoute removes a route entry by ID.
func dropRoute(id string) func(*World) {
	return func(w *World) {
		w.RouteEntries = slices.DeleteFunc(w.RouteEntries, func(r model.RouteEntry) bool { return r.ID == id })
	}
}

// matrixCell is the cell from -> to of port (as ParsePorts names it).
func matrixCell(m *MatrixResult, from, to, port string) byte {
	i := slices.IndexFunc(m.Instances, func(x MatrixInstance) bool { return x.Instance == from })
	j := slices.IndexFunc(m.Instances, func(x MatrixInstance) bool { return x.Instance == to })
	p := slices.Index(m.Ports, port)
	if i < 0 || j < 0 || p < 0 {
		return 0
	}
	return m.Rows[i].Cells[p][j]
}

func TestMatrixPeers(t *testing.T) {
	fw := func(enabled bool, ps ...model.FirewallPolicy) func(*World) {
		return func(w *World) {
			w.VpcFirewalls = []model.VpcFirewall{{ID: "vfw-ab", LocalVpcID: "vpc-a", PeerVpcID: "vpc-b", PeerConnectionID: "pcc-ab", Enabled: enabled}}
			w.VpcFirewallPolicies = ps
		}
	}
	peer := func(id, vpc, other string, routes ...model.RouteEntry) func(*World) {
		return func(w *World) {
			w.Peerings = append(w.Peerings, model.PeerConnection{ID: id, VpcID: vpc, AcceptingVpcID: other, Status: model.PeerActivated})
			w.RouteEntries = append(w.RouteEntries, routes...)
		}
	}
	// foreign makes vpc-b another account's: the World of account acct-a
	// holds the peering and the route entries, none of vpc-b's resources
	// (as the service reads it) unless keep.
	foreign := func(keep bool) func(*World) {
		return func(w *World) {
			w.AccountID = "acct-a"
			for i := range w.VPCs {
				w.VPCs[i].AccountID = "acct-a"
			}
			w.VPCs[1].AccountID = "acct-b"
			if keep {
				return
			}
			w.VPCs = slices.Delete(w.VPCs, 1, 2)
			w.VSwitches = slices.Delete(w.VSwitches, 1, 2)
			w.Groups = slices.Delete(w.Groups, 1, 2)
			w.ENIs = slices.Delete(w.ENIs, 2, 3)
			w.Instances = slices.Delete(w.Instances, 2, 3)
		}
	}
	cases := []struct {
		name   string
		change func(*World)
		vpc    string // the query's, vpc-a when empty
		peers  bool
		insts  string            // the instances, in order
		vpcs   string            // PeerVpcIDs
		cells  map[string]string // "from>to" -> the cells of tcp:22 and tcp:80
		note   string            // in Notes
	}{
		{name: "without IncludePeers: the VPC alone", insts: "i-a1 i-a2",
			cells: map[string]string{"i-a1>i-a2": "YY"}},
		{name: "routes both ways", peers: true, insts: "i-a1 i-a2 i-b1", vpcs: "vpc-b",
			cells: map[string]string{"i-a1>i-b1": "YY", "i-b1>i-a1": ".Y", "i-a2>i-b1": "YY", "i-a1>i-a2": "YY"}},
		{name: "from the other end: its VPC first", vpc: "vpc-b", peers: true, insts: "i-b1 i-a1 i-a2", vpcs: "vpc-a",
			cells: map[string]string{"i-a1>i-b1": "YY", "i-b1>i-a1": ".Y"}},
		{name: "route on the source side only: the replies have no way back", change: dropRoute("rte-ba"), peers: true,
			insts: "i-a1 i-a2 i-b1", vpcs: "vpc-b", cells: map[string]string{"i-a1>i-b1": "rr", "i-b1>i-a1": ".."}},
		{name: "route on the destination side only", change: dropRoute("rte-ab"), peers: true,
			insts: "i-a1 i-a2 i-b1", vpcs: "vpc-b", cells: map[string]string{"i-a1>i-b1": "..", "i-b1>i-a1": ".r"}},
		{name: "VPC firewall drops HTTP, both ways",
			change: fw(true, vfwPolicy("acl-drop80", 1, model.FirewallDrop, "0.0.0.0/0", model.FirewallNet, "TCP", "80/80")), peers: true,
			insts: "i-a1 i-a2 i-b1", cells: map[string]string{"i-a1>i-b1": "Y.", "i-b1>i-a1": "..", "i-a1>i-a2": "YY"}},
		{name: "VPC firewall drops from one source",
			change: fw(true, vfwPolicy("acl-drop-a2", 1, model.FirewallDrop, "10.0.1.11/32", model.FirewallNet, "ANY", "")), peers: true,
			insts: "i-a1 i-a2 i-b1", cells: map[string]string{"i-a1>i-b1": "YY", "i-a2>i-b1": ".."}},
		{name: "VPC firewall closed judges nothing",
			change: fw(false, vfwPolicy("acl-drop80", 1, model.FirewallDrop, "0.0.0.0/0", model.FirewallNet, "ANY", "")), peers: true,
			insts: "i-a1 i-a2 i-b1", cells: map[string]string{"i-a1>i-b1": "YY", "i-b1>i-a1": ".Y"}},
		{name: "network ACL of vsw-b: nothing out, so no replies",
			change: func(w *World) {
				w.ACLs = []model.NetworkACL{{ID: "nacl-b", VpcID: "vpc-b", Ingress: []model.ACLEntry{aclEntry("nae-all", model.PolicyAccept, "all", 0, "0.0.0.0/0")}}}
				w.VSwitches[1].NetworkAclID = "nacl-b"
			}, peers: true,
			insts: "i-a1 i-a2 i-b1", cells: map[string]string{"i-a1>i-b1": "rr", "i-b1>i-a1": ".."}},
		{name: "stopped peer instance", change: func(w *World) { w.Instances[2].Status = model.InstanceStopped }, peers: true,
			insts: "i-a1 i-a2 i-b1", cells: map[string]string{"i-a1>i-b1": "..", "i-b1>i-a1": ".."}},
		{name: "peering Accepting: no peer", change: func(w *World) { w.Peerings[0].Status = model.PeerAccepting }, peers: true,
			insts: "i-a1 i-a2"},
		{name: "overlapping vpc-c peered too: the route sends its address to vpc-b",
			change: peer("pcc-ac", "vpc-a", "vpc-c"), peers: true, insts: "i-a1 i-a2 i-b1 i-c1", vpcs: "vpc-b vpc-c",
			cells: map[string]string{"i-a1>i-b1": "YY", "i-a1>i-c1": "..", "i-c1>i-a1": "..", "i-b1>i-c1": ".."}},
		{name: "overlapping vpc-c peered, a more specific route to it",
			change: peer("pcc-ac", "vpc-a", "vpc-c", route("rte-ac", "vpc-a", "10.1.1.0/24", "pcc-ac"), route("rte-ca", "vpc-c", "10.0.0.0/16", "pcc-ac")),
			peers:  true, insts: "i-a1 i-a2 i-b1 i-c1", vpcs: "vpc-b vpc-c",
			cells: map[string]string{"i-a1>i-b1": "..", "i-a1>i-c1": "YY", "i-c1>i-a1": ".Y", "i-b1>i-a1": ".r"}},
		{name: "three peered VPCs: the peers do not reach each other",
			change: peer("pcc-da", "vpc-d", "vpc-a", route("rte-ad", "vpc-a", "10.2.0.0/16", "pcc-da"), route("rte-da", "vpc-d", "10.0.0.0/16", "pcc-da")),
			peers:  true, insts: "i-a1 i-a2 i-b1 i-d1", vpcs: "vpc-b vpc-d",
			cells: map[string]string{"i-a1>i-d1": "YY", "i-d1>i-a1": ".Y", "i-b1>i-d1": "..", "i-d1>i-b1": ".."}},
		{name: "peer of a peer is not included", change: peer("pcc-bd", "vpc-b", "vpc-d"), peers: true,
			insts: "i-a1 i-a2 i-b1", vpcs: "vpc-b"},
		{name: "another account's peer VPC: not in the World, not shown", change: foreign(false), peers: true,
			insts: "i-a1 i-a2", note: "peering connection pcc-ab joins vpc-a to vpc-b, a VPC of another account: its instances are not shown"},
		{name: "another account's peer VPC: in the World, still not shown", change: foreign(true), peers: true,
			insts: "i-a1 i-a2", note: "a VPC of another account"},
	}
	ports, _ := ParsePorts("22,80")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := matrixPeerWorld()
			if c.change != nil {
				c.change(w)
			}
			q := MatrixQuery{VpcID: cmpOr(c.vpc, "vpc-a"), Ports: ports, IncludePeers: c.peers}
			m, err := New(w).Matrix(q)
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			_ = WriteMatrix(&b, m)
			var got []string
			for _, in := range m.Instances {
				got = append(got, in.Instance)
				if want := "vpc-" + in.Instance[2:3]; in.VpcID != want {
					t.Errorf("%s: VpcID %q, want %q", in.Instance, in.VpcID, want)
				}
			}
			if strings.Join(got, " ") != c.insts {
				t.Errorf("instances %v, want %s\n%s", got, c.insts, b.String())
			}
			if c.vpcs != "" && strings.Join(m.PeerVpcIDs, " ") != c.vpcs {
				t.Errorf("peers %v, want %s", m.PeerVpcIDs, c.vpcs)
			}
			for pair, want := range c.cells {
				from, to, _ := strings.Cut(pair, ">")
				cells := string([]byte{matrixCell(m, from, to, "tcp:22"), matrixCell(m, from, to, "tcp:80")})
				if cells != want {
					t.Errorf("%s: %q, want %q\n%s", pair, cells, want, b.String())
				}
			}
			if c.note != "" && !strings.Contains(strings.Join(m.Notes, "\n"), c.note) {
				t.Errorf("notes %q, want %q", m.Notes, c.note)
			}
			if !c.peers && (len(m.PeerVpcIDs) > 0 || len(m.Notes) > 0) {
				t.Errorf("peers without IncludePeers: %v %v", m.PeerVpcIDs, m.Notes)
			}
			// The CSV names the VPCs exactly when the matrix covers more
			// than one.
			if hdr, _, _ := strings.Cut(m.CSV(), "\n"); strings.Contains(hdr, "from_vpc") != (len(m.PeerVpcIDs) > 0) {
				t.Errorf("CSV header %q with peers %v", hdr, m.PeerVpcIDs)
			}
		})
	}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// TestGoldenMatrixPeers: the text and CSV of a matrix across three peered
// VPCs (a route missing on one side, a VPC firewall dropping HTTP).
func TestGoldenMatrixPeers(t *testing.T) {
	w := matrixPeerWorld()
	w.Peerings = append(w.Peerings, model.PeerConnection{ID: "pcc-da", VpcID: "vpc-d", AcceptingVpcID: "vpc-a", Status: model.PeerActivated})
	w.RouteEntries = append(w.RouteEntries, route("rte-ad", "vpc-a", "10.2.0.0/16", "pcc-da"))
	w.VpcFirewalls = []model.VpcFirewall{{ID: "vfw-ab", PeerConnectionID: "pcc-ab", Enabled: true}}
	w.VpcFirewallPolicies = []model.FirewallPolicy{vfwPolicy("acl-drop80", 1, model.FirewallDrop, "10.1.0.0/16", model.FirewallNet, "TCP", "80/80")}
	ports, _ := ParsePorts("22,80")
	m, err := New(w).Matrix(MatrixQuery{VpcID: "vpc-a", Ports: ports, IncludePeers: true})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteMatrix(&b, m); err != nil {
		t.Fatal(err)
	}
	golden(t, "matrix-peers.txt", b.Bytes())
	golden(t, "matrix-peers.csv", []byte(m.CSV()))
}

// genPeeredWorld draws three VPCs from genWorld: vpc-1 (10.0.0.0/16),
// vpc-2 (10.1.0.0/16) and vpc-3, which either overlaps vpc-2 or has
// 10.2.0.0/16, joined by random peerings (some not Activated), route
// entries (one side, both, more specific ones, over the wrong peering)
// and a VPC firewall; rules refer to the other VPCs' addresses; some
// groups and network ACLs admit all of 10.0.0.0/8 last; some instances
// of vpc-1 have a second ENI, some are stopped.
func genPeeredWorld(rng *rand.Rand) *World {
	w := genWorld(rng, rng.IntN(2) == 0)
	// Rules of vpc-1 that name vpc-2's addresses instead of its own.
	retarget(rng, w, 1, 40)
	third := byte(1)
	if rng.IntN(2) == 0 {
		third = 2
	}
	for n, octet := range []byte{1, third} {
		o := genWorld(rng, rng.IntN(2) == 0)
		relabel(o, n+2)
		// Addresses into the VPC's range; half the rules keep naming
		// vpc-1's addresses.
		retarget(rng, o, octet, 50)
		w.VPCs = append(w.VPCs, o.VPCs...)
		w.VSwitches = append(w.VSwitches, o.VSwitches...)
		w.Groups = append(w.Groups, o.Groups...)
		w.ENIs = append(w.ENIs, o.ENIs...)
		w.Instances = append(w.Instances, o.Instances...)
		w.ACLs = append(w.ACLs, o.ACLs...)
	}
	// A second ENI (eth1) in another vSwitch for some instances of vpc-1.
	for i := range w.Instances {
		in := w.Instances[i]
		if in.VpcID != "vpc-1" || rng.IntN(4) > 0 {
			continue
		}
		e := w.ENIs[slices.IndexFunc(w.ENIs, func(e model.ENI) bool { return e.ID == in.PrimaryENIID })]
		vi := (slices.IndexFunc(w.VSwitches, func(v model.VSwitch) bool { return v.ID == e.VSwitchID }) + 1) % len(genNets)
		b := netip.MustParsePrefix(genNets[vi]).Addr().As4()
		b[3] = byte(150 + i)
		e2 := model.ENI{ID: e.ID + "b", VpcID: "vpc-1", VSwitchID: w.VSwitches[vi].ID, InstanceID: in.ID, DeviceIndex: 1,
			PrimaryIP: netip.AddrFrom4(b), SecurityGroupIDs: e.SecurityGroupIDs, Type: model.ENITypeSecondary, Status: model.ENIInUse}
		w.ENIs = append(w.ENIs, e2)
	}
	// Enough open doors for paths across VPCs to pass: a last accept
	// from 10.0.0.0/8 in some groups and network ACLs.
	for i := range w.Groups {
		if rng.IntN(2) == 0 {
			w.Groups[i].Rules = append(w.Groups[i].Rules, model.Rule{ID: w.Groups[i].ID + "-open", Direction: model.Ingress, Protocol: model.ProtoALL,
				Ports: model.PortRange{From: -1, To: -1}, PeerCidr: pfx("10.0.0.0/8"), Policy: model.PolicyAccept, Priority: 100})
		}
	}
	for i := range w.ACLs {
		if rng.IntN(2) == 0 {
			w.ACLs[i].Ingress = append(w.ACLs[i].Ingress, aclEntry(w.ACLs[i].ID+"-in", model.PolicyAccept, "all", 0, "10.0.0.0/8"))
			w.ACLs[i].Egress = append(w.ACLs[i].Egress, aclEntry(w.ACLs[i].ID+"-out", model.PolicyAccept, "all", 0, "10.0.0.0/8"))
		}
	}
	for i := range w.Instances {
		if rng.IntN(12) == 0 {
			w.Instances[i].Status = model.InstanceStopped
		}
	}
	status := func() string {
		return pickOf(rng, model.PeerActivated, model.PeerActivated, model.PeerActivated, model.PeerAccepting, model.PeerRejected)
	}
	w.Peerings = []model.PeerConnection{{ID: "pcc-12", VpcID: "vpc-1", AcceptingVpcID: "vpc-2", Status: status()}}
	add := func(id, vpc, cidr, pcc string) {
		w.RouteEntries = append(w.RouteEntries, route(id, vpc, cidr, pcc))
	}
	switch rng.IntN(4) {
	case 0:
		add("rte-12", "vpc-1", "10.1.0.0/16", "pcc-12")
	case 1:
		add("rte-12", "vpc-1", "10.1.1.0/24", "pcc-12")
	case 2:
		add("rte-12", "vpc-1", "10.0.0.0/8", "pcc-12") // covers vpc-3's 10.2/16 too
	}
	switch rng.IntN(3) {
	case 0:
		add("rte-21", "vpc-2", "10.0.0.0/16", "pcc-12")
	case 1:
		add("rte-21", "vpc-2", "10.0.2.0/24", "pcc-12")
	}
	// vpc-3: peered with vpc-1 or vpc-2, or not at all.
	switch p := rng.IntN(3); {
	case p == 0:
		w.Peerings = append(w.Peerings, model.PeerConnection{ID: "pcc-13", VpcID: "vpc-3", AcceptingVpcID: "vpc-1", Status: status()})
		add("rte-13", "vpc-1", fmt.Sprintf("10.%d.2.0/24", third), "pcc-13")
		if rng.IntN(2) == 0 {
			add("rte-31", "vpc-3", "10.0.0.0/16", "pcc-13")
		}
	case p == 1 && third == 2:
		w.Peerings = append(w.Peerings, model.PeerConnection{ID: "pcc-23", VpcID: "vpc-2", AcceptingVpcID: "vpc-3", Status: status()})
		add("rte-23", "vpc-2", "10.2.0.0/16", "pcc-23")
		add("rte-32", "vpc-3", "10.0.0.0/8", "pcc-23")
	}
	if rng.IntN(2) == 0 {
		w.VpcFirewalls = []model.VpcFirewall{{ID: "vfw-ab", PeerConnectionID: "pcc-12", Enabled: rng.IntN(4) > 0}}
		for k := range 1 + rng.IntN(3) {
			src := pickOf(rng, "0.0.0.0/0", "10.0.1.0/24", "10.1.0.0/16", "10.0.2.0/24")
			w.VpcFirewallPolicies = append(w.VpcFirewallPolicies, vfwPolicy(fmt.Sprintf("acl-%d", k), k+1,
				pickOf(rng, model.FirewallDrop, model.FirewallAccept, model.FirewallLog), src, model.FirewallNet,
				pickOf(rng, "TCP", "UDP", "ANY"), pickOf(rng, "22/22", "53/53", "1/65535")))
			if p := &w.VpcFirewallPolicies[k]; p.Proto == "ANY" {
				p.DestPort = ""
			}
		}
	}
	return w
}

// relabel makes a world of genWorld the n-th VPC: vpc-n, and IDs of its
// own for everything in it.
func relabel(w *World, n int) {
	id := func(s string) string {
		if s == "" {
			return s
		}
		k, rest, _ := strings.Cut(s, "-")
		return fmt.Sprintf("%s-%d-%s", k, n, rest)
	}
	vpc := fmt.Sprintf("vpc-%d", n)
	for i := range w.VPCs {
		w.VPCs[i].ID = vpc
	}
	for i := range w.VSwitches {
		v := &w.VSwitches[i]
		v.ID, v.VpcID, v.NetworkAclID = id(v.ID), vpc, id(v.NetworkAclID)
	}
	for i := range w.ACLs {
		w.ACLs[i].ID, w.ACLs[i].VpcID = id(w.ACLs[i].ID), vpc
	}
	for i := range w.Groups {
		g := &w.Groups[i]
		g.ID, g.VpcID = id(g.ID), vpc
		for j := range g.Rules {
			g.Rules[j].ID, g.Rules[j].PeerGroupID = id(g.Rules[j].ID), id(g.Rules[j].PeerGroupID)
		}
	}
	for i := range w.ENIs {
		e := &w.ENIs[i]
		e.ID, e.InstanceID, e.VSwitchID, e.VpcID = id(e.ID), id(e.InstanceID), id(e.VSwitchID), vpc
		for j := range e.SecurityGroupIDs {
			e.SecurityGroupIDs[j] = id(e.SecurityGroupIDs[j])
		}
	}
	for i := range w.Instances {
		in := &w.Instances[i]
		in.ID, in.VSwitchID, in.PrimaryENIID, in.VpcID = id(in.ID), id(in.VSwitchID), id(in.PrimaryENIID), vpc
	}
}

// retarget moves the addresses of w's VPC, vSwitches and ENIs into
// 10.octet.0.0/16 (fd0<octet>:: for IPv6), and pct percent of the rule
// and network ACL prefixes inside 10.0.0.0/16 or fd00::/56 with them.
// Prefixes of the VPC's resources move only when w's VPC is not vpc-1.
func retarget(rng *rand.Rand, w *World, octet byte, pct int) {
	addr := func(a netip.Addr) netip.Addr {
		switch {
		case a.Is4() && pfx("10.0.0.0/16").Contains(a):
			b := a.As4()
			b[1] = octet
			return netip.AddrFrom4(b)
		case a.Is6() && pfx("fd00::/56").Contains(a):
			b := a.As16()
			b[1] = octet
			return netip.AddrFrom16(b)
		}
		return a
	}
	prefix := func(p netip.Prefix) netip.Prefix {
		if !p.IsValid() || (p.Addr().Is4() && p.Bits() < 16) || (p.Addr().Is6() && p.Bits() < 56) {
			return p
		}
		return netip.PrefixFrom(addr(p.Addr()), p.Bits())
	}
	maybe := func(p netip.Prefix) netip.Prefix {
		if rng.IntN(100) < pct {
			return prefix(p)
		}
		return p
	}
	for i := range w.Groups {
		for j := range w.Groups[i].Rules {
			r := &w.Groups[i].Rules[j]
			r.PeerCidr, r.LocalCidr = maybe(r.PeerCidr), maybe(r.LocalCidr)
		}
	}
	for i := range w.ACLs {
		for _, es := range [][]model.ACLEntry{w.ACLs[i].Ingress, w.ACLs[i].Egress} {
			for j := range es {
				es[j].Cidr = maybe(es[j].Cidr)
			}
		}
	}
	if w.VPCs[0].ID == "vpc-1" {
		return
	}
	for i := range w.VPCs {
		w.VPCs[i].CidrBlock, w.VPCs[i].Ipv6CidrBlock = prefix(w.VPCs[i].CidrBlock), prefix(w.VPCs[i].Ipv6CidrBlock)
	}
	for i := range w.VSwitches {
		w.VSwitches[i].CidrBlock, w.VSwitches[i].Ipv6CidrBlock = prefix(w.VSwitches[i].CidrBlock), prefix(w.VSwitches[i].Ipv6CidrBlock)
	}
	for i := range w.ENIs {
		e := &w.ENIs[i]
		e.PrimaryIP = addr(e.PrimaryIP)
		for j := range e.SecondaryIPs {
			e.SecondaryIPs[j] = addr(e.SecondaryIPs[j])
		}
		for j := range e.IPv6s {
			e.IPv6s[j] = addr(e.IPv6s[j])
		}
	}
}

// TestMatrixPeersMatchReach: in random worlds of peered VPCs, the matrix
// with IncludePeers has the instances of the VPC and of its Activated
// peers, and every cell, across VPCs or within one, is the verdict of a
// reach query on the same pair.
func TestMatrixPeersMatchReach(t *testing.T) {
	ports := []PortSpec{{ProtoTCP, 22}, {ProtoUDP, 53}, {ProtoICMP, 0}, {ProtoTCP, 5432}}
	cross := 0
	kinds := map[byte]int{}
	for wi := range 80 {
		rng := rand.New(rand.NewPCG(uint64(wi), 17))
		w := genPeeredWorld(rng)
		if wi%3 == 2 {
			// Two hosts: peerings carry nothing between them.
			zoneWorld(rng, w)
		}
		a := New(w)
		vpc := pickOf(rng, "vpc-1", "vpc-1", "vpc-2", "vpc-3")
		m, err := a.Matrix(MatrixQuery{VpcID: vpc, Ports: ports, IncludePeers: true})
		if err != nil {
			t.Fatal(err)
		}
		in := map[string]bool{vpc: true}
		for _, p := range w.Peerings {
			if o := p.Other(vpc); o != "" && p.Status == model.PeerActivated {
				in[o] = true
			}
		}
		var want, got []string
		for _, x := range w.Instances {
			if in[x.VpcID] {
				want = append(want, x.ID)
			}
		}
		for _, x := range m.Instances {
			got = append(got, x.Instance)
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("world %d %s: instances %v, want %v", wi, vpc, got, want)
		}
		for i, row := range m.Rows {
			for pi, p := range ports {
				for j, c := range []byte(row.Cells[pi]) {
					if i == j {
						continue
					}
					q := ReachQuery{From: row.Instance, To: m.Instances[j].Instance, Protocol: ProtoName(p.Proto), Port: int(p.Port)}
					r, err := a.Reach(q)
					if err != nil {
						t.Fatal(err)
					}
					if want := cellOfPaths(r.Paths); c != want {
						var b bytes.Buffer
						_ = WriteReach(&b, r)
						t.Fatalf("world %d (%s, routes %v): %v: matrix %c, reach %c\n%s", wi, vpc, w.RouteEntries, q, c, want, b.String())
					}
					if m.Instances[i].VpcID != m.Instances[j].VpcID {
						cross++
						kinds[c]++
					}
				}
			}
		}
	}
	t.Logf("%d cross-VPC cells agree with reach: %v", cross, kinds)
	// The worlds must exercise every verdict across VPCs.
	for _, c := range []byte{CellReachable, CellBlocked, CellOneWay} {
		if kinds[c] == 0 {
			t.Errorf("no cross-VPC cell %c", c)
		}
	}
}
