package analysis

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/model"
)

// lbWorld is a VPC over zones za and zb (two joined hosts) with an
// internal load balancer lb-1 (10.9.1.100, vsw-a, zone za):
//
//   - i-c (10.9.1.10, vsw-a, za) and i-r (10.9.2.10, vsw-b, zb) are
//     clients, in sg-cli (basic: egress allowed);
//   - i-b1 (10.9.3.11) and i-b2 (10.9.3.12) in vsw-w (za) are its
//     backends, weight 100, in sg-web, which admits tcp 8080 and udp 5353
//     from the VPC;
//   - its listeners: tcp 80 -> 8080 running, health check on (both
//     backends reported normal); udp 53 -> 5353 stopped; udp 5353 ->
//     5353 running without health check.
func lbWorld() *World {
	w := &World{HostedZones: []string{"za", "zb"},
		Underlays: []model.Underlay{underlay("za", "192.0.2.1", 4798), underlay("zb", "192.0.2.2", 4798)}}
	w.VPCs = []model.VPC{{ID: "vpc-l", CidrBlock: pfx("10.9.0.0/16"), VNI: 7}}
	w.VSwitches = []model.VSwitch{
		{ID: "vsw-a", VpcID: "vpc-l", ZoneID: "za", CidrBlock: pfx("10.9.1.0/24")},
		{ID: "vsw-b", VpcID: "vpc-l", ZoneID: "zb", CidrBlock: pfx("10.9.2.0/24")},
		{ID: "vsw-w", VpcID: "vpc-l", ZoneID: "za", CidrBlock: pfx("10.9.3.0/24")},
	}
	udp := tcp("sgr-web-dns", model.Ingress, 5353, "10.9.0.0/16", model.PolicyAccept, 1)
	udp.Protocol = model.ProtoUDP
	w.Groups = []model.SecurityGroup{
		{ID: "sg-cli", VpcID: "vpc-l", Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerDrop},
		{ID: "sg-web", VpcID: "vpc-l", Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerDrop, Rules: []model.Rule{
			tcp("sgr-web-8080", model.Ingress, 8080, "10.9.0.0/16", model.PolicyAccept, 1), udp,
		}},
	}
	for _, n := range []struct{ id, vsw, zone, addr, sg string }{
		{"c", "vsw-a", "za", "10.9.1.10", "sg-cli"},
		{"r", "vsw-b", "zb", "10.9.2.10", "sg-cli"},
		{"b1", "vsw-w", "za", "10.9.3.11", "sg-web"},
		{"b2", "vsw-w", "za", "10.9.3.12", "sg-web"},
	} {
		w.ENIs = append(w.ENIs, model.ENI{ID: "eni-" + n.id, InstanceID: "i-" + n.id, VpcID: "vpc-l", VSwitchID: n.vsw, ZoneID: n.zone,
			PrimaryIP: ip(n.addr), SecurityGroupIDs: []string{n.sg}, Type: model.ENITypePrimary, Status: model.ENIInUse})
		w.Instances = append(w.Instances, model.Instance{ID: "i-" + n.id, Name: n.id, VpcID: "vpc-l", VSwitchID: n.vsw, ZoneID: n.zone,
			PrimaryENIID: "eni-" + n.id, Status: model.InstanceRunning})
	}
	hc := model.LBHealthCheck{Enabled: true, Interval: 2, ConnectTimeout: 5, HealthyThreshold: 3, UnhealthyThreshold: 3}
	w.LoadBalancers = []model.LoadBalancer{{ID: "lb-1", VpcID: "vpc-l", VSwitchID: "vsw-a", ZoneID: "za", Address: ip("10.9.1.100"),
		AddressType: model.LBAddressIntranet, Status: model.LBStatusActive,
		Listeners: []model.LBListener{
			{Protocol: model.LBProtocolUDP, Port: 53, BackendPort: 5353, Scheduler: model.LBSchedulerWRR, Status: model.ListenerStopped, HealthCheck: hc},
			{Protocol: model.LBProtocolTCP, Port: 80, BackendPort: 8080, Scheduler: model.LBSchedulerWRR, Status: model.ListenerRunning, HealthCheck: hc},
			{Protocol: model.LBProtocolUDP, Port: 5353, BackendPort: 5353, Scheduler: model.LBSchedulerRR, Status: model.ListenerRunning},
		},
		Backends: []model.LBBackend{{ServerID: "i-b1", Type: model.LBBackendECS, Weight: 100}, {ServerID: "i-b2", Type: model.LBBackendECS, Weight: 100}},
	}}
	w.LBHealth = []model.LBHealth{{LoadBalancerID: "lb-1", UpdatedAt: time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC),
		Listeners: []model.LBListenerHealth{{Protocol: model.LBProtocolTCP, Port: 80, Servers: []model.LBServerHealth{
			{ServerID: "i-b1", Status: model.LBHealthNormal}, {ServerID: "i-b2", Status: model.LBHealthNormal}}}}}}
	return w
}

// withListenerACL puts the tcp/80 listener of lb-1 behind access control
// list acl-1 of type typ with the given entries.
func withListenerACL(w *World, typ string, entries ...string) {
	acl := model.LBAccessControlList{ID: "acl-1", AddressIPVersion: "ipv4"}
	for _, e := range entries {
		acl.Entries = append(acl.Entries, model.LBACLEntry{Entry: pfx(e)})
	}
	w.LBACLs = []model.LBAccessControlList{acl}
	l := &w.LoadBalancers[0].Listeners[1]
	l.AclStatus, l.AclType, l.AclID = model.LBACLOn, typ, "acl-1"
}

// firstDeny is the point of the first step of p that denies ("" none).
func firstDeny(p PathResult) (Step, bool) {
	for _, s := range p.Steps {
		if !s.Allow {
			return s, true
		}
	}
	return Step{}, false
}

func setHealth(w *World, server, status string) {
	ss := w.LBHealth[0].Listeners[0].Servers
	for i := range ss {
		if ss[i].ServerID == server {
			ss[i].Status = status
		}
	}
}

func stepIndex(p PathResult, point string) int {
	for i, s := range p.Steps {
		if s.Point == point {
			return i
		}
	}
	return -1
}

// TestReachLoadBalancer: a connection to a load balancer's address is one
// path per backend of its listener, reachable when one backend takes new
// connections and its path (the translated packet: client -> backend
// address and backend port) passes the filters; without a running
// listener, on an inactive load balancer, the path ends at the load
// balancer; ICMP echo is answered by the address.
func TestReachLoadBalancer(t *testing.T) {
	tcp80 := ReachQuery{From: "i-c", To: "10.9.1.100", Protocol: "tcp", Port: 80}
	for _, c := range []struct {
		name   string
		change func(w *World)
		q      ReachQuery
		reach  bool
		deny   []string // per path: the point of its first denying step ("": none)
		detail string   // in some step of the first path that denies (or of the first path)
		check  func(t *testing.T, r *ReachResult)
	}{
		{name: "running, both backends healthy", q: tcp80, reach: true, deny: []string{"", ""},
			detail: "tcp listener on port 80 of load balancer lb-1 is running",
			check: func(t *testing.T, r *ReachResult) {
				p := r.Paths[0]
				if p.Backend == nil || p.Backend.Instance != "i-b1" || p.Translated != "tcp 10.9.1.10:49152 -> 10.9.3.11:8080" || p.To.LoadBalancer != "lb-1" {
					t.Errorf("path 0: backend %+v, translated %q, to %+v", p.Backend, p.Translated, p.To)
				}
				// A client of the load balancer's zone is translated
				// before its own filters: they judge the backend.
				if i, j := stepIndex(p, PointLoadBalancer), stepIndex(p, PointSGEgress); i < 0 || j < i {
					t.Errorf("the load balancer comes after the client's egress:\n%s", stepLines(p.Steps))
				}
				if s := p.Steps[stepIndex(p, PointSGIngress)]; s.RuleID != "sgr-web-8080" || s.Resource != "eni-b1" {
					t.Errorf("sg-ingress decided by %q at %s, want sgr-web-8080 at eni-b1", s.RuleID, s.Resource)
				}
			}},
		{name: "by load balancer ID", q: ReachQuery{From: "i-c", To: "lb-1", Protocol: "tcp", Port: 80}, reach: true, deny: []string{"", ""}},
		{name: "whitelist without the client", change: func(w *World) { withListenerACL(w, model.LBACLWhite, "10.9.2.0/24") },
			q: tcp80, deny: []string{PointLoadBalancer}, detail: "dropped by the tcp listener on port 80 of load balancer lb-1: its whitelist acl-1 has no entry for 10.9.1.10",
			check: func(t *testing.T, r *ReachResult) {
				if s, _ := firstDeny(r.Paths[0]); s.DecidedBy != ByLoadBalancerACL || s.RuleID != "acl-1" {
					t.Errorf("decided by %s %s, want lb-acl acl-1", s.DecidedBy, s.RuleID)
				}
			}},
		{name: "whitelist with the client", change: func(w *World) { withListenerACL(w, model.LBACLWhite, "10.9.1.0/28") },
			q: tcp80, reach: true, deny: []string{"", ""}, detail: "its whitelist acl-1 admits 10.9.1.10 (entry 10.9.1.0/28)"},
		{name: "blacklist with the client", change: func(w *World) { withListenerACL(w, model.LBACLBlack, "10.9.1.10/32") },
			q: tcp80, deny: []string{PointLoadBalancer}, detail: "its blacklist acl-1 refuses 10.9.1.10 (entry 10.9.1.10/32)"},
		{name: "empty blacklist", change: func(w *World) { withListenerACL(w, model.LBACLBlack) },
			q: tcp80, reach: true, deny: []string{"", ""}, detail: "its blacklist acl-1 has no entries and admits everyone"},
		{name: "missing list", change: func(w *World) { withListenerACL(w, model.LBACLBlack); w.LBACLs = nil },
			q: tcp80, deny: []string{PointLoadBalancer}, detail: "its access control list acl-1 is missing, so it admits no one"},
		{name: "no listener on the port", q: ReachQuery{From: "i-c", To: "lb-1", Protocol: "tcp", Port: 81}, deny: []string{PointLoadBalancer},
			detail: "dropped by load balancer lb-1: no running tcp listener on port 81 (running: tcp 80, udp 5353)"},
		{name: "listener stopped", q: ReachQuery{From: "i-c", To: "lb-1", Protocol: "udp", Port: 53}, deny: []string{PointLoadBalancer},
			detail: "no running udp listener on port 53 (the udp listener on port 53 is stopped"},
		{name: "load balancer inactive", change: func(w *World) { w.LoadBalancers[0].Status = model.LBStatusInactive },
			q: tcp80, deny: []string{PointLoadBalancer}, detail: "load balancer lb-1 is inactive"},
		{name: "no backends", change: func(w *World) { w.LoadBalancers[0].Backends = nil },
			q: tcp80, deny: []string{PointLoadBalancer}, detail: "has no backend servers"},
		{name: "weight 0", change: func(w *World) { w.LoadBalancers[0].Backends[0].Weight = 0 },
			q: tcp80, reach: true, deny: []string{PointLBBackend, ""}, detail: "backend i-b1 (10.9.3.11) has weight 0",
			check: func(t *testing.T, r *ReachResult) {
				if len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "new connections reach backend i-b2 (10.9.3.12); not i-b1 (10.9.3.11)") {
					t.Errorf("notes %q", r.Notes)
				}
			}},
		{name: "abnormal health", change: func(w *World) { setHealth(w, "i-b1", model.LBHealthAbnormal) },
			q: tcp80, reach: true, deny: []string{PointLBBackend, ""}, detail: "backend i-b1 (10.9.3.11) is abnormal on the tcp listener on port 80, reported 2026-11-02T10:00:00Z"},
		{name: "both abnormal", change: func(w *World) {
			setHealth(w, "i-b1", model.LBHealthAbnormal)
			setHealth(w, "i-b2", model.LBHealthAbnormal)
		},
			q: tcp80, deny: []string{PointLBBackend, PointLBBackend}, detail: "its health check fails"},
		{name: "no health report yet", change: func(w *World) { w.LBHealth = nil },
			q: tcp80, deny: []string{PointLBBackend, PointLBBackend}, detail: "no health report for load balancer lb-1 yet"},
		{name: "backend not reported yet", change: func(w *World) { w.LBHealth[0].Listeners[0].Servers = w.LBHealth[0].Listeners[0].Servers[1:] },
			q: tcp80, reach: true, deny: []string{PointLBBackend, ""}, detail: "backend i-b1 (10.9.3.11) has no health report on the tcp listener on port 80 yet"},
		{name: "health check off", change: func(w *World) { w.LoadBalancers[0].Listeners[1].HealthCheck.Enabled = false; w.LBHealth = nil },
			q: tcp80, reach: true, deny: []string{"", ""}, detail: "the listener checks no health"},
		{name: "udp listener without health check", q: ReachQuery{From: "i-c", To: "lb-1", Protocol: "udp", Port: 5353}, reach: true, deny: []string{"", ""}},
		{name: "backend group admits the listener's port only", change: func(w *World) {
			w.Groups[1].Rules = []model.Rule{tcp("sgr-web-80", model.Ingress, 80, "10.9.0.0/16", model.PolicyAccept, 1)}
		}, q: tcp80, deny: []string{PointSGIngress, PointSGIngress}, detail: "no ingress rule matched",
			check: func(t *testing.T, r *ReachResult) {
				if s, _ := firstDeny(r.Paths[0]); s.DecidedBy != ByDefault || s.RuleID != "" {
					t.Errorf("decided by %s %s, want the default (the rule on port 80 does not count)", s.DecidedBy, s.RuleID)
				}
			}},
		{name: "backend group drops the client", change: func(w *World) {
			w.Groups[1].Rules = append(w.Groups[1].Rules, tcp("sgr-web-drop", model.Ingress, 8080, "10.9.1.10/32", model.PolicyDrop, 1))
		}, q: tcp80, deny: []string{PointSGIngress, PointSGIngress}, detail: "ingress rule sgr-web-drop of sg-web (priority 1, drop tcp port 8080 from 10.9.1.10/32) matched first"},
		{name: "ACL of the backends' vSwitch", change: func(w *World) {
			w.VSwitches[2].NetworkAclID = "nacl-w"
			w.ACLs = []model.NetworkACL{{ID: "nacl-w", VpcID: "vpc-l",
				Ingress: []model.ACLEntry{aclEntry("nae-80", model.PolicyAccept, "tcp", 80, "10.9.0.0/16")},
				Egress:  []model.ACLEntry{aclEntry("nae-out", model.PolicyAccept, "all", 0, "0.0.0.0/0")}}}
		}, q: tcp80, deny: []string{PointACLIngress, PointACLIngress}, detail: "no ingress entry of nacl-w matched"},
		{name: "ACL of the backends' vSwitch admits, replies dropped", change: func(w *World) {
			w.VSwitches[2].NetworkAclID = "nacl-w"
			w.ACLs = []model.NetworkACL{{ID: "nacl-w", VpcID: "vpc-l",
				Ingress: []model.ACLEntry{aclEntry("nae-8080", model.PolicyAccept, "tcp", 8080, "10.9.0.0/16")}}}
		}, q: tcp80, deny: []string{"", ""},
			check: func(t *testing.T, r *ReachResult) {
				p := r.Paths[0]
				if !p.Forward || p.ReplyPasses || len(p.Reply) < 2 || p.Reply[1].Point != PointACLEgress || p.Reply[1].Allow {
					t.Errorf("forward %v, reply %v:\n%s", p.Forward, p.ReplyPasses, stepLines(p.Reply))
				}
			}},
		{name: "client egress sees the backend", change: func(w *World) {
			w.Groups[0] = model.SecurityGroup{ID: "sg-cli", VpcID: "vpc-l", Type: model.GroupTypeAdvanced, Rules: []model.Rule{
				tcp("sgr-cli-lb", model.Egress, 80, "10.9.1.100/32", model.PolicyAccept, 1)}}
		}, q: tcp80, deny: []string{PointSGEgress, PointSGEgress}, detail: "advanced groups deny egress by default"},
		{name: "client of another zone", q: ReachQuery{From: "i-r", To: "lb-1", Protocol: "tcp", Port: 80}, reach: true, deny: []string{"", ""},
			detail: "the overlay routes load balancer lb-1's address to zone za's host",
			check: func(t *testing.T, r *ReachResult) {
				p := r.Paths[0]
				i, j, k := stepIndex(p, PointSGEgress), stepIndex(p, PointHosts), stepIndex(p, PointLoadBalancer)
				if i < 0 || j < i || k < j {
					t.Errorf("want sg-egress, hosts, load-balancer in that order:\n%s", stepLines(p.Steps))
				}
			}},
		{name: "client of another zone judged with the load balancer's address", change: func(w *World) {
			w.Groups[0] = model.SecurityGroup{ID: "sg-cli", VpcID: "vpc-l", Type: model.GroupTypeAdvanced, Rules: []model.Rule{
				tcp("sgr-cli-lb", model.Egress, 80, "10.9.1.100/32", model.PolicyAccept, 1)}}
		}, q: ReachQuery{From: "i-r", To: "lb-1", Protocol: "tcp", Port: 80}, reach: true, deny: []string{"", ""},
			detail: "egress rule sgr-cli-lb of sg-cli"},
		{name: "client of another zone, hosts not joined", change: func(w *World) { w.Underlays = w.Underlays[:1] },
			q: ReachQuery{From: "i-r", To: "lb-1", Protocol: "tcp", Port: 80}, deny: []string{PointHosts, PointHosts}, detail: "zone zb's host has no underlay address"},
		{name: "a backend through its own load balancer", q: ReachQuery{From: "i-b1", To: "lb-1", Protocol: "tcp", Port: 80}, reach: true,
			deny: []string{PointLBBackend, ""}, detail: "a backend cannot reach itself through its own load balancer"},
		{name: "ICMP echo", q: ReachQuery{From: "i-c", To: "lb-1", Protocol: "icmp"}, reach: true, deny: []string{""},
			detail: "answers ICMP echo requests to its address 10.9.1.100 itself",
			check: func(t *testing.T, r *ReachResult) {
				if p := r.Paths[0]; p.Backend != nil || len(p.Steps) != 1 {
					t.Errorf("ICMP involves a backend or filters:\n%s", stepLines(p.Steps))
				}
			}},
		{name: "ICMP echo, inactive", change: func(w *World) { w.LoadBalancers[0].Status = model.LBStatusInactive },
			q: ReachQuery{From: "i-c", To: "lb-1", Protocol: "icmp"}, deny: []string{PointLoadBalancer}},
		{name: "ICMP echo from another zone", q: ReachQuery{From: "i-r", To: "10.9.1.100", Protocol: "icmp"}, reach: true, deny: []string{""}},
		{name: "GRE", q: ReachQuery{From: "i-c", To: "lb-1", Protocol: "gre"}, deny: []string{PointLoadBalancer}, detail: "takes ICMP echo and its listeners' TCP and UDP ports only"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := lbWorld()
			if c.change != nil {
				c.change(w)
			}
			r, err := New(w).Reach(c.q)
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			_ = WriteReach(&b, r)
			if r.Reachable != c.reach {
				t.Errorf("reachable %v, want %v\n%s", r.Reachable, c.reach, b.String())
			}
			if len(r.Paths) != len(c.deny) {
				t.Fatalf("%d paths, want %d\n%s", len(r.Paths), len(c.deny), b.String())
			}
			for i, p := range r.Paths {
				s, _ := firstDeny(p)
				if s.Point != c.deny[i] {
					t.Errorf("path %d denied at %q, want %q\n%s", i, s.Point, c.deny[i], b.String())
				}
			}
			if c.detail != "" && !strings.Contains(b.String(), c.detail) {
				t.Errorf("no step says %q\n%s", c.detail, b.String())
			}
			if c.check != nil {
				c.check(t, r)
			}
		})
	}
}

// TestReachLoadBalancerErrors: a load balancer opens nothing, and an
// unknown one is not found.
func TestReachLoadBalancerErrors(t *testing.T) {
	a := New(lbWorld())
	if _, err := a.Reach(ReachQuery{From: "lb-1", To: "i-b1", Protocol: "tcp", Port: 8080}); err == nil || !strings.Contains(err.Error(), "opens no connections") {
		t.Errorf("from a load balancer: %v", err)
	}
	if _, err := a.Reach(ReachQuery{From: "i-c", To: "lb-nope", Protocol: "tcp", Port: 80}); err == nil || !strings.Contains(err.Error(), "InvalidLoadBalancerId.NotFound") {
		t.Errorf("unknown load balancer: %v", err)
	}
	// Its address as a source: a path that says so.
	r, err := a.Reach(ReachQuery{From: "10.9.1.100", To: "i-b1", Protocol: "tcp", Port: 8080})
	if err != nil {
		t.Fatal(err)
	}
	if r.Reachable || !strings.Contains(stepLines(r.Paths[0].Steps), "nothing is sent from it but its health checks") {
		t.Errorf("from the load balancer's address: %v\n%s", r.Verdict, stepLines(r.Paths[0].Steps))
	}
}

// TestGoldenReachLoadBalancer pins the rendering of a path through a load
// balancer (text and JSON).
func TestGoldenReachLoadBalancer(t *testing.T) {
	w := lbWorld()
	setHealth(w, "i-b2", model.LBHealthAbnormal)
	r, err := New(w).Reach(ReachQuery{From: "i-r", To: "lb-1", Protocol: "tcp", Port: 80})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteReach(&b, r); err != nil {
		t.Fatal(err)
	}
	golden(t, "reach-lb-other-zone.txt", b.Bytes())
	j, _ := json.MarshalIndent(r, "", "  ")
	golden(t, "reach-lb-other-zone.json", append(j, '\n'))
	r, err = New(lbWorld()).Reach(ReachQuery{From: "i-c", To: "10.9.1.100", Protocol: "tcp", Port: 80})
	if err != nil {
		t.Fatal(err)
	}
	b.Reset()
	if err := WriteReach(&b, r); err != nil {
		t.Fatal(err)
	}
	golden(t, "reach-lb-same-zone.txt", b.Bytes())
}

// TestAuditLoadBalancerBackends: a running listener whose backends'
// groups admit no address of the VPC on the backend port is reported; a
// rule on the listener's port does not count.
func TestAuditLoadBalancerBackends(t *testing.T) {
	for _, c := range []struct {
		name     string
		rules    []model.Rule
		change   func(w *World)
		reported bool
	}{
		{"admits the VPC on the backend port", nil, nil, false},
		{"admits the listener's port only", []model.Rule{tcp("sgr-80", model.Ingress, 80, "10.9.0.0/16", model.PolicyAccept, 1)}, nil, true},
		{"admits another network only", []model.Rule{tcp("sgr-far", model.Ingress, 8080, "192.168.0.0/16", model.PolicyAccept, 1)}, nil, true},
		{"admits the clients' group", []model.Rule{tcp("sgr-grp", model.Ingress, 8080, "sg-cli", model.PolicyAccept, 1)}, nil, false},
		{"admits one client", []model.Rule{tcp("sgr-one", model.Ingress, 8080, "10.9.2.10/32", model.PolicyAccept, 1)}, nil, false},
		{"listener stopped", []model.Rule{tcp("sgr-80", model.Ingress, 80, "10.9.0.0/16", model.PolicyAccept, 1)},
			func(w *World) { w.LoadBalancers[0].Listeners[1].Status = model.ListenerStopped }, false},
		{"load balancer inactive", []model.Rule{tcp("sgr-80", model.Ingress, 80, "10.9.0.0/16", model.PolicyAccept, 1)},
			func(w *World) { w.LoadBalancers[0].Status = model.LBStatusInactive }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := lbWorld()
			if c.rules != nil {
				udp := w.Groups[1].Rules[1]
				w.Groups[1].Rules = append(c.rules, udp)
			}
			if c.change != nil {
				c.change(w)
			}
			res, err := New(w).Audit(AuditQuery{})
			if err != nil {
				t.Fatal(err)
			}
			var got []Finding
			for _, f := range res.Findings {
				if f.Code == CodeLBBackendsRefuseVPC {
					got = append(got, f)
				}
			}
			if c.reported != (len(got) == 1) || len(got) > 1 {
				t.Fatalf("findings %+v, want reported %v", got, c.reported)
			}
			if c.reported && (got[0].Resource != "lb-1" || got[0].Severity != SeverityMedium ||
				!strings.Contains(got[0].Message, "tcp listener on port 80") || !strings.Contains(got[0].Message, "port 8080")) {
				t.Errorf("finding %+v", got[0])
			}
		})
	}
}
