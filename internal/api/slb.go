package api

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/service"
)

// Server Load Balancer actions (Slb 2014-05-15: the classic load balancer,
// internal-facing, TCP and UDP listeners); semantics and error codes in
// service/slb.go (access control lists: service/slbacl.go, actions in
// slbacl.go). Response names are those of
// github.com/alibabacloud-go/slb-20140515/v4: the classic wrapped lists
// ("LoadBalancers":{"LoadBalancer":[...]},
// "BackendServers":{"BackendServer":[...]}), except
// DescribeLoadBalancerListeners' bare "Listeners":[...].

// Paging of the SLB lists: DescribeLoadBalancers takes PageNumber and
// PageSize (1-100, default 10); DescribeLoadBalancerListeners NextToken
// and MaxResults (1-100, default 20).
var (
	PageLoadBalancerListeners = PageLimits{Scope: "DescribeLoadBalancerListeners", DefaultResults: 20, MinResults: 1, MaxResults: 100}
	IndexLoadBalancerIDs      = Indexes{1, 20} // DescribeLoadBalancerListeners LoadBalancerId.N
)

// lbTags is the SLB tag list ({"Tag":[{"TagKey","TagValue"}]}).
type lbTag struct{ TagKey, TagValue string }

type lbTags struct{ Tag []lbTag }

func toLBTags(ts []model.Tag) lbTags {
	out := lbTags{Tag: make([]lbTag, 0, len(ts))}
	for _, t := range ts {
		out.Tag = append(out.Tag, lbTag{t.Key, t.Value})
	}
	return out
}

func addrString(a interface {
	IsValid() bool
	String() string
}) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// lbItem is a load balancer as DescribeLoadBalancers lists it.
type lbItem struct {
	LoadBalancerId               string
	LoadBalancerName             string
	LoadBalancerStatus           string
	Address                      string
	AddressType                  string
	AddressIPVersion             string
	NetworkType                  string
	VpcId                        string
	VSwitchId                    string
	RegionId                     string
	RegionIdAlias                string
	MasterZoneId                 string
	SlaveZoneId                  string
	CreateTime                   string
	CreateTimeStamp              int64
	DeleteProtection             string
	PayType                      string
	InternetChargeType           string
	InternetChargeTypeAlias      string
	InstanceChargeType           string
	LoadBalancerSpec             string
	ModificationProtectionStatus string
	ModificationProtectionReason string
	ResourceGroupId              string
	Bandwidth                    int
	Tags                         lbTags
}

func toLBItem(lb model.LoadBalancer) lbItem {
	return lbItem{
		LoadBalancerId: lb.ID, LoadBalancerName: lb.Name, LoadBalancerStatus: lb.Status, Address: addrString(lb.Address),
		AddressType: lb.AddressType, AddressIPVersion: service.LBAddressIPv4, NetworkType: service.LBNetworkVPC,
		VpcId: lb.VpcID, VSwitchId: lb.VSwitchID, RegionId: lb.RegionID, MasterZoneId: lb.ZoneID,
		CreateTime: formatTime(lb.CreatedAt), CreateTimeStamp: lb.CreatedAt.UnixMilli(), DeleteProtection: service.OnOff(lb.DeleteProtection),
		PayType: service.LBPayOnDemand, InternetChargeType: "paybytraffic", InternetChargeTypeAlias: "paybytraffic",
		InstanceChargeType: "PayByCLCU", ModificationProtectionStatus: "NonProtection", ResourceGroupId: lb.ResourceGroupID,
		Tags: toLBTags(lb.Tags),
	}
}

type lbBackendItem struct {
	ServerId    string
	Weight      int
	Type        string
	Description string
	ServerIp    string `json:",omitempty"`
}

// lbBackendWeightString is a backend server as AddBackendServers and
// SetBackendServers answer it (Weight is a string there).
type lbBackendWeightString struct {
	ServerId    string
	Weight      string
	Type        string
	Description string
}

// lbAttribute is DescribeLoadBalancerAttribute's answer.
type lbAttribute struct {
	lbItem
	ListenerPorts struct{ ListenerPort []int }
	// Both spellings of the SDK: ListenerPortsAndProtocal (sic) with
	// ListenerProtocal, and ListenerPortsAndProtocol.
	ListenerPortsAndProtocal struct {
		ListenerPortAndProtocal []struct {
			ListenerPort     int
			ListenerProtocal string
		}
	}
	ListenerPortsAndProtocol struct {
		ListenerPortAndProtocol []struct {
			ListenerPort     int
			ListenerProtocol string
			Description      string
		}
	}
	BackendServers struct{ BackendServer []lbBackendItem }
}

func toLBAttribute(lb model.LoadBalancer, ips map[string]string) lbAttribute {
	out := lbAttribute{lbItem: toLBItem(lb)}
	out.ListenerPorts.ListenerPort = []int{}
	out.ListenerPortsAndProtocal.ListenerPortAndProtocal = []struct {
		ListenerPort     int
		ListenerProtocal string
	}{}
	out.ListenerPortsAndProtocol.ListenerPortAndProtocol = []struct {
		ListenerPort     int
		ListenerProtocol string
		Description      string
	}{}
	for _, l := range lb.Listeners {
		if !slices.Contains(out.ListenerPorts.ListenerPort, l.Port) {
			out.ListenerPorts.ListenerPort = append(out.ListenerPorts.ListenerPort, l.Port)
		}
		out.ListenerPortsAndProtocal.ListenerPortAndProtocal = append(out.ListenerPortsAndProtocal.ListenerPortAndProtocal, struct {
			ListenerPort     int
			ListenerProtocal string
		}{l.Port, l.Protocol})
		out.ListenerPortsAndProtocol.ListenerPortAndProtocol = append(out.ListenerPortsAndProtocol.ListenerPortAndProtocol, struct {
			ListenerPort     int
			ListenerProtocol string
			Description      string
		}{l.Port, l.Protocol, l.Description})
	}
	out.BackendServers.BackendServer = make([]lbBackendItem, 0, len(lb.Backends))
	for _, b := range lb.Backends {
		out.BackendServers.BackendServer = append(out.BackendServers.BackendServer,
			lbBackendItem{ServerId: b.ServerID, Weight: b.Weight, Type: b.Type, Description: b.Description, ServerIp: ips[b.ServerID]})
	}
	return out
}

// backendsAnswer is the answer of Add/Remove/SetBackendServers: the load
// balancer's servers after the change.
func backendsAnswer(lb model.LoadBalancer, weightString bool) any {
	if weightString {
		list := make([]lbBackendWeightString, 0, len(lb.Backends))
		for _, b := range lb.Backends {
			list = append(list, lbBackendWeightString{b.ServerID, strconv.Itoa(b.Weight), b.Type, b.Description})
		}
		return struct {
			LoadBalancerId string
			BackendServers struct{ BackendServer []lbBackendWeightString }
		}{lb.ID, struct{ BackendServer []lbBackendWeightString }{list}}
	}
	list := make([]lbBackendItem, 0, len(lb.Backends))
	for _, b := range lb.Backends {
		list = append(list, lbBackendItem{ServerId: b.ServerID, Weight: b.Weight, Type: b.Type, Description: b.Description})
	}
	return struct {
		LoadBalancerId string
		BackendServers struct{ BackendServer []lbBackendItem }
	}{lb.ID, struct{ BackendServer []lbBackendItem }{list}}
}

// DecodeBackendServers reads a BackendServers parameter: a JSON array of
// {"ServerId","Weight","Type","Description"} (Weight a number or a
// string, as the SDKs and the cloud's examples send it; ServerIp is
// taken and ignored, as the cloud does for instances). Other fields are
// refused.
func DecodeBackendServers(v string) ([]service.BackendServerSpec, error) {
	if strings.TrimSpace(v) == "" {
		return nil, errs.MissingParameter("BackendServers")
	}
	var raw []map[string]json.RawMessage
	if err := json.Unmarshal([]byte(v), &raw); err != nil {
		return nil, errs.InvalidParameter("BackendServers", "expected a JSON array such as [{\"ServerId\":\"i-...\",\"Weight\":\"100\",\"Type\":\"ecs\"}]: %v", err)
	}
	out := make([]service.BackendServerSpec, 0, len(raw))
	for i, m := range raw {
		if m == nil {
			return nil, errs.InvalidParameter("BackendServers", "element %d is not an object", i)
		}
		var b service.BackendServerSpec
		for k, val := range m {
			var err error
			switch k {
			case "ServerId":
				err = json.Unmarshal(val, &b.ServerID)
			case "Type":
				err = json.Unmarshal(val, &b.Type)
			case "Description":
				var d string
				if err = json.Unmarshal(val, &d); err == nil {
					b.Description = &d
				}
			case "Weight":
				var w int
				if w, err = jsonInt(val); err == nil {
					b.Weight = &w
				}
			case "Port":
				var port int
				if port, err = jsonInt(val); err == nil {
					b.Port = strconv.Itoa(port)
				}
			case "ServerIp":
				var ip string
				err = json.Unmarshal(val, &ip)
			default:
				return nil, errs.InvalidParameter("BackendServers", "element %d: unknown field %q; a backend server has ServerId, Weight, Type and Description", i, k)
			}
			if err != nil {
				return nil, errs.InvalidParameter("BackendServers", "element %d: field %s: %v", i, k, err)
			}
		}
		out = append(out, b)
	}
	return out, nil
}

// jsonInt reads a JSON number or a string holding an integer.
func jsonInt(v json.RawMessage) (int, error) {
	v = bytes.TrimSpace(v)
	var s string
	if len(v) > 0 && v[0] == '"' {
		if err := json.Unmarshal(v, &s); err != nil {
			return 0, err
		}
	} else {
		s = string(v)
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, errs.InvalidParameter("BackendServers", "%s is not an integer", v)
	}
	return n, nil
}

// listenerPort reads the required ListenerPort.
func listenerPort(p Params) (int, error) {
	if _, err := p.Required("ListenerPort"); err != nil {
		return 0, err
	}
	return p.Int("ListenerPort", 0)
}

// firstOf returns the first of names that was sent non-empty ("" when
// none).
func firstOf(p Params, names ...string) string {
	for _, n := range names {
		if v := p.Get(n); v != "" {
			return v
		}
	}
	return ""
}

// optionalIntOf is optionalInt of the first of names that was sent.
func optionalIntOf(p Params, names ...string) (*int, error) {
	for _, n := range names {
		if p.Get(n) != "" {
			return optionalInt(p, n)
		}
	}
	return nil, nil
}

// sent is a parameter sent non-empty (nil otherwise).
func sent(p Params, name string) *string {
	if v := p.Get(name); v != "" {
		return &v
	}
	return nil
}

// listenerSpec reads the parameters of Create/SetLoadBalancer{TCP,UDP}
// Listener(Attribute).
func listenerSpec(p Params, protocol string, create bool) (service.ListenerSpec, error) {
	x := service.ListenerSpec{Protocol: protocol, Scheduler: optional(p, "Scheduler"), Description: optional(p, "Description")}
	if x.Scheduler != nil && *x.Scheduler == "" {
		x.Scheduler = nil
	}
	var err error
	if x.Port, err = listenerPort(p); err != nil {
		return x, err
	}
	if create {
		if x.BackendPort, err = optionalInt(p, "BackendServerPort"); err != nil {
			return x, err
		}
	} else if p.Get("BackendServerPort") != "" {
		x.BackendPort = new(int)
	}
	if hc := firstOf(p, "HealthCheckSwitch", "HealthCheck"); hc != "" {
		x.HealthCheck = &hc
	}
	x.AclStatus, x.AclType, x.AclID = sent(p, "AclStatus"), sent(p, "AclType"), sent(p, "AclId")
	for _, f := range []struct {
		dst   **int
		names []string
	}{
		{&x.Bandwidth, []string{"Bandwidth"}},
		{&x.HealthCheckConnectPort, []string{"HealthCheckConnectPort"}},
		{&x.HealthyThreshold, []string{"HealthyThreshold"}},
		{&x.UnhealthyThreshold, []string{"UnhealthyThreshold"}},
		// Create sends healthCheckInterval, Set HealthCheckInterval.
		{&x.HealthCheckInterval, []string{"healthCheckInterval", "HealthCheckInterval"}},
		{&x.HealthCheckConnectTimeout, []string{"HealthCheckConnectTimeout"}},
	} {
		if *f.dst, err = optionalIntOf(p, f.names...); err != nil {
			return x, err
		}
	}
	st := service.ListenerSettings{
		VServerGroupID: p.Get("VServerGroupId"), VServerGroup: p.Get("VServerGroup"),
		MasterSlaveServerGroupID: p.Get("MasterSlaveServerGroupId"), MasterSlaveServerGroup: p.Get("MasterSlaveServerGroup"),
		ConnectionDrain: p.Get("ConnectionDrain"), HealthCheckType: p.Get("HealthCheckType"),
		HealthCheckURI: p.Get("HealthCheckURI"), HealthCheckDomain: p.Get("HealthCheckDomain"),
		HealthCheckReq: firstOf(p, "healthCheckReq", "HealthCheckReq"), HealthCheckExp: firstOf(p, "healthCheckExp", "HealthCheckExp"),
		SynProxy: p.Get("SynProxy"),
	}
	if st.PersistenceTimeout, err = optionalInt(p, "PersistenceTimeout"); err != nil {
		return x, err
	}
	if st.EstablishedTimeout, err = optionalInt(p, "EstablishedTimeout"); err != nil {
		return x, err
	}
	if st.ProxyProtocolV2, err = p.Bool("ProxyProtocolV2Enabled", false); err != nil {
		return x, err
	}
	tags, err := p.Tags("Tag")
	if err != nil {
		return x, err
	}
	st.Tagged = len(tags) > 0
	x.Settings = st
	return x, nil
}

// tcpListenerAttribute is DescribeLoadBalancerTCPListenerAttribute's
// answer (and, with the TCP-only fields left out, the UDP one's).
type tcpListenerAttribute struct {
	LoadBalancerId            string
	ListenerPort              int
	BackendServerPort         int
	Bandwidth                 int
	Status                    string
	Scheduler                 string
	Description               string
	HealthCheck               string
	HealthCheckConnectPort    *int `json:",omitempty"`
	HealthCheckConnectTimeout int
	HealthCheckInterval       int
	HealthyThreshold          int
	UnhealthyThreshold        int
	AclStatus                 string
	AclType                   string    `json:",omitempty"`
	AclId                     string    `json:",omitempty"`
	AclIds                    *lbACLIDs `json:",omitempty"`
	PersistenceTimeout        int
	ProxyProtocolV2Enabled    bool
	VServerGroupId            string
	Tags                      lbTags
	// TCP only.
	HealthCheckType    string `json:",omitempty"`
	EstablishedTimeout int    `json:",omitempty"`
	ConnectionDrain    string `json:",omitempty"`
	SynProxy           string `json:",omitempty"`
}

func connectPort(l model.LBListener) *int {
	if l.HealthCheck.ConnectPort == 0 {
		return nil
	}
	p := l.HealthCheck.ConnectPort
	return &p
}

func toListenerAttribute(lbID string, l model.LBListener) tcpListenerAttribute {
	out := tcpListenerAttribute{
		LoadBalancerId: lbID, ListenerPort: l.Port, BackendServerPort: l.BackendPort, Bandwidth: l.Bandwidth, Status: l.Status,
		Scheduler: l.Scheduler, Description: l.Description, HealthCheck: service.OnOff(l.HealthCheck.Enabled),
		HealthCheckConnectPort: connectPort(l), HealthCheckConnectTimeout: l.HealthCheck.ConnectTimeout,
		HealthCheckInterval: l.HealthCheck.Interval, HealthyThreshold: l.HealthCheck.HealthyThreshold,
		UnhealthyThreshold: l.HealthCheck.UnhealthyThreshold, Tags: toLBTags(nil),
	}
	out.AclStatus, out.AclType, out.AclId, out.AclIds = listenerACL(l)
	if l.Protocol == model.LBProtocolTCP {
		out.HealthCheckType, out.EstablishedTimeout, out.ConnectionDrain, out.SynProxy = service.LBHealthCheckTCP, 900, "off", "disable"
	}
	return out
}

// lbListenerItem is a listener as DescribeLoadBalancerListeners lists it.
type lbListenerItem struct {
	LoadBalancerId    string
	ListenerProtocol  string
	ListenerPort      int
	BackendServerPort int
	Bandwidth         int
	Status            string
	Scheduler         string
	Description       string
	AclStatus         string
	AclType           string    `json:",omitempty"`
	AclId             string    `json:",omitempty"`
	AclIds            *lbACLIDs `json:",omitempty"`
	VServerGroupId    string
	Tags              []lbTag
	TCPListenerConfig *lbL4Config `json:",omitempty"`
	UDPListenerConfig *lbL4Config `json:",omitempty"`
}

type lbL4Config struct {
	HealthCheck               string
	HealthCheckConnectPort    *int `json:",omitempty"`
	HealthCheckConnectTimeout int
	HealthCheckInterval       int
	HealthyThreshold          int
	UnhealthyThreshold        int
	ConnectionDrain           string
	ProxyProtocolV2Enabled    string
	// TCP only.
	HealthCheckType    string `json:",omitempty"`
	EstablishedTimeout int    `json:",omitempty"`
	PersistenceTimeout *int   `json:",omitempty"`
}

func toLBListenerItem(v service.ListenerView) lbListenerItem {
	l := v.LBListener
	cfg := &lbL4Config{
		HealthCheck: service.OnOff(l.HealthCheck.Enabled), HealthCheckConnectPort: connectPort(l),
		HealthCheckConnectTimeout: l.HealthCheck.ConnectTimeout, HealthCheckInterval: l.HealthCheck.Interval,
		HealthyThreshold: l.HealthCheck.HealthyThreshold, UnhealthyThreshold: l.HealthCheck.UnhealthyThreshold,
		ConnectionDrain: "off", ProxyProtocolV2Enabled: "false",
	}
	it := lbListenerItem{
		LoadBalancerId: v.LoadBalancerID, ListenerProtocol: l.Protocol, ListenerPort: l.Port, BackendServerPort: l.BackendPort,
		Bandwidth: l.Bandwidth, Status: l.Status, Scheduler: l.Scheduler, Description: l.Description, Tags: []lbTag{},
	}
	it.AclStatus, it.AclType, it.AclId, it.AclIds = listenerACL(l)
	if l.Protocol == model.LBProtocolTCP {
		cfg.HealthCheckType, cfg.EstablishedTimeout, cfg.PersistenceTimeout = service.LBHealthCheckTCP, 900, new(int)
		it.TCPListenerConfig = cfg
	} else {
		it.UDPListenerConfig = cfg
	}
	return it
}

// listenerKey orders DescribeLoadBalancerListeners' items for its
// NextTokens: the load balancer's creation, then its ID, port and
// protocol.
func listenerKey(v service.ListenerView) (time.Time, string) {
	return v.CreatedAt, v.LoadBalancerID + "/" + strings.Repeat("0", 5-len(strconv.Itoa(v.Port))) + strconv.Itoa(v.Port) + "/" + v.Protocol
}

// slbTags reads the tags of an SLB request: Tag.N as every product has
// them, and the older Tags parameter (describeTags).
func slbTags(p Params) ([]model.Tag, error) {
	tags, err := p.Tags("Tag")
	if err != nil {
		return nil, err
	}
	more, err := describeTags(p)
	return append(tags, more...), err
}

// describeTags reads DescribeLoadBalancers' Tags parameter: a JSON array
// [{"TagKey":"k","TagValue":"v"}].
func describeTags(p Params) ([]model.Tag, error) {
	v := strings.TrimSpace(p.Get("Tags"))
	if v == "" {
		return nil, nil
	}
	var list []struct{ TagKey, TagValue string }
	if err := json.Unmarshal([]byte(v), &list); err != nil {
		var one struct{ TagKey, TagValue string }
		if err := json.Unmarshal([]byte(v), &one); err != nil {
			return nil, errs.InvalidParameter("Tags", "expected a JSON array such as [{\"TagKey\":\"env\",\"TagValue\":\"prod\"}]")
		}
		list = append(list, one)
	}
	out := make([]model.Tag, 0, len(list))
	for _, t := range list {
		if t.TagKey == "" {
			return nil, errs.InvalidParameter("Tags", "a tag without TagKey")
		}
		out = append(out, model.Tag{Key: t.TagKey, Value: t.TagValue})
	}
	return out, nil
}

// RegisterSLB registers the Server Load Balancer actions.
func RegisterSLB(rt *Router, svc *service.Service) {
	v := VersionSLB

	rt.Handle(v, "CreateLoadBalancer", func(ctx context.Context, r *Request) (any, error) {
		p := r.Params
		in := service.CreateLoadBalancerInput{
			AddressType: p.Get("AddressType"), AddressIPVersion: p.Get("AddressIPVersion"), VSwitchID: p.Get("VSwitchId"),
			VpcID: p.Get("VpcId"), Address: p.Get("Address"), Name: p.Get("LoadBalancerName"), Spec: p.Get("LoadBalancerSpec"),
			MasterZoneID: p.Get("MasterZoneId"), SlaveZoneID: p.Get("SlaveZoneId"), PayType: p.Get("PayType"),
			DeleteProtection: p.Get("DeleteProtection"), ModificationProtection: p.Get("ModificationProtectionStatus"),
			ResourceGroupID: p.Get("ResourceGroupId"), ClientToken: p.Get("ClientToken"),
		}
		if _, err := p.Int("Bandwidth", 0); err != nil {
			return nil, err
		}
		var err error
		if in.Tags, err = p.Tags("Tag"); err != nil {
			return nil, err
		}
		lb, err := svc.CreateLoadBalancer(ctx, r.Account.ID, in)
		if err != nil {
			return nil, err
		}
		return struct {
			LoadBalancerId, LoadBalancerName, Address, AddressIPVersion string
			VpcId, VSwitchId, NetworkType, ResourceGroupId              string
		}{lb.ID, lb.Name, addrString(lb.Address), service.LBAddressIPv4, lb.VpcID, lb.VSwitchID, service.LBNetworkVPC, lb.ResourceGroupID}, nil
	})
	rt.Handle(v, "DeleteLoadBalancer", func(ctx context.Context, r *Request) (any, error) {
		return empty{}, svc.DeleteLoadBalancer(ctx, r.Account.ID, r.Params.Get("LoadBalancerId"))
	})
	rt.Handle(v, "DescribeLoadBalancers", func(ctx context.Context, r *Request) (any, error) {
		p := r.Params
		pg, err := p.PageOnly(10, 100)
		if err != nil {
			return nil, err
		}
		q := service.LoadBalancerQuery{
			IDs: CommaList(p.Get("LoadBalancerId")), Name: p.Get("LoadBalancerName"), VpcID: p.Get("VpcId"), VSwitchID: p.Get("VSwitchId"),
			Address: p.Get("Address"), AddressType: p.Get("AddressType"), NetworkType: p.Get("NetworkType"),
			Status: p.Get("LoadBalancerStatus"), AddressIPVersion: p.Get("AddressIPVersion"), PayType: p.Get("PayType"),
			ChargeType: p.Get("InternetChargeType"), MasterZoneID: p.Get("MasterZoneId"), SlaveZoneID: p.Get("SlaveZoneId"),
			ResourceGroupID: p.Get("ResourceGroupId"), ServerID: p.Get("ServerId"), ServerAddress: p.Get("ServerIntranetAddress"),
		}
		if q.Tags, err = slbTags(p); err != nil {
			return nil, err
		}
		all, err := svc.DescribeLoadBalancers(ctx, r.Account.ID, q)
		if err != nil {
			return nil, err
		}
		items, total, _ := Paginate(all, pg)
		out := make([]lbItem, 0, len(items))
		for _, lb := range items {
			out = append(out, toLBItem(lb))
		}
		return struct {
			PageNumber, PageSize, TotalCount int
			LoadBalancers                    struct{ LoadBalancer []lbItem }
		}{pg.Number, pg.Size, total, struct{ LoadBalancer []lbItem }{out}}, nil
	})
	rt.Handle(v, "DescribeLoadBalancerAttribute", func(ctx context.Context, r *Request) (any, error) {
		lb, err := svc.GetLoadBalancer(ctx, r.Account.ID, r.Params.Get("LoadBalancerId"))
		if err != nil {
			return nil, err
		}
		addrs, err := svc.BackendAddrs(ctx, lb)
		if err != nil {
			return nil, err
		}
		ips := map[string]string{}
		for id, a := range addrs {
			ips[id] = addrString(a)
		}
		return toLBAttribute(lb, ips), nil
	})
	rt.Handle(v, "SetLoadBalancerName", func(ctx context.Context, r *Request) (any, error) {
		return empty{}, svc.SetLoadBalancerName(ctx, r.Account.ID, r.Params.Get("LoadBalancerId"), r.Params.Get("LoadBalancerName"))
	})
	rt.Handle(v, "SetLoadBalancerStatus", func(ctx context.Context, r *Request) (any, error) {
		return empty{}, svc.SetLoadBalancerStatus(ctx, r.Account.ID, r.Params.Get("LoadBalancerId"), r.Params.Get("LoadBalancerStatus"))
	})
	rt.Handle(v, "SetLoadBalancerDeleteProtection", func(ctx context.Context, r *Request) (any, error) {
		return empty{}, svc.SetLoadBalancerDeleteProtection(ctx, r.Account.ID, r.Params.Get("LoadBalancerId"), r.Params.Get("DeleteProtection"))
	})

	// Listeners.
	for _, proto := range []string{model.LBProtocolTCP, model.LBProtocolUDP} {
		name := strings.ToUpper(proto)
		rt.Handle(v, "CreateLoadBalancer"+name+"Listener", func(ctx context.Context, r *Request) (any, error) {
			x, err := listenerSpec(r.Params, proto, true)
			if err != nil {
				return nil, err
			}
			return empty{}, svc.CreateListener(ctx, r.Account.ID, r.Params.Get("LoadBalancerId"), x)
		})
		rt.Handle(v, "SetLoadBalancer"+name+"ListenerAttribute", func(ctx context.Context, r *Request) (any, error) {
			x, err := listenerSpec(r.Params, proto, false)
			if err != nil {
				return nil, err
			}
			return empty{}, svc.SetListener(ctx, r.Account.ID, r.Params.Get("LoadBalancerId"), x)
		})
		rt.Handle(v, "DescribeLoadBalancer"+name+"ListenerAttribute", func(ctx context.Context, r *Request) (any, error) {
			port, err := listenerPort(r.Params)
			if err != nil {
				return nil, err
			}
			l, err := svc.GetListener(ctx, r.Account.ID, r.Params.Get("LoadBalancerId"), port, proto)
			if err != nil {
				return nil, err
			}
			return toListenerAttribute(r.Params.Get("LoadBalancerId"), l), nil
		})
	}
	for action, running := range map[string]bool{"StartLoadBalancerListener": true, "StopLoadBalancerListener": false} {
		rt.Handle(v, action, func(ctx context.Context, r *Request) (any, error) {
			port, err := listenerPort(r.Params)
			if err != nil {
				return nil, err
			}
			return empty{}, svc.SetListenerStatus(ctx, r.Account.ID, r.Params.Get("LoadBalancerId"), port, r.Params.Get("ListenerProtocol"), running)
		})
	}
	rt.Handle(v, "DeleteLoadBalancerListener", func(ctx context.Context, r *Request) (any, error) {
		port, err := listenerPort(r.Params)
		if err != nil {
			return nil, err
		}
		return empty{}, svc.DeleteListener(ctx, r.Account.ID, r.Params.Get("LoadBalancerId"), port, r.Params.Get("ListenerProtocol"))
	})
	rt.Handle(v, "DescribeLoadBalancerListeners", func(ctx context.Context, r *Request) (any, error) {
		p := r.Params
		pg, err := p.PagingFor(PageLoadBalancerListeners)
		if err != nil {
			return nil, err
		}
		q := service.ListenerQuery{Protocol: p.Get("ListenerProtocol"), Description: p.Get("Description")}
		if q.LoadBalancerIDs, err = p.ListIn("LoadBalancerId", IndexLoadBalancerIDs); err != nil {
			return nil, err
		}
		if q.Port, err = p.Int("ListenerPort", 0); err != nil {
			return nil, err
		}
		if tags, err := p.Tags("Tag"); err != nil {
			return nil, err
		} else if len(tags) > 0 {
			return nil, errs.InvalidParam("OperationUnsupported.Tag", "Tag is not supported: listeners have no tags in Palisade; filter by LoadBalancerId, ListenerProtocol or ListenerPort.")
		}
		all, err := svc.DescribeLoadBalancerListeners(ctx, r.Account.ID, q)
		if err != nil {
			return nil, err
		}
		items, total, next := PaginateKeyset(all, pg, listenerKey)
		out := make([]lbListenerItem, 0, len(items))
		for _, it := range items {
			out = append(out, toLBListenerItem(it))
		}
		return struct {
			NextToken  string
			MaxResults int
			TotalCount int
			Listeners  []lbListenerItem
		}{next, pg.MaxResults, total, out}, nil
	})

	// Backend servers.
	for action, fn := range map[string]func(context.Context, string, string, []service.BackendServerSpec) (model.LoadBalancer, error){
		"AddBackendServers":    svc.AddBackendServers,
		"RemoveBackendServers": svc.RemoveBackendServers,
		"SetBackendServers":    svc.SetBackendServers,
	} {
		rt.Handle(v, action, func(ctx context.Context, r *Request) (any, error) {
			specs, err := DecodeBackendServers(r.Params.Get("BackendServers"))
			if err != nil {
				return nil, err
			}
			lb, err := fn(ctx, r.Account.ID, r.Params.Get("LoadBalancerId"), specs)
			if err != nil {
				return nil, err
			}
			// The SDK's Weight is a string in Add and Set, a number in
			// Remove.
			return backendsAnswer(lb, action != "RemoveBackendServers"), nil
		})
	}
	registerSLBACL(rt, svc)
	rt.Handle(v, "DescribeHealthStatus", func(ctx context.Context, r *Request) (any, error) {
		port, err := r.Params.Int("ListenerPort", 0)
		if err != nil {
			return nil, err
		}
		hs, err := svc.DescribeHealthStatus(ctx, r.Account.ID, r.Params.Get("LoadBalancerId"), port, r.Params.Get("ListenerProtocol"))
		if err != nil {
			return nil, err
		}
		type server struct {
			ListenerPort       int
			Port               int
			Protocol           string
			ServerHealthStatus string
			ServerId           string
			ServerIp           string
		}
		out := make([]server, 0, len(hs))
		for _, h := range hs {
			out = append(out, server{h.ListenerPort, h.Port, h.Protocol, h.Status, h.ServerID, addrString(h.ServerIP)})
		}
		return struct {
			BackendServers struct{ BackendServer []server }
		}{struct{ BackendServer []server }{out}}, nil
	})
}

// DecodeLBHealth reads the Health parameter of
// PalisadeReportLoadBalancerHealth: a JSON array of model.LBHealth, at
// most service.LBHealthPerReport long.
func DecodeLBHealth(v string) ([]model.LBHealth, error) {
	return decodeReports[model.LBHealth]("Health", "load balancer health [{\"load_balancer_id\":...,\"listeners\":[...]}]", "load balancers", service.LBHealthPerReport, v)
}
