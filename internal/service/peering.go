package service

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
)

// VPC peering (VpcPeer 2022-01-01): CreateVpcPeerConnection,
// AcceptVpcPeerConnection, RejectVpcPeerConnection,
// GetVpcPeerConnectionAttribute, ListVpcPeerConnections,
// ModifyVpcPeerConnection and DeleteVpcPeerConnection.
//
// Decisions (SEMANTICS.md Part A "VPC", and where it is silent):
//   - A connection joins a VPC of the caller (VpcId, the requester) and
//     an accepting VPC (AcceptingVpcId) of the same region
//     (AcceptingRegionId, when given, must be this region): of the caller
//     (AcceptingAliUid absent or the caller's ID: Activated at once) or of
//     another account (AcceptingAliUid, whose VPC it must be: Accepting
//     until that account accepts or rejects it). The two VPCs may overlap
//     (route entries may not cover a VPC's own CIDR). A VPC may not be
//     peered with itself, and two VPCs have at most one connection that is
//     not Rejected.
//   - Only the accepting account accepts or rejects, and only while the
//     connection is Accepting. A Rejected connection carries nothing and
//     stays listed until either account deletes it.
//   - Both accounts see the connection (Get, List) and may rename it,
//     change its description or bandwidth (informational, Mbit/s, 1 to
//     DefaultPeerBandwidthMax, 1024 by default) or delete it. A third
//     account gets ResourceNotFound.InstanceId, as for one that does not
//     exist.
//   - Deleting a connection that route entries use (of either VPC) is
//     DependencyViolation.RouteEntry unless Force, which deletes those
//     entries in the same transaction; one with a VPC firewall is
//     DependencyViolation.VpcFirewall (its owner deletes the firewall
//     first). A VPC that is an end of a connection cannot be deleted
//     (DeleteVpc: DependencyViolation).
//   - Every change takes ClientToken (a retry with the same token and
//     parameters answers the first result) and DryRun (everything is
//     checked, nothing changes: DryRunOperation).
//
// Error codes (HTTP status):
//   - MissingParameter (400); IllegalParam.<Parameter> (400): Name,
//     Description, Bandwidth, AcceptingAliUid, AcceptingRegionId (another
//     region), AcceptingVpcId (the requester's own VPC).
//   - InvalidVpcId.NotFound (404): VpcId is no VPC of the caller;
//     ResourceNotFound.AcceptingVpcId (404): no such VPC of the accepting
//     account (or no such account).
//   - ResourceAlreadyExist.VpcPeer (400): the two VPCs are connected
//     already (a connection not Rejected).
//   - ResourceNotFound.InstanceId (404): no connection the caller is an
//     end of.
//   - OperationDenied.AcceptingAccount (403): accepting or rejecting as
//     the requester of a connection across accounts.
//   - IncorrectStatus.VpcPeer (400): accepting or rejecting a connection
//     that is not Accepting.
//   - DependencyViolation.RouteEntry, DependencyViolation.VpcFirewall
//     (403): see above.

// Peering limits and defaults.
const (
	DefaultPeerBandwidth    = 1024
	DefaultPeerBandwidthMax = 1024 * 1024
	peerNameMax             = 128
	peerDescriptionMax      = 256
	peerIDParam             = "InstanceId"
)

func errPeerNotFound(id string) *errs.Error {
	return errs.NotFound("ResourceNotFound.InstanceId",
		"The specified InstanceId %q is not a VPC peering connection of your account: ListVpcPeerConnections lists yours.", id)
}

// getPeer reads a connection the account is an end of (requester or
// accepter); any other is not found.
func getPeer(tx store.ReadTxn, accountID, id string) (*model.PeerConnection, error) {
	id = strings.TrimSpace(id)
	if id == "" {
		return nil, errs.MissingParameter(peerIDParam)
	}
	p := new(model.PeerConnection)
	ok, err := getJSON(tx, model.PrefixPeerConnection+id, p)
	if err != nil {
		return nil, err
	}
	if !ok || p.AccountID != accountID && p.AcceptingAccountID != accountID {
		return nil, errPeerNotFound(id)
	}
	return p, nil
}

// vpcPeers lists the connections that vpcID is an end of, oldest first.
func vpcPeers(tx store.ReadTxn, vpcID string) ([]*model.PeerConnection, error) {
	var out []*model.PeerConnection
	err := listJSON(tx, model.PrefixPeerConnection, func(p *model.PeerConnection) error {
		if p.Other(vpcID) != "" {
			out = append(out, p)
		}
		return nil
	})
	sortByCreation(out, func(p *model.PeerConnection) (int64, string) { return p.CreatedAt.UnixNano(), p.ID })
	return out, err
}

// refuseVpcPeers refuses deleting a VPC that is an end of a connection.
func refuseVpcPeers(tx store.ReadTxn, vpcID string) error {
	peers, err := vpcPeers(tx, vpcID)
	if err != nil || len(peers) == 0 {
		return err
	}
	return errs.DependencyViolation("VPC %s is an end of VPC peering connection %s (%s): delete the connection first (DeleteVpcPeerConnection).",
		vpcID, peers[0].ID, peers[0].Status)
}

func checkPeerText(name, description *string) error {
	if name != nil && (!utf8.ValidString(*name) || utf8.RuneCountInString(*name) > peerNameMax || strings.HasPrefix(*name, "http://") || strings.HasPrefix(*name, "https://")) {
		return illegal("Name", "The specified Name %q is not valid: use at most %d characters, not starting with http:// or https://.", *name, peerNameMax)
	}
	if description != nil && (!utf8.ValidString(*description) || utf8.RuneCountInString(*description) > peerDescriptionMax) {
		return illegal("Description", "The specified Description is not valid: use at most %d characters of UTF-8 text.", peerDescriptionMax)
	}
	return nil
}

func checkPeerBandwidth(b *int) error {
	if b != nil && (*b < 1 || *b > DefaultPeerBandwidthMax) {
		return illegal("Bandwidth", "The specified Bandwidth %d is not valid: give the bandwidth in Mbit/s, 1 to %d.", *b, DefaultPeerBandwidthMax)
	}
	return nil
}

// CreatePeerInput is the request of CreateVpcPeerConnection.
type CreatePeerInput struct {
	VpcID, AcceptingVpcID, AcceptingAccountID, AcceptingRegionID string
	Name, Description                                            string
	Bandwidth                                                    *int
	ClientToken                                                  string
	DryRun                                                       bool
}

// CreateVpcPeerConnection connects a VPC of the caller to an accepting
// VPC.
func (s *Service) CreateVpcPeerConnection(ctx context.Context, accountID string, in CreatePeerInput) (model.PeerConnection, error) {
	var out model.PeerConnection
	in.VpcID, in.AcceptingVpcID = strings.TrimSpace(in.VpcID), strings.TrimSpace(in.AcceptingVpcID)
	switch {
	case in.VpcID == "":
		return out, errs.MissingParameter("VpcId")
	case in.AcceptingVpcID == "":
		return out, errs.MissingParameter("AcceptingVpcId")
	case in.AcceptingVpcID == in.VpcID:
		return out, illegal("AcceptingVpcId", "AcceptingVpcId %s is VpcId itself: a VPC cannot be peered with itself; give another VPC.", in.VpcID)
	}
	if r := strings.TrimSpace(in.AcceptingRegionID); r != "" && r != s.cfg.Region {
		return out, illegal("AcceptingRegionId", "The specified AcceptingRegionId %q is not valid: Palisade peers VPCs of one region; give %s (or leave it out).", r, s.cfg.Region)
	}
	accepter := strings.TrimSpace(in.AcceptingAccountID)
	if accepter == "" || accepter == "0" {
		accepter = accountID
	}
	if strings.Trim(accepter, "0123456789") != "" {
		return out, illegal("AcceptingAliUid", "The specified AcceptingAliUid %q is not valid: give the accepting account's ID (a number), or leave it out to peer two VPCs of your account.", in.AcceptingAccountID)
	}
	if err := checkPeerText(&in.Name, &in.Description); err != nil {
		return out, err
	}
	if err := checkPeerBandwidth(in.Bandwidth); err != nil {
		return out, err
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		_, err := withClientToken(tx, accountID, "CreateVpcPeerConnection", in.ClientToken, in, &out, func() error {
			if _, err := getVPC(tx, accountID, in.VpcID); err != nil {
				return err
			}
			var acc model.VPC
			if ok, err := getJSON(tx, model.PrefixVPC+in.AcceptingVpcID, &acc); err != nil {
				return err
			} else if !ok || acc.AccountID != accepter {
				whose := "your account"
				if accepter != accountID {
					whose = "account " + accepter + " (AcceptingAliUid)"
				}
				return errs.NotFound("ResourceNotFound.AcceptingVpcId",
					"The specified AcceptingVpcId %q is not a VPC of %s: check the VPC ID and AcceptingAliUid.", in.AcceptingVpcID, whose)
			}
			peers, err := vpcPeers(tx, in.VpcID)
			if err != nil {
				return err
			}
			for _, p := range peers {
				if p.Other(in.VpcID) == in.AcceptingVpcID && p.Status != model.PeerRejected {
					return errs.Conflict("ResourceAlreadyExist.VpcPeer",
						"VPCs %s and %s are already connected by VPC peering connection %s (%s): use it, or delete it first.", in.VpcID, in.AcceptingVpcID, p.ID, p.Status)
				}
			}
			now := s.stamp()
			p := &model.PeerConnection{
				ID: NewID("pcc"), AccountID: accountID, VpcID: in.VpcID, AcceptingAccountID: accepter, AcceptingVpcID: in.AcceptingVpcID,
				Name: in.Name, Description: in.Description, Status: model.PeerActivated, Bandwidth: DefaultPeerBandwidth, CreatedAt: now,
			}
			if accepter != accountID {
				p.Status = model.PeerAccepting
			}
			if in.Bandwidth != nil {
				p.Bandwidth = *in.Bandwidth
			}
			if in.DryRun {
				return errDryRun
			}
			out = *p
			return putJSON(tx, model.PrefixPeerConnection+p.ID, p)
		})
		return err
	})
	return out, err
}

// changePeer runs change on a connection the caller is an end of and
// writes it, with ClientToken and DryRun.
func (s *Service) changePeer(ctx context.Context, accountID, id, action, token string, params any, dryRun bool, change func(tx store.Txn, p *model.PeerConnection) error) error {
	if strings.TrimSpace(id) == "" {
		return errs.MissingParameter(peerIDParam)
	}
	return changeOwned(s, ctx, accountID, action, id, token, params, dryRun,
		func(tx store.ReadTxn) (*model.PeerConnection, error) { return getPeer(tx, accountID, id) },
		change, func(p *model.PeerConnection) string { return model.PrefixPeerConnection + p.ID })
}

// answerPeer accepts (or rejects) an Accepting connection as its
// accepting account.
func (s *Service) answerPeer(ctx context.Context, accountID, id, clientToken string, dryRun, accept bool) error {
	action, status := "AcceptVpcPeerConnection", model.PeerActivated
	if !accept {
		action, status = "RejectVpcPeerConnection", model.PeerRejected
	}
	params := struct {
		ID     string
		DryRun bool
	}{id, dryRun}
	return s.changePeer(ctx, accountID, id, action, clientToken, params, dryRun, func(_ store.Txn, p *model.PeerConnection) error {
		if p.AcceptingAccountID != accountID {
			return errs.Forbidden("OperationDenied.AcceptingAccount",
				"VPC peering connection %s waits for its accepting account %s: only that account can accept or reject it.", p.ID, p.AcceptingAccountID)
		}
		if p.Status != model.PeerAccepting {
			return errs.Conflict("IncorrectStatus.VpcPeer",
				"VPC peering connection %s is %s, not Accepting: only a connection waiting for its accepting account can be accepted or rejected.", p.ID, p.Status)
		}
		p.Status = status
		return nil
	})
}

// AcceptVpcPeerConnection activates a connection waiting for the caller.
func (s *Service) AcceptVpcPeerConnection(ctx context.Context, accountID, id, clientToken string, dryRun bool) error {
	return s.answerPeer(ctx, accountID, id, clientToken, dryRun, true)
}

// RejectVpcPeerConnection refuses a connection waiting for the caller.
func (s *Service) RejectVpcPeerConnection(ctx context.Context, accountID, id, clientToken string, dryRun bool) error {
	return s.answerPeer(ctx, accountID, id, clientToken, dryRun, false)
}

// ModifyPeerInput is the request of ModifyVpcPeerConnection; nil fields
// stay as they are.
type ModifyPeerInput struct {
	Name, Description *string
	Bandwidth         *int
	ClientToken       string
	DryRun            bool
}

// ModifyVpcPeerConnection renames a connection or changes its description
// or bandwidth.
func (s *Service) ModifyVpcPeerConnection(ctx context.Context, accountID, id string, in ModifyPeerInput) error {
	if err := checkPeerText(in.Name, in.Description); err != nil {
		return err
	}
	if err := checkPeerBandwidth(in.Bandwidth); err != nil {
		return err
	}
	return s.changePeer(ctx, accountID, id, "ModifyVpcPeerConnection", in.ClientToken, in, in.DryRun, func(_ store.Txn, p *model.PeerConnection) error {
		if in.Name != nil {
			p.Name = *in.Name
		}
		if in.Description != nil {
			p.Description = *in.Description
		}
		if in.Bandwidth != nil {
			p.Bandwidth = *in.Bandwidth
		}
		return nil
	})
}

// peerRouteEntries lists the route entries (of either VPC) that send
// traffic over the connection.
func peerRouteEntries(tx store.ReadTxn, peerID string) ([]*model.RouteEntry, error) {
	var out []*model.RouteEntry
	err := listJSON(tx, model.PrefixRouteEntry, func(e *model.RouteEntry) error {
		if e.NextHopType == model.RouteNextHopPeer && e.NextHopID == peerID {
			out = append(out, e)
		}
		return nil
	})
	sortByCreation(out, func(e *model.RouteEntry) (int64, string) { return e.CreatedAt.UnixNano(), e.ID })
	return out, err
}

// peerFirewall returns the VPC firewall on a connection (nil when none).
func peerFirewall(tx store.ReadTxn, peerID string) (*model.VpcFirewall, error) {
	var out *model.VpcFirewall
	err := listJSON(tx, model.PrefixVpcFirewall, func(f *model.VpcFirewall) error {
		if out == nil && f.PeerConnectionID == peerID {
			out = f
		}
		return nil
	})
	return out, err
}

// DeleteVpcPeerConnection deletes a connection (with Force, the route
// entries that use it too).
func (s *Service) DeleteVpcPeerConnection(ctx context.Context, accountID, id string, force bool, clientToken string, dryRun bool) error {
	if strings.TrimSpace(id) == "" {
		return errs.MissingParameter(peerIDParam)
	}
	params := struct {
		ID            string
		Force, DryRun bool
	}{id, force, dryRun}
	return ownedTxn(s, ctx, accountID, "DeleteVpcPeerConnection", id, clientToken, params, dryRun,
		func(tx store.ReadTxn) (*model.PeerConnection, error) { return getPeer(tx, accountID, id) },
		func(tx store.Txn, p *model.PeerConnection) error {
			if fw, err := peerFirewall(tx, p.ID); err != nil {
				return err
			} else if fw != nil {
				return errs.Forbidden("DependencyViolation.VpcFirewall",
					"VPC peering connection %s has VPC firewall %s (of account %s): delete the firewall first (DeleteVpcFirewallConfigure).", p.ID, fw.ID, fw.AccountID)
			}
			entries, err := peerRouteEntries(tx, p.ID)
			if err != nil {
				return err
			}
			if len(entries) > 0 && !force {
				ids := make([]string, 0, len(entries))
				for _, e := range entries {
					ids = append(ids, e.ID+" ("+e.DestinationCidr.String()+" in "+e.VpcID+")")
				}
				return errs.Forbidden("DependencyViolation.RouteEntry",
					"VPC peering connection %s is the next hop of route entries %s: delete them first (DeleteRouteEntry), or pass Force=true to delete them with it.", p.ID, strings.Join(ids, ", "))
			}
			if dryRun {
				return nil
			}
			for _, e := range entries {
				if err := tx.Delete(model.PrefixRouteEntry + e.ID); err != nil {
					return err
				}
			}
			return nil
		},
		func(tx store.Txn, p *model.PeerConnection) error { return tx.Delete(model.PrefixPeerConnection + p.ID) })
}

// GetVpcPeerConnection returns a connection the caller is an end of.
func (s *Service) GetVpcPeerConnection(ctx context.Context, accountID, id string) (PeerView, error) {
	var out PeerView
	err := s.view(ctx, func(tx store.ReadTxn) error {
		p, err := getPeer(tx, accountID, id)
		if err != nil {
			return err
		}
		out, err = peerView(tx, p)
		return err
	})
	return out, err
}

// PeerView is a connection with the CIDR blocks of its two VPCs, IPv4
// and IPv6 (empty without IPv6).
type PeerView struct {
	model.PeerConnection
	VpcCidrs, AcceptingVpcCidrs   []netip.Prefix
	VpcCidrs6, AcceptingVpcCidrs6 []netip.Prefix
}

func vpcCidrs(tx store.ReadTxn, vpcID string) (v4, v6 []netip.Prefix, err error) {
	var v model.VPC
	ok, err := getJSON(tx, model.PrefixVPC+vpcID, &v)
	if err != nil || !ok {
		return []netip.Prefix{}, []netip.Prefix{}, err
	}
	v6 = []netip.Prefix{}
	if v.Ipv6CidrBlock.IsValid() {
		v6 = append(v6, v.Ipv6CidrBlock)
	}
	return append([]netip.Prefix{v.CidrBlock}, v.SecondaryCidrs...), v6, nil
}

func peerView(tx store.ReadTxn, p *model.PeerConnection) (PeerView, error) {
	v := PeerView{PeerConnection: *p}
	var err error
	if v.VpcCidrs, v.VpcCidrs6, err = vpcCidrs(tx, p.VpcID); err != nil {
		return v, err
	}
	v.AcceptingVpcCidrs, v.AcceptingVpcCidrs6, err = vpcCidrs(tx, p.AcceptingVpcID)
	return v, err
}

// PeerQuery selects connections in ListVpcPeerConnections; empty fields
// match all.
type PeerQuery struct {
	ID, Name string
	VpcIDs   []string // either end is one of them
}

// ListVpcPeerConnections lists the connections the caller is an end of,
// oldest first.
func (s *Service) ListVpcPeerConnections(ctx context.Context, accountID string, q PeerQuery) ([]PeerView, error) {
	var out []PeerView
	err := s.view(ctx, func(tx store.ReadTxn) error {
		out = nil
		var list []*model.PeerConnection
		if err := listJSON(tx, model.PrefixPeerConnection, func(p *model.PeerConnection) error {
			if (p.AccountID == accountID || p.AcceptingAccountID == accountID) && (q.ID == "" || p.ID == q.ID) && (q.Name == "" || p.Name == q.Name) &&
				(len(q.VpcIDs) == 0 || slices.Contains(q.VpcIDs, p.VpcID) || slices.Contains(q.VpcIDs, p.AcceptingVpcID)) {
				list = append(list, p)
			}
			return nil
		}); err != nil {
			return err
		}
		sortByCreation(list, func(p *model.PeerConnection) (int64, string) { return p.CreatedAt.UnixNano(), p.ID })
		for _, p := range list {
			v, err := peerView(tx, p)
			if err != nil {
				return err
			}
			out = append(out, v)
		}
		return nil
	})
	return out, err
}
