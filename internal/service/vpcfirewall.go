package service

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
)

// Cloud Firewall's VPC firewall (Cloudfw 2017-12-07) on a VPC peering
// connection: CreateVpcFirewallConfigure, DescribeVpcFirewallList,
// ModifyVpcFirewallSwitchStatus, DeleteVpcFirewallConfigure and its
// access-control policies (CreateVpcFirewallControlPolicy,
// DescribeVpcFirewallControlPolicy, ModifyVpcFirewallControlPolicy,
// DeleteVpcFirewallControlPolicy).
//
// Decisions (SEMANTICS.md Part A "Cloud Firewall", and where it is silent):
//   - A VPC firewall guards one Activated peering connection, between
//     LocalVpcId (a VPC of the caller) and PeerVpcId (the other end, maybe
//     of another account); a connection has at most one firewall. It
//     belongs to the caller: no other account sees or changes it.
//     FirewallSwitch opened (enabled) or closed is required when it is
//     created. LocalVpcRegion and PeerVpcRegion, when given, must be this
//     region; MemberUid and the CIDR table lists are not used (the
//     firewall covers the whole connection). The connection cannot be
//     deleted while it has a firewall.
//   - Policies are the Internet firewall's (cloudfw.go) without a
//     direction: a new connection crossing the peering, either way, meets
//     the enabled policies of the firewall in Order; the first that
//     matches decides; none matching allows. Fields, their checks and
//     error codes are those of AddControlPolicy / ModifyControlPolicy
//     (address books are the caller's), but for domain destinations,
//     which are refused (OperationUnsupported.DestinationType: across a
//     peering, connections go between private addresses that public DNS
//     names do not resolve to); orders are contiguous, 1..n per
//     firewall (NewOrder 1..n+1 inserts, -1 appends), at most
//     Quotas.FirewallPolicies per firewall; an identical policy at the
//     requested place is a retry. Deleting a firewall deletes its
//     policies in the same transaction.
//   - Policies are IPv4 (IpVersion 6 is refused, as for the Internet
//     firewall) and an address matches a policy of its own family only
//     (0.0.0.0/0 is not ::/0): an IPv6 connection across the peering
//     (IPv6 route entries) meets no policy and is allowed, which is what
//     Cloud Firewall does when no policy matches.
//
// Error codes (HTTP status), besides the policy codes of cloudfw.go:
//   - MissingParameter (400); IllegalParam.<Parameter> (400):
//     FirewallSwitch, VpcFirewallName, LocalVpcRegion, PeerVpcRegion,
//     PeerVpcId (LocalVpcId itself).
//   - ResourceNotFound.VpcId (404): LocalVpcId is no VPC of the caller.
//   - ResourceNotFound.VpcPeerConnection (404): no connection between the
//     two VPCs; IncorrectStatus.VpcPeer (400): it is not Activated.
//   - ResourceAlreadyExist.VpcFirewall (400): the connection has one.
//   - ResourceNotFound.VpcFirewall (404): no such firewall of the caller.

const (
	vpcFirewallParam   = "VpcFirewallId"
	vpcFirewallNameMax = 128
)

func errVpcFirewallNotFound(id string) *errs.Error {
	return errs.NotFound("ResourceNotFound.VpcFirewall", "The specified VpcFirewallId %q is not a VPC firewall of your account: DescribeVpcFirewallList lists them.", id)
}

func getVpcFirewall(tx store.ReadTxn, accountID, id string) (*model.VpcFirewall, error) {
	return getOwned(tx, model.PrefixVpcFirewall, vpcFirewallParam, accountID, strings.TrimSpace(id), func(v *model.VpcFirewall) string { return v.AccountID }, errVpcFirewallNotFound)
}

// parseFirewallSwitch reads FirewallSwitch: opened or closed.
func parseFirewallSwitch(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "":
		return false, errs.MissingParameter("FirewallSwitch")
	case model.VpcFirewallOpened:
		return true, nil
	case model.VpcFirewallClosed:
		return false, nil
	}
	return false, illegal("FirewallSwitch", "The specified FirewallSwitch %q is not valid: use opened (the policies apply) or closed.", v)
}

// CreateVpcFirewallInput is the request of CreateVpcFirewallConfigure.
type CreateVpcFirewallInput struct {
	Name, LocalVpcID, PeerVpcID, FirewallSwitch string
	LocalVpcRegion, PeerVpcRegion               string
}

// CreateVpcFirewallConfigure puts a VPC firewall on the peering between
// two VPCs.
func (s *Service) CreateVpcFirewallConfigure(ctx context.Context, accountID string, in CreateVpcFirewallInput) (model.VpcFirewall, error) {
	var out model.VpcFirewall
	name := strings.TrimSpace(in.Name)
	local, peer := strings.TrimSpace(in.LocalVpcID), strings.TrimSpace(in.PeerVpcID)
	switch {
	case name == "":
		return out, errs.MissingParameter("VpcFirewallName")
	case !utf8.ValidString(name) || utf8.RuneCountInString(name) > vpcFirewallNameMax:
		return out, illegal("VpcFirewallName", "The specified VpcFirewallName is not valid: use 1 to %d characters of UTF-8 text.", vpcFirewallNameMax)
	case local == "":
		return out, errs.MissingParameter("LocalVpcId")
	case peer == "":
		return out, errs.MissingParameter("PeerVpcId")
	case peer == local:
		return out, illegal("PeerVpcId", "PeerVpcId %s is LocalVpcId itself: give the VPC at the other end of the peering connection.", peer)
	}
	for param, r := range map[string]string{"LocalVpcRegion": in.LocalVpcRegion, "PeerVpcRegion": in.PeerVpcRegion} {
		if r = strings.TrimSpace(r); r != "" && r != s.cfg.Region {
			return out, illegal(param, "The specified %s %q is not valid: Palisade's VPCs are in region %s.", param, r, s.cfg.Region)
		}
	}
	on, err := parseFirewallSwitch(in.FirewallSwitch)
	if err != nil {
		return out, err
	}
	_, err = s.update(ctx, func(tx store.Txn) error {
		var v model.VPC
		if ok, err := getJSON(tx, model.PrefixVPC+local, &v); err != nil {
			return err
		} else if !ok || v.AccountID != accountID {
			return errs.NotFound("ResourceNotFound.VpcId", "The specified LocalVpcId %q is not a VPC of your account: DescribeVpcs lists them.", local)
		}
		peers, err := vpcPeers(tx, local)
		if err != nil {
			return err
		}
		var pc *model.PeerConnection
		for _, p := range peers {
			if p.Other(local) == peer && (pc == nil || pc.Status != model.PeerActivated) {
				pc = p
			}
		}
		if pc == nil {
			return errs.NotFound("ResourceNotFound.VpcPeerConnection",
				"VPCs %s and %s are not connected by a VPC peering connection: create one first (CreateVpcPeerConnection).", local, peer)
		}
		if pc.Status != model.PeerActivated {
			return errs.Conflict("IncorrectStatus.VpcPeer",
				"VPC peering connection %s between %s and %s is %s: a VPC firewall guards an Activated connection.", pc.ID, local, peer, pc.Status)
		}
		if fw, err := peerFirewall(tx, pc.ID); err != nil {
			return err
		} else if fw != nil {
			which := "another account's firewall"
			if fw.AccountID == accountID {
				which = "VPC firewall " + fw.ID
			}
			return errs.Conflict("ResourceAlreadyExist.VpcFirewall",
				"VPC peering connection %s already has a VPC firewall (%s): a connection has one; change its policies instead.", pc.ID, which)
		}
		fw := &model.VpcFirewall{
			ID: NewID("vfw"), AccountID: accountID, Name: name, LocalVpcID: local, PeerVpcID: peer,
			PeerConnectionID: pc.ID, Enabled: on, CreatedAt: s.stamp(),
		}
		out = *fw
		return putJSON(tx, model.PrefixVpcFirewall+fw.ID, fw)
	})
	return out, err
}

// VpcFirewallView is a VPC firewall with its connection and VPCs.
type VpcFirewallView struct {
	model.VpcFirewall
	Peer                  model.PeerConnection
	LocalVpc, PeerVpc     model.VPC // PeerVpc.Name only when the caller's
	LocalTable, PeerTable string
}

// VpcFirewallQuery selects firewalls in DescribeVpcFirewallList; empty
// fields match all.
type VpcFirewallQuery struct {
	ID, Name, SwitchStatus, VpcID, PeerAccountID, RegionNo string
}

// DescribeVpcFirewallList lists the caller's VPC firewalls, oldest first.
func (s *Service) DescribeVpcFirewallList(ctx context.Context, accountID string, q VpcFirewallQuery) ([]VpcFirewallView, error) {
	status := strings.ToLower(strings.TrimSpace(q.SwitchStatus))
	switch status {
	case "", model.VpcFirewallOpened, model.VpcFirewallClosed, "opening", "closing", "notconfigured", "configured":
	default:
		return nil, illegal("FirewallSwitchStatus", "The specified FirewallSwitchStatus %q is not valid: use opened or closed.", q.SwitchStatus)
	}
	var out []VpcFirewallView
	err := s.view(ctx, func(tx store.ReadTxn) error {
		out = nil
		if q.RegionNo != "" && q.RegionNo != s.cfg.Region {
			return nil
		}
		var list []*model.VpcFirewall
		if err := listJSON(tx, model.PrefixVpcFirewall, func(f *model.VpcFirewall) error {
			sw := model.VpcFirewallClosed
			if f.Enabled {
				sw = model.VpcFirewallOpened
			}
			if f.AccountID == accountID && (q.ID == "" || f.ID == q.ID) && strings.Contains(f.Name, q.Name) &&
				(status == "" || status == sw) && (q.VpcID == "" || f.LocalVpcID == q.VpcID || f.PeerVpcID == q.VpcID) {
				list = append(list, f)
			}
			return nil
		}); err != nil {
			return err
		}
		sortByCreation(list, func(f *model.VpcFirewall) (int64, string) { return f.CreatedAt.UnixNano(), f.ID })
		for _, f := range list {
			v := VpcFirewallView{VpcFirewall: *f}
			if _, err := getJSON(tx, model.PrefixPeerConnection+f.PeerConnectionID, &v.Peer); err != nil {
				return err
			}
			if _, err := getJSON(tx, model.PrefixVPC+f.LocalVpcID, &v.LocalVpc); err != nil {
				return err
			}
			if _, err := getJSON(tx, model.PrefixVPC+f.PeerVpcID, &v.PeerVpc); err != nil {
				return err
			}
			if q.PeerAccountID != "" && v.PeerVpc.AccountID != q.PeerAccountID {
				continue
			}
			if v.PeerVpc.AccountID != accountID {
				v.PeerVpc.Name, v.PeerVpc.Description = "", ""
			}
			v.LocalTable, v.PeerTable = RouteTableOf(&v.LocalVpc), RouteTableOf(&v.PeerVpc)
			out = append(out, v)
		}
		return nil
	})
	return out, err
}

// ModifyVpcFirewallSwitchStatus opens or closes a VPC firewall.
func (s *Service) ModifyVpcFirewallSwitchStatus(ctx context.Context, accountID, id, sw string) error {
	if strings.TrimSpace(id) == "" {
		return errs.MissingParameter(vpcFirewallParam)
	}
	on, err := parseFirewallSwitch(sw)
	if err != nil {
		return err
	}
	_, err = s.update(ctx, func(tx store.Txn) error {
		fw, err := getVpcFirewall(tx, accountID, id)
		if err != nil || fw.Enabled == on {
			return err
		}
		fw.Enabled = on
		return putJSON(tx, model.PrefixVpcFirewall+fw.ID, fw)
	})
	return err
}

// vpcFirewallPolicies returns the policies of a firewall in order.
func vpcFirewallPolicies(tx store.ReadTxn, firewallID string) ([]*model.FirewallPolicy, error) {
	return policiesWhere(tx, model.PrefixVpcFirewallPolicy, func(p *model.FirewallPolicy) bool { return p.VpcFirewallID == firewallID })
}

// DeleteVpcFirewallConfigure deletes VPC firewalls of the caller with
// their policies; ids names them as the parameters did
// (VpcFirewallIdList.N).
func (s *Service) DeleteVpcFirewallConfigure(ctx context.Context, accountID string, ids []string) error {
	if len(ids) == 0 {
		return errs.MissingParameter("VpcFirewallIdList.N")
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		var fws []*model.VpcFirewall
		for _, id := range ids {
			fw, err := getVpcFirewall(tx, accountID, id)
			if err != nil {
				return err
			}
			fws = append(fws, fw)
		}
		for _, fw := range fws {
			pols, err := vpcFirewallPolicies(tx, fw.ID)
			if err != nil {
				return err
			}
			if err := deletePolicies(tx, pols); err != nil {
				return err
			}
			if err := tx.Delete(model.PrefixVpcFirewall + fw.ID); err != nil {
				return err
			}
		}
		return nil
	})
	return err
}

// getVpcFirewallPolicy reads a policy of a firewall of the caller.
func getVpcFirewallPolicy(tx store.ReadTxn, accountID, firewallID, id string) (*model.FirewallPolicy, error) {
	if _, err := getVpcFirewall(tx, accountID, firewallID); err != nil {
		return nil, err
	}
	p, err := getOwned(tx, model.PrefixVpcFirewallPolicy, aclUuidParam, accountID, strings.TrimSpace(id), func(v *model.FirewallPolicy) string { return v.AccountID }, func(id string) *errs.Error {
		return errs.NotFound("ResourceNotFound.ControlPolicy", "The specified AclUuid %q is not a policy of VPC firewall %s: DescribeVpcFirewallControlPolicy lists them.", id, firewallID)
	})
	if err != nil {
		return nil, err
	}
	if p.VpcFirewallID != firewallID {
		return nil, errs.NotFound("ResourceNotFound.ControlPolicy", "The specified AclUuid %q is not a policy of VPC firewall %s (it is one of %s): give VpcFirewallId %s.", id, firewallID, p.VpcFirewallID, p.VpcFirewallID)
	}
	return p, nil
}

// CreateVpcFirewallControlPolicy adds a policy to a VPC firewall at
// NewOrder; the policies from there on move down by one.
func (s *Service) CreateVpcFirewallControlPolicy(ctx context.Context, accountID, firewallID, newOrder string, in PolicyInput) (model.FirewallPolicy, error) {
	var out model.FirewallPolicy
	if strings.TrimSpace(firewallID) == "" {
		return out, errs.MissingParameter(vpcFirewallParam)
	}
	if strings.TrimSpace(newOrder) == "" {
		return out, errs.MissingParameter("NewOrder")
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		fw, err := getVpcFirewall(tx, accountID, firewallID)
		if err != nil {
			return err
		}
		now := s.stamp()
		p := &model.FirewallPolicy{ID: NewUUID(), AccountID: accountID, VpcFirewallID: fw.ID, CreatedAt: now, UpdatedAt: now}
		if err := applyPolicyInput(tx, p, in, true); err != nil {
			return err
		}
		list, err := vpcFirewallPolicies(tx, fw.ID)
		if err != nil {
			return err
		}
		out, err = placePolicy(tx, list, p, newOrder, s.cfg.Quotas.FirewallPolicies, "VPC firewall "+fw.ID+" has %d policies")
		return err
	})
	return out, err
}

// ModifyVpcFirewallControlPolicy changes the fields given of a policy.
func (s *Service) ModifyVpcFirewallControlPolicy(ctx context.Context, accountID, firewallID, id string, in PolicyInput) error {
	if strings.TrimSpace(firewallID) == "" {
		return errs.MissingParameter(vpcFirewallParam)
	}
	if strings.TrimSpace(id) == "" {
		return errs.MissingParameter(aclUuidParam)
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		p, err := getVpcFirewallPolicy(tx, accountID, firewallID, id)
		if err != nil {
			return err
		}
		return s.changePolicy(tx, p, in)
	})
	return err
}

// DeleteVpcFirewallControlPolicy deletes a policy; the ones after it move
// up.
func (s *Service) DeleteVpcFirewallControlPolicy(ctx context.Context, accountID, firewallID, id string) error {
	if strings.TrimSpace(firewallID) == "" {
		return errs.MissingParameter(vpcFirewallParam)
	}
	if strings.TrimSpace(id) == "" {
		return errs.MissingParameter(aclUuidParam)
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		p, err := getVpcFirewallPolicy(tx, accountID, firewallID, id)
		if err != nil {
			return err
		}
		return removePolicy(tx, p, func() ([]*model.FirewallPolicy, error) { return vpcFirewallPolicies(tx, p.VpcFirewallID) })
	})
	return err
}

// VpcPolicyQuery selects policies in DescribeVpcFirewallControlPolicy;
// empty fields match all but VpcFirewallID (required).
type VpcPolicyQuery struct {
	VpcFirewallID, AclUuid, AclAction, Proto, Release string
	Source, Destination, Description                  string // substrings
}

// DescribeVpcFirewallControlPolicy lists the policies of a VPC firewall
// of the caller in order.
func (s *Service) DescribeVpcFirewallControlPolicy(ctx context.Context, accountID string, q VpcPolicyQuery) ([]FirewallPolicyView, error) {
	if strings.TrimSpace(q.VpcFirewallID) == "" {
		return nil, errs.MissingParameter(vpcFirewallParam)
	}
	f, err := parsePolicyFilter(q.AclUuid, q.AclAction, q.Proto, q.Release, q.Source, q.Destination, q.Description)
	if err != nil {
		return nil, err
	}
	var out []FirewallPolicyView
	err = s.view(ctx, func(tx store.ReadTxn) error {
		fw, err := getVpcFirewall(tx, accountID, q.VpcFirewallID)
		if err != nil {
			return err
		}
		list, err := vpcFirewallPolicies(tx, fw.ID)
		if err != nil {
			return err
		}
		out, err = policyViews(tx, accountID, list, f)
		return err
	})
	return out, err
}
