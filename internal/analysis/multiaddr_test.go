package analysis

import (
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/model"
)

// multiWorld is a dual-stack VPC with an instance of two ENIs:
//
//   - x1, x2 in vSwitch w1, dual-stack, in sg-v6 (intra-group drop; one
//     rule: tcp 22 from ::/0, nothing for IPv4);
//   - ia: eth0 in w1 (192.168.1.1, sg-lock: egress tcp 7002 dropped),
//     eth1 in w2 (192.168.2.4 and an IPv6 address, sg-open);
//   - id in w2 and ic in w3 (IPv4 only), both in sg-open (tcp 7002 from
//     the VPC).
func multiWorld() *World {
	w := &World{}
	w.VPCs = []model.VPC{{ID: "vpc-ds", CidrBlock: pfx("192.168.0.0/16"), Ipv6CidrBlock: pfx("fd00:ab::/56")}}
	w.VSwitches = []model.VSwitch{
		{ID: "vsw-w1", VpcID: "vpc-ds", CidrBlock: pfx("192.168.1.0/24"), Ipv6CidrBlock: pfx("fd00:ab:0:1::/64")},
		{ID: "vsw-w2", VpcID: "vpc-ds", CidrBlock: pfx("192.168.2.0/24"), Ipv6CidrBlock: pfx("fd00:ab:0:2::/64")},
		{ID: "vsw-w3", VpcID: "vpc-ds", CidrBlock: pfx("192.168.3.0/24")},
	}
	w.Groups = []model.SecurityGroup{
		{ID: "sg-v6", VpcID: "vpc-ds", Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerDrop, Rules: []model.Rule{
			tcp("sgr-v6-ssh", model.Ingress, 22, "::/0", model.PolicyAccept, 1),
		}},
		{ID: "sg-lock", VpcID: "vpc-ds", Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerDrop, Rules: []model.Rule{
			tcp("sgr-lock-out", model.Egress, 7002, "0.0.0.0/0", model.PolicyDrop, 1),
		}},
		{ID: "sg-open", VpcID: "vpc-ds", Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerDrop, Rules: []model.Rule{
			tcp("sgr-open-7002", model.Ingress, 7002, "192.168.0.0/16", model.PolicyAccept, 1),
			tcp("sgr-open-7002-v6", model.Ingress, 7002, "fd00:ab::/56", model.PolicyAccept, 1),
		}},
	}
	eni := func(id, inst, vsw, addr string, dev int, v6 string, groups ...string) model.ENI {
		e := model.ENI{ID: id, InstanceID: inst, VSwitchID: vsw, VpcID: "vpc-ds", PrimaryIP: ip(addr), DeviceIndex: dev,
			SecurityGroupIDs: groups, Type: model.ENITypePrimary, Status: model.ENIInUse}
		if dev > 0 {
			e.Type = model.ENITypeSecondary
		}
		if v6 != "" {
			e.IPv6s = append(e.IPv6s, ip(v6))
		}
		return e
	}
	w.ENIs = []model.ENI{
		eni("eni-x1", "i-x1", "vsw-w1", "192.168.1.10", 0, "fd00:ab:0:1::10", "sg-v6"),
		eni("eni-x2", "i-x2", "vsw-w1", "192.168.1.11", 0, "fd00:ab:0:1::11", "sg-v6"),
		// eth1 listed first: the device index, not the order, decides.
		eni("eni-ia1", "i-ia", "vsw-w2", "192.168.2.4", 1, "fd00:ab:0:2::4", "sg-open"),
		eni("eni-ia0", "i-ia", "vsw-w1", "192.168.1.1", 0, "", "sg-lock"),
		eni("eni-id", "i-id", "vsw-w2", "192.168.2.3", 0, "", "sg-open"),
		eni("eni-ic", "i-ic", "vsw-w3", "192.168.3.3", 0, "", "sg-open"),
	}
	for _, e := range w.ENIs {
		if e.DeviceIndex == 0 {
			w.Instances = append(w.Instances, model.Instance{ID: e.InstanceID, Name: e.InstanceID[2:], VpcID: "vpc-ds",
				VSwitchID: e.VSwitchID, PrimaryENIID: e.ID, Status: model.InstanceRunning})
		}
	}
	return w
}

type pathWant struct {
	from, to  string // endpoint addresses
	reachable bool
	detail    string // in one of the steps (empty: not checked)
}

func TestReachMultiAddress(t *testing.T) {
	a := New(multiWorld())
	for _, tc := range []struct {
		name, from, to string
		port           int
		verdict        string
		paths          []pathWant
		note           string // in a note
		err            string
	}{
		{name: "instance to dual-stack instance: IPv6 only", from: "i-x2", to: "i-x1", port: 22, verdict: "reachable",
			paths: []pathWant{
				{"192.168.1.11", "192.168.1.10", false, "no ingress rule matched"},
				{"fd00:ab:0:1::11", "fd00:ab:0:1::10", true, "sgr-v6-ssh"},
			}, note: "reachable over IPv6 only"},
		{name: "instance to an IPv6 address", from: "i-x2", to: "fd00:ab:0:1::10", port: 22, verdict: "reachable",
			paths: []pathWant{{"fd00:ab:0:1::11", "fd00:ab:0:1::10", true, ""}}},
		{name: "IPv6 address to instance", from: "fd00:ab:0:1::11", to: "i-x1", port: 22, verdict: "reachable",
			paths: []pathWant{{"fd00:ab:0:1::11", "fd00:ab:0:1::10", true, ""}}},
		{name: "ENI to ENI: both families", from: "eni-x2", to: "eni-x1", port: 22, verdict: "reachable",
			paths: []pathWant{
				{"192.168.1.11", "192.168.1.10", false, ""},
				{"fd00:ab:0:1::11", "fd00:ab:0:1::10", true, ""},
			}},
		{name: "instance to IPv4 address only", from: "i-x2", to: "192.168.1.10", port: 22, verdict: "unreachable",
			paths: []pathWant{{"192.168.1.11", "192.168.1.10", false, ""}}},
		{name: "second ENI's subnet leaves through it", from: "i-ia", to: "i-id", port: 7002, verdict: "reachable",
			paths: []pathWant{{"192.168.2.4", "192.168.2.3", true, "through eth1 (eni-ia1): connected route of vSwitch vsw-w2"}}},
		{name: "other subnets leave through eth0", from: "i-ia", to: "i-ic", port: 7002, verdict: "unreachable",
			paths: []pathWant{{"192.168.1.1", "192.168.3.3", false, "sgr-lock-out"}}},
		// From eth0's address the source routing table of eth0 decides:
		// out of eth0 via its gateway, so eth0's egress drop applies.
		{name: "primary ENI's address to the second ENI's subnet: its own table", from: "eni-ia0", to: "i-id", port: 7002, verdict: "unreachable",
			paths: []pathWant{{"192.168.1.1", "192.168.2.3", false, "through eth0 (eni-ia0): default route via gateway 192.168.1.253 in the source routing table of eth0 (eni-ia0), source 192.168.1.1"}}},
		{name: "address of the primary ENI likewise", from: "192.168.1.1", to: "192.168.2.3", port: 7002, verdict: "unreachable",
			paths: []pathWant{{"192.168.1.1", "192.168.2.3", false, "sgr-lock-out"}}},
		{name: "second ENI to another subnet leaves through it", from: "eni-ia1", to: "i-ic", port: 7002, verdict: "reachable",
			paths: []pathWant{{"192.168.2.4", "192.168.3.3", true, "through eth1 (eni-ia1): default route via gateway 192.168.2.253 in the source routing table of eth1 (eni-ia1)"}}},
		{name: "second ENI to its own subnet", from: "eni-ia1", to: "i-id", port: 7002, verdict: "reachable",
			paths: []pathWant{{"192.168.2.4", "192.168.2.3", true, ""}}},
		// eth0 has no IPv6 address: the IPv6 default route is eth1's.
		{name: "IPv6 leaves through the first ENI with an IPv6 address", from: "i-ia", to: "fd00:ab:0:1::10", port: 22, verdict: "reachable",
			paths: []pathWant{{"fd00:ab:0:2::4", "fd00:ab:0:1::10", true, "through eth1 (eni-ia1): IPv6 default route via gateway"}}},
		{name: "destination instance: every address of every ENI", from: "i-id", to: "i-ia", port: 7002, verdict: "reachable",
			paths: []pathWant{
				{"192.168.2.3", "192.168.1.1", false, "no ingress rule matched"},
				{"192.168.2.3", "192.168.2.4", true, "reply: i-ia sends to 192.168.2.3 through eth1"},
			}, note: "reachable at 192.168.2.3 -> 192.168.2.4; blocked at 192.168.2.3 -> 192.168.1.1"},
		{name: "replies of a second ENI leave through it", from: "i-x2", to: "i-ia", port: 7002, verdict: "reachable",
			paths: []pathWant{
				{"192.168.1.11", "192.168.1.1", false, "no ingress rule matched"},
				{"192.168.1.11", "192.168.2.4", true, "reply: i-ia sends to 192.168.1.11 through eth1 (eni-ia1): default route via gateway 192.168.2.253 in the source routing table of eth1 (eni-ia1), source 192.168.2.4"},
				{"fd00:ab:0:1::11", "fd00:ab:0:2::4", true, "reply: i-ia sends to fd00:ab:0:1::11 through eth1 (eni-ia1): IPv6 default route via gateway"},
			}},
		{name: "an instance to its own ENI is local", from: "i-ia", to: "eni-ia1", port: 22, err: "no pair"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := a.Reach(ReachQuery{From: tc.from, To: tc.to, Protocol: "tcp", Port: tc.port})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want an error with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			WriteReach(&b, r)
			if r.Verdict != tc.verdict {
				t.Errorf("verdict %s, want %s\n%s", r.Verdict, tc.verdict, b.String())
			}
			if len(r.Paths) != len(tc.paths) {
				t.Fatalf("%d paths, want %d\n%s", len(r.Paths), len(tc.paths), b.String())
			}
			for i, w := range tc.paths {
				p := r.Paths[i]
				if p.From.Address != w.from || p.To.Address != w.to || p.Reachable != w.reachable {
					t.Errorf("path %d: %s -> %s reachable %v, want %s -> %s %v\n%s", i, p.From.Address, p.To.Address, p.Reachable, w.from, w.to, w.reachable, b.String())
				}
				if w.detail != "" && !strings.Contains(b.String(), w.detail) {
					t.Errorf("path %d: no step says %q\n%s", i, w.detail, b.String())
				}
			}
			if tc.note != "" && !strings.Contains(strings.Join(r.Notes, "\n"), tc.note) {
				t.Errorf("notes %q, want one with %q", r.Notes, tc.note)
			}
		})
	}
}

// TestReachSingleENIUnchanged: an instance with one ENI shows no routing
// step (the golden files cover the rest).
func TestReachSingleENIUnchanged(t *testing.T) {
	a := New(multiWorld())
	r, err := a.Reach(ReachQuery{From: "i-id", To: "i-ic", Protocol: "tcp", Port: 7002})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range r.Paths[0].Steps {
		if s.Point == PointInstanceRoute {
			t.Errorf("routing step on a single-ENI instance: %+v", s)
		}
	}
}

func TestMatrixMultiAddress(t *testing.T) {
	a := New(multiWorld())
	ports, _ := ParsePorts("22,7002")
	m, err := a.Matrix(MatrixQuery{VpcID: "vpc-ds", Ports: ports})
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, in := range m.Instances {
		col[in.Instance] = i
	}
	var b strings.Builder
	WriteMatrix(&b, m)
	for _, tc := range []struct {
		from, to string
		port     int // index in ports
		want     byte
	}{
		{"i-x2", "i-x1", 0, '6'}, // IPv4 blocked, IPv6 allowed
		{"i-x1", "i-x2", 0, '6'},
		{"i-ia", "i-id", 1, 'Y'}, // through eth1
		{"i-ia", "i-ic", 1, '.'}, // through eth0: egress drop
		{"i-x2", "i-ia", 1, 'Y'}, // eth1's addresses accept, its replies leave through eth1 (source routing)
		{"i-id", "i-ia", 1, 'Y'}, // eth1's subnet: the replies leave through eth1
		{"i-x2", "i-id", 1, 'Y'},
		{"i-ia", "i-x1", 0, '6'}, // IPv6 leaves through eth1, the first ENI with an IPv6 address
	} {
		got := m.Rows[col[tc.from]].Cells[tc.port][col[tc.to]]
		if got != tc.want {
			t.Errorf("%s -> %s %s: %c, want %c\n%s", tc.from, tc.to, m.Ports[tc.port], got, tc.want, b.String())
		}
	}
	if !strings.Contains(m.Legend, "6 reachable over IPv6 only") {
		t.Errorf("legend %q", m.Legend)
	}
	if !strings.Contains(m.CSV(), "i-x2,192.168.1.11,i-x1,192.168.1.10,tcp:22,true,true") {
		t.Errorf("CSV:\n%s", m.CSV())
	}
}

// TestReachEIPOfSecondENI: the internet reaches an EIP of a second ENI,
// and the replies, from eth1's address, follow eth1's source routing
// table out of eth1 (the main table's default route is on eth0).
func TestReachEIPOfSecondENI(t *testing.T) {
	w := multiWorld()
	w.Groups[2].Rules = append(w.Groups[2].Rules, tcp("sgr-open-web", model.Ingress, 7002, "0.0.0.0/0", model.PolicyAccept, 1))
	w.EIPs = []model.EIP{{ID: "eip-ia1", Address: ip("198.18.0.20"), ENIID: "eni-ia1", PrivateIP: ip("192.168.2.4"), InstanceID: "i-ia", Status: model.EIPInUse}}
	a := New(w)
	for _, to := range []string{"198.18.0.20", "i-ia"} {
		r, err := a.Reach(ReachQuery{From: "203.0.113.9", To: to, Protocol: "tcp", Port: 7002})
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		WriteReach(&b, r)
		if r.Verdict != "reachable" || !strings.Contains(b.String(), "reply: i-ia sends to 203.0.113.9 through eth1 (eni-ia1): default route via gateway 192.168.2.253 in the source routing table of eth1 (eni-ia1), source 192.168.2.4") {
			t.Errorf("to %s:\n%s", to, b.String())
		}
		for _, p := range r.Paths {
			if p.To.Address == "192.168.2.4" && (!p.Forward || !p.ReplyPasses) {
				t.Errorf("to %s: the first packet and the replies should pass:\n%s", to, b.String())
			}
		}
	}
}
