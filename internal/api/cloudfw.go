package api

import (
	"context"
	"strconv"
	"strings"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/service"
)

// Cloud Firewall actions (Cloudfw 2017-12-07), the Internet firewall's
// control plane; semantics and error codes in service/cloudfw.go. Response
// names are those of github.com/aliyun/alibaba-cloud-sdk-go/services/cloudfw;
// the lists are bare arrays ("Policys" (sic), "Acls", "Assets"), and
// DescribeControlPolicy and DescribeAddressBook answer TotalCount, PageNo
// and PageSize as strings, as the cloud does (DescribeAssetList's
// TotalCount is a number). The SDK's client is central (one endpoint for
// every region); it still sends RegionId, which must be this server's.
// SourceIp and Lang, sent with every action, are informational.
// DomainResolveType, which the V1 SDK sends with the NAT firewall's
// policies only, is read for every policy action (a domain destination's
// 1, DNS).

// Index ranges of the Cloudfw lists.
var (
	IndexApplicationNames = Indexes{1, 100}  // AddControlPolicy/ModifyControlPolicy ApplicationNameList.N
	IndexFwSwitchAddrs    = Indexes{1, 1000} // PutEnableFwSwitch/PutDisableFwSwitch IpaddrList.N
	IndexFwSwitchFilters  = Indexes{1, 100}  // RegionList.N, ResourceTypeList.N (refused)
	IndexAddressBookTags  = Indexes{1, 100}  // TagList.N (refused)
)

// Paging of the Cloudfw Describe actions: CurrentPage (from 1) and
// PageSize (1-100, default 10).
const (
	cfwDefaultPageSize = 10
	cfwMaxPageSize     = 100
)

// cfwPage reads CurrentPage and PageSize.
func cfwPage(p Params) (Page, error) {
	return cfwPageSized(p, cfwDefaultPageSize, cfwMaxPageSize)
}

// cfwPageSized reads CurrentPage and PageSize (1 to maxSize, defSize when
// absent).
func cfwPageSized(p Params, defSize, maxSize int) (Page, error) {
	var pg Page
	var err error
	if pg.Number, err = p.IntRange("CurrentPage", 1, 1, 1<<30); err != nil {
		return pg, err
	}
	if pg.Size, err = p.IntRange("PageSize", defSize, 1, maxSize); err != nil {
		return pg, err
	}
	return pg, nil
}

// cfwOpt reads an optional parameter: nil when absent or empty (the SDK
// never sends an empty value).
func cfwOpt(p Params, name string) *string {
	if v := p.Get(name); v != "" {
		return &v
	}
	return nil
}

// policyInput reads the rule parameters of AddControlPolicy and
// ModifyControlPolicy.
func policyInput(p Params) (service.PolicyInput, error) {
	in := service.PolicyInput{
		AclAction: cfwOpt(p, "AclAction"), Proto: cfwOpt(p, "Proto"),
		Source: cfwOpt(p, "Source"), SourceType: cfwOpt(p, "SourceType"),
		Destination: cfwOpt(p, "Destination"), DestinationType: cfwOpt(p, "DestinationType"),
		DestPort: cfwOpt(p, "DestPort"), DestPortType: cfwOpt(p, "DestPortType"), DestPortGroup: cfwOpt(p, "DestPortGroup"),
		Description: cfwOpt(p, "Description"), Release: cfwOpt(p, "Release"), IpVersion: cfwOpt(p, "IpVersion"),
		ApplicationName: cfwOpt(p, "ApplicationName"), DomainResolveType: cfwOpt(p, "DomainResolveType"),
	}
	var err error
	in.ApplicationNameList, err = p.ListIn("ApplicationNameList", IndexApplicationNames)
	return in, err
}

// cfwPolicyItem is a policy as DescribeControlPolicy shows it
// (cloudfw.DataItem).
type cfwPolicyItem struct {
	AclUuid               string
	Direction             string
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
	ApplicationId         string
	ApplicationName       string
	ApplicationNameList   []string
	Description           string
	Release               string
	IpVersion             int
	// HitTimes and HitLastTime: the new connections the policy decided,
	// as the agents count them in the kernel.
	HitTimes    int64
	HitLastTime int64
	CreateTime  int64 // Unix seconds
	ModifyTime  int64
	SpreadCnt   int
	MemberUid   string
	MessageType string
	// DnsResult (the addresses, comma-separated), DnsResultTime (when
	// they were found) and DnsFailedDomain (the domain, when its last
	// lookup failed) are for a domain destination.
	DnsResult       string
	DnsResultTime   int64
	DnsFailedDomain string
}

func toCfwPolicyItem(v service.FirewallPolicyView) cfwPolicyItem {
	p := v.FirewallPolicy
	it := cfwPolicyItem{
		AclUuid: p.ID, Direction: p.Direction, Order: p.Order, AclAction: p.Action,
		Source: p.Source, SourceType: p.SourceType, SourceGroupCidrs: v.SourceGroupCidrs,
		Destination: p.Destination, DestinationType: p.DestinationType, DestinationGroupCidrs: v.DestinationGroupCidrs,
		Proto: p.Proto, DestPort: p.DestPort, DestPortType: p.DestPortType, DestPortGroup: p.DestPortGroup,
		DestPortGroupPorts: v.DestPortGroupPorts, ApplicationName: service.FirewallApplicationAny,
		ApplicationNameList: []string{service.FirewallApplicationAny}, Description: p.Description,
		Release: strconv.FormatBool(p.Enabled), IpVersion: 4, CreateTime: p.CreatedAt.Unix(), ModifyTime: p.UpdatedAt.Unix(),
		SpreadCnt: 1, HitTimes: v.Hits.Hits,
	}
	if !v.Hits.LastHit.IsZero() {
		it.HitLastTime = v.Hits.LastHit.Unix()
	}
	if p.SourceType == model.FirewallGroup {
		it.SourceGroupType = model.AddressBookIP
	}
	if p.DestinationType == model.FirewallGroup {
		it.DestinationGroupType = model.AddressBookIP
	}
	if p.DestPortType == model.FirewallPort && p.DestPort == "" {
		it.DestPort = "0/0" // every port, as the cloud shows it
	}
	if p.UpdatedAt.IsZero() {
		it.ModifyTime = it.CreateTime
	}
	if r := v.Resolution; r != nil {
		as := make([]string, 0, len(r.Addrs))
		for _, a := range r.Addrs {
			as = append(as, a.String())
		}
		it.DnsResult = strings.Join(as, ",")
		if !r.ResolvedAt.IsZero() {
			it.DnsResultTime = r.ResolvedAt.Unix()
		}
		if r.Error != "" {
			it.DnsFailedDomain = r.Domain
		}
	}
	return it
}

// cfwPolicyPage is one page of policies as DescribeControlPolicy and
// DescribeVpcFirewallControlPolicy show them, and their total.
func cfwPolicyPage(all []service.FirewallPolicyView, pg Page) ([]cfwPolicyItem, int) {
	items, total, _ := Paginate(all, pg)
	out := make([]cfwPolicyItem, 0, len(items))
	for _, it := range items {
		out = append(out, toCfwPolicyItem(it))
	}
	return out, total
}

// cfwBookItem is an address book as DescribeAddressBook shows it
// (cloudfw.Acl).
type cfwBookItem struct {
	GroupUuid        string
	GroupName        string
	GroupType        string
	AddressType      string
	Description      string
	AddressList      []string
	AddressListCount int
	ReferenceCount   int
	AutoAddTagEcs    int
	TagRelation      string
	Global           int
	TagList          []struct{}
}

func toCfwBookItem(v service.AddressBookView) cfwBookItem {
	it := cfwBookItem{
		GroupUuid: v.ID, GroupName: v.Name, GroupType: v.Type, Description: v.Description,
		AddressList: append([]string{}, v.Addresses...), AddressListCount: len(v.Addresses), ReferenceCount: v.References,
		TagList: []struct{}{},
	}
	if v.Type == model.AddressBookIP {
		it.AddressType = "ipv4"
	}
	return it
}

// cfwAssetItem is an EIP as DescribeAssetList shows it (cloudfw.Resource).
type cfwAssetItem struct {
	InternetAddress    string
	IntranetAddress    string
	ResourceInstanceId string
	ResourceType       string
	Type               string
	Name               string
	Note               string
	BindInstanceId     string
	BindInstanceName   string
	ProtectStatus      string
	RegionID           string
	RegionStatus       string
	IpVersion          int
	AliUid             int64
	MemberUid          int64
	CreateTimeStamp    string
	SyncStatus         string
	RiskLevel          string
	SgStatus           string
	SgStatusTime       int64
	NewResourceTag     string
}

func toCfwAssetItem(a service.FirewallAsset, region string) cfwAssetItem {
	uid, _ := strconv.ParseInt(a.AccountID, 10, 64)
	it := cfwAssetItem{
		InternetAddress: a.Address.String(), ResourceInstanceId: a.ID, ResourceType: service.FirewallAssetResourceType(a.EIP),
		Type: service.FirewallAssetResourceType(a.EIP), Name: a.Name, Note: a.Description, BindInstanceId: a.InstanceID,
		BindInstanceName: a.InstanceName, ProtectStatus: service.FirewallProtectOpen, RegionID: region, RegionStatus: "enable",
		IpVersion: 4, AliUid: uid, MemberUid: uid, CreateTimeStamp: strconv.FormatInt(a.CreatedAt.Unix(), 10), SyncStatus: "enable",
	}
	if a.PrivateIP.IsValid() {
		it.IntranetAddress = a.PrivateIP.String()
	}
	if !a.Protected {
		it.ProtectStatus = service.FirewallProtectClosed
	}
	return it
}

// refuseSwitchFilters refuses RegionList.N and ResourceTypeList.N of the
// per-EIP switch: the addresses are named in IpaddrList.N.
func refuseSwitchFilters(p Params) error {
	for _, name := range []string{"RegionList", "ResourceTypeList"} {
		vs, err := p.ListIn(name, IndexFwSwitchFilters)
		if err != nil {
			return err
		}
		if len(vs) > 0 {
			return errs.InvalidParam("OperationUnsupported."+name,
				"%s is not supported: name the EIPs in IpaddrList.N, or switch every EIP of your account with PutEnableAllFwSwitch / PutDisableAllFwSwitch.", name)
		}
	}
	return nil
}

// refuseAssetFilters refuses the DescribeAssetList filters Palisade has
// no data for.
func refuseAssetFilters(p Params) error {
	for _, name := range []string{"SgStatus", "NewResourceTag", "UserType"} {
		if v := p.Get(name); v != "" {
			return errs.InvalidParam("OperationUnsupported."+name,
				"%s is not supported: Palisade has no such data about assets; filter with Status, ResourceType, SearchItem or RegionNo.", name)
		}
	}
	if v := p.Get("MemberUid"); v != "" && v != "0" {
		return errs.InvalidParam("OperationUnsupported.MemberUid",
			"MemberUid is not supported: Palisade has no multi-account management; each account sees its own assets.")
	}
	return nil
}

// RegisterCloudfw registers the Cloud Firewall (Internet firewall) actions,
// and DescribeFirewallLogs, the traffic logs of every firewall (Palisade's
// own version: cfwlog.go).
func RegisterCloudfw(rt *Router, svc *service.Service) {
	registerFirewallLogs(rt, svc)
	v := VersionCloudfw

	// Policies.
	rt.Handle(v, "AddControlPolicy", func(ctx context.Context, r *Request) (any, error) {
		in, err := policyInput(r.Params)
		if err != nil {
			return nil, err
		}
		pol, err := svc.AddControlPolicy(ctx, r.Account.ID, service.AddControlPolicyInput{
			Direction: r.Params.Get("Direction"), NewOrder: r.Params.Get("NewOrder"), PolicyInput: in,
		})
		if err != nil {
			return nil, err
		}
		return struct{ AclUuid string }{pol.ID}, nil
	})
	rt.Handle(v, "ModifyControlPolicy", func(ctx context.Context, r *Request) (any, error) {
		in, err := policyInput(r.Params)
		if err != nil {
			return nil, err
		}
		return empty{}, svc.ModifyControlPolicy(ctx, r.Account.ID, r.Params.Get("AclUuid"), r.Params.Get("Direction"), in)
	})
	rt.Handle(v, "DeleteControlPolicy", func(ctx context.Context, r *Request) (any, error) {
		return empty{}, svc.DeleteControlPolicy(ctx, r.Account.ID, r.Params.Get("AclUuid"), r.Params.Get("Direction"))
	})
	rt.Handle(v, "ModifyControlPolicyPosition", func(ctx context.Context, r *Request) (any, error) {
		p := r.Params
		return empty{}, svc.ModifyControlPolicyPosition(ctx, r.Account.ID, service.MovePolicyInput{
			Direction: p.Get("Direction"), AclUuid: p.Get("AclUuid"), OldOrder: p.Get("OldOrder"), NewOrder: p.Get("NewOrder"),
		})
	})
	rt.Handle(v, "DescribePolicyPriorUsed", func(ctx context.Context, r *Request) (any, error) {
		if err := service.CheckFirewallIPVersion(r.Params.Get("IpVersion")); err != nil {
			return nil, err
		}
		start, end, err := svc.PolicyPriorUsed(ctx, r.Account.ID, r.Params.Get("Direction"))
		if err != nil {
			return nil, err
		}
		return struct{ Start, End int }{start, end}, nil
	})
	rt.Handle(v, "DescribeControlPolicy", func(ctx context.Context, r *Request) (any, error) {
		p := r.Params
		pg, err := cfwPage(p)
		if err != nil {
			return nil, err
		}
		all, err := svc.DescribeControlPolicy(ctx, r.Account.ID, service.ControlPolicyQuery{
			Direction: p.Get("Direction"), AclUuid: p.Get("AclUuid"), AclAction: p.Get("AclAction"), Proto: p.Get("Proto"),
			Release: p.Get("Release"), IpVersion: p.Get("IpVersion"),
			Source: p.Get("Source"), Destination: p.Get("Destination"), Description: p.Get("Description"),
		})
		if err != nil {
			return nil, err
		}
		out, total := cfwPolicyPage(all, pg)
		return struct {
			PageNo, PageSize, TotalCount string
			Policys                      []cfwPolicyItem
		}{strconv.Itoa(pg.Number), strconv.Itoa(pg.Size), strconv.Itoa(total), out}, nil
	})

	// Address books.
	bookInput := func(p Params) (service.AddressBookInput, error) {
		tags, err := p.StructsIn("TagList", IndexAddressBookTags)
		if err != nil {
			return service.AddressBookInput{}, err
		}
		return service.AddressBookInput{
			Name: cfwOpt(p, "GroupName"), Type: cfwOpt(p, "GroupType"), Description: cfwOpt(p, "Description"),
			AddressList: cfwOpt(p, "AddressList"), TagCount: len(tags), TagRelation: p.Get("TagRelation"), AutoAddTagEcs: p.Get("AutoAddTagEcs"),
		}, nil
	}
	rt.Handle(v, "AddAddressBook", func(ctx context.Context, r *Request) (any, error) {
		in, err := bookInput(r.Params)
		if err != nil {
			return nil, err
		}
		b, err := svc.AddAddressBook(ctx, r.Account.ID, in)
		if err != nil {
			return nil, err
		}
		return struct{ GroupUuid string }{b.ID}, nil
	})
	rt.Handle(v, "ModifyAddressBook", func(ctx context.Context, r *Request) (any, error) {
		in, err := bookInput(r.Params)
		if err != nil {
			return nil, err
		}
		return empty{}, svc.ModifyAddressBook(ctx, r.Account.ID, r.Params.Get("GroupUuid"), in)
	})
	rt.Handle(v, "DeleteAddressBook", func(ctx context.Context, r *Request) (any, error) {
		return empty{}, svc.DeleteAddressBook(ctx, r.Account.ID, r.Params.Get("GroupUuid"))
	})
	rt.Handle(v, "DescribeAddressBook", func(ctx context.Context, r *Request) (any, error) {
		p := r.Params
		pg, err := cfwPage(p)
		if err != nil {
			return nil, err
		}
		all, err := svc.DescribeAddressBook(ctx, r.Account.ID, service.AddressBookQuery{
			GroupType: p.Get("GroupType"), Query: p.Get("Query"), ContainPort: p.Get("ContainPort"),
		})
		if err != nil {
			return nil, err
		}
		items, total, _ := Paginate(all, pg)
		out := make([]cfwBookItem, 0, len(items))
		for _, it := range items {
			out = append(out, toCfwBookItem(it))
		}
		return struct {
			PageNo, PageSize, TotalCount string
			Acls                         []cfwBookItem
		}{strconv.Itoa(pg.Number), strconv.Itoa(pg.Size), strconv.Itoa(total), out}, nil
	})

	// The switch.
	fwSwitch := func(on bool) Handler {
		return func(ctx context.Context, r *Request) (any, error) {
			if err := refuseSwitchFilters(r.Params); err != nil {
				return nil, err
			}
			items, err := r.Params.ListItemsIn("IpaddrList", IndexFwSwitchAddrs)
			if err != nil {
				return nil, err
			}
			addrs := make([]service.FirewallSwitchAddr, 0, len(items))
			for _, it := range items {
				addrs = append(addrs, service.FirewallSwitchAddr{Param: it.Param, Value: it.Value})
			}
			if err := svc.PutFirewallSwitch(ctx, r.Account.ID, addrs, on); err != nil {
				return nil, err
			}
			if on {
				return struct{ AbnormalResourceStatusList []struct{} }{[]struct{}{}}, nil
			}
			return empty{}, nil
		}
	}
	rt.Handle(v, "PutEnableFwSwitch", fwSwitch(true))
	rt.Handle(v, "PutDisableFwSwitch", fwSwitch(false))
	// InstanceId (the cloud's firewall instance) names the account's one
	// Internet firewall, whatever its value.
	rt.Handle(v, "PutEnableAllFwSwitch", func(ctx context.Context, r *Request) (any, error) {
		return empty{}, svc.PutAllFirewallSwitch(ctx, r.Account.ID, true)
	})
	rt.Handle(v, "PutDisableAllFwSwitch", func(ctx context.Context, r *Request) (any, error) {
		return empty{}, svc.PutAllFirewallSwitch(ctx, r.Account.ID, false)
	})
	rt.Handle(v, "DescribeAssetList", func(ctx context.Context, r *Request) (any, error) {
		p := r.Params
		pg, err := cfwPage(p)
		if err != nil {
			return nil, err
		}
		if err := refuseAssetFilters(p); err != nil {
			return nil, err
		}
		all, err := svc.DescribeFirewallAssets(ctx, r.Account.ID, service.AssetQuery{
			Status: p.Get("Status"), ResourceType: p.Get("ResourceType"), Type: p.Get("Type"), SearchItem: p.Get("SearchItem"),
			RegionNo: p.Get("RegionNo"), IpVersion: p.Get("IpVersion"),
		})
		if err != nil {
			return nil, err
		}
		items, total, _ := Paginate(all, pg)
		out := make([]cfwAssetItem, 0, len(items))
		for _, a := range items {
			out = append(out, toCfwAssetItem(a, svc.Region()))
		}
		return struct {
			TotalCount int
			Assets     []cfwAssetItem
		}{total, out}, nil
	})
}
