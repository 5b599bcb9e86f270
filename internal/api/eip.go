package api

import (
	"context"
	"strconv"

	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/service"
)

type eipItem struct {
	AllocationId       string
	IpAddress          string
	Status             string
	Name               string
	Description        string
	Bandwidth          string
	EipBandwidth       string
	InternetChargeType string
	ChargeType         string
	ISP                string
	InstanceId         string
	InstanceType       string
	PrivateIpAddress   string
	VpcId              string
	Zone               string
	RegionId           string
	InstanceRegionId   string
	AllocationTime     string
	Mode               string
	Netmode            string
}

func toEIPItem(region string, e model.EIP) eipItem {
	it := eipItem{
		AllocationId: e.ID, IpAddress: e.Address.String(), Status: e.Status, Name: e.Name, Description: e.Description,
		Bandwidth: strconv.Itoa(e.Bandwidth), EipBandwidth: strconv.Itoa(e.Bandwidth), InternetChargeType: e.InternetChargeType,
		ChargeType: "PostPaid", ISP: e.ISP, InstanceId: e.InstanceID, InstanceType: e.InstanceType,
		VpcId: e.VpcID, Zone: e.ZoneID, RegionId: region, AllocationTime: formatTime(e.CreatedAt), Netmode: "public",
	}
	if e.PrivateIP.IsValid() {
		it.PrivateIpAddress, it.InstanceRegionId, it.Mode = e.PrivateIP.String(), region, "NAT"
	} else if e.InstanceType == model.EIPInstanceNat {
		it.InstanceRegionId, it.Mode = region, "NAT"
	}
	return it
}

// RegisterEIPs registers the elastic IP actions (VPC 2016-04-28).
func RegisterEIPs(rt *Router, svc *service.Service) {
	rt.Handle(VersionVPC, "AllocateEipAddress", func(ctx context.Context, r *Request) (any, error) {
		e, err := svc.AllocateEipAddress(ctx, r.Account.ID, service.AllocateEipInput{
			Name: r.Params.Get("Name"), Description: r.Params.Get("Description"),
			InternetChargeType: r.Params.Get("InternetChargeType"), ISP: r.Params.Get("ISP"),
			Bandwidth: r.Params.Get("Bandwidth"), IPAddress: r.Params.Get("IpAddress"), ClientToken: r.Params.Get("ClientToken"),
		})
		if err != nil {
			return nil, err
		}
		return struct {
			AllocationId, EipAddress, ResourceGroupId string
			OrderId                                   int64
		}{AllocationId: e.ID, EipAddress: e.Address.String()}, nil
	})
	rt.Handle(VersionVPC, "DescribeEipAddresses", func(ctx context.Context, r *Request) (any, error) {
		pg, err := r.Params.Paging(10, 100)
		if err != nil {
			return nil, err
		}
		list, err := svc.DescribeEipAddresses(ctx, r.Account.ID, service.EIPFilter{
			ID: r.Params.Get("AllocationId"), Address: r.Params.Get("EipAddress"), Status: r.Params.Get("Status"),
			Name: r.Params.Get("EipName"), InstanceID: r.Params.Get("AssociatedInstanceId"),
			InstanceType: r.Params.Get("AssociatedInstanceType"),
		})
		if err != nil {
			return nil, err
		}
		page, total, _ := Paginate(list, pg)
		var resp struct {
			TotalCount, PageNumber, PageSize int
			EipAddresses                     struct{ EipAddress []eipItem }
		}
		resp.TotalCount, resp.PageNumber, resp.PageSize = total, pg.Number, pg.Size
		resp.EipAddresses.EipAddress = make([]eipItem, 0, len(page))
		for _, e := range page {
			resp.EipAddresses.EipAddress = append(resp.EipAddresses.EipAddress, toEIPItem(svc.Region(), e))
		}
		return resp, nil
	})
	rt.Handle(VersionVPC, "ModifyEipAddressAttribute", func(ctx context.Context, r *Request) (any, error) {
		id, err := r.Params.Required("AllocationId")
		if err != nil {
			return nil, err
		}
		return empty{}, svc.ModifyEipAddressAttribute(ctx, r.Account.ID, id,
			optional(r.Params, "Name"), optional(r.Params, "Description"), optional(r.Params, "Bandwidth"))
	})
	rt.Handle(VersionVPC, "AssociateEipAddress", func(ctx context.Context, r *Request) (any, error) {
		id, err := r.Params.Required("AllocationId")
		if err != nil {
			return nil, err
		}
		return empty{}, svc.AssociateEipAddress(ctx, r.Account.ID, id, r.Params.Get("InstanceId"),
			r.Params.Get("InstanceType"), r.Params.Get("PrivateIpAddress"))
	})
	rt.Handle(VersionVPC, "UnassociateEipAddress", func(ctx context.Context, r *Request) (any, error) {
		id, err := r.Params.Required("AllocationId")
		if err != nil {
			return nil, err
		}
		return empty{}, svc.UnassociateEipAddress(ctx, r.Account.ID, id, r.Params.Get("InstanceId"))
	})
	rt.Handle(VersionVPC, "ReleaseEipAddress", func(ctx context.Context, r *Request) (any, error) {
		id, err := r.Params.Required("AllocationId")
		if err != nil {
			return nil, err
		}
		return empty{}, svc.ReleaseEipAddress(ctx, r.Account.ID, id)
	})
}
