package api

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/palisade-project/palisade/internal/analysis"
	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/service"
)

// Analysis actions (VersionPalisade): AnalyzeReachability, AnalyzeMatrix
// and AuditSecurity. Their responses are the analysis package's result
// types (PascalCase fields), so every tool gets the same JSON as the CLI's
// --output json.
//
// Each takes an optional Changes parameter: a JSON array of proposed
// security group changes the answer assumes without applying them:
//
//	[{"Action":"add","SecurityGroupId":"sg-1","Direction":"ingress","IpProtocol":"tcp",
//	  "PortRange":"5432/5432","PeerCidrIp":"10.0.0.0/8","Policy":"accept","Priority":"1"},
//	 {"Action":"remove","SecurityGroupId":"sg-1","RuleId":"sgr-1"}]

// ChangeJSON is one element of the Changes parameter. Peer fields name the
// other end (source of an ingress rule, destination of an egress rule);
// Local fields the ENI's side.
type ChangeJSON struct {
	Action          string
	SecurityGroupId string
	RuleId          string `json:",omitempty"`
	Direction       string `json:",omitempty"`
	IpProtocol      string `json:",omitempty"`
	PortRange       string `json:",omitempty"`
	SourcePortRange string `json:",omitempty"`
	PeerCidrIp      string `json:",omitempty"`
	Ipv6PeerCidrIp  string `json:",omitempty"`
	PeerGroupId     string `json:",omitempty"`
	LocalCidrIp     string `json:",omitempty"`
	Ipv6LocalCidrIp string `json:",omitempty"`
	Policy          string `json:",omitempty"`
	Priority        string `json:",omitempty"`
	Description     string `json:",omitempty"`
}

// ParseChanges reads the Changes parameter.
func ParseChanges(v string) ([]service.ChangeSpec, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, nil
	}
	var in []ChangeJSON
	dec := json.NewDecoder(strings.NewReader(v))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return nil, errs.InvalidParameter("Changes", "expected a JSON array of changes such as [{\"Action\":\"remove\",\"SecurityGroupId\":\"sg-1\",\"RuleId\":\"sgr-1\"}]: %v", err)
	}
	out := make([]service.ChangeSpec, 0, len(in))
	for _, c := range in {
		out = append(out, service.ChangeSpec{
			Action: c.Action, GroupID: c.SecurityGroupId, RuleID: c.RuleId, Direction: c.Direction,
			Rule: service.RuleSpec{
				IpProtocol: c.IpProtocol, PortRange: c.PortRange, SourcePortRange: c.SourcePortRange,
				PeerCidr: c.PeerCidrIp, PeerCidr6: c.Ipv6PeerCidrIp, PeerGroupID: c.PeerGroupId,
				LocalCidr: c.LocalCidrIp, LocalCidr6: c.Ipv6LocalCidrIp, Policy: c.Policy, Priority: c.Priority,
				Description: c.Description,
			},
		})
	}
	return out, nil
}

// sourcePortDefault completes the message of an invalid SourcePort.
var sourcePortDefault = fmt.Sprintf("source port, use 1-65535 or omit SourcePort for the default %d", analysis.DefaultSourcePort)

// portParam reads an optional port parameter: 0 when absent (or empty),
// which the analysis reads as "not given"; a port that is given must be
// 1-65535, so an explicit 0 is refused rather than taken for "not given".
// what ends the message of an invalid value: what the port is and how to
// fix it.
func portParam(p Params, name, what string) (int, error) {
	n, err := p.Int(name, 0)
	if err != nil {
		return 0, err
	}
	if p.Get(name) != "" && (n < 1 || n > 65535) {
		return 0, errs.InvalidParameter(name, "%d is not a valid %s", n, what)
	}
	return n, nil
}

// RegisterAnalysis registers the analysis actions.
func RegisterAnalysis(rt *Router, svc *service.Service) {
	rt.Handle(VersionPalisade, "AnalyzeReachability", func(ctx context.Context, r *Request) (any, error) {
		changes, err := ParseChanges(r.Params.Get("Changes"))
		if err != nil {
			return nil, err
		}
		from, err := r.Params.Required("From")
		if err != nil {
			return nil, err
		}
		to, err := r.Params.Required("To")
		if err != nil {
			return nil, err
		}
		proto, err := r.Params.Required("Protocol")
		if err != nil {
			return nil, err
		}
		port, err := portParam(r.Params, "Port", "destination port, use 1-65535")
		if err != nil {
			return nil, err
		}
		sport, err := portParam(r.Params, "SourcePort", sourcePortDefault)
		if err != nil {
			return nil, err
		}
		return svc.AnalyzeReachability(ctx, r.Account.ID, analysis.ReachQuery{From: from, To: to, Protocol: proto, Port: port, SourcePort: sport}, changes)
	})
	rt.Handle(VersionPalisade, "AnalyzeMatrix", func(ctx context.Context, r *Request) (any, error) {
		changes, err := ParseChanges(r.Params.Get("Changes"))
		if err != nil {
			return nil, err
		}
		vpc, err := r.Params.Required("VpcId")
		if err != nil {
			return nil, err
		}
		var ports []analysis.PortSpec
		if v := r.Params.Get("Ports"); v != "" {
			if ports, err = analysis.ParsePorts(v); err != nil {
				return nil, err
			}
		}
		sport, err := portParam(r.Params, "SourcePort", sourcePortDefault)
		if err != nil {
			return nil, err
		}
		// IncludePeers adds the instances of the VPCs peered with VpcId
		// (Activated, of the caller's account).
		peers, err := r.Params.Bool("IncludePeers", false)
		if err != nil {
			return nil, err
		}
		return svc.AnalyzeMatrix(ctx, r.Account.ID, analysis.MatrixQuery{VpcID: vpc, Ports: ports, SourcePort: sport, IncludePeers: peers}, changes)
	})
	rt.Handle(VersionPalisade, "AuditSecurity", func(ctx context.Context, r *Request) (any, error) {
		changes, err := ParseChanges(r.Params.Get("Changes"))
		if err != nil {
			return nil, err
		}
		return svc.AuditSecurity(ctx, r.Account.ID, analysis.AuditQuery{VpcID: r.Params.Get("VpcId")}, changes)
	})
}
