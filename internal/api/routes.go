package api

import (
	"context"
	"net/netip"
	"strconv"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/service"
)

// Route-table actions (VPC 2016-04-28); semantics and error codes in
// service/route.go. Response names are those of
// github.com/aliyun/alibaba-cloud-sdk-go/services/vpc: the classic wrapped
// lists ("RouterTableList":{"RouterTableListType":[...]},
// "RouteEntrys":{"RouteEntry":[...]}).

// IndexDestCidrBlocks is the range of DescribeRouteEntryList
// DestCidrBlockList.N; IndexNextHops of CreateRouteEntry NextHopList.N
// (refused).
var (
	IndexDestCidrBlocks = Indexes{1, 20}
	IndexNextHops       = Indexes{1, 16}
)

// DescribeRouteEntryList pages with NextToken and MaxResult (sic) 20-100,
// default 50; NextToken is an offset.
const (
	routeEntryDefaultResults = 50
	routeEntryMinResults     = 20
	routeEntryMaxResults     = 100
)

type vSwitchIDs struct{ VSwitchId []string }

type gatewayIDs struct{ GatewayIds []string }

// routeTableListItem is a route table as DescribeRouteTableList shows it
// (vpc.RouterTableListType).
type routeTableListItem struct {
	VpcId                  string
	CreationTime           string
	Status                 string
	RouterId               string
	RouterType             string
	AssociateType          string
	RouteTableId           string
	RouteTableName         string
	RouteTableType         string
	OwnerId                int64
	Description            string
	ResourceGroupId        string
	RoutePropagationEnable bool
	VSwitchIds             vSwitchIDs
	GatewayIds             gatewayIDs
	Tags                   tagsWrapper
}

type nextHopItem struct {
	NextHopId       string
	NextHopType     string
	NextHopRegionId string
	Enabled         int
	Weight          int
}

type nextHops struct{ NextHop []nextHopItem }

// routeEntryItem is an entry as DescribeRouteEntryList shows it
// (vpc.RouteEntry).
type routeEntryItem struct {
	RouteEntryId         string
	RouteEntryName       string
	RouteTableId         string
	DestinationCidrBlock string
	NextHopType          string
	InstanceId           string
	Type                 string
	Status               string
	Description          string
	IpVersion            string
	Origin               string
	GmtModified          string
	NextHops             nextHops
}

func toRouteEntryItem(e service.RouteEntryView, region string) routeEntryItem {
	it := routeEntryItem{
		RouteEntryId: e.ID, RouteEntryName: e.Name, RouteTableId: e.RouteTableID, DestinationCidrBlock: e.DestinationCidr.String(),
		NextHopType: e.NextHopType, InstanceId: e.NextHopID, Type: e.Type, Status: model.RouteAvailable, Description: e.Description,
		IpVersion: ipVersionOf(e.DestinationCidr), Origin: "StaticRoute", GmtModified: formatTime(e.CreatedAt), NextHops: nextHops{NextHop: []nextHopItem{}},
	}
	if e.NextHopID != "" {
		it.NextHops.NextHop = append(it.NextHops.NextHop, nextHopItem{NextHopId: e.NextHopID, NextHopType: e.NextHopType, NextHopRegionId: region, Enabled: 1})
	}
	return it
}

// ipVersionOf is a route entry's IpVersion as Alibaba spells it.
func ipVersionOf(p netip.Prefix) string {
	if p.Addr().Is6() {
		return "IPv6"
	}
	return "IPv4"
}

// routeEntryPage reads MaxResult and NextToken (an offset).
func routeEntryPage(p Params) (Page, error) {
	pg := Page{Token: true}
	n, err := p.IntRange("MaxResult", routeEntryDefaultResults, routeEntryMinResults, routeEntryMaxResults)
	if err != nil {
		return pg, err
	}
	pg.MaxResults, pg.Number, pg.Size = n, 1, n
	if t := p.Get("NextToken"); t != "" {
		off, err := strconv.Atoi(t)
		if err != nil || off < 0 {
			return pg, errNextToken(t)
		}
		pg.Offset = off
	}
	return pg, nil
}

// RegisterRoutes registers the route-table actions.
func RegisterRoutes(rt *Router, svc *service.Service) {
	v := VersionVPC

	rt.Handle(v, "DescribeRouteTableList", func(ctx context.Context, r *Request) (any, error) {
		p := r.Params
		pg, err := p.PageOnly(10, 50)
		if err != nil {
			return nil, err
		}
		if tags, err := p.Tags("Tag"); err != nil {
			return nil, err
		} else if len(tags) > 0 {
			return nil, errs.InvalidParam("OperationUnsupported.Tag", "Route tables have no tags in Palisade: filter by VpcId or RouteTableId.")
		}
		all, err := svc.DescribeRouteTableList(ctx, r.Account.ID, service.RouteTableQuery{
			VpcID: p.Get("VpcId"), RouteTableID: p.Get("RouteTableId"), RouteTableName: p.Get("RouteTableName"),
			RouteTableType: p.Get("RouteTableType"), RouterID: p.Get("RouterId"), RouterType: p.Get("RouterType"),
		})
		if err != nil {
			return nil, err
		}
		items, total, _ := Paginate(all, pg)
		out := make([]routeTableListItem, 0, len(items))
		for _, t := range items {
			out = append(out, routeTableListItem{
				VpcId: t.VPC.ID, CreationTime: formatTime(t.VPC.CreatedAt), Status: service.RouteTableAvailable, RouterId: t.VPC.VRouterID,
				RouterType: "VRouter", AssociateType: "VSwitch", RouteTableId: t.ID, RouteTableType: model.RouteTypeSystem,
				OwnerId: ownerID(t.VPC.AccountID), ResourceGroupId: t.VPC.ResourceGroup,
				VSwitchIds: vSwitchIDs{t.VSwitches}, GatewayIds: gatewayIDs{[]string{}}, Tags: toTags(nil),
			})
		}
		type tableList struct{ RouterTableListType []routeTableListItem }
		return struct {
			Success                          bool
			Code, Message                    string
			PageNumber, PageSize, TotalCount int
			RouterTableList                  tableList
		}{true, "200", "successful", pg.Number, pg.Size, total, tableList{out}}, nil
	})
	rt.Handle(v, "DescribeRouteEntryList", func(ctx context.Context, r *Request) (any, error) {
		p := r.Params
		pg, err := routeEntryPage(p)
		if err != nil {
			return nil, err
		}
		dsts, err := p.ListIn("DestCidrBlockList", IndexDestCidrBlocks)
		if err != nil {
			return nil, err
		}
		all, err := svc.DescribeRouteEntryList(ctx, r.Account.ID, service.RouteEntryQuery{
			RouteTableID: p.Get("RouteTableId"), RouteEntryID: p.Get("RouteEntryId"), RouteEntryType: p.Get("RouteEntryType"),
			RouteEntryName: p.Get("RouteEntryName"), NextHopID: p.Get("NextHopId"), NextHopType: p.Get("NextHopType"),
			DestinationCidrBlock: p.Get("DestinationCidrBlock"), IpVersion: p.Get("IpVersion"), DestCidrBlocks: dsts,
		})
		if err != nil {
			return nil, err
		}
		items, _, next := Paginate(all, pg)
		out := make([]routeEntryItem, 0, len(items))
		for _, e := range items {
			out = append(out, toRouteEntryItem(e, svc.Region()))
		}
		type entryList struct{ RouteEntry []routeEntryItem }
		return struct {
			NextToken   string
			RouteEntrys entryList
		}{next, entryList{out}}, nil
	})
	rt.Handle(v, "CreateRouteEntry", func(ctx context.Context, r *Request) (any, error) {
		p := r.Params
		hops, err := p.StructsIn("NextHopList", IndexNextHops)
		if err != nil {
			return nil, err
		}
		e, err := svc.CreateRouteEntry(ctx, r.Account.ID, service.CreateRouteEntryInput{
			RouteTableID: p.Get("RouteTableId"), DestinationCidrBlock: p.Get("DestinationCidrBlock"), NextHopType: p.Get("NextHopType"),
			NextHopID: p.Get("NextHopId"), Name: p.Get("RouteEntryName"), Description: p.Get("Description"),
			NextHopList: len(hops), ClientToken: p.Get("ClientToken"),
		})
		if err != nil {
			return nil, err
		}
		return struct{ RouteEntryId string }{e.ID}, nil
	})
	rt.Handle(v, "DeleteRouteEntry", func(ctx context.Context, r *Request) (any, error) {
		p := r.Params
		return empty{}, svc.DeleteRouteEntry(ctx, r.Account.ID, service.DeleteRouteEntryInput{
			RouteEntryID: p.Get("RouteEntryId"), RouteTableID: p.Get("RouteTableId"),
			DestinationCidrBlock: p.Get("DestinationCidrBlock"), NextHopID: p.Get("NextHopId"),
		})
	})
}
