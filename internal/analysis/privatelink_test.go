package analysis

import (
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/model"
)

// TestEndpointDestination: a PrivateLink endpoint's ENI is a destination
// like any ENI for the consumer's filters (its groups decide) and then
// passes connections on while the endpoint is connected; it is never a
// source.
func TestEndpointDestination(t *testing.T) {
	w := exposureWorld(nil, nil, false)
	w.Groups = append(w.Groups, model.SecurityGroup{ID: "sg-ep", VpcID: "vpc-1", Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerDrop,
		Rules: []model.Rule{tcp("sgr-ep", model.Ingress, 443, "10.0.1.0/24", model.PolicyAccept, 1)}})
	w.ENIs = append(w.ENIs, model.ENI{ID: "eni-ep", VpcID: "vpc-1", VSwitchID: "vsw-1", PrimaryIP: ip("10.0.1.50"), EndpointID: "ep-1",
		SecurityGroupIDs: []string{"sg-ep"}, Type: model.ENITypeSecondary, Status: model.ENIInUse})
	w.Endpoints = []model.Endpoint{{ID: "ep-1", VpcID: "vpc-1", ServiceID: "epsrv-1", ConnectionStatus: model.EndpointConnected}}
	reach := func(q ReachQuery) *ReachResult {
		t.Helper()
		r, err := New(w).Reach(q)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	last := func(r *ReachResult) Step { s := r.Paths[0].Steps; return s[len(s)-1] }

	r := reach(ReachQuery{From: "i-1", To: "10.0.1.50", Protocol: "tcp", Port: 443})
	if s := last(r); !r.Reachable || s.Point != PointDestination || !s.Allow || !strings.Contains(s.Detail, "epsrv-1") {
		t.Errorf("i-1 -> endpoint:443 (connected, admitted): reachable %v\n%s", r.Reachable, stepLines(r.Paths[0].Steps))
	}
	if r := reach(ReachQuery{From: "i-1", To: "10.0.1.50", Protocol: "tcp", Port: 22}); r.Reachable {
		t.Errorf("i-1 -> endpoint:22, which its group does not admit: reachable\n%s", stepLines(r.Paths[0].Steps))
	}
	if r := reach(ReachQuery{From: "10.0.1.50", To: "i-1", Protocol: "tcp", Port: 443}); r.Reachable {
		t.Errorf("endpoint -> i-1: reachable, want never (an endpoint opens nothing)\n%s", stepLines(r.Paths[0].Steps))
	}
	w.Endpoints[0].ConnectionStatus = model.EndpointDisconnected
	r = reach(ReachQuery{From: "i-1", To: "10.0.1.50", Protocol: "tcp", Port: 443})
	if s := last(r); r.Reachable || s.Allow || !strings.Contains(s.Detail, "Disconnected") {
		t.Errorf("i-1 -> a disconnected endpoint: reachable %v\n%s", r.Reachable, stepLines(r.Paths[0].Steps))
	}
}

// TestAuditServiceRefusesTransit: an instance backing a PrivateLink
// service whose groups admit nothing from the transit range is reported;
// one that admits it (or all sources) is not.
func TestAuditServiceRefusesTransit(t *testing.T) {
	for _, c := range []struct {
		name     string
		rules    []model.Rule
		reported bool
	}{
		{"admits the vSwitch only", []model.Rule{tcp("sgr-web", model.Ingress, 443, "10.0.1.0/24", model.PolicyAccept, 1)}, true},
		{"admits the transit range", []model.Rule{tcp("sgr-pl", model.Ingress, 443, "100.64.0.0/10", model.PolicyAccept, 1)}, false},
		{"admits everyone", []model.Rule{tcp("sgr-any", model.Ingress, 443, "0.0.0.0/0", model.PolicyAccept, 1)}, false},
		{"drops the transit range only", []model.Rule{tcp("sgr-no", model.Ingress, 443, "100.64.0.0/10", model.PolicyDrop, 1)}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := exposureWorld(c.rules, nil, false)
			w.Services = []model.EndpointService{{ID: "epsrv-1", VpcID: "vpc-1",
				Resources: []model.EndpointServiceResource{{ResourceID: "i-1", ResourceType: model.EndpointResourceECS}}}}
			res, err := New(w).Audit(AuditQuery{})
			if err != nil {
				t.Fatal(err)
			}
			got := false
			for _, f := range res.Findings {
				if f.Code == CodeServiceRefusesTransit && f.Resource == "i-1" && strings.Contains(f.Message, "epsrv-1") {
					got = true
				}
			}
			if got != c.reported {
				t.Errorf("reported %v, want %v: %+v", got, c.reported, res.Findings)
			}
		})
	}
}
