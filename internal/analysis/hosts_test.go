package analysis

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/model"
)

// hostsWorld is a VPC over two zones, za and zb (two hosts):
//
//   - i-a1, i-a2 in vSwitch vsw-a (zone za), sg-open;
//   - i-b1 in vsw-b (zone zb), sg-open; i-b2 there in sg-shut (no
//     ingress rule); i-bs there, stopped, sg-open.
//
// sg-open admits tcp 22 from the VPC. The zones' underlays are given.
func hostsWorld(vni uint32, underlays ...model.Underlay) *World {
	w := &World{Underlays: underlays, HostedZones: []string{"za", "zb"}}
	w.VPCs = []model.VPC{{ID: "vpc-h", CidrBlock: pfx("10.8.0.0/16"), VNI: vni}}
	w.VSwitches = []model.VSwitch{
		{ID: "vsw-a", VpcID: "vpc-h", ZoneID: "za", CidrBlock: pfx("10.8.1.0/24")},
		{ID: "vsw-b", VpcID: "vpc-h", ZoneID: "zb", CidrBlock: pfx("10.8.2.0/24")},
	}
	w.Groups = []model.SecurityGroup{
		{ID: "sg-open", VpcID: "vpc-h", Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerDrop, Rules: []model.Rule{
			tcp("sgr-ssh", model.Ingress, 22, "10.8.0.0/16", model.PolicyAccept, 1),
		}},
		{ID: "sg-shut", VpcID: "vpc-h", Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerDrop},
	}
	for _, n := range []struct{ id, vsw, zone, addr, sg, status string }{
		{"a1", "vsw-a", "za", "10.8.1.1", "sg-open", model.InstanceRunning},
		{"a2", "vsw-a", "za", "10.8.1.2", "sg-open", model.InstanceRunning},
		{"b1", "vsw-b", "zb", "10.8.2.1", "sg-open", model.InstanceRunning},
		{"b2", "vsw-b", "zb", "10.8.2.2", "sg-shut", model.InstanceRunning},
		{"bs", "vsw-b", "zb", "10.8.2.3", "sg-open", model.InstanceStopped},
	} {
		w.ENIs = append(w.ENIs, model.ENI{ID: "eni-" + n.id, InstanceID: "i-" + n.id, VpcID: "vpc-h", VSwitchID: n.vsw, ZoneID: n.zone,
			PrimaryIP: ip(n.addr), SecurityGroupIDs: []string{n.sg}, Type: model.ENITypePrimary, Status: model.ENIInUse})
		w.Instances = append(w.Instances, model.Instance{ID: "i-" + n.id, Name: n.id, VpcID: "vpc-h", VSwitchID: n.vsw, ZoneID: n.zone,
			PrimaryENIID: "eni-" + n.id, Status: n.status})
	}
	return w
}

func underlay(zone, addr string, port uint16) model.Underlay {
	return model.Underlay{ZoneID: zone, Addr: ip(addr), Port: port}
}

// hostsCases are the zones' underlays of hostsWorld, and the text of the
// hosts step between za and zb (from za: i-a1 to i-b1) that they give.
var hostsCases = []struct {
	name      string
	vni       uint32
	underlays []model.Underlay
	joined    bool
	detail    string
}{
	{"joined", 77, []model.Underlay{underlay("za", "192.0.2.1", 4798), underlay("zb", "192.0.2.2", 4798)}, true,
		"zone za's host and zone zb's are joined by the underlay: the packet crosses in VXLAN (UDP port 4798)"},
	{"joined over IPv6", 77, []model.Underlay{underlay("za", "2001:db8::1", 4798), underlay("zb", "2001:db8::2", 4798)}, true,
		"are joined by the underlay"},
	{"zb without an underlay", 77, []model.Underlay{underlay("za", "192.0.2.1", 4798)}, false,
		"zone zb's host has no underlay address (--underlay-addr of its palisade agent, or of palisade up): it is not joined to zone za's host, so nothing crosses between them"},
	{"za without an underlay", 77, []model.Underlay{underlay("zb", "192.0.2.2", 4798)}, false,
		"zone za's host has no underlay address (--underlay-addr of its palisade agent, or of palisade up): it is not joined to zone zb's host, so nothing crosses between them"},
	{"no underlay at all", 77, nil, false,
		"neither zone za's host nor zone zb's has an underlay address"},
	{"an underlay of another zone only", 77, []model.Underlay{underlay("zc", "192.0.2.3", 4798), underlay("za", "192.0.2.1", 4798)}, false,
		"zone zb's host has no underlay address"},
	{"ports differ", 77, []model.Underlay{underlay("za", "192.0.2.1", 4798), underlay("zb", "192.0.2.2", 4799)}, false,
		"zone za's host tunnels on UDP port 4798, zone zb's on 4799 (--underlay-port must be the same on every host): they are not joined, so nothing crosses between them"},
	{"families differ", 77, []model.Underlay{underlay("za", "192.0.2.1", 4798), underlay("zb", "2001:db8::2", 4798)}, false,
		"zone za's host has an IPv4 underlay address, zone zb's an IPv6 one (every host needs one of the same family): they are not joined, so nothing crosses between them"},
	{"same address", 77, []model.Underlay{underlay("za", "192.0.2.1", 4798), underlay("zb", "192.0.2.1", 4798)}, false,
		"zones za and zb announce the same underlay address"},
	{"VPC without a VNI", 0, []model.Underlay{underlay("za", "192.0.2.1", 4798), underlay("zb", "192.0.2.2", 4798)}, false,
		"vpc-h has no VXLAN network identifier yet"},
}

func hostsStepOf(p PathResult) (Step, bool) {
	for _, s := range p.Steps {
		if s.Point == PointHosts {
			return s, true
		}
	}
	return Step{}, false
}

// TestReachAcrossHosts: between ENIs of one VPC in two zones, reach has
// a hosts step after the route, allowed exactly when the zones' underlays
// Join (as the agent's overlay); when it denies, it is the only step that
// does, and the text says why. Within a zone there is no such step.
func TestReachAcrossHosts(t *testing.T) {
	for _, hc := range hostsCases {
		t.Run(hc.name, func(t *testing.T) {
			a := New(hostsWorld(hc.vni, hc.underlays...))
			reach := func(from, to string) *ReachResult {
				t.Helper()
				r, err := a.Reach(ReachQuery{From: from, To: to, Protocol: "tcp", Port: 22})
				if err != nil {
					t.Fatal(err)
				}
				if len(r.Paths) != 1 {
					t.Fatalf("%s -> %s: %d paths", from, to, len(r.Paths))
				}
				return r
			}
			dump := func(r *ReachResult) string {
				var b bytes.Buffer
				_ = WriteReach(&b, r)
				return b.String()
			}
			// Across the zones, both ways.
			for _, pair := range [][2]string{{"i-a1", "i-b1"}, {"i-b1", "i-a1"}} {
				r := reach(pair[0], pair[1])
				if r.Reachable != hc.joined {
					t.Errorf("%s -> %s: reachable %v, want %v\n%s", pair[0], pair[1], r.Reachable, hc.joined, dump(r))
				}
				p := r.Paths[0]
				s, ok := hostsStepOf(p)
				if !ok {
					t.Fatalf("%s -> %s: no hosts step\n%s", pair[0], pair[1], dump(r))
				}
				if k := slices.IndexFunc(p.Steps, func(s Step) bool { return s.Point == PointHosts }); k == 0 || p.Steps[k-1].Point != PointRoute {
					t.Errorf("%s -> %s: the hosts step is not right after the route\n%s", pair[0], pair[1], dump(r))
				}
				zone := map[string]string{"i-a1": "za", "i-b1": "zb"}
				if s.Allow != hc.joined || s.DecidedBy != ByUnderlay || s.Resource != zone[pair[0]]+" -> "+zone[pair[1]] {
					t.Errorf("%s -> %s: hosts step %+v", pair[0], pair[1], s)
				}
				for _, o := range p.Steps {
					if o.Point != PointHosts && !o.Allow {
						t.Errorf("%s -> %s: step %s denies too: %s", pair[0], pair[1], o.Point, o.Detail)
					}
				}
				if pair[0] == "i-a1" && !strings.Contains(s.Detail, hc.detail) {
					t.Errorf("%s -> %s: hosts step says %q, want %q", pair[0], pair[1], s.Detail, hc.detail)
				}
			}
			// The policy still decides across joined hosts.
			r := reach("i-a1", "i-b2")
			if r.Reachable || !slices.ContainsFunc(r.Paths[0].Steps, func(s Step) bool { return s.Point == PointSGIngress && !s.Allow }) {
				t.Errorf("i-a1 -> i-b2: want blocked by b2's ingress groups\n%s", dump(r))
			}
			// Within a zone: one host, no hosts step, whatever the underlays.
			for _, pair := range [][2]string{{"i-a1", "i-a2"}, {"i-b2", "i-b1"}, {"10.8.1.2", "10.8.1.1"}} {
				r := reach(pair[0], pair[1])
				if _, ok := hostsStepOf(r.Paths[0]); ok || !r.Reachable {
					t.Errorf("%s -> %s: within zone: reachable %v, want true, no hosts step\n%s", pair[0], pair[1], r.Reachable, dump(r))
				}
			}
			// A stopped instance is reported first (its state), as
			// before.
			r = reach("i-bs", "i-a1")
			if r.Reachable || r.Paths[0].Steps[0].Point != PointSource || !strings.Contains(r.Paths[0].Steps[0].Detail, "stopped") {
				t.Errorf("i-bs -> i-a1: want the source's state first\n%s", dump(r))
			}
			// North-south is unaffected: from the internet to b1's address
			// (no EIP) decides at the route, with no hosts step.
			r = reach("203.0.113.7", "i-b1")
			if _, ok := hostsStepOf(r.Paths[0]); ok {
				t.Errorf("internet -> i-b1: a hosts step\n%s", dump(r))
			}
		})
	}
}

// TestMatrixAcrossHosts: the matrix blocks the cells between instances of
// zones whose hosts are not joined, says why in a note, and agrees with
// reach on every cell.
func TestMatrixAcrossHosts(t *testing.T) {
	// Instances in ID order: i-a1, i-a2, i-b1, i-b2, i-bs (stopped).
	joined := []string{"-YY..", "Y-Y..", "YY-..", "YYY-.", "....-"}
	apart := []string{"-Y...", "Y-...", "..-..", "..Y-.", "....-"}
	for _, hc := range hostsCases {
		t.Run(hc.name, func(t *testing.T) {
			a := New(hostsWorld(hc.vni, hc.underlays...))
			m, err := a.Matrix(MatrixQuery{VpcID: "vpc-h", Ports: []PortSpec{{ProtoTCP, 22}}})
			if err != nil {
				t.Fatal(err)
			}
			want := apart
			if hc.joined {
				want = joined
			}
			var got []string
			for _, row := range m.Rows {
				got = append(got, row.Cells[0])
			}
			if !slices.Equal(got, want) {
				t.Errorf("rows %q, want %q", got, want)
			}
			note := strings.Join(m.Notes, "\n")
			if hc.joined != (note == "") || !hc.joined && !strings.Contains(note, "instances of vpc-h in zones za and zb do not reach each other: "+hc.detail) {
				t.Errorf("notes %q (joined %v), want %q", m.Notes, hc.joined, hc.detail)
			}
			for i, row := range m.Rows {
				for j, c := range []byte(row.Cells[0]) {
					if i == j {
						continue
					}
					r, err := a.Reach(ReachQuery{From: row.Instance, To: m.Instances[j].Instance, Protocol: "tcp", Port: 22})
					if err != nil {
						t.Fatal(err)
					}
					if w := cellOfPaths(r.Paths); c != w {
						t.Errorf("%s -> %s: matrix %c, reach %c", row.Instance, m.Instances[j].Instance, c, w)
					}
				}
			}
		})
	}
}

// TestHostsEndpointENI: a PrivateLink endpoint's ENI in another zone is
// reached across hosts as an instance's is, when they are joined (its host
// makes a namespace of the consumer VPC for it); in the sender's zone
// there is no hosts step at all.
func TestHostsEndpointENI(t *testing.T) {
	for _, c := range []struct {
		name      string
		underlays []model.Underlay
		to        string
		reachable bool
		crosses   bool
		detail    string
	}{
		{"same zone", []model.Underlay{underlay("za", "192.0.2.1", 4798), underlay("zb", "192.0.2.2", 4798)}, "eni-epa", true, false, ""},
		{"joined", []model.Underlay{underlay("za", "192.0.2.1", 4798), underlay("zb", "192.0.2.2", 4798)}, "eni-epb", true, true,
			"zone za's host and zone zb's are joined by the underlay"},
		{"not joined", []model.Underlay{underlay("za", "192.0.2.1", 4798)}, "eni-epb", false, true,
			"zone zb's host has no underlay address"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := hostsWorld(77, c.underlays...)
			for _, z := range []struct{ eni, vsw, zone, addr string }{{"eni-epa", "vsw-a", "za", "10.8.1.50"}, {"eni-epb", "vsw-b", "zb", "10.8.2.50"}} {
				w.ENIs = append(w.ENIs, model.ENI{ID: z.eni, VpcID: "vpc-h", VSwitchID: z.vsw, ZoneID: z.zone, PrimaryIP: ip(z.addr),
					SecurityGroupIDs: []string{"sg-open"}, EndpointID: "ep-1", Status: model.ENIInUse})
			}
			w.Endpoints = []model.Endpoint{{ID: "ep-1", VpcID: "vpc-h", ServiceID: "epsrv-1", ConnectionStatus: model.EndpointConnected}}
			r, err := New(w).Reach(ReachQuery{From: "i-a1", To: c.to, Protocol: "tcp", Port: 22})
			if err != nil {
				t.Fatal(err)
			}
			s, ok := hostsStepOf(r.Paths[0])
			if r.Reachable != c.reachable || ok != c.crosses || ok && (s.Allow != c.reachable || !strings.Contains(s.Detail, c.detail)) {
				var b bytes.Buffer
				_ = WriteReach(&b, r)
				t.Errorf("i-a1 -> %s: reachable %v, hosts step %v, want %v, %v (%q)\n%s", c.to, r.Reachable, ok, c.reachable, c.crosses, c.detail, b.String())
			}
		})
	}
}

// zoneWorld spreads w's instances over zones z1 and z2 (by vSwitch, as
// the service does) and gives the zones underlays that do or do not
// join them.
func zoneWorld(rng *rand.Rand, w *World) {
	zones := map[string]string{}
	for _, v := range w.VSwitches {
		zones[v.ID] = pickOf(rng, "z1", "z2")
	}
	setZones(w, zones, 100)
	w.HostedZones = []string{"z1", "z2"}
	w.Underlays = pickOf(rng,
		[]model.Underlay{underlay("z1", "192.0.2.1", 4798), underlay("z2", "192.0.2.2", 4798)},
		[]model.Underlay{underlay("z1", "192.0.2.1", 4798)},
		[]model.Underlay{underlay("z1", "192.0.2.1", 4798), underlay("z2", "192.0.2.2", 4799)},
	)
}

// setZones puts each vSwitch of w (and its ENIs and instances) in the
// zone zones gives it, and numbers the VPCs' VNIs from vni.
func setZones(w *World, zones map[string]string, vni uint32) {
	for i := range w.VSwitches {
		w.VSwitches[i].ZoneID = zones[w.VSwitches[i].ID]
	}
	for i := range w.ENIs {
		w.ENIs[i].ZoneID = zones[w.ENIs[i].VSwitchID]
	}
	for i := range w.Instances {
		w.Instances[i].ZoneID = zones[w.Instances[i].VSwitchID]
	}
	for i := range w.VPCs {
		w.VPCs[i].VNI = vni + uint32(i)
	}
}

// TestNoHostsNoStep: without hosts for both zones (a server alone,
// analysing policy; or a zone nobody serves) a path between the zones is
// the policy's alone: no hosts step, whatever the underlays say.
func TestNoHostsNoStep(t *testing.T) {
	for _, tc := range []struct {
		name      string
		hosted    []string
		underlays []model.Underlay
	}{
		{"no agent at all", nil, nil},
		{"only za has a host", []string{"za"}, nil},
		{"only za has a host, with an underlay", []string{"za"}, []model.Underlay{underlay("za", "192.0.2.1", 4798)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := hostsWorld(7, tc.underlays...)
			w.HostedZones = tc.hosted
			r, err := New(w).Reach(ReachQuery{From: "i-a1", To: "i-b1", Protocol: "tcp", Port: 22})
			if err != nil {
				t.Fatal(err)
			}
			if !r.Reachable {
				t.Errorf("i-a1 -> i-b1 blocked, want the policy's answer (reachable)")
			}
			if _, ok := hostsStepOf(r.Paths[0]); ok {
				t.Errorf("a hosts step where a zone has no host")
			}
		})
	}
}

// TestPeeringAcrossHosts: a packet over a peering between ENIs on two
// hosts goes through the tunnel VPC's overlay (vpc-a, the lower ID) and
// crosses the peering on the host of vpc-b's ENI, either way; it needs
// the hosts joined and vpc-a's network identifier. On one host, or
// without hosts, the policy decides alone.
func TestPeeringAcrossHosts(t *testing.T) {
	joined := []model.Underlay{underlay("za", "192.0.2.1", 4798), underlay("zb", "192.0.2.2", 4798)}
	const crossed = "in vpc-a's overlay; it goes over peering connection pcc-ab on zone zb's host"
	for _, tc := range []struct {
		name      string
		zoneB     string
		hosted    []string
		underlays []model.Underlay
		noVNI     bool
		detail    string // of the hosts step ("": none)
		reachable bool
	}{
		{"two hosts joined", "zb", []string{"za", "zb"}, joined, false, crossed, true},
		{"two hosts, zb without an underlay", "zb", []string{"za", "zb"}, joined[:1], false, "zone zb's host has no underlay address", false},
		{"two hosts, the tunnel VPC without a VNI", "zb", []string{"za", "zb"}, joined, true, "vpc-a has no VXLAN network identifier yet", false},
		{"one host", "za", []string{"za"}, joined[:1], false, "", true},
		{"zone zb not served", "zb", []string{"za"}, joined[:1], false, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := peerWorld()
			w.Underlays, w.HostedZones = tc.underlays, tc.hosted
			setZones(w, map[string]string{"vsw-a": "za", "vsw-b": tc.zoneB, "vsw-c": "za"}, 10)
			if tc.noVNI {
				w.VPCs[slices.IndexFunc(w.VPCs, func(v model.VPC) bool { return v.ID == "vpc-a" })].VNI = 0
			}
			a := New(w)
			for _, q := range []ReachQuery{{From: "i-a", To: "i-b", Protocol: "tcp", Port: 80}, {From: "i-b", To: "i-a", Protocol: "tcp", Port: 80}} {
				r, err := a.Reach(q)
				if err != nil {
					t.Fatal(err)
				}
				var b bytes.Buffer
				_ = WriteReach(&b, r)
				if r.Reachable != tc.reachable {
					t.Fatalf("%s -> %s tcp:80 reachable %v, want %v\n%s", q.From, q.To, r.Reachable, tc.reachable, b.String())
				}
				s, ok := hostsStepOf(r.Paths[0])
				if ok != (tc.detail != "") {
					t.Fatalf("%s -> %s: hosts step present %v, want %v\n%s", q.From, q.To, ok, tc.detail != "", b.String())
				}
				if !ok {
					continue
				}
				if s.Allow != tc.reachable || s.DecidedBy != ByUnderlay || !strings.Contains(s.Detail, tc.detail) {
					t.Errorf("%s -> %s: hosts step %+v, want allow %v and %q", q.From, q.To, s, tc.reachable, tc.detail)
				}
				if _, ok := stepAt(r.Paths[0].Steps, PointVpcFirewall); ok && !s.Allow {
					t.Errorf("%s -> %s: a VPC firewall step after the packet was dropped between the hosts\n%s", q.From, q.To, b.String())
				}
			}
			m, err := a.Matrix(MatrixQuery{VpcID: "vpc-a", Ports: []PortSpec{{ProtoTCP, 80}}, IncludePeers: true})
			if err != nil {
				t.Fatal(err)
			}
			want := map[bool]byte{true: CellReachable, false: CellBlocked}[tc.reachable]
			if c := matrixCell(m, "i-a", "i-b", "tcp:80"); c != want {
				t.Errorf("matrix i-a -> i-b tcp:80 = %c, want %c", c, want)
			}
		})
	}
}
