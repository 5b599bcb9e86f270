package analysis

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/model"
)

// TestWAFStep: a TCP connection from the internet to a protected port of
// an instance's steered EIP has the WAF on its path, between the route
// and the filters that decide on the WAF's own connection (which keep
// their verdict); nothing else has.
func TestWAFStep(t *testing.T) {
	points := func(a *Analyzer, q ReachQuery) ([]string, *ReachResult) {
		t.Helper()
		r, err := a.Reach(q)
		if err != nil {
			t.Fatal(err)
		}
		var ps []string
		for _, s := range r.Paths[0].Steps {
			ps = append(ps, s.Point)
			if s.Point == PointWAF && (s.Resource != "waf-web1" || !s.Allow || s.DecidedBy != ByWAF) {
				t.Errorf("%v: waf step %+v", q, s)
			}
		}
		return ps, r
	}
	a := New(fixedWorld())
	withWAF := []string{PointRoute, PointWAF, PointACLIngress, PointSGIngress}
	for _, c := range []struct {
		q    ReachQuery
		want []string
	}{
		{ReachQuery{From: "203.0.113.7", To: "i-web1", Protocol: "tcp", Port: 443}, withWAF},
		{ReachQuery{From: "203.0.113.7", To: "198.18.0.10", Protocol: "tcp", Port: 443}, withWAF},
		{ReachQuery{From: "203.0.113.7", To: "i-web1", Protocol: "tcp", Port: 22}, []string{PointRoute, PointACLIngress, PointSGIngress}},
		{ReachQuery{From: "203.0.113.7", To: "i-web1", Protocol: "udp", Port: 443}, []string{PointRoute, PointACLIngress, PointSGIngress}},
		{ReachQuery{From: "i-admin", To: "i-web1", Protocol: "tcp", Port: 443}, []string{PointSGEgress, PointACLEgress, PointRoute, PointACLIngress, PointSGIngress}},
	} {
		if got, _ := points(a, c.q); !slices.Equal(got, c.want) {
			t.Errorf("%+v: steps %v, want %v", c.q, got, c.want)
		}
	}

	// The security groups still decide on the client: a drop for it
	// leaves the WAF on the path and the connection unreachable.
	w := fixedWorld()
	w.Groups[0].Rules = append(w.Groups[0].Rules, tcp("sgr-web-ban", model.Ingress, 443, "203.0.113.0/24", model.PolicyDrop, 1))
	got, r := points(New(w), ReachQuery{From: "203.0.113.7", To: "i-web1", Protocol: "tcp", Port: 443})
	if !slices.Equal(got, withWAF) || r.Reachable {
		t.Errorf("client dropped by the group: steps %v, reachable %v; want %v, unreachable", got, r.Reachable, withWAF)
	}
	if s := r.Paths[0].Steps[3]; s.Allow || s.RuleID != "sgr-web-ban" {
		t.Errorf("security-group step %+v, want the drop sgr-web-ban", s)
	}
}

func TestSteeredEIP(t *testing.T) {
	type eip struct{ id, eni string }
	of := func(e eip) (string, string) { return e.id, e.eni }
	for _, c := range []struct {
		eips []eip
		want int
	}{
		{nil, -1},
		{[]eip{{"eip-b", "eni-2"}, {"eip-a", "eni-3"}}, 1},                     // no primary: smallest ID
		{[]eip{{"eip-a", "eni-2"}, {"eip-z", "eni-1"}}, 1},                     // the primary's, whatever its ID
		{[]eip{{"eip-z", "eni-1"}, {"eip-c", "eni-1"}, {"eip-a", "eni-2"}}, 1}, // two on the primary
	} {
		if got := model.SteeredEIP("eni-1", c.eips, of); got != c.want {
			t.Errorf("SteeredEIP(%v) = %d, want %d", c.eips, got, c.want)
		}
	}
}

// wafUpstreamWorld is fixedWorld with i-web1's port 443 protected and
// forwarded to upstream, a network ACL on vsw-web and sg-web that both
// admit tcp port allow only (from anywhere), a secondary address
// 10.0.1.20 on eni-web1, and a second ENI eni-web1b of i-web1 (eth1,
// 10.0.3.30 in vsw-admin) in sg-up, which admits tcp 8080 from source
// ports 1024-65535.
func wafUpstreamWorld(upstream string, allow int) *World {
	w := fixedWorld()
	w.WAF[0].Upstream = upstream
	w.VSwitches[0].NetworkAclID = "nacl-web"
	w.ACLs = append(w.ACLs, model.NetworkACL{ID: "nacl-web", VpcID: "vpc-prod",
		Ingress: []model.ACLEntry{{ID: "nae-web-in", Name: "in", Policy: model.PolicyAccept, Protocol: "tcp", Ports: model.PortRange{From: allow, To: allow}, Cidr: pfx("0.0.0.0/0")}},
		Egress:  []model.ACLEntry{{ID: "nae-web-out", Name: "out", Policy: model.PolicyAccept, Protocol: "all", Ports: model.PortRange{From: -1, To: -1}, Cidr: pfx("0.0.0.0/0")}},
	})
	w.Groups[0].Rules = []model.Rule{tcp("sgr-web-allow", model.Ingress, allow, "0.0.0.0/0", model.PolicyAccept, 1)}
	w.Groups = append(w.Groups, model.SecurityGroup{ID: "sg-up", VpcID: "vpc-prod", Type: model.GroupTypeBasic, Rules: []model.Rule{
		tcp("sgr-up-8080", model.Ingress, 8080, "0.0.0.0/0", model.PolicyAccept, 1),
	}})
	w.Groups[len(w.Groups)-1].Rules[0].SourcePorts = model.PortRange{From: 1024, To: 65535}
	w.ENIs[0].SecondaryIPs = []netip.Addr{ip("10.0.1.20")}
	w.ENIs = append(w.ENIs, model.ENI{ID: "eni-web1b", InstanceID: "i-web1", VSwitchID: "vsw-admin", VpcID: "vpc-prod",
		PrimaryIP: ip("10.0.3.30"), DeviceIndex: 1, SecurityGroupIDs: []string{"sg-up"}, Type: model.ENITypeSecondary})
	return w
}

// TestWAFUpstream: after the WAF step, the network ACL and security
// groups decide on the WAF's own connection, to the upstream address and
// port (the kernel's transparent upstream connection), not on the
// client's packet to the protected port; the reply is the upstream's.
func TestWAFUpstream(t *testing.T) {
	for _, c := range []struct {
		name     string
		upstream string
		allow    int    // the port the ACL and sg-web admit
		waf      string // "": no WAF step; else the upstream in its detail
		forward  bool
		reach    bool
		sgENI    string // the ENI of the security-group step
		reply    string // the reply packet
	}{
		{"upstream port allowed, protected port not", "10.0.1.10:80", 80, "10.0.1.10:80", true, true, "eni-web1", "10.0.1.10:80 -> 203.0.113.7:49152"},
		{"protected port allowed, upstream port not", "10.0.1.10:80", 443, "10.0.1.10:80", false, false, "eni-web1", "10.0.1.10:80 -> 203.0.113.7:49152"},
		{"default upstream, port allowed", "", 443, "10.0.1.10:443", true, true, "eni-web1", "10.0.1.10:443 -> 203.0.113.7:49152"},
		{"default upstream, port not allowed", "", 80, "10.0.1.10:443", false, false, "eni-web1", "10.0.1.10:443 -> 203.0.113.7:49152"},
		{"secondary address of the ENI", "10.0.1.20:80", 80, "10.0.1.20:80", true, true, "eni-web1", "10.0.1.20:80 -> 203.0.113.7:49152"},
		// Another ENI's filters decide; its reply to the client leaves
		// through that ENI (its source routing table) back to the WAF.
		{"address of another ENI", "10.0.3.30:8080", 80, "10.0.3.30:8080 (eni-web1b)", true, true, "eni-web1b", "10.0.3.30:8080 -> 203.0.113.7:49152"},
		// The agent does not steer an upstream outside the instance: the
		// direct path, decided at the protected port.
		{"upstream not on the instance", "10.0.2.10:80", 80, "", false, false, "eni-web1", "10.0.1.10:443 -> 203.0.113.7:49152"},
		{"upstream not on the instance, port allowed", "10.0.2.10:80", 443, "", true, true, "eni-web1", "10.0.1.10:443 -> 203.0.113.7:49152"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := New(wafUpstreamWorld(c.upstream, c.allow)).Reach(ReachQuery{From: "203.0.113.7", To: "198.18.0.10", Protocol: "tcp", Port: 443})
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Paths) != 1 {
				t.Fatalf("%d paths, want 1", len(r.Paths))
			}
			p := r.Paths[0]
			var waf, acl, sg *Step
			for i := range p.Steps {
				switch s := &p.Steps[i]; s.Point {
				case PointWAF:
					waf = s
				case PointACLIngress:
					acl = s
				case PointSGIngress:
					sg = s
				}
			}
			switch {
			case c.waf == "" && waf != nil:
				t.Errorf("WAF step %+v, want none (the port is not steered)", *waf)
			case c.waf != "" && (waf == nil || !strings.Contains(waf.Detail, "forwards those it passes to "+c.waf+" ")):
				t.Errorf("WAF step %+v, want one forwarding to %s", waf, c.waf)
			}
			if sg == nil || acl == nil {
				t.Fatalf("steps %+v: no ACL or security-group step", p.Steps)
			}
			if sg.Resource != c.sgENI {
				t.Errorf("security-group step on %s, want %s", sg.Resource, c.sgENI)
			}
			if p.Forward != c.forward || r.Reachable != c.reach {
				t.Errorf("forward %v, reachable %v; want %v, %v; steps:\n%s", p.Forward, r.Reachable, c.forward, c.reach, stepLines(append(p.Steps, p.Reply...)))
			}
			if c.reply != "" && (len(p.Reply) == 0 || !strings.Contains(p.Reply[0].Detail, "tcp "+c.reply+":")) {
				t.Errorf("reply %+v, want the packet %s", p.Reply, c.reply)
			}
			// Only sg-up restricts source ports: the answer says it
			// assumes one when the WAF forwards to its ENI.
			if note := strings.Contains(strings.Join(r.Notes, "\n"), "restrict source ports"); note != (c.sgENI == "eni-web1b") {
				t.Errorf("source-port note %v, want %v: %q", note, !note, r.Notes)
			}
			if p.Packet != "tcp 203.0.113.7:49152 -> 10.0.1.10:443" {
				t.Errorf("packet %q, want the client's", p.Packet)
			}
		})
	}
}

func stepLines(ss []Step) string {
	var b strings.Builder
	for _, s := range ss {
		fmt.Fprintf(&b, "  %s %s allow=%v: %s\n", s.Point, s.Resource, s.Allow, s.Detail)
	}
	return b.String()
}

// TestAuditWAFUpstreamExposure: a protected port whose WAF forwards to a
// sensitive port of another ENI of the instance exposes that port to the
// internet (the WAF connects from the client's address), although no EIP
// maps to that ENI; without the steering, nothing reaches it.
func TestAuditWAFUpstreamExposure(t *testing.T) {
	for _, c := range []struct {
		name     string
		upstream string
		want     bool
	}{
		{"upstream on another ENI", "10.0.3.30:9200", true},
		{"default upstream", "", false},
		{"upstream port not sensitive", "10.0.3.30:8080", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := wafUpstreamWorld(c.upstream, 80)
			w.Groups[len(w.Groups)-1].Rules = append(w.Groups[len(w.Groups)-1].Rules,
				tcp("sgr-up-9200", model.Ingress, 9200, "0.0.0.0/0", model.PolicyAccept, 1))
			res, err := New(w).Audit(AuditQuery{})
			if err != nil {
				t.Fatal(err)
			}
			got := portFindings(res.Findings, "tcp/9200 (Elasticsearch)")
			if !c.want {
				// Only the latent exposure of the rule: no EIP reaches it.
				if len(got) != 1 || got[0].Severity != SeverityMedium || !strings.Contains(got[0].Message, "the internet cannot reach it today") {
					t.Errorf("findings %+v, want the latent one only", got)
				}
				return
			}
			if len(got) != 1 || got[0].Severity != SeverityHigh || got[0].Rule != "sgr-up-9200" ||
				!strings.Contains(got[0].Message, "eni-web1b (10.0.3.30, reached from the internet through the WAF of port 443 of EIP 198.18.0.10)") {
				t.Errorf("findings %+v, want one: open through the WAF", got)
			}
		})
	}
}

// TestFirewallStep: with Internet-firewall policies, a path between the
// internet and an EIP has the firewall at the border (before the route
// inbound, after it outbound), deciding with the EIP's public address;
// switched off for the EIP it allows; without policies it is not shown.
func TestFirewallStep(t *testing.T) {
	w := fixedWorld()
	acct := w.EIPs[0].AccountID
	eip := w.EIPs[0].Address.String()
	w.FirewallPolicies = []model.FirewallPolicy{
		{ID: "p-ssh", AccountID: acct, Direction: model.FirewallIn, Order: 1, Action: model.FirewallDrop, Source: "0.0.0.0/0", SourceType: model.FirewallNet,
			Destination: eip + "/32", DestinationType: model.FirewallNet, Proto: "TCP", DestPort: "22", DestPortType: model.FirewallPort, Enabled: true},
	}
	reach := func(w *World, q ReachQuery) *ReachResult {
		t.Helper()
		r, err := New(w).Reach(q)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := reach(w, ReachQuery{From: "203.0.113.7", To: "i-web1", Protocol: "tcp", Port: 22})
	steps := r.Paths[0].Steps
	if r.Reachable || steps[0].Point != PointFirewall || steps[0].Allow || steps[0].RuleID != "p-ssh" || steps[1].Point != PointRoute {
		t.Errorf("internet -> ssh under a drop policy: reachable %v\n%s", r.Reachable, stepLines(steps))
	}
	r = reach(w, ReachQuery{From: "203.0.113.7", To: "i-web1", Protocol: "tcp", Port: 443})
	if s := r.Paths[0].Steps[0]; s.Point != PointFirewall || !s.Allow || s.DecidedBy != ByFirewallDefault {
		t.Errorf("internet -> 443, no policy matches:\n%s", stepLines(r.Paths[0].Steps))
	}
	// No outbound policy: no firewall step outbound.
	r = reach(w, ReachQuery{From: "i-web1", To: "203.0.113.7", Protocol: "tcp", Port: 22})
	for _, s := range r.Paths[0].Steps {
		if s.Point == PointFirewall {
			t.Errorf("outbound with inbound policies only: a firewall step %+v", s)
		}
	}
	w.FirewallOff = []netip.Addr{w.EIPs[0].Address}
	r = reach(w, ReachQuery{From: "203.0.113.7", To: "i-web1", Protocol: "tcp", Port: 22})
	if s := r.Paths[0].Steps[0]; s.Point != PointFirewall || !s.Allow || s.DecidedBy != ByFirewallOff {
		t.Errorf("switched off:\n%s", stepLines(r.Paths[0].Steps))
	}
}

// TestDDoSStep: from the internet to an EIP under an open Anti-DDoS
// blackhole nothing arrives, and the step says so first; under scrubbing
// the connection passes with the scrubbing shown; without an event, or
// outbound, there is no such step.
func TestDDoSStep(t *testing.T) {
	w := fixedWorld()
	eip := w.EIPs[0].Address
	reach := func(w *World, q ReachQuery) *ReachResult {
		t.Helper()
		r, err := New(w).Reach(q)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	in := ReachQuery{From: "203.0.113.7", To: "i-web1", Protocol: "tcp", Port: 443}
	base := reach(w, in)
	if !base.Reachable {
		t.Fatalf("internet -> 443 without an attack:\n%s", stepLines(base.Paths[0].Steps))
	}
	for _, s := range base.Paths[0].Steps {
		if s.Point == PointDDoS {
			t.Errorf("a step of Anti-DDoS without an event: %+v", s)
		}
	}
	start := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	w.DDoSEvents = []model.DDoSEvent{
		{IP: eip, Type: model.DDoSDefense, Start: start, PeakPps: 50_000, PeakBps: 30_000_000},
		{IP: eip, Type: model.DDoSBlackhole, Start: start.Add(time.Minute), UnBlackholeAt: start.Add(3 * time.Hour), PeakBps: 6_000_000_000},
	}
	r := reach(w, in)
	s := r.Paths[0].Steps[0]
	if r.Reachable || s.Point != PointDDoS || s.Allow || s.DecidedBy != ByDDoSBlackhole || s.Resource != eip.String() || !strings.Contains(s.Detail, "2026-11-26T15:00:00Z") {
		t.Errorf("internet -> blackholed EIP: reachable %v\n%s", r.Reachable, stepLines(r.Paths[0].Steps))
	}
	w.DDoSEvents = w.DDoSEvents[:1]
	r = reach(w, in)
	if s := r.Paths[0].Steps[0]; !r.Reachable || s.Point != PointDDoS || !s.Allow || s.DecidedBy != ByDDoSScrubbing {
		t.Errorf("internet -> scrubbed EIP: reachable %v\n%s", r.Reachable, stepLines(r.Paths[0].Steps))
	}
	r = reach(w, ReachQuery{From: "i-web1", To: "203.0.113.7", Protocol: "tcp", Port: 443})
	for _, s := range r.Paths[0].Steps {
		if s.Point == PointDDoS {
			t.Errorf("outbound from a scrubbed EIP: a step of Anti-DDoS %+v", s)
		}
	}
}
