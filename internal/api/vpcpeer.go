package api

import (
	"context"
	"net/netip"
	"strconv"
	"time"

	"github.com/palisade-project/palisade/internal/service"
)

// VPC peering actions (VpcPeer 2022-01-01); semantics and error codes in
// service/peering.go. Response names are those of
// github.com/aliyun/alibaba-cloud-sdk-go/services/vpcpeer: the list is a
// bare array ("VpcPeerConnects":[...]); the SDK sends the parameters in
// the form body (the server reads query and form alike). Its client is
// central; it still sends RegionId, which must be this server's.

// IndexPeerVpcs is the range of ListVpcPeerConnections VpcId.N.
var IndexPeerVpcs = Indexes{1, 20}

// PagePeerConnections: ListVpcPeerConnections pages with NextToken and
// MaxResults 1-100 (default 20).
var PagePeerConnections = PageLimits{Scope: "ListVpcPeerConnections", DefaultResults: 20, MinResults: 1, MaxResults: 100}

type peerVpcItem struct {
	VpcId     string
	Ipv4Cidrs []string
	Ipv6Cidrs []string
}

// peerItem is a connection as GetVpcPeerConnectionAttribute and
// ListVpcPeerConnections show it (vpcpeer.VpcPeerConnectsItem).
type peerItem struct {
	InstanceId        string
	GmtCreate         string
	GmtModified       string
	GmtExpired        string
	Name              string
	Description       string
	OwnerId           int64
	AcceptingOwnerUid int64
	RegionId          string
	AcceptingRegionId string
	Bandwidth         int
	Status            string
	BizStatus         string
	ResourceGroupId   string
	Vpc               peerVpcItem
	AcceptingVpc      peerVpcItem
	Tags              []struct{}
}

func cidrStrings(ps []netip.Prefix) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}

func toPeerItem(v service.PeerView, region string) peerItem {
	owner, _ := strconv.ParseInt(v.AccountID, 10, 64)
	accepter, _ := strconv.ParseInt(v.AcceptingAccountID, 10, 64)
	return peerItem{
		InstanceId: v.ID, GmtCreate: formatTime(v.CreatedAt), GmtModified: formatTime(v.CreatedAt), Name: v.Name, Description: v.Description,
		OwnerId: owner, AcceptingOwnerUid: accepter, RegionId: region, AcceptingRegionId: region, Bandwidth: v.Bandwidth,
		Status: v.Status, BizStatus: "Normal",
		Vpc:          peerVpcItem{VpcId: v.VpcID, Ipv4Cidrs: cidrStrings(v.VpcCidrs), Ipv6Cidrs: cidrStrings(v.VpcCidrs6)},
		AcceptingVpc: peerVpcItem{VpcId: v.AcceptingVpcID, Ipv4Cidrs: cidrStrings(v.AcceptingVpcCidrs), Ipv6Cidrs: cidrStrings(v.AcceptingVpcCidrs6)},
		Tags:         []struct{}{},
	}
}

// RegisterVpcPeer registers the VPC peering actions.
func RegisterVpcPeer(rt *Router, svc *service.Service) {
	v := VersionVpcPeer

	rt.HandleDryRun(v, "CreateVpcPeerConnection", func(ctx context.Context, r *Request) (any, error) {
		p := r.Params
		dry, token, err := dryRunToken(p)
		if err != nil {
			return nil, err
		}
		in := service.CreatePeerInput{
			VpcID: p.Get("VpcId"), AcceptingVpcID: p.Get("AcceptingVpcId"), AcceptingAccountID: p.Get("AcceptingAliUid"),
			AcceptingRegionID: p.Get("AcceptingRegionId"), Name: p.Get("Name"), Description: p.Get("Description"),
			ClientToken: token, DryRun: dry,
		}
		if in.Bandwidth, err = optionalInt(p, "Bandwidth"); err != nil {
			return nil, err
		}
		pc, err := svc.CreateVpcPeerConnection(ctx, r.Account.ID, in)
		if err != nil {
			return nil, err
		}
		return struct{ InstanceId string }{pc.ID}, nil
	})
	answer := func(accept bool) Handler {
		return func(ctx context.Context, r *Request) (any, error) {
			dry, token, err := dryRunToken(r.Params)
			if err != nil {
				return nil, err
			}
			if accept {
				return empty{}, svc.AcceptVpcPeerConnection(ctx, r.Account.ID, r.Params.Get("InstanceId"), token, dry)
			}
			return empty{}, svc.RejectVpcPeerConnection(ctx, r.Account.ID, r.Params.Get("InstanceId"), token, dry)
		}
	}
	rt.HandleDryRun(v, "AcceptVpcPeerConnection", answer(true))
	rt.HandleDryRun(v, "RejectVpcPeerConnection", answer(false))
	rt.Handle(v, "GetVpcPeerConnectionAttribute", func(ctx context.Context, r *Request) (any, error) {
		pc, err := svc.GetVpcPeerConnection(ctx, r.Account.ID, r.Params.Get("InstanceId"))
		if err != nil {
			return nil, err
		}
		return toPeerItem(pc, svc.Region()), nil
	})
	rt.Handle(v, "ListVpcPeerConnections", func(ctx context.Context, r *Request) (any, error) {
		p := r.Params
		pg, err := p.PagingFor(PagePeerConnections)
		if err != nil {
			return nil, err
		}
		vpcs, err := p.ListIn("VpcId", IndexPeerVpcs)
		if err != nil {
			return nil, err
		}
		all, err := svc.ListVpcPeerConnections(ctx, r.Account.ID, service.PeerQuery{ID: p.Get("InstanceId"), Name: p.Get("Name"), VpcIDs: vpcs})
		if err != nil {
			return nil, err
		}
		items, total, next := PaginateKeyset(all, pg, func(v service.PeerView) (time.Time, string) { return v.CreatedAt, v.ID })
		out := make([]peerItem, 0, len(items))
		for _, it := range items {
			out = append(out, toPeerItem(it, svc.Region()))
		}
		return struct {
			TotalCount      int
			MaxResults      int
			NextToken       string
			VpcPeerConnects []peerItem
		}{total, pg.MaxResults, next, out}, nil
	})
	rt.HandleDryRun(v, "ModifyVpcPeerConnection", func(ctx context.Context, r *Request) (any, error) {
		p := r.Params
		dry, token, err := dryRunToken(p)
		if err != nil {
			return nil, err
		}
		in := service.ModifyPeerInput{Name: optional(p, "Name"), Description: optional(p, "Description"), ClientToken: token, DryRun: dry}
		if in.Bandwidth, err = optionalInt(p, "Bandwidth"); err != nil {
			return nil, err
		}
		return empty{}, svc.ModifyVpcPeerConnection(ctx, r.Account.ID, p.Get("InstanceId"), in)
	})
	rt.HandleDryRun(v, "DeleteVpcPeerConnection", func(ctx context.Context, r *Request) (any, error) {
		p := r.Params
		dry, token, err := dryRunToken(p)
		if err != nil {
			return nil, err
		}
		force, err := p.Bool("Force", false)
		if err != nil {
			return nil, err
		}
		return empty{}, svc.DeleteVpcPeerConnection(ctx, r.Account.ID, p.Get("InstanceId"), force, token, dry)
	})
}
