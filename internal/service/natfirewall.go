package service

import (
	"context"
	"slices"
	"strings"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
)

// Cloud Firewall's NAT firewall (Cloudfw 2017-12-07) on Internet NAT
// gateways: its access-control policies (CreateNatFirewallControlPolicy,
// DescribeNatFirewallControlPolicy, ModifyNatFirewallControlPolicy,
// DeleteNatFirewallControlPolicy, ModifyNatFirewallControlPolicyPosition,
// DescribeNatFirewallPolicyPriorUsed).
//
// Decisions (SEMANTICS.md §8 "Cloud Firewall", and where it is silent):
//   - A NAT firewall exists on every Internet NAT gateway (nat.go) of the
//     caller: the SDK has no action that creates one, and a gateway
//     without policies lets everything through, as Cloud Firewall does
//     when no policy matches. NatGatewayId names it; it must be a gateway
//     of the caller (another account's gateway is not found, with the
//     code of nat.go). There is no switch.
//   - It judges outbound connections only: the new connections that
//     instances of the gateway's VPC open to the internet through the
//     gateway (its SNAT entries and IP mappings), with the instance's
//     private address as the source and the internet address as the
//     destination, before the gateway translates them. Direction is
//     therefore "out": it is required where the SDK sends it (Create,
//     Delete, DescribeNatFirewallPolicyPriorUsed) and may be left out
//     where the SDK has no such parameter (ModifyNatFirewallControlPolicy,
//     ModifyNatFirewallControlPolicyPosition; the cloud documents it as
//     optional there) and in DescribeNatFirewallControlPolicy; "in" is
//     refused everywhere: inbound connections from the internet (to the
//     gateway's EIPs, forwarded by its DNAT entries) meet the Internet
//     firewall (AddControlPolicy Direction in), as for any EIP.
//   - Policies are the Internet firewall's (cloudfw.go): fields, their
//     checks, error codes and address books (the caller's) are those of
//     AddControlPolicy / ModifyControlPolicy; IpVersion is 4. A
//     Destination may be a domain (DestinationType domain, as for the
//     Internet firewall's Direction out): the server resolves it by DNS
//     and the policy matches its IPv4 addresses; DomainResolveType is 1
//     (DNS, the default; 0 and 2, which inspect TLS SNI and HTTP Host,
//     are refused) and is not used with other destinations. A domain
//     Source and location addresses are refused. OpsStatus is accepted
//     and not used. Source is not checked against the VPC: a source no
//     instance of the VPC has matches nothing.
//   - Orders are contiguous, 1..n per gateway: NewOrder 1..n+1 inserts
//     (the policies from there move down by one), -1 appends; deleting a
//     policy moves the ones after it up; ModifyNatFirewallControlPolicyPosition
//     moves one (AclUuid) to NewOrder 1..n (-1: last). At most
//     Quotas.FirewallPolicies per gateway (as per VPC firewall and per
//     Internet-firewall direction). An
//     identical policy at the requested place is a retry: it adds nothing
//     and answers that policy's AclUuid.
//   - DescribeNatFirewallControlPolicy lists one gateway's policies in
//     order with the Internet firewall's filters and paging; HitTimes and
//     HitLastTime are what the agents counted (ReportFirewallHits).
//     DescribeNatFirewallPolicyPriorUsed answers Start 1 and End n (0 and
//     0 without policies).
//   - Deleting a NAT gateway (DeleteNatGateway, with or without Force)
//     deletes its policies and their hit counts in the same transaction.
//     A book used by a NAT-firewall policy cannot be deleted, and
//     renaming it renames it there too (cloudfw.go). Agents mirror the
//     policies (PrefixNatFirewallPolicy) to every host.
//
// Error codes (HTTP status), besides the policy codes of cloudfw.go:
//   - MissingParameter (400): NatGatewayId, Direction (where required),
//     AclUuid, NewOrder.
//   - IllegalParam.Direction (400): anything but out.
//   - InvalidNatGatewayId.NotFound (404): NatGatewayId is no NAT gateway
//     of the caller.
//   - ResourceNotFound.ControlPolicy (404): AclUuid is no policy of that
//     gateway's NAT firewall.
//   - QuotaExceeded.ControlPolicy (403): the gateway has the most
//     policies allowed.

// parseNatFirewallDirection checks the Direction of a NAT-firewall action:
// out (any case); none is MissingParameter when required, else out.
func parseNatFirewallDirection(v string, required bool) error {
	switch d := strings.ToLower(strings.TrimSpace(v)); {
	case d == model.FirewallOut:
		return nil
	case d == "" && required:
		return errs.MissingParameter("Direction")
	case d == "":
		return nil
	case d == model.FirewallIn:
		return illegal("Direction", "Direction in is not valid for a NAT firewall: it judges the outbound connections your instances open to the internet through the NAT gateway (Direction out); inbound connections to the gateway's EIPs meet the Internet firewall (AddControlPolicy with Direction in).")
	}
	return illegal("Direction", "The specified Direction %q is not valid: a NAT firewall's policies are of Direction out (from your VPC through the NAT gateway to the internet).", v)
}

// natFirewallPolicies returns the policies of a gateway's NAT firewall in
// order.
func natFirewallPolicies(tx store.ReadTxn, gatewayID string) ([]*model.FirewallPolicy, error) {
	return policiesWhere(tx, model.PrefixNatFirewallPolicy, func(p *model.FirewallPolicy) bool { return p.NatGatewayID == gatewayID })
}

// getNatFirewallPolicy reads a policy of the NAT firewall of a gateway of
// the caller.
func getNatFirewallPolicy(tx store.ReadTxn, accountID, gatewayID, id string) (*model.FirewallPolicy, error) {
	g, err := getNatGateway(tx, accountID, gatewayID)
	if err != nil {
		return nil, err
	}
	p, err := getOwned(tx, model.PrefixNatFirewallPolicy, aclUuidParam, accountID, strings.TrimSpace(id), func(v *model.FirewallPolicy) string { return v.AccountID }, func(id string) *errs.Error {
		return errs.NotFound("ResourceNotFound.ControlPolicy", "The specified AclUuid %q is not a policy of the NAT firewall of %s: DescribeNatFirewallControlPolicy lists them.", id, g.ID)
	})
	if err != nil {
		return nil, err
	}
	if p.NatGatewayID != g.ID {
		return nil, errs.NotFound("ResourceNotFound.ControlPolicy", "The specified AclUuid %q is not a policy of the NAT firewall of %s (it is one of %s): give NatGatewayId %s.", id, g.ID, p.NatGatewayID, p.NatGatewayID)
	}
	return p, nil
}

// deleteNatFirewallPolicies deletes the policies of a gateway's NAT
// firewall and their hits: DeleteNatGateway's part.
func deleteNatFirewallPolicies(tx store.Txn, gatewayID string) error {
	pols, err := natFirewallPolicies(tx, gatewayID)
	if err != nil {
		return err
	}
	return deletePolicies(tx, pols)
}

// checkNatFirewallTarget checks the parameters that name a NAT firewall
// and its policies' direction (Direction required or not).
func checkNatFirewallTarget(gatewayID, direction string, directionRequired bool) error {
	if strings.TrimSpace(gatewayID) == "" {
		return errs.MissingParameter(natGatewayIDParam)
	}
	return parseNatFirewallDirection(direction, directionRequired)
}

// NatFirewallPolicyInput is the request of CreateNatFirewallControlPolicy.
type NatFirewallPolicyInput struct {
	NatGatewayID, Direction, NewOrder string
	PolicyInput
}

// CreateNatFirewallControlPolicy adds a policy to the NAT firewall of a
// gateway at NewOrder; the policies from there on move down by one.
func (s *Service) CreateNatFirewallControlPolicy(ctx context.Context, accountID string, in NatFirewallPolicyInput) (model.FirewallPolicy, error) {
	var out model.FirewallPolicy
	if err := checkNatFirewallTarget(in.NatGatewayID, in.Direction, true); err != nil {
		return out, err
	}
	if strings.TrimSpace(in.NewOrder) == "" {
		return out, errs.MissingParameter("NewOrder")
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		g, err := getNatGateway(tx, accountID, in.NatGatewayID)
		if err != nil {
			return err
		}
		now := s.stamp()
		p := &model.FirewallPolicy{ID: NewUUID(), AccountID: accountID, NatGatewayID: g.ID, Direction: model.FirewallOut, CreatedAt: now, UpdatedAt: now}
		if err := applyPolicyInput(tx, p, in.PolicyInput, true); err != nil {
			return err
		}
		list, err := natFirewallPolicies(tx, g.ID)
		if err != nil {
			return err
		}
		out, err = placePolicy(tx, list, p, in.NewOrder, s.cfg.Quotas.FirewallPolicies, "The NAT firewall of "+g.ID+" has %d policies")
		return err
	})
	return out, err
}

// ModifyNatFirewallControlPolicy changes the fields given of a policy;
// its order does not change.
func (s *Service) ModifyNatFirewallControlPolicy(ctx context.Context, accountID, gatewayID, direction, id string, in PolicyInput) error {
	if err := checkNatFirewallTarget(gatewayID, direction, false); err != nil {
		return err
	}
	if strings.TrimSpace(id) == "" {
		return errs.MissingParameter(aclUuidParam)
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		p, err := getNatFirewallPolicy(tx, accountID, gatewayID, id)
		if err != nil {
			return err
		}
		return s.changePolicy(tx, p, in)
	})
	return err
}

// DeleteNatFirewallControlPolicy deletes a policy; the ones after it move
// up.
func (s *Service) DeleteNatFirewallControlPolicy(ctx context.Context, accountID, gatewayID, direction, id string) error {
	if err := checkNatFirewallTarget(gatewayID, direction, true); err != nil {
		return err
	}
	if strings.TrimSpace(id) == "" {
		return errs.MissingParameter(aclUuidParam)
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		p, err := getNatFirewallPolicy(tx, accountID, gatewayID, id)
		if err != nil {
			return err
		}
		return removePolicy(tx, p, func() ([]*model.FirewallPolicy, error) { return natFirewallPolicies(tx, p.NatGatewayID) })
	})
	return err
}

// MoveNatPolicyInput is the request of
// ModifyNatFirewallControlPolicyPosition.
type MoveNatPolicyInput struct {
	NatGatewayID, Direction, AclUuid, NewOrder string
}

// ModifyNatFirewallControlPolicyPosition moves a policy to NewOrder; the
// ones in between shift by one.
func (s *Service) ModifyNatFirewallControlPolicyPosition(ctx context.Context, accountID string, in MoveNatPolicyInput) error {
	if err := checkNatFirewallTarget(in.NatGatewayID, in.Direction, false); err != nil {
		return err
	}
	if strings.TrimSpace(in.AclUuid) == "" {
		return errs.MissingParameter(aclUuidParam)
	}
	if strings.TrimSpace(in.NewOrder) == "" {
		return errs.MissingParameter("NewOrder")
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		p, err := getNatFirewallPolicy(tx, accountID, in.NatGatewayID, in.AclUuid)
		if err != nil {
			return err
		}
		list, err := natFirewallPolicies(tx, p.NatGatewayID)
		if err != nil {
			return err
		}
		from := slices.IndexFunc(list, func(o *model.FirewallPolicy) bool { return o.ID == p.ID })
		return movePolicy(tx, list, from, in.NewOrder)
	})
	return err
}

// NatFirewallPolicyPriorUsed is the answer of
// DescribeNatFirewallPolicyPriorUsed: the orders in use on the gateway,
// Start..End (0, 0 without policies).
func (s *Service) NatFirewallPolicyPriorUsed(ctx context.Context, accountID, gatewayID, direction string) (start, end int, err error) {
	if err := checkNatFirewallTarget(gatewayID, direction, true); err != nil {
		return 0, 0, err
	}
	err = s.view(ctx, func(tx store.ReadTxn) error {
		g, err := getNatGateway(tx, accountID, gatewayID)
		if err != nil {
			return err
		}
		list, err := natFirewallPolicies(tx, g.ID)
		if err != nil {
			return err
		}
		start, end = orderRange(len(list))
		return nil
	})
	return start, end, err
}

// NatPolicyQuery selects policies in DescribeNatFirewallControlPolicy;
// empty fields match all but NatGatewayID (required).
type NatPolicyQuery struct {
	NatGatewayID, Direction, AclUuid, AclAction, Proto, Release string
	Source, Destination, Description                            string // substrings
}

// DescribeNatFirewallControlPolicy lists the policies of the NAT firewall
// of a gateway of the caller in order.
func (s *Service) DescribeNatFirewallControlPolicy(ctx context.Context, accountID string, q NatPolicyQuery) ([]FirewallPolicyView, error) {
	if err := checkNatFirewallTarget(q.NatGatewayID, q.Direction, false); err != nil {
		return nil, err
	}
	f, err := parsePolicyFilter(q.AclUuid, q.AclAction, q.Proto, q.Release, q.Source, q.Destination, q.Description)
	if err != nil {
		return nil, err
	}
	var out []FirewallPolicyView
	err = s.view(ctx, func(tx store.ReadTxn) error {
		g, err := getNatGateway(tx, accountID, q.NatGatewayID)
		if err != nil {
			return err
		}
		list, err := natFirewallPolicies(tx, g.ID)
		if err != nil {
			return err
		}
		out, err = policyViews(tx, accountID, list, f)
		return err
	})
	return out, err
}
