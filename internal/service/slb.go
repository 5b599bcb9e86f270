package service

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
)

// Server Load Balancer (Slb 2014-05-15, the classic load balancer: CLB),
// internal-facing and layer 4: CreateLoadBalancer, DeleteLoadBalancer,
// DescribeLoadBalancers, DescribeLoadBalancerAttribute,
// SetLoadBalancerName, SetLoadBalancerStatus,
// SetLoadBalancerDeleteProtection, Create/Set/Describe
// LoadBalancer{TCP,UDP}Listener(Attribute), Start/Stop/Delete
// LoadBalancerListener, DescribeLoadBalancerListeners,
// Add/Remove/SetBackendServers, DescribeHealthStatus, and the agent's
// PalisadeReportLoadBalancerHealth (ReportLBHealth).
//
// Decisions (where the cloud's documentation leaves a choice):
//   - AddressType intranet only. Without AddressType the cloud makes an
//     internet load balancer; here a request with a VSwitchId and no
//     AddressType is taken as intranet (the vSwitch says which network),
//     one without either is refused like AddressType=internet
//     (OperationUnsupported.AddressType), telling to send
//     AddressType=intranet with a VSwitchId. IPv4 only.
//   - The address is one of the vSwitch's, held in its IPAM
//     (ipam/<vsw>/<ip> -> the load balancer's ID) exactly as an ENI's, so
//     no ENI can take it; Address names a free one, else the lowest free
//     one is taken. DeleteLoadBalancer gives it back. A vSwitch or VPC
//     with a load balancer cannot be deleted (DependencyViolation).
//   - The load balancer's zone (MasterZoneId) is its vSwitch's; there is
//     no standby zone (SlaveZoneId is refused). LoadBalancerSpec, PayType
//     PayOnDemand, InstanceChargeType, InternetChargeType and Bandwidth
//     are accepted and change nothing (billing); PrePay and
//     ConsoleProtection are refused.
//   - A listener is (protocol, port): a TCP and a UDP listener may share a
//     port; actions that name a listener by port alone (Start, Stop,
//     Delete, DescribeHealthStatus filters excepted) need ListenerProtocol
//     when both exist. New listeners are stopped. Schedulers wrr
//     (default) and rr; health checks are TCP connections (TCP listeners)
//     or datagrams (UDP listeners). Settings Palisade does not implement
//     (session persistence, connection timeouts, connection draining,
//     proxy protocol, HTTP health checks, server groups, UDP
//     request/response checks, SYN proxy, listener tags, other
//     schedulers) are refused with OperationUnsupported.<Param>, never
//     ignored. Bandwidth is -1 (not limited) only.
//   - Access control (AclStatus on, AclType white or black, AclId): a
//     listener uses one access control list of its account (slbacl.go);
//     with AclStatus on, AclType and AclId are required; a Set keeps
//     those of a listener that has access control on when it leaves them
//     out (so AclType or AclId alone changes that one). With AclStatus off
//     a listener has no list: AclType and AclId sent with it are checked
//     (AclType white or black) and not kept.
//   - Backend servers are instances (Type ecs) of the load balancer's
//     account and VPC, and, in this version, of its zone: the host of
//     that zone programs the load balancer and reaches its backends
//     directly. At most BackendServersPerCall per call; a server given
//     twice in one call counts once (the first); adding a server the load
//     balancer has is refused, as the cloud documents
//     (BackendServerAlreadyExists); SetBackendServers changes the weight
//     (and description) of servers it has. Deleting an instance removes it
//     from every load balancer, in the same transaction.
//   - Health (DescribeHealthStatus): "unavailable" while the load
//     balancer is inactive, the listener stopped or its health check off;
//     otherwise what the agent of the load balancer's zone last reported
//     (PalisadeReportLoadBalancerHealth), and "abnormal" until it has
//     reported the server normal.
//   - A load balancer may back a PrivateLink endpoint service
//     (privatelink.go, ServiceResourceType slb); while it does, it cannot
//     be deleted. Its backends may still be removed or deleted.
//
// Error codes (HTTP status):
//   - InvalidLoadBalancerId.NotFound (404): no such load balancer of the
//     caller.
//   - MissingParameter (400), MissingParam.VSwitchId,
//     MissingParam.ListenerProtocol (400: a TCP and a UDP listener share
//     the port); InvalidParameter (400): malformed or out of range;
//     InvalidParameter.Bandwidth, InvalidParameter.Mismatch (IPv6).
//   - OperationUnsupported.<Param> (400): see above.
//   - InvalidVSwitchId.NotFound, InvalidVpcId.NotFound (404),
//     InvalidVSwitchId.VpcMismatch, InvalidVSwitchId.ZoneMismatch (400);
//     InvalidPrivateIpAddress.Malformed/Mismatch/Reserved/Duplicated (400),
//     InvalidVSwitchId.IpNotEnough (403): the address, as for ENIs.
//   - OverQuota (400): load balancers per account, listeners per load
//     balancer, backend servers per load balancer (Quotas).
//   - OperationDenied.DeleteProtectionIsOn (400).
//   - ListenerAlreadyExists (400); InvalidParameter (400, "The specified
//     resource does not exist"): no such listener.
//   - InvalidInstanceId.NotFound (404): a backend that is no instance of
//     the caller; OperationDenied.BackendServerVpc,
//     OperationDenied.BackendServerZone (400); BackendServerAlreadyExists
//     (400); ResourceNotFound.BackendServer (404): removing or setting a
//     server the load balancer does not have.
//   - DependencyViolation.VpcEndpointService (403): deleting a load
//     balancer that backs a PrivateLink service.
//   - Access control: AclNotExist (404), MissingParameter (AclType,
//     AclId), OverQuota (a list used by too many listeners, or with too
//     many entries); see slbacl.go.
//   - Agents: Forbidden.NotAdmin, Forbidden.AgentZone (403).

// SLB values the API shows.
const (
	LBNetworkVPC          = "vpc"
	LBAddressIPv4         = "ipv4"
	LBPayOnDemand         = "PayOnDemand"
	LBDefaultName         = "auto_named_slb"
	LBHealthCheckTCP      = "tcp"
	lbIDParam             = "LoadBalancerId"
	BackendServersPerCall = 20
	// Defaults of the SLB quotas (Quotas.LoadBalancersPerAccount,
	// ListenersPerLoadBalancer, BackendsPerLoadBalancer).
	DefaultLoadBalancersPerAccount  = 60
	DefaultListenersPerLoadBalancer = 50
	DefaultBackendsPerLoadBalancer  = 200
	// LBHealthPerReport bounds the load balancers of one
	// PalisadeReportLoadBalancerHealth call, LBHealthEntriesPerReport its
	// (listener, server) entries (unless one load balancer alone has more
	// under the quotas).
	LBHealthPerReport        = 100
	LBHealthEntriesPerReport = 20000
)

// Listener defaults (the cloud's).
const (
	lbDefaultInterval  = 2
	lbDefaultTimeout   = 5
	lbDefaultThreshold = 3
	lbDefaultWeight    = 100
)

func errLoadBalancerNotFound(id string) *errs.Error {
	return errs.NotFound("InvalidLoadBalancerId.NotFound", "The specified LoadBalancerId %q does not exist.", id)
}

func errLBQuota(format string, args ...any) *errs.Error {
	return errs.New(http.StatusBadRequest, "OverQuota", "The Total is over the quota: "+format, args...)
}

// getLoadBalancer reads a load balancer of the account.
func getLoadBalancer(tx store.ReadTxn, accountID, id string) (*model.LoadBalancer, error) {
	return getOwned(tx, model.PrefixLoadBalancer, lbIDParam, accountID, id, func(v *model.LoadBalancer) string { return v.AccountID }, errLoadBalancerNotFound)
}

// putLB writes a load balancer and drops from its health record what it no
// longer has (listeners, servers), so a listener or server made again
// starts without the old one's health.
func putLB(tx store.Txn, lb *model.LoadBalancer) error {
	if err := putJSON(tx, model.PrefixLoadBalancer+lb.ID, lb); err != nil {
		return err
	}
	var h model.LBHealth
	if ok, err := getJSON(tx, model.PrefixLBHealth+lb.ID, &h); err != nil || !ok {
		return err
	}
	kept := keepCurrentHealth(lb, h)
	if len(kept.Listeners) == 0 {
		return tx.Delete(model.PrefixLBHealth + lb.ID)
	}
	return putJSON(tx, model.PrefixLBHealth+lb.ID, kept)
}

// keepCurrentHealth keeps the entries of h for lb's listeners and
// backends (one per server and listener).
func keepCurrentHealth(lb *model.LoadBalancer, h model.LBHealth) model.LBHealth {
	out := model.LBHealth{LoadBalancerID: lb.ID, UpdatedAt: h.UpdatedAt, Listeners: []model.LBListenerHealth{}}
	for _, lh := range h.Listeners {
		if !slices.ContainsFunc(lb.Listeners, func(l model.LBListener) bool { return l.Protocol == lh.Protocol && l.Port == lh.Port }) ||
			slices.ContainsFunc(out.Listeners, func(o model.LBListenerHealth) bool { return o.Protocol == lh.Protocol && o.Port == lh.Port }) {
			continue
		}
		kept := model.LBListenerHealth{Protocol: lh.Protocol, Port: lh.Port, Servers: []model.LBServerHealth{}}
		for _, sh := range lh.Servers {
			if hasBackend(lb, sh.ServerID) && !slices.ContainsFunc(kept.Servers, func(o model.LBServerHealth) bool { return o.ServerID == sh.ServerID }) {
				kept.Servers = append(kept.Servers, sh)
			}
		}
		if len(kept.Servers) > 0 {
			out.Listeners = append(out.Listeners, kept)
		}
	}
	return out
}

func hasBackend(lb *model.LoadBalancer, serverID string) bool {
	return slices.ContainsFunc(lb.Backends, func(b model.LBBackend) bool { return b.ServerID == serverID })
}

// refuseLoadBalancersIn is DeleteVpc's and DeleteVSwitch's part of SLB: a
// VPC or vSwitch with a load balancer stays (its address is the
// vSwitch's).
func refuseLoadBalancersIn(tx store.ReadTxn, vpcID, vswID string) error {
	return listJSON(tx, model.PrefixLoadBalancer, func(lb *model.LoadBalancer) error {
		switch {
		case vswID != "" && lb.VSwitchID == vswID:
			return errs.DependencyViolation("vSwitch %s holds load balancer %s (address %s); delete the load balancer first (DeleteLoadBalancer).", vswID, lb.ID, lb.Address)
		case vpcID != "" && lb.VpcID == vpcID:
			return errs.DependencyViolation("VPC %s holds load balancer %s (vSwitch %s, address %s); delete the load balancer first (DeleteLoadBalancer).", vpcID, lb.ID, lb.VSwitchID, lb.Address)
		}
		return nil
	})
}

// removeInstanceBackends is DeleteInstances' part of SLB: the instance
// leaves every load balancer it backs, in the caller's transaction.
func removeInstanceBackends(tx store.Txn, instanceID string) error {
	var lbs []*model.LoadBalancer
	if err := listJSON(tx, model.PrefixLoadBalancer, func(lb *model.LoadBalancer) error {
		if hasBackend(lb, instanceID) {
			lbs = append(lbs, lb)
		}
		return nil
	}); err != nil {
		return err
	}
	for _, lb := range lbs {
		lb.Backends = slices.DeleteFunc(lb.Backends, func(b model.LBBackend) bool { return b.ServerID == instanceID })
		if err := putLB(tx, lb); err != nil {
			return err
		}
	}
	return nil
}

// onOff parses an "on"/"off" parameter; "" is def.
func onOff(param, v string, def bool) (bool, error) {
	switch strings.ToLower(v) {
	case "":
		return def, nil
	case "on":
		return true, nil
	case "off":
		return false, nil
	}
	return false, errs.InvalidParameter(param, "%q is neither on nor off", v)
}

// OnOff spells a switch as the SLB API does.
func OnOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func checkLBText(param, v string, maxLen int) error {
	if len(v) > maxLen || strings.HasPrefix(v, "http://") || strings.HasPrefix(v, "https://") {
		return errs.InvalidParameter(param, "use 1-%d characters, not starting with http:// or https://", maxLen)
	}
	return nil
}

func checkRange(param string, v, lo, hi int) error {
	if v < lo || v > hi {
		return errs.InvalidParameter(param, "%d is out of range, expected %d to %d", v, lo, hi)
	}
	return nil
}

func slbUnsupported(param, format string, args ...any) *errs.Error {
	return errs.InvalidParam("OperationUnsupported."+param, "%s is not supported: %s", param, fmt.Sprintf(format, args...))
}

// ---------------------------------------------------------------------------
// Load balancers

// CreateLoadBalancerInput is the request of CreateLoadBalancer.
type CreateLoadBalancerInput struct {
	AddressType      string // "" (with VSwitchID) or intranet
	AddressIPVersion string // "" or ipv4
	VSwitchID        string
	VpcID            string // optional: the vSwitch's
	Address          string // optional: a free address of the vSwitch
	Name             string
	Spec             string // accepted, changes nothing
	MasterZoneID     string // optional: the vSwitch's zone
	SlaveZoneID      string // refused
	PayType          string // "" or PayOnDemand
	DeleteProtection string // "", on or off
	// ModificationProtection: "" or NonProtection.
	ModificationProtection string
	ResourceGroupID        string
	Tags                   []model.Tag
	ClientToken            string
}

func (in *CreateLoadBalancerInput) check() error {
	switch strings.ToLower(in.AddressType) {
	case model.LBAddressIntranet:
		if in.VSwitchID == "" {
			return errs.New(http.StatusBadRequest, "MissingParam.VSwitchId",
				"The parameter VSwitchId is required: an intranet load balancer takes its address from a vSwitch of your VPC.")
		}
	case "":
		if in.VSwitchID == "" {
			return slbUnsupported("AddressType", "without AddressType the load balancer would be internet-facing, and Palisade serves internal-facing load balancers only: send AddressType=intranet with the VSwitchId of the vSwitch whose address it takes.")
		}
	case model.LBAddressInternet:
		return slbUnsupported("AddressType", "Palisade serves internal-facing load balancers only: send AddressType=intranet with the VSwitchId of the vSwitch whose address it takes (reach it from the internet through an instance with an EIP).")
	default:
		return errs.InvalidParameter("AddressType", "%q is not an address type; use intranet", in.AddressType)
	}
	in.AddressType = model.LBAddressIntranet
	switch strings.ToLower(in.AddressIPVersion) {
	case "", LBAddressIPv4:
	case "ipv6":
		return errs.InvalidParam("InvalidParameter.Mismatch", "AddressType and IpVersion is conflict, IPv6 does not support intranet instance: use AddressIPVersion ipv4.")
	default:
		return errs.InvalidParameter("AddressIPVersion", "%q is not ipv4", in.AddressIPVersion)
	}
	if in.SlaveZoneID != "" {
		return slbUnsupported("SlaveZoneId", "a load balancer runs in its vSwitch's zone only (no standby zone); leave SlaveZoneId out.")
	}
	switch strings.ToLower(in.PayType) {
	case "", strings.ToLower(LBPayOnDemand):
	case "prepay":
		return slbUnsupported("PayType", "Palisade bills nothing; load balancers are pay-as-you-go (PayOnDemand).")
	default:
		return errs.InvalidParameter("PayType", "%q is not PayOnDemand", in.PayType)
	}
	switch in.ModificationProtection {
	case "", "NonProtection":
	case "ConsoleProtection":
		return slbUnsupported("ModificationProtectionStatus", "Palisade has no console to protect the load balancer from; use DeleteProtection.")
	default:
		return errs.InvalidParameter("ModificationProtectionStatus", "%q is not NonProtection", in.ModificationProtection)
	}
	if _, err := onOff("DeleteProtection", in.DeleteProtection, false); err != nil {
		return err
	}
	return checkLBText("LoadBalancerName", in.Name, 80)
}

// countLoadBalancers counts the load balancers of an account.
func countLoadBalancers(tx store.ReadTxn, accountID string) (int, error) {
	n := 0
	err := listJSON(tx, model.PrefixLoadBalancer, func(lb *model.LoadBalancer) error {
		if lb.AccountID == accountID {
			n++
		}
		return nil
	})
	return n, err
}

// CreateLoadBalancer creates an internal-facing load balancer with an
// address of the vSwitch, active, without listeners or backends.
func (s *Service) CreateLoadBalancer(ctx context.Context, accountID string, in CreateLoadBalancerInput) (model.LoadBalancer, error) {
	var out model.LoadBalancer
	if err := in.check(); err != nil {
		return out, err
	}
	protect, _ := onOff("DeleteProtection", in.DeleteProtection, false)
	_, err := s.update(ctx, func(tx store.Txn) error {
		_, err := withClientToken(tx, accountID, "CreateLoadBalancer", in.ClientToken, in, &out, func() error {
			if n, err := countLoadBalancers(tx, accountID); err != nil {
				return err
			} else if limit := s.cfg.Quotas.LoadBalancersPerAccount; n >= limit {
				return errLBQuota("an account may have at most %d load balancers and this one has %d; delete unused ones or ask the operator to raise the quota.", limit, n)
			}
			vsw, err := getVSwitch(tx, accountID, in.VSwitchID)
			if err != nil {
				return err
			}
			if in.VpcID != "" {
				if _, err := getVPC(tx, accountID, in.VpcID); err != nil {
					return err
				}
				if vsw.VpcID != in.VpcID {
					return errs.InvalidParam("InvalidVSwitchId.VpcMismatch",
						"vSwitch %s is in VPC %s, not in the specified VpcId %s.", vsw.ID, vsw.VpcID, in.VpcID)
				}
			}
			if in.MasterZoneID != "" && in.MasterZoneID != vsw.ZoneID {
				return errs.InvalidParam("InvalidVSwitchId.ZoneMismatch",
					"vSwitch %s is in zone %s, not in the specified MasterZoneId %s: a load balancer runs in its vSwitch's zone (leave MasterZoneId out).", vsw.ID, vsw.ZoneID, in.MasterZoneID)
			}
			id := NewID("lb")
			al := allocator{tx: tx, vsw: vsw}
			var addr netip.Addr
			if in.Address != "" {
				if a, perr := netip.ParseAddr(in.Address); perr == nil && !a.Is4() {
					return errs.InvalidParam("InvalidPrivateIpAddress.Malformed", "The specified Address %s is not an IPv4 address: load balancers are IPv4.", a)
				}
				addr, err = al.claim("Address", in.Address, id)
			} else {
				addr, err = al.next(id, false)
			}
			if err != nil {
				return err
			}
			lb := &model.LoadBalancer{
				ID: id, AccountID: accountID, RegionID: s.cfg.Region, Name: cmp.Or(in.Name, LBDefaultName),
				AddressType: model.LBAddressIntranet, VpcID: vsw.VpcID, VSwitchID: vsw.ID, ZoneID: vsw.ZoneID, Address: addr,
				Status: model.LBStatusActive, Listeners: []model.LBListener{}, Backends: []model.LBBackend{},
				CreatedAt: s.stamp(), DeleteProtection: protect, ResourceGroupID: in.ResourceGroupID, Tags: in.Tags,
			}
			out = *lb
			return putJSON(tx, model.PrefixLoadBalancer+lb.ID, lb)
		})
		return err
	})
	return out, err
}

// DeleteLoadBalancer deletes a load balancer (unless protected, a traffic
// mirror target or the resource of a PrivateLink service) with its
// listeners, its address and its health record.
func (s *Service) DeleteLoadBalancer(ctx context.Context, accountID, id string) error {
	_, err := s.update(ctx, func(tx store.Txn) error {
		lb, err := getLoadBalancer(tx, accountID, id)
		if err != nil {
			return err
		}
		if lb.DeleteProtection {
			return errs.InvalidParam("OperationDenied.DeleteProtectionIsOn",
				"The loadbalancer can't be deleted due to DeleteProtection is enabled: turn it off first (SetLoadBalancerDeleteProtection DeleteProtection=off).")
		}
		if err := listJSON(tx, model.PrefixMirrorSession, func(m *model.MirrorSession) error {
			if m.TargetType == model.MirrorTargetSLB && m.TargetID == lb.ID {
				return errMirrorDependency("Load balancer %s is the target of traffic mirror session %s; delete the session or give it another target first.", lb.ID, m.ID)
			}
			return nil
		}); err != nil {
			return err
		}
		if err := refuseServiceLoadBalancer(tx, lb.ID); err != nil {
			return err
		}
		key := ipamKey(lb.VSwitchID, lb.Address)
		if owner, ok, err := tx.Get(key); err != nil {
			return err
		} else if ok && string(owner) == lb.ID {
			if err := tx.Delete(key); err != nil {
				return err
			}
		}
		if err := tx.Delete(model.PrefixLBHealth + lb.ID); err != nil {
			return err
		}
		return tx.Delete(model.PrefixLoadBalancer + lb.ID)
	})
	return err
}

// GetLoadBalancer returns a load balancer of the caller
// (DescribeLoadBalancerAttribute).
func (s *Service) GetLoadBalancer(ctx context.Context, accountID, id string) (model.LoadBalancer, error) {
	var out model.LoadBalancer
	err := s.view(ctx, func(tx store.ReadTxn) error {
		lb, err := getLoadBalancer(tx, accountID, id)
		if err == nil {
			out = *lb
		}
		return err
	})
	return out, err
}

// LoadBalancerQuery selects load balancers in DescribeLoadBalancers;
// empty fields match all.
type LoadBalancerQuery struct {
	IDs                                      []string
	Name, VpcID, VSwitchID, Address          string
	AddressType, NetworkType, Status         string
	AddressIPVersion, PayType, ChargeType    string
	MasterZoneID, SlaveZoneID                string
	ResourceGroupID, ServerID, ServerAddress string
	Tags                                     []model.Tag
}

func (q LoadBalancerQuery) match(lb *model.LoadBalancer) bool {
	eq := func(want, have string) bool { return want == "" || strings.EqualFold(want, have) }
	return (len(q.IDs) == 0 || slices.Contains(q.IDs, lb.ID)) && (q.Name == "" || lb.Name == q.Name) &&
		(q.VpcID == "" || lb.VpcID == q.VpcID) && (q.VSwitchID == "" || lb.VSwitchID == q.VSwitchID) &&
		(q.Address == "" || lb.Address.String() == q.Address) && eq(q.AddressType, lb.AddressType) &&
		eq(q.NetworkType, LBNetworkVPC) && eq(q.Status, lb.Status) && eq(q.AddressIPVersion, LBAddressIPv4) &&
		eq(q.PayType, LBPayOnDemand) && eq(q.ChargeType, "paybytraffic") &&
		(q.MasterZoneID == "" || lb.ZoneID == q.MasterZoneID) && q.SlaveZoneID == "" &&
		(q.ResourceGroupID == "" || lb.ResourceGroupID == q.ResourceGroupID) &&
		(q.ServerID == "" || hasBackend(lb, q.ServerID)) && hasTags(lb.Tags, q.Tags)
}

// instanceAddr is the primary private address of an instance (of its
// primary ENI); invalid when either is gone.
func instanceAddr(tx store.ReadTxn, instanceID string) (netip.Addr, error) {
	var inst model.Instance
	if ok, err := getJSON(tx, model.PrefixInstance+instanceID, &inst); err != nil || !ok {
		return netip.Addr{}, err
	}
	var e model.ENI
	if ok, err := getJSON(tx, model.PrefixENI+inst.PrimaryENIID, &e); err != nil || !ok {
		return netip.Addr{}, err
	}
	return e.PrimaryIP, nil
}

// BackendAddrs returns the primary private address of each backend
// server of lb (absent when the instance is gone).
func (s *Service) BackendAddrs(ctx context.Context, lb model.LoadBalancer) (map[string]netip.Addr, error) {
	out := map[string]netip.Addr{}
	err := s.view(ctx, func(tx store.ReadTxn) error {
		for _, b := range lb.Backends {
			a, err := instanceAddr(tx, b.ServerID)
			if err != nil {
				return err
			}
			if a.IsValid() {
				out[b.ServerID] = a
			}
		}
		return nil
	})
	return out, err
}

// DescribeLoadBalancers lists the caller's load balancers, oldest first.
func (s *Service) DescribeLoadBalancers(ctx context.Context, accountID string, q LoadBalancerQuery) ([]model.LoadBalancer, error) {
	var out []model.LoadBalancer
	err := s.view(ctx, func(tx store.ReadTxn) error {
		out = nil
		return listJSON(tx, model.PrefixLoadBalancer, func(lb *model.LoadBalancer) error {
			if lb.AccountID != accountID || !q.match(lb) {
				return nil
			}
			if q.ServerAddress != "" {
				found := false
				for _, b := range lb.Backends {
					a, err := instanceAddr(tx, b.ServerID)
					if err != nil {
						return err
					}
					if a.IsValid() && a.String() == q.ServerAddress {
						found = true
						break
					}
				}
				if !found {
					return nil
				}
			}
			out = append(out, *lb)
			return nil
		})
	})
	sortByCreation(out, func(lb model.LoadBalancer) (int64, string) { return lb.CreatedAt.UnixNano(), lb.ID })
	return out, err
}

// changeLB runs change on a load balancer of the caller and writes it.
func (s *Service) changeLB(ctx context.Context, accountID, id string, change func(tx store.Txn, lb *model.LoadBalancer) error) (model.LoadBalancer, error) {
	var out model.LoadBalancer
	_, err := s.update(ctx, func(tx store.Txn) error {
		lb, err := getLoadBalancer(tx, accountID, id)
		if err != nil {
			return err
		}
		if err := change(tx, lb); err != nil {
			return err
		}
		out = *lb
		return putLB(tx, lb)
	})
	return out, err
}

// SetLoadBalancerName renames a load balancer.
func (s *Service) SetLoadBalancerName(ctx context.Context, accountID, id, name string) error {
	if name == "" {
		return errs.MissingParameter("LoadBalancerName")
	}
	if err := checkLBText("LoadBalancerName", name, 80); err != nil {
		return err
	}
	_, err := s.changeLB(ctx, accountID, id, func(_ store.Txn, lb *model.LoadBalancer) error {
		lb.Name = name
		return nil
	})
	return err
}

// SetLoadBalancerStatus makes a load balancer active (it serves its
// running listeners) or inactive (it serves nothing).
func (s *Service) SetLoadBalancerStatus(ctx context.Context, accountID, id, status string) error {
	switch strings.ToLower(status) {
	case "":
		return errs.MissingParameter("LoadBalancerStatus")
	case model.LBStatusActive, model.LBStatusInactive:
	default:
		return errs.InvalidParameter("LoadBalancerStatus", "%q is neither active nor inactive", status)
	}
	_, err := s.changeLB(ctx, accountID, id, func(_ store.Txn, lb *model.LoadBalancer) error {
		lb.Status = strings.ToLower(status)
		return nil
	})
	return err
}

// SetLoadBalancerDeleteProtection turns delete protection on or off.
func (s *Service) SetLoadBalancerDeleteProtection(ctx context.Context, accountID, id, value string) error {
	if value == "" {
		return errs.MissingParameter("DeleteProtection")
	}
	on, err := onOff("DeleteProtection", value, false)
	if err != nil {
		return err
	}
	_, err = s.changeLB(ctx, accountID, id, func(_ store.Txn, lb *model.LoadBalancer) error {
		lb.DeleteProtection = on
		return nil
	})
	return err
}

// ---------------------------------------------------------------------------
// Listeners

// ListenerSettings are the listener settings Palisade does not implement:
// anything but their defaults is refused (OperationUnsupported.<Param>).
type ListenerSettings struct {
	VServerGroupID           string
	VServerGroup             string // Set: on/off
	MasterSlaveServerGroupID string
	MasterSlaveServerGroup   string // Set: on/off
	PersistenceTimeout       *int   // 0 only
	EstablishedTimeout       *int   // not settable
	ConnectionDrain          string // off only
	ProxyProtocolV2          bool
	HealthCheckType          string // tcp only
	HealthCheckURI           string
	HealthCheckDomain        string // "$_ip" only
	HealthCheckReq           string // UDP
	HealthCheckExp           string // UDP
	SynProxy                 string // disable only
	Tagged                   bool   // Tag.N given
}

func (x ListenerSettings) check() error {
	switch {
	case x.VServerGroupID != "" || strings.EqualFold(x.VServerGroup, "on"):
		return slbUnsupported("VServerGroupId", "Palisade has no vServer groups: a listener forwards to the load balancer's backend servers (AddBackendServers) on its BackendServerPort.")
	case x.MasterSlaveServerGroupID != "" || strings.EqualFold(x.MasterSlaveServerGroup, "on"):
		return slbUnsupported("MasterSlaveServerGroupId", "Palisade has no primary/secondary server groups: a listener forwards to all the load balancer's healthy backend servers.")
	case x.PersistenceTimeout != nil && *x.PersistenceTimeout != 0:
		return slbUnsupported("PersistenceTimeout", "Palisade has no session persistence: each new connection is scheduled on its own (PersistenceTimeout 0).")
	case x.EstablishedTimeout != nil:
		return slbUnsupported("EstablishedTimeout", "connections to the load balancer keep the kernel's connection-tracking timeouts; leave EstablishedTimeout out.")
	case strings.EqualFold(x.ConnectionDrain, "on"):
		return slbUnsupported("ConnectionDrain", "Palisade does not drain connections of removed backends.")
	case x.ProxyProtocolV2:
		return slbUnsupported("ProxyProtocolV2Enabled", "backends see the clients' own addresses (layer 4, no address translation of the source), so no proxy protocol header is needed.")
	case x.HealthCheckType != "" && !strings.EqualFold(x.HealthCheckType, LBHealthCheckTCP):
		return slbUnsupported("HealthCheckType", "health checks of TCP listeners are TCP connections (HealthCheckType tcp).")
	case x.HealthCheckURI != "":
		return slbUnsupported("HealthCheckURI", "health checks of TCP listeners are TCP connections, not HTTP requests.")
	case x.HealthCheckDomain != "" && x.HealthCheckDomain != "$_ip":
		return slbUnsupported("HealthCheckDomain", "health checks of TCP listeners are TCP connections, not HTTP requests.")
	case x.HealthCheckReq != "" || x.HealthCheckExp != "":
		return slbUnsupported("healthCheckReq", "UDP health checks send a datagram and fail on ICMP port unreachable; they match no request and response strings.")
	case strings.EqualFold(x.SynProxy, "enable"):
		return slbUnsupported("SynProxy", "Palisade has no SYN proxy on load balancers.")
	case x.Tagged:
		return slbUnsupported("Tag", "listeners have no tags in Palisade: tag the load balancer.")
	}
	return nil
}

// ListenerSpec is the request of Create/SetLoadBalancer{TCP,UDP}Listener
// (Attribute): nil fields are defaults (create) or unchanged (set).
type ListenerSpec struct {
	Protocol                  string // model.LBProtocolTCP or LBProtocolUDP (the action's)
	Port                      int    // ListenerPort
	BackendPort               *int   // create only
	Bandwidth                 *int
	Scheduler                 *string
	HealthCheck               *string // on/off (HealthCheckSwitch)
	HealthCheckConnectPort    *int
	HealthyThreshold          *int
	UnhealthyThreshold        *int
	HealthCheckInterval       *int
	HealthCheckConnectTimeout *int
	Description               *string
	// Access control: AclStatus on/off, AclType white/black, AclID (an
	// access control list of the account; checked in the transaction by
	// checkListenerACL).
	AclStatus *string
	AclType   *string
	AclID     *string
	Settings  ListenerSettings
}

// hasACL reports whether the request sets any access control parameter.
func (x ListenerSpec) hasACL() bool {
	return x.AclStatus != nil || x.AclType != nil || x.AclID != nil
}

// checkListenerPort checks a ListenerPort (1-65535).
func checkListenerPort(port int) error { return checkRange("ListenerPort", port, 1, 65535) }

// apply checks x and sets its fields on l.
func (x ListenerSpec) apply(l *model.LBListener) error {
	if err := x.Settings.check(); err != nil {
		return err
	}
	if x.Bandwidth != nil && *x.Bandwidth != -1 {
		return errs.InvalidParam("InvalidParameter.Bandwidth",
			"The param Bandwidth is invalid: %d. An intranet load balancer does not limit its listeners' bandwidth; use -1.", *x.Bandwidth)
	}
	if x.Scheduler != nil {
		switch v := strings.ToLower(*x.Scheduler); v {
		case model.LBSchedulerWRR, model.LBSchedulerRR:
			l.Scheduler = v
		case "wlc", "sch", "tch", "qch":
			return slbUnsupported("Scheduler", "Palisade schedules with wrr (weighted random, the default) or rr (round robin), not %s.", v)
		default:
			return errs.InvalidParameter("Scheduler", "%q is not a scheduler; use wrr or rr", *x.Scheduler)
		}
	}
	if x.HealthCheck != nil {
		on, err := onOff("HealthCheckSwitch", *x.HealthCheck, true)
		if err != nil {
			return err
		}
		l.HealthCheck.Enabled = on
	}
	for _, f := range []struct {
		param  string
		v      *int
		lo, hi int
		dst    *int
	}{
		{"HealthCheckConnectPort", x.HealthCheckConnectPort, 1, 65535, &l.HealthCheck.ConnectPort},
		{"HealthyThreshold", x.HealthyThreshold, 2, 10, &l.HealthCheck.HealthyThreshold},
		{"UnhealthyThreshold", x.UnhealthyThreshold, 2, 10, &l.HealthCheck.UnhealthyThreshold},
		{"HealthCheckInterval", x.HealthCheckInterval, 1, 50, &l.HealthCheck.Interval},
		{"HealthCheckConnectTimeout", x.HealthCheckConnectTimeout, 1, 300, &l.HealthCheck.ConnectTimeout},
	} {
		if f.v == nil {
			continue
		}
		if err := checkRange(f.param, *f.v, f.lo, f.hi); err != nil {
			return err
		}
		*f.dst = *f.v
	}
	if x.Description != nil {
		if err := checkLBText("Description", *x.Description, 256); err != nil {
			return err
		}
		l.Description = *x.Description
	}
	return x.applyACL(l)
}

// applyACL checks the access control parameters and sets them on l: the
// list's existence and limits are checkListenerACL's. Off is stored as
// "" (no filter), without type or list.
func (x ListenerSpec) applyACL(l *model.LBListener) error {
	if x.AclStatus != nil {
		on, err := onOff("AclStatus", *x.AclStatus, false)
		if err != nil {
			return err
		}
		l.AclStatus = ""
		if on {
			l.AclStatus = model.LBACLOn
		}
	}
	if x.AclType != nil {
		switch v := strings.ToLower(*x.AclType); v {
		case model.LBACLWhite, model.LBACLBlack:
			l.AclType = v
		default:
			return errs.InvalidParameter("AclType", "%q is neither white nor black", *x.AclType)
		}
	}
	if x.AclID != nil {
		l.AclID = *x.AclID
	}
	if l.AclStatus != model.LBACLOn {
		l.AclStatus, l.AclType, l.AclID = "", "", ""
	}
	return nil
}

func errListenerNotFound(lb *model.LoadBalancer, protocol string, port int) *errs.Error {
	what := "listener"
	if protocol != "" {
		what = strings.ToUpper(protocol) + " listener"
	}
	return errs.InvalidParameter("ListenerPort", "The specified resource does not exist: load balancer %s has no %s on port %d.", lb.ID, what, port)
}

// normProtocol checks a ListenerProtocol ("" = any).
func normProtocol(v string) (string, error) {
	switch p := strings.ToLower(v); p {
	case "", model.LBProtocolTCP, model.LBProtocolUDP, "http", "https":
		return p, nil
	}
	return "", errs.InvalidParameter("ListenerProtocol", "%q is not tcp, udp, http or https", v)
}

// findListener finds the listener (port, protocol) of lb; protocol "" is
// the one listener on the port, refused when a TCP and a UDP listener
// share it.
func findListener(lb *model.LoadBalancer, port int, protocol string) (int, error) {
	if err := checkListenerPort(port); err != nil {
		return -1, err
	}
	protocol, err := normProtocol(protocol)
	if err != nil {
		return -1, err
	}
	found := -1
	for i, l := range lb.Listeners {
		if l.Port != port || (protocol != "" && l.Protocol != protocol) {
			continue
		}
		if found >= 0 {
			return -1, errs.New(http.StatusBadRequest, "MissingParam.ListenerProtocol",
				"Load balancer %s has a TCP and a UDP listener on port %d: give ListenerProtocol (tcp or udp) to say which.", lb.ID, port)
		}
		found = i
	}
	if found < 0 {
		return -1, errListenerNotFound(lb, protocol, port)
	}
	return found, nil
}

// CreateListener adds a stopped listener to a load balancer
// (CreateLoadBalancer{TCP,UDP}Listener).
func (s *Service) CreateListener(ctx context.Context, accountID, lbID string, x ListenerSpec) error {
	if x.Protocol != model.LBProtocolTCP && x.Protocol != model.LBProtocolUDP {
		return errs.InvalidParameter("ListenerProtocol", "%q is not tcp or udp", x.Protocol)
	}
	if err := checkListenerPort(x.Port); err != nil {
		return err
	}
	if err := x.Settings.check(); err != nil {
		return err
	}
	if x.BackendPort == nil {
		return errs.MissingParameter("BackendServerPort")
	}
	if err := checkRange("BackendServerPort", *x.BackendPort, 1, 65535); err != nil {
		return err
	}
	l := model.LBListener{
		Protocol: x.Protocol, Port: x.Port, BackendPort: *x.BackendPort, Scheduler: model.LBSchedulerWRR,
		Status: model.ListenerStopped, Bandwidth: -1,
		HealthCheck: model.LBHealthCheck{Enabled: true, Interval: lbDefaultInterval, ConnectTimeout: lbDefaultTimeout,
			HealthyThreshold: lbDefaultThreshold, UnhealthyThreshold: lbDefaultThreshold},
	}
	if err := x.apply(&l); err != nil {
		return err
	}
	_, err := s.changeLB(ctx, accountID, lbID, func(tx store.Txn, lb *model.LoadBalancer) error {
		if slices.ContainsFunc(lb.Listeners, func(o model.LBListener) bool { return o.Protocol == l.Protocol && o.Port == l.Port }) {
			return errs.InvalidParam("ListenerAlreadyExists",
				"The specified listener port is already in use: load balancer %s has a %s listener on port %d.", lb.ID, strings.ToUpper(l.Protocol), l.Port)
		}
		if limit := s.cfg.Quotas.ListenersPerLoadBalancer; len(lb.Listeners) >= limit {
			return errLBQuota("a load balancer has at most %d listeners and %s has %d.", limit, lb.ID, len(lb.Listeners))
		}
		lb.Listeners = append(lb.Listeners, l)
		slices.SortFunc(lb.Listeners, func(a, b model.LBListener) int {
			return cmp.Or(cmp.Compare(a.Port, b.Port), strings.Compare(a.Protocol, b.Protocol))
		})
		return s.checkListenerACL(tx, accountID, lb, slices.IndexFunc(lb.Listeners, func(o model.LBListener) bool { return o.Protocol == l.Protocol && o.Port == l.Port }))
	})
	return err
}

// SetListener changes a listener's scheduler, health check, description
// or access control (SetLoadBalancer{TCP,UDP}ListenerAttribute).
func (s *Service) SetListener(ctx context.Context, accountID, lbID string, x ListenerSpec) error {
	if err := checkListenerPort(x.Port); err != nil {
		return err
	}
	if x.BackendPort != nil {
		return errs.InvalidParameter("BackendServerPort", "a listener's backend port is set when it is created; delete and create the listener to change it")
	}
	if err := x.apply(&model.LBListener{}); err != nil {
		return err
	}
	_, err := s.changeLB(ctx, accountID, lbID, func(tx store.Txn, lb *model.LoadBalancer) error {
		i, err := findListener(lb, x.Port, x.Protocol)
		if err != nil {
			return err
		}
		if err := x.apply(&lb.Listeners[i]); err != nil {
			return err
		}
		if !x.hasACL() {
			return nil
		}
		return s.checkListenerACL(tx, accountID, lb, i)
	})
	return err
}

// GetListener returns a listener (Describe{TCP,UDP}ListenerAttribute);
// protocol "" is the one on the port.
func (s *Service) GetListener(ctx context.Context, accountID, lbID string, port int, protocol string) (model.LBListener, error) {
	var out model.LBListener
	err := s.view(ctx, func(tx store.ReadTxn) error {
		lb, err := getLoadBalancer(tx, accountID, lbID)
		if err != nil {
			return err
		}
		i, err := findListener(lb, port, protocol)
		if err == nil {
			out = lb.Listeners[i]
		}
		return err
	})
	return out, err
}

// SetListenerStatus starts (running) or stops a listener; one already so
// stays.
func (s *Service) SetListenerStatus(ctx context.Context, accountID, lbID string, port int, protocol string, running bool) error {
	_, err := s.changeLB(ctx, accountID, lbID, func(_ store.Txn, lb *model.LoadBalancer) error {
		i, err := findListener(lb, port, protocol)
		if err != nil {
			return err
		}
		lb.Listeners[i].Status = model.ListenerStopped
		if running {
			lb.Listeners[i].Status = model.ListenerRunning
		}
		return nil
	})
	return err
}

// DeleteListener deletes a listener (running or stopped).
func (s *Service) DeleteListener(ctx context.Context, accountID, lbID string, port int, protocol string) error {
	_, err := s.changeLB(ctx, accountID, lbID, func(_ store.Txn, lb *model.LoadBalancer) error {
		i, err := findListener(lb, port, protocol)
		if err != nil {
			return err
		}
		lb.Listeners = slices.Delete(lb.Listeners, i, i+1)
		return nil
	})
	return err
}

// ListenerView is a listener with its load balancer, as
// DescribeLoadBalancerListeners lists it.
type ListenerView struct {
	model.LBListener
	LoadBalancerID string
	CreatedAt      time.Time // the load balancer's
}

// ListenerQuery selects listeners in DescribeLoadBalancerListeners; empty
// fields match all.
type ListenerQuery struct {
	LoadBalancerIDs []string
	Protocol        string
	Port            int
	Description     string
}

// DescribeLoadBalancerListeners lists the listeners of the caller's load
// balancers (or of those named), by load balancer (oldest first), port
// and protocol.
func (s *Service) DescribeLoadBalancerListeners(ctx context.Context, accountID string, q ListenerQuery) ([]ListenerView, error) {
	proto, err := normProtocol(q.Protocol)
	if err != nil {
		return nil, err
	}
	if q.Port != 0 {
		if err := checkListenerPort(q.Port); err != nil {
			return nil, err
		}
	}
	lbs, err := s.DescribeLoadBalancers(ctx, accountID, LoadBalancerQuery{IDs: q.LoadBalancerIDs})
	if err != nil {
		return nil, err
	}
	var out []ListenerView
	for _, lb := range lbs {
		for _, l := range lb.Listeners {
			if (proto == "" || l.Protocol == proto) && (q.Port == 0 || l.Port == q.Port) && (q.Description == "" || l.Description == q.Description) {
				out = append(out, ListenerView{LBListener: l, LoadBalancerID: lb.ID, CreatedAt: lb.CreatedAt})
			}
		}
	}
	return out, nil
}

// ---------------------------------------------------------------------------
// Backend servers

// BackendServerSpec is one element of a BackendServers parameter.
type BackendServerSpec struct {
	ServerID    string
	Type        string // "" or ecs
	Weight      *int   // nil: 100 (Add), unchanged (Set)
	Description *string
	Port        string // refused: the listeners' BackendServerPort applies
}

// checkBackendSpecs checks the elements of a BackendServers parameter.
func checkBackendSpecs(specs []BackendServerSpec) error {
	if len(specs) == 0 {
		return errs.MissingParameter("BackendServers")
	}
	if len(specs) > BackendServersPerCall {
		return errs.InvalidParameter("BackendServers", "at most %d backend servers per call, got %d", BackendServersPerCall, len(specs))
	}
	for i, b := range specs {
		param := fmt.Sprintf("BackendServers[%d]", i)
		if b.ServerID == "" {
			return errs.MissingParameter(param + ".ServerId")
		}
		switch strings.ToLower(b.Type) {
		case "", model.LBBackendECS:
		case "eni", "eci":
			return slbUnsupported("BackendServerType", "%s.Type %q: backend servers are instances (Type ecs) in Palisade.", param, b.Type)
		default:
			return errs.InvalidParameter(param+".Type", "%q is not a backend server type; use ecs", b.Type)
		}
		if b.Weight != nil {
			if err := checkRange(param+".Weight", *b.Weight, 0, 100); err != nil {
				return err
			}
		}
		if b.Description != nil {
			if err := checkLBText(param+".Description", *b.Description, 80); err != nil {
				return err
			}
		}
		if b.Port != "" {
			return slbUnsupported("Port", "%s.Port: the backend servers of a load balancer receive each listener's connections on its BackendServerPort.", param)
		}
	}
	return nil
}

// firstSpecs drops the later copies of a server given twice (the cloud
// takes the first).
func firstSpecs(specs []BackendServerSpec) []BackendServerSpec {
	var out []BackendServerSpec
	for _, b := range specs {
		if !slices.ContainsFunc(out, func(o BackendServerSpec) bool { return o.ServerID == b.ServerID }) {
			out = append(out, b)
		}
	}
	return out
}

// backendIndex is the index of server id among lb's backends.
func backendIndex(lb *model.LoadBalancer, id string) (int, error) {
	i := slices.IndexFunc(lb.Backends, func(o model.LBBackend) bool { return o.ServerID == id })
	if i < 0 {
		return 0, errBackendNotFound(lb, id)
	}
	return i, nil
}

func errBackendNotFound(lb *model.LoadBalancer, id string) *errs.Error {
	return errs.NotFound("ResourceNotFound.BackendServer", "Server %s is not a backend server of load balancer %s.", id, lb.ID)
}

// AddBackendServers adds instances to a load balancer and returns it.
func (s *Service) AddBackendServers(ctx context.Context, accountID, lbID string, specs []BackendServerSpec) (model.LoadBalancer, error) {
	if err := checkBackendSpecs(specs); err != nil {
		return model.LoadBalancer{}, err
	}
	return s.changeLB(ctx, accountID, lbID, func(tx store.Txn, lb *model.LoadBalancer) error {
		for _, b := range firstSpecs(specs) {
			if hasBackend(lb, b.ServerID) {
				return errs.InvalidParam("BackendServerAlreadyExists",
					"Instance %s is already a backend server of load balancer %s: change its weight with SetBackendServers.", b.ServerID, lb.ID)
			}
			inst, err := getOwned(tx, model.PrefixInstance, "ServerId", accountID, b.ServerID, func(v *model.Instance) string { return v.AccountID }, func(id string) *errs.Error {
				return errs.NotFound("InvalidInstanceId.NotFound", "The specified ServerId %q does not exist: a backend server is an instance (i-...) of your account.", id)
			})
			if err != nil {
				return err
			}
			if inst.VpcID != lb.VpcID {
				return errs.InvalidParam("OperationDenied.BackendServerVpc",
					"Instance %s is in VPC %s, but load balancer %s is in VPC %s: its backend servers are instances of its VPC.", inst.ID, inst.VpcID, lb.ID, lb.VpcID)
			}
			// The agent of the load balancer's zone programs it on its
			// host and reaches the backends there directly; backends on
			// other hosts are not reached in this version.
			if inst.ZoneID != lb.ZoneID {
				return errs.InvalidParam("OperationDenied.BackendServerZone",
					"Instance %s is in zone %s, but the backend servers of load balancer %s must run in zone %s (its vSwitch's zone, whose host serves it).", inst.ID, inst.ZoneID, lb.ID, lb.ZoneID)
			}
			if limit := s.cfg.Quotas.BackendsPerLoadBalancer; len(lb.Backends) >= limit {
				return errLBQuota("a load balancer has at most %d backend servers and %s has %d.", limit, lb.ID, len(lb.Backends))
			}
			w := lbDefaultWeight
			if b.Weight != nil {
				w = *b.Weight
			}
			d := ""
			if b.Description != nil {
				d = *b.Description
			}
			lb.Backends = append(lb.Backends, model.LBBackend{ServerID: inst.ID, Type: model.LBBackendECS, Weight: w, Description: d})
		}
		return nil
	})
}

// RemoveBackendServers removes servers from a load balancer and returns
// it.
func (s *Service) RemoveBackendServers(ctx context.Context, accountID, lbID string, specs []BackendServerSpec) (model.LoadBalancer, error) {
	if err := checkBackendSpecs(specs); err != nil {
		return model.LoadBalancer{}, err
	}
	return s.changeLB(ctx, accountID, lbID, func(_ store.Txn, lb *model.LoadBalancer) error {
		for _, b := range firstSpecs(specs) {
			i, err := backendIndex(lb, b.ServerID)
			if err != nil {
				return err
			}
			lb.Backends = slices.Delete(lb.Backends, i, i+1)
		}
		return nil
	})
}

// SetBackendServers changes the weights (and descriptions) of servers of
// a load balancer and returns it.
func (s *Service) SetBackendServers(ctx context.Context, accountID, lbID string, specs []BackendServerSpec) (model.LoadBalancer, error) {
	if err := checkBackendSpecs(specs); err != nil {
		return model.LoadBalancer{}, err
	}
	return s.changeLB(ctx, accountID, lbID, func(_ store.Txn, lb *model.LoadBalancer) error {
		for _, b := range firstSpecs(specs) {
			i, err := backendIndex(lb, b.ServerID)
			if err != nil {
				return err
			}
			if b.Weight != nil {
				lb.Backends[i].Weight = *b.Weight
			}
			if b.Description != nil {
				lb.Backends[i].Description = *b.Description
			}
		}
		return nil
	})
}

// ---------------------------------------------------------------------------
// Health

// BackendHealthView is one backend server on one listener, as
// DescribeHealthStatus shows it.
type BackendHealthView struct {
	ListenerPort int
	Protocol     string
	ServerID     string
	Port         int        // the listener's backend port
	ServerIP     netip.Addr // the instance's primary private address
	Status       string     // model.LBHealthNormal, LBHealthAbnormal, LBHealthUnavailable
}

// DescribeHealthStatus returns the health of every backend server on
// every listener of a load balancer (port 0 and protocol "": all).
func (s *Service) DescribeHealthStatus(ctx context.Context, accountID, lbID string, port int, protocol string) ([]BackendHealthView, error) {
	proto, err := normProtocol(protocol)
	if err != nil {
		return nil, err
	}
	if port != 0 {
		if err := checkListenerPort(port); err != nil {
			return nil, err
		}
	}
	var out []BackendHealthView
	err = s.view(ctx, func(tx store.ReadTxn) error {
		out = nil
		lb, err := getLoadBalancer(tx, accountID, lbID)
		if err != nil {
			return err
		}
		var h model.LBHealth
		if _, err := getJSON(tx, model.PrefixLBHealth+lb.ID, &h); err != nil {
			return err
		}
		ips := map[string]netip.Addr{}
		for _, b := range lb.Backends {
			if ips[b.ServerID], err = instanceAddr(tx, b.ServerID); err != nil {
				return err
			}
		}
		for _, l := range lb.Listeners {
			if (port != 0 && l.Port != port) || (proto != "" && l.Protocol != proto) {
				continue
			}
			for _, b := range lb.Backends {
				out = append(out, BackendHealthView{ListenerPort: l.Port, Protocol: l.Protocol, ServerID: b.ServerID, Port: l.BackendPort,
					ServerIP: ips[b.ServerID], Status: serverHealth(lb, l, h, b.ServerID)})
			}
		}
		return nil
	})
	return out, err
}

// serverHealth is the health of server on listener l.
func serverHealth(lb *model.LoadBalancer, l model.LBListener, h model.LBHealth, serverID string) string {
	if lb.Status != model.LBStatusActive || l.Status != model.ListenerRunning || !l.HealthCheck.Enabled {
		return model.LBHealthUnavailable
	}
	for _, lh := range h.Listeners {
		if lh.Protocol != l.Protocol || lh.Port != l.Port {
			continue
		}
		for _, sh := range lh.Servers {
			if sh.ServerID == serverID && sh.Status == model.LBHealthNormal {
				return model.LBHealthNormal
			}
		}
	}
	return model.LBHealthAbnormal
}

// checkLBHealth checks a report's shape against the quotas.
func (s *Service) checkLBHealth(hs []model.LBHealth) error {
	if len(hs) > LBHealthPerReport {
		return errs.InvalidParameter("Health", "at most %d load balancers per call, got %d", LBHealthPerReport, len(hs))
	}
	q := s.cfg.Quotas
	entries, seen := 0, map[string]bool{}
	for i, h := range hs {
		if h.LoadBalancerID == "" {
			return errs.InvalidParameter("Health", "Health[%d]: no load_balancer_id", i)
		}
		if seen[h.LoadBalancerID] {
			return errs.InvalidParameter("Health", "Health[%d]: load balancer %s is reported twice", i, h.LoadBalancerID)
		}
		seen[h.LoadBalancerID] = true
		if len(h.Listeners) > q.ListenersPerLoadBalancer {
			return errs.InvalidParameter("Health", "Health[%d]: %d listeners, more than a load balancer may have (%d)", i, len(h.Listeners), q.ListenersPerLoadBalancer)
		}
		for j, lh := range h.Listeners {
			if (lh.Protocol != model.LBProtocolTCP && lh.Protocol != model.LBProtocolUDP) || lh.Port < 1 || lh.Port > 65535 {
				return errs.InvalidParameter("Health", "Health[%d].listeners[%d]: want protocol tcp or udp and a port of 1-65535", i, j)
			}
			if len(lh.Servers) > q.BackendsPerLoadBalancer {
				return errs.InvalidParameter("Health", "Health[%d].listeners[%d]: %d servers, more than a load balancer may have (%d)", i, j, len(lh.Servers), q.BackendsPerLoadBalancer)
			}
			for k, sh := range lh.Servers {
				if sh.ServerID == "" || (sh.Status != model.LBHealthNormal && sh.Status != model.LBHealthAbnormal) {
					return errs.InvalidParameter("Health", "Health[%d].listeners[%d].servers[%d]: want a server ID and status normal or abnormal", i, j, k)
				}
			}
			entries += len(lh.Servers)
		}
	}
	if limit := max(LBHealthEntriesPerReport, q.ListenersPerLoadBalancer*q.BackendsPerLoadBalancer); entries > limit {
		return errs.InvalidParameter("Health", "at most %d server entries per call, got %d", limit, entries)
	}
	return nil
}

// ReportLBHealth stores the health of load balancers' backends as the
// agent of their zone saw it (agents only: the admin; an agent key, for
// the load balancers of its zone only). Each record replaces the load
// balancer's last one when it differs, stamped with the server's time
// (UpdatedAt: when the health last changed); entries of listeners or
// servers it no longer has are dropped, and a load balancer deleted
// meanwhile is skipped.
func (s *Service) ReportLBHealth(ctx context.Context, callerID, keyZone string, hs []model.LBHealth) error {
	if err := s.checkLBHealth(hs); err != nil {
		return err
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		if err := requireAdmin(tx, callerID); err != nil {
			return err
		}
		now := s.stamp()
		for _, h := range hs {
			var lb model.LoadBalancer
			if ok, err := getJSON(tx, model.PrefixLoadBalancer+h.LoadBalancerID, &lb); err != nil {
				return err
			} else if !ok {
				continue
			}
			if keyZone != "" && lb.ZoneID != keyZone {
				return errAgentZone(keyZone, "report the health of load balancer "+lb.ID+" of zone "+lb.ZoneID)
			}
			kept := keepCurrentHealth(&lb, h)
			// An unchanged report writes nothing: every write is a new
			// revision, which wakes every agent's mirror.
			var prev model.LBHealth
			if ok, err := getJSON(tx, model.PrefixLBHealth+lb.ID, &prev); err != nil {
				return err
			} else if ok && sameHealth(prev, kept) {
				continue
			}
			kept.UpdatedAt = now
			if err := putJSON(tx, model.PrefixLBHealth+lb.ID, kept); err != nil {
				return err
			}
		}
		return nil
	})
	return err
}

// sameHealth reports whether two records hold the same entries.
func sameHealth(a, b model.LBHealth) bool {
	ja, erra := json.Marshal(a.Listeners)
	jb, errb := json.Marshal(b.Listeners)
	return erra == nil && errb == nil && bytes.Equal(ja, jb)
}

// LBHealthRecord returns the stored health of a load balancer (tests and
// tools); ok is false when there is none.
func (s *Service) LBHealthRecord(ctx context.Context, lbID string) (model.LBHealth, bool, error) {
	var h model.LBHealth
	var ok bool
	err := s.view(ctx, func(tx store.ReadTxn) error {
		var err error
		ok, err = getJSON(tx, model.PrefixLBHealth+lbID, &h)
		return err
	})
	return h, ok, err
}
