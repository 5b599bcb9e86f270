package analysis

import (
	"fmt"
	"strings"

	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/policy"
)

// Cloud Firewall's NAT firewall (policy.NatFirewall): the policies of a
// NAT gateway (World.NatFirewallPolicies with its NatGatewayID), in
// order, judge every new connection the gateway translates on its way to
// the internet (SNAT entries and IP mappings), on the gateway's host,
// before the translation: the source is the instance's private address,
// the destination the internet address. The first enabled policy that
// matches decides (drop drops, accept and log allow); none matching
// allows. It judges nothing else: not connections from the internet
// through forward entries (nor their replies), not an instance's traffic
// through its own EIP (which takes precedence over the gateway), not
// traffic inside or between VPCs.
//
// On the way out its step comes after the gateway's (which picks the
// entry) and before the entry's (the translation); the Internet firewall's
// out policies judge the same connection afterwards, with the gateway's
// EIP as the source.

// PointNatFirewall is the NAT firewall of a NAT gateway (Resource: its
// ngw- ID).
const PointNatFirewall = "nat-firewall"

// Decision kinds of the NAT firewall step.
const (
	// ByNatFirewallPolicy: a policy matched first (RuleID, Priority =
	// its order, Action); ByNatFirewallDefault: none did (allowed).
	ByNatFirewallPolicy  = "nat-firewall-policy"
	ByNatFirewallDefault = "nat-firewall-default"
)

// indexNatFirewalls compiles the NAT firewall of each gateway with the
// account's address books (those the Internet firewall uses). Policies
// are grouped by gateway first, so that a gateway without any costs
// nothing.
func (a *Analyzer) indexNatFirewalls() {
	w := a.w
	byGW := map[string][]model.FirewallPolicy{}
	for _, p := range w.NatFirewallPolicies {
		if n := a.nats[p.NatGatewayID]; n != nil {
			byGW[p.NatGatewayID] = append(byGW[p.NatGatewayID], p)
		}
	}
	for id, ps := range byGW {
		n := a.nats[id]
		n.fw = policy.CompileNatFirewall(n.g.AccountID, id, ps, w.AddressBooks, a.domains)
	}
}

// natFirewallStep is the NAT firewall of gateway n on pkt, a new
// connection the gateway is about to translate (pkt as the instance sent
// it). ok is false when the gateway has no enabled policy (as for the
// Internet firewall: nothing to show).
func (a *Analyzer) natFirewallStep(n *natGW, pkt Packet) (Step, bool) {
	if len(n.fw.Rules) == 0 {
		return Step{}, false
	}
	s := Step{Point: PointNatFirewall, Resource: n.g.ID, Allow: true}
	r, ok := n.fw.Decide(policy.Packet{Proto: pkt.Proto, Src: pkt.Src, Dst: pkt.Dst, SrcPort: pkt.SrcPort, DstPort: pkt.DstPort})
	// Its policies see the private source: say so, as the Internet
	// firewall's policies see the translated one.
	seen := fmt.Sprintf("judged before the translation, from %s to %s", pkt.Src, pkt.Dst)
	if !ok {
		s.DecidedBy = ByNatFirewallDefault
		s.Detail = fmt.Sprintf("no NAT-firewall policy of %s matches (%s): allowed", n.g.ID, seen)
		return s, true
	}
	s.DecidedBy, s.RuleID, s.Priority, s.Allow = ByNatFirewallPolicy, r.ID, r.Order, !r.Drop
	word := "accepts"
	s.Action = model.FirewallAccept
	switch {
	case r.Drop:
		s.Action, word = model.FirewallDrop, "drops"
	case r.Log:
		s.Action, word = model.FirewallLog, "logs (allowed and counted)"
	}
	s.Detail = fmt.Sprintf("NAT firewall of %s: policy %s (order %d%s) %s the connection (%s)", n.g.ID, r.ID, r.Order, domainNote(r), word, seen)
	return s, true
}

// domainNote names the domain of a rule whose destination is one, with
// the addresses it matched: "" for any other rule.
func domainNote(r policy.FirewallRule) string {
	if r.Domain == "" {
		return ""
	}
	addrs := make([]string, 0, len(r.Dst))
	for _, p := range r.Dst {
		addrs = append(addrs, p.Addr().String())
	}
	return fmt.Sprintf(", destination domain %s, resolved to %s", r.Domain, strings.Join(addrs, " "))
}
