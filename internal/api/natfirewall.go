package api

import (
	"context"
	"strconv"

	"github.com/palisade-project/palisade/internal/service"
)

// Cloud Firewall's NAT firewall actions (Cloudfw 2017-12-07) on Internet
// NAT gateways; semantics and error codes in service/natfirewall.go.
// Response names and types are those of
// github.com/aliyun/alibaba-cloud-sdk-go/services/cloudfw:
// DescribeNatFirewallControlPolicy answers TotalCount as a string and the
// bare array Policys (cloudfw.DataItemInDescribeNatFirewallControlPolicy:
// NatGatewayId and no Direction, SpreadCnt a string);
// DescribeNatFirewallPolicyPriorUsed answers Start and End as numbers.
// DomainResolveType is a domain destination's (1, DNS; not used with
// other destinations); OpsStatus is accepted and not used.

// nfwPolicyItem is a policy as DescribeNatFirewallControlPolicy shows it
// (cloudfw.DataItemInDescribeNatFirewallControlPolicy).
type nfwPolicyItem struct {
	AclUuid               string
	NatGatewayId          string
	Order                 int
	AclAction             string
	Source                string
	SourceType            string
	SourceGroupType       string
	SourceGroupCidrs      []string
	Destination           string
	DestinationType       string
	DestinationGroupType  string
	DestinationGroupCidrs []string
	Proto                 string
	DestPort              string
	DestPortType          string
	DestPortGroup         string
	DestPortGroupPorts    []string
	ApplicationNameList   []string
	Description           string
	Release               string
	HitTimes              int64
	HitLastTime           int64
	CreateTime            int64
	ModifyTime            int64
	SpreadCnt             string
	DomainResolveType     int
	DnsResult             string
	DnsResultTime         int64
}

// toNfwPolicyItem shows a policy as the Internet firewall's items do
// (toCfwPolicyItem: ports 0/0, group types, hits, times), in the NAT
// firewall's shape.
func toNfwPolicyItem(v service.FirewallPolicyView) nfwPolicyItem {
	c := toCfwPolicyItem(v)
	return nfwPolicyItem{
		AclUuid: c.AclUuid, NatGatewayId: v.NatGatewayID, Order: c.Order, AclAction: c.AclAction,
		Source: c.Source, SourceType: c.SourceType, SourceGroupType: c.SourceGroupType, SourceGroupCidrs: c.SourceGroupCidrs,
		Destination: c.Destination, DestinationType: c.DestinationType, DestinationGroupType: c.DestinationGroupType,
		DestinationGroupCidrs: c.DestinationGroupCidrs, Proto: c.Proto, DestPort: c.DestPort, DestPortType: c.DestPortType,
		DestPortGroup: c.DestPortGroup, DestPortGroupPorts: c.DestPortGroupPorts, ApplicationNameList: c.ApplicationNameList,
		Description: c.Description, Release: c.Release, HitTimes: c.HitTimes, HitLastTime: c.HitLastTime,
		CreateTime: c.CreateTime, ModifyTime: c.ModifyTime, SpreadCnt: strconv.Itoa(c.SpreadCnt),
		DomainResolveType: v.DomainResolveType, DnsResult: c.DnsResult, DnsResultTime: c.DnsResultTime,
	}
}

// RegisterNatFirewall registers the NAT firewall actions.
func RegisterNatFirewall(rt *Router, svc *service.Service) {
	v := VersionCloudfw

	rt.Handle(v, "CreateNatFirewallControlPolicy", func(ctx context.Context, r *Request) (any, error) {
		in, err := policyInput(r.Params)
		if err != nil {
			return nil, err
		}
		p := r.Params
		pol, err := svc.CreateNatFirewallControlPolicy(ctx, r.Account.ID, service.NatFirewallPolicyInput{
			NatGatewayID: p.Get("NatGatewayId"), Direction: p.Get("Direction"), NewOrder: p.Get("NewOrder"), PolicyInput: in,
		})
		if err != nil {
			return nil, err
		}
		return struct{ AclUuid string }{pol.ID}, nil
	})
	rt.Handle(v, "ModifyNatFirewallControlPolicy", func(ctx context.Context, r *Request) (any, error) {
		in, err := policyInput(r.Params)
		if err != nil {
			return nil, err
		}
		p := r.Params
		return empty{}, svc.ModifyNatFirewallControlPolicy(ctx, r.Account.ID, p.Get("NatGatewayId"), p.Get("Direction"), p.Get("AclUuid"), in)
	})
	rt.Handle(v, "DeleteNatFirewallControlPolicy", func(ctx context.Context, r *Request) (any, error) {
		p := r.Params
		return empty{}, svc.DeleteNatFirewallControlPolicy(ctx, r.Account.ID, p.Get("NatGatewayId"), p.Get("Direction"), p.Get("AclUuid"))
	})
	rt.Handle(v, "ModifyNatFirewallControlPolicyPosition", func(ctx context.Context, r *Request) (any, error) {
		p := r.Params
		return empty{}, svc.ModifyNatFirewallControlPolicyPosition(ctx, r.Account.ID, service.MoveNatPolicyInput{
			NatGatewayID: p.Get("NatGatewayId"), Direction: p.Get("Direction"), AclUuid: p.Get("AclUuid"), NewOrder: p.Get("NewOrder"),
		})
	})
	rt.Handle(v, "DescribeNatFirewallPolicyPriorUsed", func(ctx context.Context, r *Request) (any, error) {
		p := r.Params
		if err := service.CheckFirewallIPVersion(p.Get("IpVersion")); err != nil {
			return nil, err
		}
		start, end, err := svc.NatFirewallPolicyPriorUsed(ctx, r.Account.ID, p.Get("NatGatewayId"), p.Get("Direction"))
		if err != nil {
			return nil, err
		}
		return struct{ Start, End int }{start, end}, nil
	})
	rt.Handle(v, "DescribeNatFirewallControlPolicy", func(ctx context.Context, r *Request) (any, error) {
		p := r.Params
		pg, err := cfwPage(p)
		if err != nil {
			return nil, err
		}
		all, err := svc.DescribeNatFirewallControlPolicy(ctx, r.Account.ID, service.NatPolicyQuery{
			NatGatewayID: p.Get("NatGatewayId"), Direction: p.Get("Direction"), AclUuid: p.Get("AclUuid"), AclAction: p.Get("AclAction"),
			Proto: p.Get("Proto"), Release: p.Get("Release"),
			Source: p.Get("Source"), Destination: p.Get("Destination"), Description: p.Get("Description"),
		})
		if err != nil {
			return nil, err
		}
		items, total, _ := Paginate(all, pg)
		out := make([]nfwPolicyItem, 0, len(items))
		for _, it := range items {
			out = append(out, toNfwPolicyItem(it))
		}
		return struct {
			TotalCount string
			Policys    []nfwPolicyItem
		}{strconv.Itoa(total), out}, nil
	})
}
