package api

import (
	"context"
	"net/netip"
	"strconv"

	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/service"
)

// Cloud Firewall's VPC firewall actions (Cloudfw 2017-12-07) on VPC
// peering connections; semantics and error codes in
// service/vpcfirewall.go. Response names are those of
// github.com/aliyun/alibaba-cloud-sdk-go/services/cloudfw: bare arrays
// ("VpcFirewalls", "Policys"); DescribeVpcFirewallList's TotalCount is a
// number, DescribeVpcFirewallControlPolicy's a string, as in the SDK.
// A firewall's ConnectType is "peering" (the cloud knows expressconnect
// and cen; Palisade's VPC firewalls guard peerings).

// IndexVpcFirewallIDs is the range of DeleteVpcFirewallConfigure
// VpcFirewallIdList.N.
var IndexVpcFirewallIDs = Indexes{1, 100}

// VpcFirewallConnectType is a VPC firewall's ConnectType.
const VpcFirewallConnectType = "peering"

type vfwRouteEntry struct {
	DestinationCidr   string
	NextHopInstanceId string
}

type vfwCidrTable struct {
	RouteTableId   string
	RouteEntryList []vfwRouteEntry
}

// vfwVpc is one side of a firewall (cloudfw.LocalVpcInDescribeVpcFirewallList
// and cloudfw.PeerVpc).
type vfwVpc struct {
	VpcId               string
	VpcName             string
	OwnerId             int64
	RegionNo            string
	AuthorizationStatus string
	VpcCidrTableList    []vfwCidrTable
}

type vfwItem struct {
	VpcFirewallId        string
	VpcFirewallName      string
	ConnectType          string
	ConnectSubType       string
	FirewallSwitchStatus string
	RegionStatus         string
	ResultCode           string
	MemberUid            string
	Bandwidth            int
	LocalVpc             vfwVpc
	PeerVpc              vfwVpc
	IpsConfig            struct{ BasicRules, EnableAllPatch, RunMode int }
}

func toVfwVpc(v model.VPC, table, region string) vfwVpc {
	entries := []vfwRouteEntry{}
	for _, c := range append([]netip.Prefix{v.CidrBlock}, v.SecondaryCidrs...) {
		if c.IsValid() {
			entries = append(entries, vfwRouteEntry{DestinationCidr: c.String()})
		}
	}
	return vfwVpc{
		VpcId: v.ID, VpcName: v.Name, OwnerId: ownerID(v.AccountID), RegionNo: region, AuthorizationStatus: "authorized",
		VpcCidrTableList: []vfwCidrTable{{RouteTableId: table, RouteEntryList: entries}},
	}
}

func toVfwItem(f service.VpcFirewallView, region string) vfwItem {
	sw := model.VpcFirewallClosed
	if f.Enabled {
		sw = model.VpcFirewallOpened
	}
	return vfwItem{
		VpcFirewallId: f.ID, VpcFirewallName: f.Name, ConnectType: VpcFirewallConnectType, FirewallSwitchStatus: sw,
		RegionStatus: "enable", Bandwidth: f.Peer.Bandwidth,
		LocalVpc: toVfwVpc(f.LocalVpc, f.LocalTable, region), PeerVpc: toVfwVpc(f.PeerVpc, f.PeerTable, region),
	}
}

// RegisterVpcFirewall registers the VPC firewall actions.
func RegisterVpcFirewall(rt *Router, svc *service.Service) {
	v := VersionCloudfw

	rt.Handle(v, "CreateVpcFirewallConfigure", func(ctx context.Context, r *Request) (any, error) {
		p := r.Params
		fw, err := svc.CreateVpcFirewallConfigure(ctx, r.Account.ID, service.CreateVpcFirewallInput{
			Name: p.Get("VpcFirewallName"), LocalVpcID: p.Get("LocalVpcId"), PeerVpcID: p.Get("PeerVpcId"),
			FirewallSwitch: p.Get("FirewallSwitch"), LocalVpcRegion: p.Get("LocalVpcRegion"), PeerVpcRegion: p.Get("PeerVpcRegion"),
		})
		if err != nil {
			return nil, err
		}
		return struct{ VpcFirewallId string }{fw.ID}, nil
	})
	rt.Handle(v, "DescribeVpcFirewallList", func(ctx context.Context, r *Request) (any, error) {
		p := r.Params
		pg, err := cfwPage(p)
		if err != nil {
			return nil, err
		}
		all, err := svc.DescribeVpcFirewallList(ctx, r.Account.ID, service.VpcFirewallQuery{
			ID: p.Get("VpcFirewallId"), Name: p.Get("VpcFirewallName"), SwitchStatus: p.Get("FirewallSwitchStatus"),
			VpcID: p.Get("VpcId"), PeerAccountID: p.Get("PeerUid"), RegionNo: p.Get("RegionNo"),
		})
		if err != nil {
			return nil, err
		}
		items, total, _ := Paginate(all, pg)
		out := make([]vfwItem, 0, len(items))
		for _, f := range items {
			out = append(out, toVfwItem(f, svc.Region()))
		}
		return struct {
			TotalCount   int
			VpcFirewalls []vfwItem
		}{total, out}, nil
	})
	rt.Handle(v, "ModifyVpcFirewallSwitchStatus", func(ctx context.Context, r *Request) (any, error) {
		return empty{}, svc.ModifyVpcFirewallSwitchStatus(ctx, r.Account.ID, r.Params.Get("VpcFirewallId"), r.Params.Get("FirewallSwitch"))
	})
	rt.Handle(v, "DeleteVpcFirewallConfigure", func(ctx context.Context, r *Request) (any, error) {
		ids, err := r.Params.ListIn("VpcFirewallIdList", IndexVpcFirewallIDs)
		if err != nil {
			return nil, err
		}
		if id := r.Params.Get("VpcFirewallId"); id != "" {
			ids = append(ids, id)
		}
		return empty{}, svc.DeleteVpcFirewallConfigure(ctx, r.Account.ID, ids)
	})

	// Policies.
	rt.Handle(v, "CreateVpcFirewallControlPolicy", func(ctx context.Context, r *Request) (any, error) {
		in, err := policyInput(r.Params)
		if err != nil {
			return nil, err
		}
		pol, err := svc.CreateVpcFirewallControlPolicy(ctx, r.Account.ID, r.Params.Get("VpcFirewallId"), r.Params.Get("NewOrder"), in)
		if err != nil {
			return nil, err
		}
		return struct{ AclUuid string }{pol.ID}, nil
	})
	rt.Handle(v, "ModifyVpcFirewallControlPolicy", func(ctx context.Context, r *Request) (any, error) {
		in, err := policyInput(r.Params)
		if err != nil {
			return nil, err
		}
		return empty{}, svc.ModifyVpcFirewallControlPolicy(ctx, r.Account.ID, r.Params.Get("VpcFirewallId"), r.Params.Get("AclUuid"), in)
	})
	rt.Handle(v, "DeleteVpcFirewallControlPolicy", func(ctx context.Context, r *Request) (any, error) {
		return empty{}, svc.DeleteVpcFirewallControlPolicy(ctx, r.Account.ID, r.Params.Get("VpcFirewallId"), r.Params.Get("AclUuid"))
	})
	rt.Handle(v, "DescribeVpcFirewallControlPolicy", func(ctx context.Context, r *Request) (any, error) {
		p := r.Params
		pg, err := cfwPage(p)
		if err != nil {
			return nil, err
		}
		all, err := svc.DescribeVpcFirewallControlPolicy(ctx, r.Account.ID, service.VpcPolicyQuery{
			VpcFirewallID: p.Get("VpcFirewallId"), AclUuid: p.Get("AclUuid"), AclAction: p.Get("AclAction"), Proto: p.Get("Proto"),
			Release: p.Get("Release"), Source: p.Get("Source"), Destination: p.Get("Destination"), Description: p.Get("Description"),
		})
		if err != nil {
			return nil, err
		}
		out, total := cfwPolicyPage(all, pg)
		return struct {
			TotalCount string
			Policys    []cfwPolicyItem
		}{strconv.Itoa(total), out}, nil
	})
}
