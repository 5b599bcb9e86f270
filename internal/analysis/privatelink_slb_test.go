package analysis

import (
	"slices"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/model"
)

// plLBWorld is lbWorld (the provider: lb-1 in za, backends i-b1 and i-b2
// whose sg-web admits tcp 8080 and udp 5353 from vpc-l only) with a
// consumer VPC vpc-c of the same account: client i-k (10.20.1.10, vsw-ca,
// za, sg-k: basic, egress allowed) and endpoint ep-1 of service epsrv-1
// (backed by lb-1), connected, with zones za (eni-epa 10.20.1.50,
// transit 100.64.0.1) and zb (eni-epb 10.20.2.50, transit 100.64.0.2; the
// service has no load balancer there any more), in sg-ep, which admits
// tcp 80 and udp 5353 from vpc-c.
func plLBWorld() *World {
	w := lbWorld()
	w.VPCs = append(w.VPCs, model.VPC{ID: "vpc-c", CidrBlock: pfx("10.20.0.0/16"), VNI: 8})
	w.VSwitches = append(w.VSwitches,
		model.VSwitch{ID: "vsw-ca", VpcID: "vpc-c", ZoneID: "za", CidrBlock: pfx("10.20.1.0/24")},
		model.VSwitch{ID: "vsw-cb", VpcID: "vpc-c", ZoneID: "zb", CidrBlock: pfx("10.20.2.0/24")})
	udp := tcp("sgr-ep-dns", model.Ingress, 5353, "10.20.0.0/16", model.PolicyAccept, 1)
	udp.Protocol = model.ProtoUDP
	w.Groups = append(w.Groups,
		model.SecurityGroup{ID: "sg-k", VpcID: "vpc-c", Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerDrop},
		model.SecurityGroup{ID: "sg-ep", VpcID: "vpc-c", Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerDrop, Rules: []model.Rule{
			tcp("sgr-ep-80", model.Ingress, 80, "10.20.0.0/16", model.PolicyAccept, 1), udp}})
	w.ENIs = append(w.ENIs,
		model.ENI{ID: "eni-k", InstanceID: "i-k", VpcID: "vpc-c", VSwitchID: "vsw-ca", ZoneID: "za", PrimaryIP: ip("10.20.1.10"),
			SecurityGroupIDs: []string{"sg-k"}, Type: model.ENITypePrimary, Status: model.ENIInUse},
		model.ENI{ID: "eni-epa", VpcID: "vpc-c", VSwitchID: "vsw-ca", ZoneID: "za", PrimaryIP: ip("10.20.1.50"), EndpointID: "ep-1",
			SecurityGroupIDs: []string{"sg-ep"}, Type: model.ENITypeSecondary, Status: model.ENIInUse},
		model.ENI{ID: "eni-epb", VpcID: "vpc-c", VSwitchID: "vsw-cb", ZoneID: "zb", PrimaryIP: ip("10.20.2.50"), EndpointID: "ep-1",
			SecurityGroupIDs: []string{"sg-ep"}, Type: model.ENITypeSecondary, Status: model.ENIInUse})
	w.Instances = append(w.Instances, model.Instance{ID: "i-k", VpcID: "vpc-c", VSwitchID: "vsw-ca", ZoneID: "za", PrimaryENIID: "eni-k", Status: model.InstanceRunning})
	w.Services = []model.EndpointService{{ID: "epsrv-1", VpcID: "vpc-l", ResourceType: model.EndpointResourceSLB,
		Resources: []model.EndpointServiceResource{{ResourceID: "lb-1", ResourceType: model.EndpointResourceSLB, ZoneID: "za"}}}}
	w.Endpoints = []model.Endpoint{{ID: "ep-1", VpcID: "vpc-c", ServiceID: "epsrv-1", ConnectionStatus: model.EndpointConnected,
		SecurityGroupIDs: []string{"sg-ep"}, Zones: []model.EndpointZone{
			{ZoneID: "za", VSwitchID: "vsw-ca", ENIID: "eni-epa", Addr: ip("10.20.1.50"), TransitAddr: ip("100.64.0.1")},
			{ZoneID: "zb", VSwitchID: "vsw-cb", ENIID: "eni-epb", Addr: ip("10.20.2.50"), TransitAddr: ip("100.64.0.2")},
		}}}
	return w
}

// admitTransit adds to sg-web an accept rule of tcp 8080 from the transit
// range.
func admitTransit(w *World) {
	for i := range w.Groups {
		if w.Groups[i].ID == "sg-web" {
			w.Groups[i].Rules = append(w.Groups[i].Rules, tcp("sgr-web-pl", model.Ingress, 8080, "100.64.0.0/10", model.PolicyAccept, 1))
		}
	}
}

// TestReachEndpointLoadBalancer: a connection to an endpoint of a service
// backed by a load balancer passes the endpoint's filters, then the load
// balancer's listener on its port translates it, from the zone's transit
// address, to each backend on the backend port, whose filters judge it.
func TestReachEndpointLoadBalancer(t *testing.T) {
	tcp80 := ReachQuery{From: "i-k", To: "10.20.1.50", Protocol: "tcp", Port: 80}
	for _, c := range []struct {
		name    string
		change  func(w *World)
		q       ReachQuery
		verdict string
		deny    []string // per path: the point of its first denying step ("": none)
		detail  string   // in some step of the first path
		check   func(t *testing.T, r *ReachResult)
	}{
		{name: "backends admit the VPC only", q: tcp80, verdict: "unreachable", deny: []string{PointSGIngress, PointSGIngress},
			detail: "no ingress rule matched",
			check: func(t *testing.T, r *ReachResult) {
				p := r.Paths[0]
				if p.Backend == nil || p.Backend.Instance != "i-b1" || p.Translated != "tcp 100.64.0.1:49152 -> 10.9.3.11:8080" ||
					p.To.ENI != "eni-epa" || p.Packet != "tcp 10.20.1.10:49152 -> 10.20.1.50:80" {
					t.Errorf("path 0: backend %+v, translated %q, to %+v, packet %q", p.Backend, p.Translated, p.To, p.Packet)
				}
				var points []string
				for _, s := range p.Steps {
					points = append(points, s.Point+" "+s.Resource)
				}
				want := []string{"sg-egress eni-k", "acl-egress vsw-ca", "route vpc-c", "acl-ingress vsw-ca", "sg-ingress eni-epa",
					"privatelink ep-1", "load-balancer lb-1", "lb-backend i-b1", "acl-ingress vsw-w", "sg-ingress eni-b1"}
				if !slices.Equal(points, want) {
					t.Errorf("steps:\n%q\nwant\n%q", points, want)
				}
			}},
		{name: "backends admit the transit range", change: admitTransit, q: tcp80, verdict: "reachable", deny: []string{"", ""},
			detail: "from the zone's transit address 100.64.0.1, to the service's load balancer of the zone, lb-1",
			check: func(t *testing.T, r *ReachResult) {
				if p := r.Paths[1]; p.Backend == nil || p.Backend.Instance != "i-b2" || !p.Reachable {
					t.Errorf("path 1: %+v", p)
				}
			}},
		{name: "one backend unhealthy", change: func(w *World) { admitTransit(w); setHealth(w, "i-b2", model.LBHealthAbnormal) }, q: tcp80,
			verdict: "reachable", deny: []string{"", PointLBBackend},
			check: func(t *testing.T, r *ReachResult) {
				if len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "new connections reach backend i-b1 (10.9.3.11); not i-b2") {
					t.Errorf("notes: %q", r.Notes)
				}
			}},
		{name: "no listener on the port", change: admitTransit, q: ReachQuery{From: "i-k", To: "10.20.1.50", Protocol: "tcp", Port: 8080},
			verdict: "unreachable", deny: []string{PointSGIngress}, detail: "no ingress rule matched"},
		{name: "udp without a running listener", change: admitTransit, q: ReachQuery{From: "i-k", To: "ep-1", Protocol: "udp", Port: 53},
			verdict: "unreachable", deny: []string{PointSGIngress, PointSGIngress}},
		{name: "no listener on an admitted port", change: func(w *World) {
			admitTransit(w)
			w.Groups[len(w.Groups)-1].Rules = append(w.Groups[len(w.Groups)-1].Rules, tcp("sgr-ep-22", model.Ingress, 22, "10.20.0.0/16", model.PolicyAccept, 1))
		}, q: ReachQuery{From: "i-k", To: "10.20.1.50", Protocol: "tcp", Port: 22},
			verdict: "unreachable", deny: []string{PointLoadBalancer}, detail: "dropped by load balancer lb-1: no running tcp listener on port 22"},
		{name: "stopped listener", change: func(w *World) {
			admitTransit(w)
			w.Groups[len(w.Groups)-1].Rules = append(w.Groups[len(w.Groups)-1].Rules, model.Rule{ID: "sgr-ep-53", Direction: model.Ingress,
				Protocol: model.ProtoUDP, Ports: model.PortRange{From: 53, To: 53}, PeerCidr: pfx("10.20.0.0/16"), Policy: model.PolicyAccept, Priority: 1})
		}, q: ReachQuery{From: "i-k", To: "10.20.1.50", Protocol: "udp", Port: 53},
			verdict: "unreachable", deny: []string{PointLoadBalancer}, detail: "the udp listener on port 53 is stopped"},
		{name: "udp listener, backends admit the VPC only", q: ReachQuery{From: "i-k", To: "10.20.1.50", Protocol: "udp", Port: 5353},
			verdict: "unreachable", deny: []string{PointSGIngress, PointSGIngress},
			check: func(t *testing.T, r *ReachResult) {
				if p := r.Paths[0]; p.Translated != "udp 100.64.0.1:49152 -> 10.9.3.11:5353" {
					t.Errorf("translated %q", p.Translated)
				}
			}},
		{name: "inactive load balancer", change: func(w *World) { admitTransit(w); w.LoadBalancers[0].Status = model.LBStatusInactive }, q: tcp80,
			verdict: "unreachable", deny: []string{PointLoadBalancer}, detail: "load balancer lb-1 is inactive"},
		{name: "no backends", change: func(w *World) { w.LoadBalancers[0].Backends = nil }, q: tcp80,
			verdict: "unreachable", deny: []string{PointLoadBalancer}, detail: "has no backend servers"},
		{name: "icmp", change: func(w *World) {
			w.Groups[len(w.Groups)-1].Rules = append(w.Groups[len(w.Groups)-1].Rules, allRule("sgr-ep-all", "10.20.0.0/16", 1))
		},
			q: ReachQuery{From: "i-k", To: "10.20.1.50", Protocol: "icmp"}, verdict: "unreachable", deny: []string{PointLoadBalancer},
			detail: "carries TCP and UDP connections to its listeners' ports only (not icmp)"},
		{name: "the endpoint's group refuses", q: ReachQuery{From: "i-k", To: "10.20.1.50", Protocol: "tcp", Port: 443},
			verdict: "unreachable", deny: []string{PointSGIngress}, detail: "no ingress rule matched",
			check: func(t *testing.T, r *ReachResult) {
				if p := r.Paths[0]; p.To.ENI != "eni-epa" || p.Backend != nil || stepIndex(p, PointLoadBalancer) >= 0 {
					t.Errorf("path: %+v", p)
				}
			}},
		{name: "disconnected", change: func(w *World) { admitTransit(w); w.Endpoints[0].ConnectionStatus = model.EndpointDisconnected }, q: tcp80,
			verdict: "unreachable", deny: []string{PointDestination}, detail: "is Disconnected"},
		{name: "the endpoint by ID, a zone without load balancer", change: admitTransit, q: ReachQuery{From: "i-k", To: "ep-1", Protocol: "tcp", Port: 80},
			verdict: "reachable", deny: []string{"", "", PointPrivateLink},
			check: func(t *testing.T, r *ReachResult) {
				p := r.Paths[2]
				s, _ := firstDeny(p)
				if p.To.ENI != "eni-epb" || !strings.Contains(s.Detail, "service epsrv-1 has no load balancer in the endpoint's zone zb (its zones: za)") {
					t.Errorf("zone zb: to %+v, %s", p.To, s.Detail)
				}
			}},
		{name: "a service backed by instances", change: func(w *World) {
			w.Services[0].ResourceType = model.EndpointResourceECS
			w.Services[0].Resources = []model.EndpointServiceResource{{ResourceID: "i-b1", ResourceType: model.EndpointResourceECS, ZoneID: "za"}}
		}, q: tcp80, verdict: "reachable", deny: []string{""}, detail: "is not analysed here"},
		{name: "another account's service", change: func(w *World) { w.Services = nil }, q: tcp80, verdict: "reachable", deny: []string{""},
			detail: "is not analysed here"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := plLBWorld()
			if c.change != nil {
				c.change(w)
			}
			r, err := New(w).Reach(c.q)
			if err != nil {
				t.Fatal(err)
			}
			var deny []string
			all := ""
			for _, p := range r.Paths {
				s, _ := firstDeny(p)
				deny = append(deny, s.Point)
				all += stepLines(p.Steps) + "\n"
			}
			if r.Verdict != c.verdict || !slices.Equal(deny, c.deny) {
				t.Fatalf("verdict %s, denied at %q; want %s, %q\n%s", r.Verdict, deny, c.verdict, c.deny, all)
			}
			if c.detail != "" && !strings.Contains(stepLines(r.Paths[0].Steps), c.detail) {
				t.Errorf("no %q in\n%s", c.detail, stepLines(r.Paths[0].Steps))
			}
			if c.check != nil {
				c.check(t, r)
			}
		})
	}
	if _, err := New(plLBWorld()).Reach(ReachQuery{From: "ep-1", To: "i-k", Protocol: "tcp", Port: 80}); err == nil {
		t.Error("ep-1 as a source: no error")
	}
	if _, err := New(plLBWorld()).Reach(ReachQuery{From: "i-k", To: "ep-nope", Protocol: "tcp", Port: 80}); err == nil {
		t.Error("an unknown endpoint: no error")
	}
}

// TestReachEndpointLoadBalancerACL: the backends' vSwitch ACL judges the
// translated connection from the transit address, and its reply.
func TestReachEndpointLoadBalancerACL(t *testing.T) {
	w := plLBWorld()
	admitTransit(w)
	w.ACLs = []model.NetworkACL{{ID: "nacl-w", VpcID: "vpc-l",
		Ingress: []model.ACLEntry{aclEntry("ae-in", model.PolicyAccept, "tcp", 8080, "100.64.0.0/10")},
		Egress:  []model.ACLEntry{aclEntry("ae-out", model.PolicyAccept, "all", 0, "10.9.0.0/16")}}}
	for i := range w.VSwitches {
		if w.VSwitches[i].ID == "vsw-w" {
			w.VSwitches[i].NetworkAclID = "nacl-w"
		}
	}
	r, err := New(w).Reach(ReachQuery{From: "i-k", To: "10.20.1.50", Protocol: "tcp", Port: 80})
	if err != nil {
		t.Fatal(err)
	}
	p := r.Paths[0]
	if r.Verdict != "unreachable" || !p.Forward || p.ReplyPasses || len(p.Reply) < 2 || p.Reply[1].Point != PointACLEgress || p.Reply[1].Allow {
		t.Fatalf("ACL without an egress entry to the transit range: %s\n%s\nreply:\n%s", r.Verdict, stepLines(p.Steps), stepLines(p.Reply))
	}
	if !strings.Contains(p.Reply[0].Detail, "translates it back to a reply from 10.20.1.50:80 to 10.20.1.10:49152") {
		t.Errorf("reply: %s", p.Reply[0].Detail)
	}
	w.ACLs[0].Egress = append(w.ACLs[0].Egress, aclEntry("ae-pl", model.PolicyAccept, "all", 0, "100.64.0.0/10"))
	if r, _ := New(w).Reach(ReachQuery{From: "i-k", To: "10.20.1.50", Protocol: "tcp", Port: 80}); r.Verdict != "reachable" {
		t.Errorf("with the egress entry: %s\n%s", r.Verdict, stepLines(r.Paths[0].Reply))
	}
}

// TestAuditServiceLBRefusesTransit: a backend of a load balancer backing
// a PrivateLink service whose groups admit nothing from the transit range
// on a running listener's backend port is reported, once per backend.
func TestAuditServiceLBRefusesTransit(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(w *World)
		want   []string // reported backends, with the ports named
	}{
		{"the VPC only", nil, []string{"i-b1: tcp port 8080 (the tcp listener on port 80), udp port 5353 (the udp listener on port 5353)",
			"i-b2: tcp port 8080 (the tcp listener on port 80), udp port 5353 (the udp listener on port 5353)"}},
		{"tcp admitted", admitTransit, []string{"i-b1: udp port 5353 (the udp listener on port 5353)", "i-b2: udp port 5353 (the udp listener on port 5353)"}},
		{"everything admitted", func(w *World) {
			w.Groups[1].Rules = append(w.Groups[1].Rules, allRule("sgr-web-all", "100.64.0.0/10", 1))
		}, nil},
		{"a group source does not count", func(w *World) {
			w.Groups[1].Rules = append(w.Groups[1].Rules, model.Rule{ID: "sgr-web-g", Direction: model.Ingress, Protocol: model.ProtoALL,
				Ports: model.PortRange{From: -1, To: -1}, PeerGroupID: "sg-cli", Policy: model.PolicyAccept, Priority: 1})
		}, []string{"i-b1: tcp port 8080", "i-b2: tcp port 8080"}},
		{"weight 0", func(w *World) { w.LoadBalancers[0].Backends[1].Weight = 0 }, []string{"i-b1: tcp port 8080"}},
		{"inactive", func(w *World) { w.LoadBalancers[0].Status = model.LBStatusInactive }, nil},
		{"no service", func(w *World) { w.Services = nil }, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := plLBWorld()
			if c.change != nil {
				c.change(w)
			}
			res, err := New(w).Audit(AuditQuery{})
			if err != nil {
				t.Fatal(err)
			}
			var got []Finding
			for _, f := range res.Findings {
				if f.Code == CodeServiceRefusesTransit {
					got = append(got, f)
				}
			}
			if len(got) != len(c.want) {
				t.Fatalf("%d findings, want %d: %+v", len(got), len(c.want), got)
			}
			for i, f := range got {
				id, ports, _ := strings.Cut(c.want[i], ": ")
				if f.Resource != id || !strings.Contains(f.Message, ports) || !strings.Contains(f.Message, "lb-1") || !strings.Contains(f.Message, "epsrv-1") {
					t.Errorf("finding %d: %+v, want %s", i, f, c.want[i])
				}
			}
		})
	}
}
