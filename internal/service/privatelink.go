package service

import (
	"context"
	"encoding/binary"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
)

// PrivateLink (Privatelink 2020-04-15), the control plane: endpoint
// services of providers (CreateVpcEndpointService,
// GetVpcEndpointServiceAttribute, UpdateVpcEndpointServiceAttribute,
// ListVpcEndpointServices, ListVpcEndpointServicesByEndUser,
// DeleteVpcEndpointService, Attach/DetachResource...,
// ListVpcEndpointServiceResources, Add/RemoveUser...,
// ListVpcEndpointServiceUsers), interface endpoints of consumers
// (CreateVpcEndpoint, GetVpcEndpointAttribute, UpdateVpcEndpointAttribute,
// ListVpcEndpoints, DeleteVpcEndpoint, Attach/DetachSecurityGroup...,
// ListVpcEndpointSecurityGroups, AddZoneToVpcEndpoint,
// RemoveZoneFromVpcEndpoint, ListVpcEndpointZones) and the provider's
// view of the connections (ListVpcEndpointConnections,
// Enable/DisableVpcEndpointConnection).
//
// Decisions (SEMANTICS.md Part A "PrivateLink", and where it is silent):
//   - A service is backed by instances (ServiceResourceType "ecs",
//     model.EndpointResourceECS) or by internal load balancers ("slb",
//     model.EndpointResourceSLB); alb, nlb and gwlb are refused. Without
//     ServiceResourceType a service takes the type of its first resource
//     that gives one, else ecs. All its resources are of its type, which it
//     keeps while it has none (model.EndpointService.ResourceType; ""
//     in older records is ecs): a resource without ResourceType is of the
//     service's type, one of the other type is refused (mixing, attaching
//     or detaching). Resources are instances or load balancers (any
//     status; intranet, the only kind) of the provider's account, all in
//     one VPC (the service's VpcID, taken from its first resource and
//     released when the last one leaves a service that no endpoint uses);
//     a resource's ZoneId is its instance's or load balancer's zone (the
//     default when not given). At most Quotas.EndpointServiceResources (20)
//     resources; a service may have none. Attaching a resource the service
//     has changes nothing; detaching its last one is allowed (endpoints
//     then reach nothing until one is attached). An instance or load
//     balancer that backs a service cannot be deleted; an instance that is
//     a backend of such a load balancer can (it leaves the load balancer).
//   - Where an endpoint's connections go, from the transit address of its
//     zone: ecs, to one of the service's running instances of the zone, at
//     random, on the same port; slb, to the service's load balancer of the
//     zone (the first by ID when it has several there): a connection to a
//     port goes to its running listener of that protocol and port, which
//     picks one of its backends that take connections (scheduler, weights,
//     health), on the listener's backend port; ports without a running
//     listener, and an inactive load balancer, drop them. The backends
//     judge them with the transit address as source.
//   - A service is Active at once. Its name is
//     com.aliyuncs.privatelink.<region>.<id> and its domain
//     <id>.<region>.privatelink.palisade.local (PrivateLinkDomain); an
//     endpoint's domain is <endpoint id>.<service domain>, a zone's
//     <endpoint id>-<zone>.<service domain>, which the consumer VPC's
//     resolver answers (agent/resolver.go). AutoAcceptEnabled defaults to
//     false.
//     Zone affinity, IPv6, private service domains, Payer EndpointService
//     and bandwidth settings are refused (OperationUnsupported.<Param>),
//     not silently ignored.
//   - Users: the owner may always use its services and is never listed;
//     AddUserToVpcEndpointService takes an existing account's ID (adding
//     the owner or a listed user changes nothing); UserARN is refused
//     (Palisade has no RAM). Removing a user stops new endpoints (and new
//     zones) of that account; its existing endpoints keep their connection
//     (the provider disconnects them with DisableVpcEndpointConnection).
//   - Visibility: only the owner sees and manages a service (every
//     provider action, the connections included); any other account gets
//     EndpointServiceNotFound, as for a service that does not exist. A
//     listed user sees the service in ListVpcEndpointServicesByEndUser
//     and names it (ServiceId or ServiceName) in CreateVpcEndpoint. Only
//     the consumer sees and manages its endpoints; the provider sees them
//     as connections (endpoint ID, owner, VPC, status, zones with their
//     transit addresses), never the consumer's ENIs or vSwitches.
//   - Endpoints: EndpointType Interface only (the default); one zone per
//     Zone.N (ZoneId, VSwitchId, ip), at least one, at most
//     Quotas.EndpointZones (10), each a zone of the service's resources,
//     its vSwitch in the endpoint's VPC and in that zone; the endpoint's VPC
//     is not the service's (its instances reach them directly). 1 to 10
//     security groups (Quotas.GroupsPerENI) of the endpoint's VPC, all of
//     one type, as for an ENI. Each zone gets a service-managed ENI of the
//     consumer (model.ENI with EndpointID, no instance, InUse, addresses
//     from the vSwitch's IPAM or the given ip, memberships of the
//     endpoint's groups) and a transit address (model.TransitRange, unique
//     among all endpoint zones, lowest free first; the network and
//     broadcast addresses and 100.100.0.0/16, the cloud-service addresses,
//     are never given out). A new endpoint is Connected when its service
//     auto-accepts, else Disconnected until the provider enables it;
//     changing AutoAcceptEnabled later leaves existing endpoints as they
//     are. Enabling a Connected endpoint or disabling a Disconnected one
//     changes nothing.
//   - Endpoint ENIs are changed only through their endpoint: deleting,
//     attaching, detaching, modifying them, changing their addresses or
//     groups or associating an EIP is
//     OperationDenied.ServiceManagedNetworkInterface (making them
//     traffic-mirror sources or targets is refused by mirror.go). They are
//     listed by DescribeNetworkInterfaces (ServiceManaged true).
//   - Deleting an endpoint (or removing a zone) deletes its ENIs with
//     their addresses and memberships and frees the transit addresses, in
//     one transaction. A service with endpoints cannot be deleted.
//   - Every action that changes something takes ClientToken (a retry with
//     the same token and parameters answers the first result, another
//     request with it is IdempotentParameterMismatch) and DryRun
//     (everything is checked, nothing changes: DryRunOperation).
//
// Error codes (HTTP status):
//   - EndpointServiceNotFound (404): no such service of the caller (for
//     CreateVpcEndpoint and AddZoneToVpcEndpoint: none the caller may use).
//     EndpointNotFound (404): no such endpoint of the caller (for the
//     connection actions: no such endpoint of the service).
//   - MissingParameter (400); IllegalParam.<Parameter> (400): a value
//     malformed or out of range (ServiceResourceType, ResourceType,
//     ZoneId, UserId, EndpointType, ServiceName, names and descriptions).
//   - OperationUnsupported.ServiceResourceType (400): alb, nlb, gwlb;
//     OperationDenied.ServiceResourceType (400): a resource of another
//     type than the service's;
//     OperationUnsupported.EndpointType (400): Reverse, GatewayLoadBalancer;
//     OperationUnsupported.<Param> (400): the settings above and UserARN.
//   - InvalidInstanceId.NotFound (404): an ecs resource that is no
//     instance of the caller; InvalidLoadBalancerId.NotFound (404): an slb
//     resource that is no load balancer of the caller;
//     OperationDenied.ServiceResourceAddressType (400): an internet-facing
//     load balancer; OperationDenied.ServiceResourceVpc (400): a resource
//     outside the service's VPC; DuplicatedParam.ResourceId (400): one
//     given twice; ResourceNotFound.ServiceResource (404): detaching one
//     the service does not have; QuotaExceeded.ServiceResource (403).
//   - ResourceNotFound.User (404): an account that does not exist (Add) or
//     is not a user of the service (Remove); OperationDenied.ServiceOwner
//     (400): removing the owner.
//   - InvalidVpcId.NotFound, InvalidVSwitchId.NotFound,
//     InvalidSecurityGroupId.NotFound (404), InvalidVSwitchId.VpcMismatch,
//     InvalidVSwitchId.ZoneMismatch, InvalidSecurityGroupId.VPCMismatch,
//     InvalidSecurityGroupType.Mixed, InstanceSecurityGroupLimitExceeded,
//     InvalidPrivateIpAddress.* (400), InvalidVSwitchId.IpNotEnough (403):
//     as for ENIs. OperationDenied.EndpointVpc (400): the endpoint in the
//     service's VPC; OperationDenied.EndpointZone (400): a zone the
//     service's resources are not in; DuplicatedParam.ZoneId (400): a zone
//     given twice or one the endpoint has; QuotaExceeded.EndpointZone (403);
//     ResourceNotFound.EndpointZone (404): removing a zone the endpoint does
//     not have; InvalidOperation.LastEndpointZone (403): removing its last
//     zone.
//   - InvalidSecurityGroupId.AlreadyJoined, InvalidSecurityGroupId.NotJoined
//     (400), InvalidOperation.LastSecurityGroup (403): attaching a group
//     the endpoint has, detaching one it has not, or its last one.
//   - DependencyViolation.VpcEndpoint (403): deleting a service that has
//     endpoints; DependencyViolation.VpcEndpointService (403): deleting an
//     instance or a load balancer that backs a service.
//   - OperationDenied.ServiceManagedNetworkInterface (403): see above.
//   - ResourceNotEnough.TransitAddress (403): the transit range is used up.

// PrivateLinkDomain is the DNS suffix of services and endpoints:
// <service id>.<region>.PrivateLinkDomain.
const PrivateLinkDomain = model.PrivateLinkDomain

// Values the API shows.
const (
	EndpointServiceActive   = "Active"
	EndpointActive          = "Active"
	PrivateLinkBusinessOK   = "Normal"
	EndpointTypeInterface   = "Interface"
	EndpointPayer           = "Endpoint"
	DefaultServiceResources = 20
	DefaultEndpointZones    = 10
	privateLinkServiceParam = "ServiceId"
	privateLinkEndpointName = "EndpointId"
)

// transitReserved holds the cloud-service addresses (DNS, metadata, ...)
// inside model.TransitRange, never given out as transit addresses.
var transitReserved = netip.MustParsePrefix("100.100.0.0/16")

func errEndpointServiceNotFound(id string) *errs.Error {
	return errs.NotFound("EndpointServiceNotFound", "The specified ServiceId %q does not exist.", id)
}

func errEndpointNotFound(id string) *errs.Error {
	return errs.NotFound("EndpointNotFound", "The specified EndpointId %q does not exist.", id)
}

func errServiceManagedENI(e *model.ENI, what string) *errs.Error {
	return errs.Forbidden("OperationDenied.ServiceManagedNetworkInterface",
		"Network interface %s belongs to PrivateLink endpoint %s, which manages it: it cannot be %s. Change the endpoint instead (its zones and security groups), or delete the endpoint.",
		e.ID, e.EndpointID, what)
}

// refuseEndpointENI refuses a change by hand to an endpoint's ENI; what
// says what the change would have done ("deleted", "attached", ...).
func refuseEndpointENI(e *model.ENI, what string) error {
	if e.EndpointID == "" {
		return nil
	}
	return errServiceManagedENI(e, what)
}

// getEndpointService reads a service of the account (its owner).
func getEndpointService(tx store.ReadTxn, accountID, id string) (*model.EndpointService, error) {
	return getOwned(tx, model.PrefixEndpointService, privateLinkServiceParam, accountID, id, func(v *model.EndpointService) string { return v.AccountID }, errEndpointServiceNotFound)
}

// getEndpoint reads an endpoint of the account (its consumer).
func getEndpoint(tx store.ReadTxn, accountID, id string) (*model.Endpoint, error) {
	return getOwned(tx, model.PrefixEndpoint, privateLinkEndpointName, accountID, id, func(v *model.Endpoint) string { return v.AccountID }, errEndpointNotFound)
}

// MayUseService reports whether an account may connect to a service: its
// owner or a listed user.
func MayUseService(sv *model.EndpointService, accountID string) bool {
	return sv.AccountID == accountID || slices.Contains(sv.Users, accountID)
}

// ServiceZones returns the zones of a service's resources, sorted.
func ServiceZones(sv *model.EndpointService) []string {
	out := []string{}
	for _, r := range sv.Resources {
		if !slices.Contains(out, r.ZoneID) {
			out = append(out, r.ZoneID)
		}
	}
	slices.Sort(out)
	return out
}

// EndpointZoneDomain is the DNS name of one zone of an endpoint.
func EndpointZoneDomain(ep *model.Endpoint, zoneID string) string { return ep.ZoneDomain(zoneID) }

// usableService finds the service a consumer names by ID or name, among
// those it may use; anything else is EndpointServiceNotFound.
func usableService(tx store.ReadTxn, accountID, id, name string) (*model.EndpointService, error) {
	if id == "" && name == "" {
		return nil, errs.MissingParameter("ServiceId or ServiceName")
	}
	var sv *model.EndpointService
	if id != "" {
		v := new(model.EndpointService)
		if ok, err := getJSON(tx, model.PrefixEndpointService+id, v); err != nil {
			return nil, err
		} else if ok && MayUseService(v, accountID) {
			sv = v
		}
	} else if err := listJSON(tx, model.PrefixEndpointService, func(v *model.EndpointService) error {
		if sv == nil && v.Name == name && MayUseService(v, accountID) {
			sv = v
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if sv == nil {
		param, value := privateLinkServiceParam, id
		if id == "" {
			param, value = "ServiceName", name
		}
		return nil, errs.NotFound("EndpointServiceNotFound",
			"The specified %s %q does not exist, or your account may not use it: the owner of a service adds the accounts that may connect to it (AddUserToVpcEndpointService).",
			param, value)
	}
	if id != "" && name != "" && sv.Name != name {
		return nil, errs.InvalidParam("IllegalParam.ServiceName",
			"The specified ServiceName %q is not the name of service %s (%s); give one of ServiceId and ServiceName, or both of the same service.", name, sv.ID, sv.Name)
	}
	return sv, nil
}

// serviceEndpoints lists the endpoints of a service (of every account).
func serviceEndpoints(tx store.ReadTxn, serviceID string) ([]*model.Endpoint, error) {
	var out []*model.Endpoint
	err := listJSON(tx, model.PrefixEndpoint, func(ep *model.Endpoint) error {
		if ep.ServiceID == serviceID {
			out = append(out, ep)
		}
		return nil
	})
	sortByCreation(out, func(ep *model.Endpoint) (int64, string) { return ep.CreatedAt.UnixNano(), ep.ID })
	return out, err
}

func endpointIDs(eps []*model.Endpoint) string {
	ids := make([]string, 0, len(eps))
	for _, ep := range eps {
		ids = append(ids, ep.ID)
	}
	return strings.Join(ids, ", ")
}

// refuseServiceResource refuses to delete a resource (an instance, for
// DeleteInstances, or a load balancer, for DeleteLoadBalancer) that backs
// a service; what names it ("Instance", "Load balancer").
func refuseServiceResource(tx store.ReadTxn, typ, what, id string) error {
	return listJSON(tx, model.PrefixEndpointService, func(sv *model.EndpointService) error {
		if slices.ContainsFunc(sv.Resources, func(r model.EndpointServiceResource) bool { return r.ResourceID == id && r.ResourceType == typ }) {
			return errs.Forbidden("DependencyViolation.VpcEndpointService",
				"%s %s backs PrivateLink endpoint service %s; detach it from the service first (DetachResourceFromVpcEndpointService).", what, id, sv.ID)
		}
		return nil
	})
}

// refuseServiceInstance is DeleteInstances' part of PrivateLink: an
// instance that backs a service cannot go (an instance that is a backend
// of a load balancer backing one may: it leaves the load balancer).
func refuseServiceInstance(tx store.ReadTxn, instanceID string) error {
	return refuseServiceResource(tx, model.EndpointResourceECS, "Instance", instanceID)
}

// refuseServiceLoadBalancer is DeleteLoadBalancer's part of PrivateLink:
// a load balancer that backs a service cannot go.
func refuseServiceLoadBalancer(tx store.ReadTxn, lbID string) error {
	return refuseServiceResource(tx, model.EndpointResourceSLB, "Load balancer", lbID)
}

func validatePrivateLinkText(param, v string, maxLen int) error {
	return validateFlowLogText("IllegalParam."+param, param, v, maxLen)
}

func unsupported(param, why string) *errs.Error {
	return errs.InvalidParam("OperationUnsupported."+param, "%s is not supported: %s", param, why)
}

// ---------------------------------------------------------------------------
// Transit addresses

func transitKey(a netip.Addr) string { return model.PrefixEndpointTransit + a.String() }

// lastAddr is the broadcast address of an IPv4 prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	v := binary.BigEndian.Uint32(b[:]) | (1<<(32-p.Bits()) - 1)
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}

// allocTransit takes the lowest free transit address for endpointID.
func allocTransit(tx store.Txn, endpointID string) (netip.Addr, error) {
	used := map[netip.Addr]bool{}
	if err := tx.List(model.PrefixEndpointTransit, func(k string, _ []byte) error {
		if a, err := netip.ParseAddr(strings.TrimPrefix(k, model.PrefixEndpointTransit)); err == nil {
			used[a] = true
		}
		return nil
	}); err != nil {
		return netip.Addr{}, err
	}
	a, ok := freeTransit(model.TransitRange, used)
	if !ok {
		return netip.Addr{}, errs.Forbidden("ResourceNotEnough.TransitAddress",
			"Every transit address of %s is in use by an endpoint zone; delete unused endpoints.", model.TransitRange)
	}
	return a, tx.Put(transitKey(a), []byte(endpointID))
}

// freeTransit returns the lowest address of r that is not used, not r's
// network or broadcast address and not in transitReserved.
func freeTransit(r netip.Prefix, used map[netip.Addr]bool) (netip.Addr, bool) {
	last := lastAddr(r)
	for a := r.Masked().Addr().Next(); a.Less(last); a = a.Next() {
		if transitReserved.Contains(a) {
			a = lastAddr(transitReserved) // the loop steps past it
			continue
		}
		if !used[a] {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// ---------------------------------------------------------------------------
// Services

// ServiceResourceSpec is a service resource as the API gives it.
type ServiceResourceSpec struct {
	// Param is the element's wire name ("Resource.1"); errors name its
	// fields "Resource.1.ResourceId". Empty: the fields are top-level
	// parameters (Attach/DetachResource...).
	Param                            string
	ResourceType, ResourceID, ZoneID string
}

func (r ServiceResourceSpec) name(field string) string {
	if r.Param == "" {
		return field
	}
	return r.Param + "." + field
}

// checkResourceType checks a ServiceResourceType or ResourceType and
// returns it in lower case ("" when not given and not required).
func checkResourceType(param, v string, required bool) (string, error) {
	switch t := strings.ToLower(v); t {
	case "":
		if required {
			return "", errs.MissingParameter(param)
		}
		return "", nil
	case model.EndpointResourceECS, model.EndpointResourceSLB:
		return t, nil
	case "alb", "nlb", "gwlb":
		return "", errs.InvalidParam("OperationUnsupported.ServiceResourceType",
			"%s %q is not supported: PrivateLink services in Palisade are backed by instances (%s: i-... of your VPC) or internal classic load balancers (%s: lb-... of your VPC), not by application, network or gateway load balancers.",
			param, v, model.EndpointResourceECS, model.EndpointResourceSLB)
	}
	field := param
	if i := strings.LastIndex(param, "."); i >= 0 {
		field = param[i+1:]
	}
	return "", errs.InvalidParam("IllegalParam."+field, "The specified %s %q is not valid; use %s (an instance) or %s (an internal load balancer).",
		param, v, model.EndpointResourceECS, model.EndpointResourceSLB)
}

// resourceTypeName names a resource type for people.
func resourceTypeName(t string) string {
	if t == model.EndpointResourceSLB {
		return "load balancers (slb, lb-...)"
	}
	return "instances (ecs, i-...)"
}

// errResourceTypeMismatch refuses a resource of another type than the
// service's: a service's resources are all of one type.
func errResourceTypeMismatch(sv *model.EndpointService, param, typ string) *errs.Error {
	return errs.InvalidParam("OperationDenied.ServiceResourceType",
		"%s %s does not match the ServiceResourceType %s of %s: a service's resources are all of one type, here %s. Use a resource of that type, or create another service with ServiceResourceType %s for %s.",
		param, typ, sv.Type(), serviceName(sv), resourceTypeName(sv.Type()), typ, resourceTypeName(typ))
}

// serviceName names a service in errors: "service epsrv-...", or "the
// new service" while CreateVpcEndpointService checks its resources.
func serviceName(sv *model.EndpointService) string {
	if sv.ID == "" {
		return "the new service"
	}
	return "service " + sv.ID
}

// resolveResource checks a resource for service sv (whose Type is set)
// and returns it with the VPC it is in.
func resolveResource(tx store.ReadTxn, accountID string, sv *model.EndpointService, spec ServiceResourceSpec, required bool) (model.EndpointServiceResource, string, error) {
	var r model.EndpointServiceResource
	typ, err := checkResourceType(spec.name("ResourceType"), spec.ResourceType, required)
	if err != nil {
		return r, "", err
	}
	if typ == "" {
		typ = sv.Type()
	}
	if typ != sv.Type() {
		return r, "", errResourceTypeMismatch(sv, spec.name("ResourceType"), typ)
	}
	param := spec.name("ResourceId")
	var what, rid, zone, vpc string
	switch typ {
	case model.EndpointResourceSLB:
		lb, err := getOwned(tx, model.PrefixLoadBalancer, param, accountID, spec.ResourceID, func(v *model.LoadBalancer) string { return v.AccountID }, func(id string) *errs.Error {
			return errs.NotFound("InvalidLoadBalancerId.NotFound", "The specified %s %q does not exist: a resource of type slb is an internal load balancer (lb-...) of your account.", param, id)
		})
		if err != nil {
			return r, "", err
		}
		if lb.AddressType != model.LBAddressIntranet {
			return r, "", errs.InvalidParam("OperationDenied.ServiceResourceAddressType",
				"Load balancer %s is %s-facing: a PrivateLink service is backed by internal (intranet) load balancers only.", lb.ID, lb.AddressType)
		}
		what, rid, zone, vpc = "load balancer", lb.ID, lb.ZoneID, lb.VpcID
	default:
		inst, err := getOwned(tx, model.PrefixInstance, param, accountID, spec.ResourceID, func(v *model.Instance) string { return v.AccountID }, func(id string) *errs.Error {
			return errs.NotFound("InvalidInstanceId.NotFound", "The specified %s %q does not exist: a resource of type ecs is an instance (i-...) of your account.", param, id)
		})
		if err != nil {
			return r, "", err
		}
		what, rid, zone, vpc = "instance", inst.ID, inst.ZoneID, inst.VpcID
	}
	if spec.ZoneID != "" && spec.ZoneID != zone {
		return r, "", errs.InvalidParam("IllegalParam.ZoneId",
			"The specified %s %q is not the zone of %s %s (%s); give the %s's zone or leave it out.", spec.name("ZoneId"), spec.ZoneID, what, rid, zone, what)
	}
	if sv.VpcID != "" && vpc != sv.VpcID {
		return r, "", errs.InvalidParam("OperationDenied.ServiceResourceVpc",
			"The %s %s is in VPC %s, but the resources of %s are in VPC %s: a service's resources are all in one VPC.", what, rid, vpc, serviceName(sv), sv.VpcID)
	}
	return model.EndpointServiceResource{ResourceID: rid, ResourceType: typ, ZoneID: zone}, vpc, nil
}

// addResource adds a checked resource to sv (nothing when it has it).
func (s *Service) addResource(tx store.ReadTxn, accountID string, sv *model.EndpointService, spec ServiceResourceSpec, required bool) error {
	r, vpc, err := resolveResource(tx, accountID, sv, spec, required)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(sv.Resources, func(o model.EndpointServiceResource) bool { return o.ResourceID == r.ResourceID }) {
		return nil
	}
	if limit := s.cfg.Quotas.EndpointServiceResources; len(sv.Resources) >= limit {
		who := serviceName(sv)
		return errs.Quota("QuotaExceeded.ServiceResource",
			"%s cannot take %s %s: a service has at most %d resources.", strings.ToUpper(who[:1])+who[1:], spec.name("ResourceId"), r.ResourceID, limit)
	}
	if sv.VpcID == "" {
		sv.VpcID = vpc
	}
	sv.Resources = append(sv.Resources, r)
	return nil
}

// EndpointServiceSettings are the settings of a service that Palisade
// does not implement: anything but the zero value is refused.
type EndpointServiceSettings struct {
	Payer                       string // "" or Endpoint
	ZoneAffinityEnabled         bool
	ServiceSupportIPv6          bool
	PrivateServiceDomainEnabled bool
	PrivateServiceDomain        string
	ConnectBandwidth            *int // Update only
}

func (x EndpointServiceSettings) check() error {
	switch {
	case x.Payer != "" && !strings.EqualFold(x.Payer, EndpointPayer):
		return unsupported("Payer", "the consumer's account always owns its endpoints (Payer Endpoint); Palisade bills nothing.")
	case x.ZoneAffinityEnabled:
		return unsupported("ZoneAffinityEnabled", "the endpoint's domain resolves to the addresses of all its zones.")
	case x.ServiceSupportIPv6:
		return unsupported("ServiceSupportIPv6", "PrivateLink connections are IPv4 (endpoint addresses and transit addresses).")
	case x.PrivateServiceDomainEnabled || x.PrivateServiceDomain != "":
		return unsupported("PrivateServiceDomain", "a service is reached by its own domain (<service id>.<region>."+PrivateLinkDomain+") and its endpoints' domains.")
	case x.ConnectBandwidth != nil:
		return unsupported("ConnectBandwidth", "Palisade does not limit the bandwidth of PrivateLink connections.")
	}
	return nil
}

// CreateEndpointServiceInput is the request of CreateVpcEndpointService.
type CreateEndpointServiceInput struct {
	ServiceResourceType string // "" = ecs
	Resources           []ServiceResourceSpec
	AutoAccept          bool
	Description         string
	Settings            EndpointServiceSettings
	ResourceGroupID     string
	Tags                []model.Tag
	ClientToken         string
	DryRun              bool
}

// checkResourceList refuses a resource given twice.
func checkResourceList(specs []ServiceResourceSpec) error {
	for i, r := range specs {
		if r.ResourceID != "" && slices.ContainsFunc(specs[:i], func(o ServiceResourceSpec) bool { return o.ResourceID == r.ResourceID }) {
			return errs.InvalidParam("DuplicatedParam.ResourceId", "Resource %s is given twice (%s).", r.ResourceID, r.name("ResourceId"))
		}
	}
	return nil
}

// CreateVpcEndpointService creates a service of the caller's instances.
func (s *Service) CreateVpcEndpointService(ctx context.Context, accountID string, in CreateEndpointServiceInput) (model.EndpointService, error) {
	var out model.EndpointService
	typ, err := checkResourceType("ServiceResourceType", in.ServiceResourceType, false)
	if err != nil {
		return out, err
	}
	if typ == "" {
		// The first resource's type when it gives one, else ecs.
		typ = model.EndpointResourceECS
		for _, r := range in.Resources {
			if t, err := checkResourceType("ResourceType", r.ResourceType, false); err == nil && t != "" {
				typ = t
				break
			}
		}
	}
	if err := in.Settings.check(); err != nil {
		return out, err
	}
	if err := validatePrivateLinkText("ServiceDescription", in.Description, 256); err != nil {
		return out, err
	}
	for i := range in.Resources {
		if in.Resources[i].Param == "" {
			in.Resources[i].Param = "Resource." + strconv.Itoa(i+1)
		}
	}
	if err := checkResourceList(in.Resources); err != nil {
		return out, err
	}
	_, err = s.update(ctx, func(tx store.Txn) error {
		_, err := withClientToken(tx, accountID, "CreateVpcEndpointService", in.ClientToken, in, &out, func() error {
			// The ID is given once the resources are checked (errors
			// name "the new service").
			sv := model.EndpointService{
				AccountID: accountID, RegionID: s.cfg.Region,
				Description: in.Description, ResourceType: typ, Resources: []model.EndpointServiceResource{}, AutoAccept: in.AutoAccept,
				Users: []string{}, Status: EndpointServiceActive, CreatedAt: s.stamp(),
				ResourceGroupID: in.ResourceGroupID, Tags: in.Tags,
			}
			for _, spec := range in.Resources {
				if err := s.addResource(tx, accountID, &sv, spec, false); err != nil {
					return err
				}
			}
			id := NewID("epsrv")
			sv.ID, sv.Name, sv.Domain = id, "com.aliyuncs.privatelink."+s.cfg.Region+"."+id, id+"."+s.cfg.Region+"."+PrivateLinkDomain
			if in.DryRun {
				return errDryRun
			}
			out = sv
			return putJSON(tx, model.PrefixEndpointService+sv.ID, &sv)
		})
		return err
	})
	return out, err
}

// GetVpcEndpointServiceAttribute returns a service of the caller.
func (s *Service) GetVpcEndpointServiceAttribute(ctx context.Context, accountID, id string) (model.EndpointService, error) {
	var out model.EndpointService
	err := s.view(ctx, func(tx store.ReadTxn) error {
		sv, err := getEndpointService(tx, accountID, id)
		if err == nil {
			out = *sv
		}
		return err
	})
	return out, err
}

// UpdateEndpointServiceInput is the request of
// UpdateVpcEndpointServiceAttribute; nil fields stay as they are.
type UpdateEndpointServiceInput struct {
	AutoAccept  *bool
	Description *string
	Settings    EndpointServiceSettings
	ClientToken string
	DryRun      bool
}

// UpdateVpcEndpointServiceAttribute changes AutoAcceptEnabled (for
// endpoints created later) or the description.
func (s *Service) UpdateVpcEndpointServiceAttribute(ctx context.Context, accountID, id string, in UpdateEndpointServiceInput) error {
	if id == "" {
		return errs.MissingParameter(privateLinkServiceParam)
	}
	if err := in.Settings.check(); err != nil {
		return err
	}
	if in.Description != nil {
		if err := validatePrivateLinkText("ServiceDescription", *in.Description, 256); err != nil {
			return err
		}
	}
	return s.changeService(ctx, accountID, id, "UpdateVpcEndpointServiceAttribute", in.ClientToken, in, in.DryRun, func(_ store.Txn, sv *model.EndpointService) error {
		if in.AutoAccept != nil {
			sv.AutoAccept = *in.AutoAccept
		}
		if in.Description != nil {
			sv.Description = *in.Description
		}
		return nil
	})
}

// changeService runs change on a service of the caller and writes it,
// with ClientToken and DryRun.
func (s *Service) changeService(ctx context.Context, accountID, id, action, token string, params any, dryRun bool, change func(tx store.Txn, sv *model.EndpointService) error) error {
	if id == "" {
		return errs.MissingParameter(privateLinkServiceParam)
	}
	return changeOwned(s, ctx, accountID, action, id, token, params, dryRun,
		func(tx store.ReadTxn) (*model.EndpointService, error) { return getEndpointService(tx, accountID, id) },
		change, func(sv *model.EndpointService) string { return model.PrefixEndpointService + sv.ID })
}

// DeleteVpcEndpointService deletes a service that no endpoint uses.
func (s *Service) DeleteVpcEndpointService(ctx context.Context, accountID, id, clientToken string, dryRun bool) error {
	if id == "" {
		return errs.MissingParameter(privateLinkServiceParam)
	}
	return deleteOwned(s, ctx, accountID, "DeleteVpcEndpointService", id, clientToken, dryRun,
		func(tx store.ReadTxn) (*model.EndpointService, error) { return getEndpointService(tx, accountID, id) },
		func(tx store.Txn, sv *model.EndpointService) error {
			eps, err := serviceEndpoints(tx, sv.ID)
			if err != nil {
				return err
			}
			if len(eps) > 0 {
				return errs.Forbidden("DependencyViolation.VpcEndpoint",
					"Service %s still has %d endpoint(s) (%s); their owners must delete them first (DeleteVpcEndpoint). You can disconnect them now with DisableVpcEndpointConnection.",
					sv.ID, len(eps), endpointIDs(eps))
			}
			return nil
		}, func(sv *model.EndpointService) string { return model.PrefixEndpointService + sv.ID })
}

// EndpointServiceQuery selects services in ListVpcEndpointServices and
// ListVpcEndpointServicesByEndUser; empty (nil) fields match all.
type EndpointServiceQuery struct {
	ID, Name, Status, ResourceType, ResourceID string
	ServiceType                                string // Interface
	AutoAccept                                 *bool
	ZoneAffinity                               *bool // never enabled
	ResourceGroupID                            string
	Tags                                       []model.Tag
}

func (q EndpointServiceQuery) match(sv *model.EndpointService) bool {
	return (q.ID == "" || sv.ID == q.ID) && (q.Name == "" || sv.Name == q.Name) &&
		(q.Status == "" || strings.EqualFold(q.Status, sv.Status)) &&
		(q.ResourceType == "" || strings.EqualFold(q.ResourceType, sv.Type())) &&
		(q.ServiceType == "" || strings.EqualFold(q.ServiceType, EndpointTypeInterface)) &&
		(q.ResourceID == "" || slices.ContainsFunc(sv.Resources, func(r model.EndpointServiceResource) bool { return r.ResourceID == q.ResourceID })) &&
		(q.AutoAccept == nil || sv.AutoAccept == *q.AutoAccept) && (q.ZoneAffinity == nil || !*q.ZoneAffinity) &&
		(q.ResourceGroupID == "" || sv.ResourceGroupID == q.ResourceGroupID) &&
		hasTags(sv.Tags, q.Tags)
}

func (s *Service) listServices(ctx context.Context, q EndpointServiceQuery, keep func(*model.EndpointService) bool) ([]model.EndpointService, error) {
	return listMatching(s, ctx, model.PrefixEndpointService, func(sv *model.EndpointService) bool { return keep(sv) && q.match(sv) },
		func(sv model.EndpointService) (int64, string) { return sv.CreatedAt.UnixNano(), sv.ID })
}

// ListVpcEndpointServices lists the caller's services, oldest first.
func (s *Service) ListVpcEndpointServices(ctx context.Context, accountID string, q EndpointServiceQuery) ([]model.EndpointService, error) {
	return s.listServices(ctx, q, func(sv *model.EndpointService) bool { return sv.AccountID == accountID })
}

// ListVpcEndpointServicesByEndUser lists the services the caller may
// connect to (its own and those that list it as a user), oldest first.
func (s *Service) ListVpcEndpointServicesByEndUser(ctx context.Context, accountID string, q EndpointServiceQuery) ([]model.EndpointService, error) {
	return s.listServices(ctx, q, func(sv *model.EndpointService) bool { return MayUseService(sv, accountID) })
}

// AttachResourceToVpcEndpointService adds an instance or a load balancer
// (of the service's type) to a service; one the service has is left as
// it is.
func (s *Service) AttachResourceToVpcEndpointService(ctx context.Context, accountID, id string, spec ServiceResourceSpec, clientToken string, dryRun bool) error {
	if spec.ResourceID == "" {
		return errs.MissingParameter(spec.name("ResourceId"))
	}
	if _, err := checkResourceType(spec.name("ResourceType"), spec.ResourceType, true); err != nil {
		return err
	}
	params := struct {
		Spec   ServiceResourceSpec
		DryRun bool
	}{spec, dryRun}
	return s.changeService(ctx, accountID, id, "AttachResourceToVpcEndpointService", clientToken, params, dryRun, func(tx store.Txn, sv *model.EndpointService) error {
		return s.addResource(tx, accountID, sv, spec, true)
	})
}

// DetachResourceFromVpcEndpointService removes an instance or a load
// balancer from a service (its last one too).
func (s *Service) DetachResourceFromVpcEndpointService(ctx context.Context, accountID, id string, spec ServiceResourceSpec, clientToken string, dryRun bool) error {
	if spec.ResourceID == "" {
		return errs.MissingParameter(spec.name("ResourceId"))
	}
	typ, err := checkResourceType(spec.name("ResourceType"), spec.ResourceType, true)
	if err != nil {
		return err
	}
	params := struct {
		Spec   ServiceResourceSpec
		DryRun bool
	}{spec, dryRun}
	return s.changeService(ctx, accountID, id, "DetachResourceFromVpcEndpointService", clientToken, params, dryRun, func(tx store.Txn, sv *model.EndpointService) error {
		if typ != sv.Type() {
			return errResourceTypeMismatch(sv, spec.name("ResourceType"), typ)
		}
		i := slices.IndexFunc(sv.Resources, func(r model.EndpointServiceResource) bool {
			return r.ResourceID == spec.ResourceID && (spec.ZoneID == "" || r.ZoneID == spec.ZoneID)
		})
		if i < 0 {
			where := ""
			if spec.ZoneID != "" {
				where = " in zone " + spec.ZoneID
			}
			return errs.NotFound("ResourceNotFound.ServiceResource", "The specified ResourceId %q is not a resource of service %s%s.", spec.ResourceID, sv.ID, where)
		}
		sv.Resources = slices.Delete(sv.Resources, i, i+1)
		if len(sv.Resources) == 0 {
			eps, err := serviceEndpoints(tx, sv.ID)
			if err != nil {
				return err
			}
			if len(eps) == 0 {
				sv.VpcID = ""
			}
		}
		return nil
	})
}

// ServiceResourceView is a resource of a service with its network (an
// instance's primary address, a load balancer's address) and the
// endpoints that reach it.
type ServiceResourceView struct {
	model.EndpointServiceResource
	VpcID, VSwitchID string
	IP               netip.Addr
	// RelatedEndpoints counts the service's endpoints with a zone in the
	// resource's zone.
	RelatedEndpoints int
}

// ListVpcEndpointServiceResources lists a service's resources, in the
// order they were attached; zone "" is every zone.
func (s *Service) ListVpcEndpointServiceResources(ctx context.Context, accountID, id, zone string) ([]ServiceResourceView, error) {
	var out []ServiceResourceView
	err := s.view(ctx, func(tx store.ReadTxn) error {
		out = nil
		sv, err := getEndpointService(tx, accountID, id)
		if err != nil {
			return err
		}
		eps, err := serviceEndpoints(tx, sv.ID)
		if err != nil {
			return err
		}
		for _, r := range sv.Resources {
			if zone != "" && r.ZoneID != zone {
				continue
			}
			v := ServiceResourceView{EndpointServiceResource: r}
			var inst model.Instance
			var lb model.LoadBalancer
			if r.ResourceType == model.EndpointResourceSLB {
				if ok, err := getJSON(tx, model.PrefixLoadBalancer+r.ResourceID, &lb); err != nil {
					return err
				} else if ok {
					v.VpcID, v.VSwitchID, v.IP = lb.VpcID, lb.VSwitchID, lb.Address
				}
			} else if ok, err := getJSON(tx, model.PrefixInstance+r.ResourceID, &inst); err != nil {
				return err
			} else if ok {
				v.VpcID, v.VSwitchID = inst.VpcID, inst.VSwitchID
				var e model.ENI
				if ok, err := getJSON(tx, model.PrefixENI+inst.PrimaryENIID, &e); err != nil {
					return err
				} else if ok {
					v.IP = e.PrimaryIP
				}
			}
			for _, ep := range eps {
				if slices.ContainsFunc(ep.Zones, func(z model.EndpointZone) bool { return z.ZoneID == r.ZoneID }) {
					v.RelatedEndpoints++
				}
			}
			out = append(out, v)
		}
		return nil
	})
	return out, err
}

// parseUserID reads the account a user action names.
func parseUserID(userID, userARN string) (string, error) {
	if userARN != "" {
		return "", unsupported("UserARN", "Palisade has no RAM users or roles; give the account ID as UserId.")
	}
	if userID == "" {
		return "", errs.MissingParameter("UserId")
	}
	if _, err := strconv.ParseUint(userID, 10, 63); err != nil {
		return "", errs.InvalidParam("IllegalParam.UserId", "The specified UserId %q is not an account ID (a number such as 1234567890123456).", userID)
	}
	return userID, nil
}

// AddUserToVpcEndpointService lets an account connect to a service.
// Adding the owner or a listed user changes nothing.
func (s *Service) AddUserToVpcEndpointService(ctx context.Context, accountID, id, userID, userARN, clientToken string, dryRun bool) error {
	user, err := parseUserID(userID, userARN)
	if err != nil {
		return err
	}
	params := struct {
		User   string
		DryRun bool
	}{user, dryRun}
	return s.changeService(ctx, accountID, id, "AddUserToVpcEndpointService", clientToken, params, dryRun, func(tx store.Txn, sv *model.EndpointService) error {
		if _, ok, err := tx.Get(model.PrefixAccount + user); err != nil {
			return err
		} else if !ok {
			return errs.NotFound("ResourceNotFound.User", "The specified UserId %q is not an account of this Palisade.", user)
		}
		if !MayUseService(sv, user) {
			sv.Users = append(sv.Users, user)
		}
		return nil
	})
}

// RemoveUserFromVpcEndpointService stops an account from creating new
// endpoints of a service; its existing endpoints stay.
func (s *Service) RemoveUserFromVpcEndpointService(ctx context.Context, accountID, id, userID, userARN, clientToken string, dryRun bool) error {
	user, err := parseUserID(userID, userARN)
	if err != nil {
		return err
	}
	params := struct {
		User   string
		DryRun bool
	}{user, dryRun}
	return s.changeService(ctx, accountID, id, "RemoveUserFromVpcEndpointService", clientToken, params, dryRun, func(_ store.Txn, sv *model.EndpointService) error {
		if user == sv.AccountID {
			return errs.InvalidParam("OperationDenied.ServiceOwner",
				"Account %s owns service %s and may always use it; it is not a listed user and cannot be removed.", user, sv.ID)
		}
		i := slices.Index(sv.Users, user)
		if i < 0 {
			return errs.NotFound("ResourceNotFound.User", "The specified UserId %q is not a user of service %s.", user, sv.ID)
		}
		sv.Users = slices.Delete(sv.Users, i, i+1)
		return nil
	})
}

// ListVpcEndpointServiceUsers lists the accounts a service lists (not its
// owner), in the order they were added; userID "" is all.
func (s *Service) ListVpcEndpointServiceUsers(ctx context.Context, accountID, id, userID string) ([]string, error) {
	var out []string
	err := s.view(ctx, func(tx store.ReadTxn) error {
		sv, err := getEndpointService(tx, accountID, id)
		if err != nil {
			return err
		}
		out = []string{}
		for _, u := range sv.Users {
			if userID == "" || u == userID {
				out = append(out, u)
			}
		}
		return nil
	})
	return out, err
}

// ---------------------------------------------------------------------------
// Connections (the provider's view of its services' endpoints)

// ConnectionQuery selects connections in ListVpcEndpointConnections;
// ServiceID is required, other empty fields match all.
type ConnectionQuery struct {
	ServiceID, EndpointID, EndpointOwnerID, ConnectionStatus, ZoneID string
}

// ListVpcEndpointConnections lists the endpoints of a service of the
// caller, oldest first.
func (s *Service) ListVpcEndpointConnections(ctx context.Context, accountID string, q ConnectionQuery) ([]model.Endpoint, error) {
	var out []model.Endpoint
	err := s.view(ctx, func(tx store.ReadTxn) error {
		out = nil
		sv, err := getEndpointService(tx, accountID, q.ServiceID)
		if err != nil {
			return err
		}
		eps, err := serviceEndpoints(tx, sv.ID)
		if err != nil {
			return err
		}
		for _, ep := range eps {
			if (q.EndpointID == "" || ep.ID == q.EndpointID) && (q.EndpointOwnerID == "" || ep.AccountID == q.EndpointOwnerID) &&
				(q.ConnectionStatus == "" || strings.EqualFold(q.ConnectionStatus, ep.ConnectionStatus)) &&
				(q.ZoneID == "" || slices.ContainsFunc(ep.Zones, func(z model.EndpointZone) bool { return z.ZoneID == q.ZoneID })) {
				out = append(out, *ep)
			}
		}
		return nil
	})
	return out, err
}

// setConnection runs Enable/DisableVpcEndpointConnection: the owner of
// the service sets the connection status of one of its endpoints.
func (s *Service) setConnection(ctx context.Context, action, accountID, serviceID, endpointID, status, clientToken string, dryRun bool) error {
	if serviceID == "" {
		return errs.MissingParameter(privateLinkServiceParam)
	}
	if endpointID == "" {
		return errs.MissingParameter(privateLinkEndpointName)
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		var done bool
		_, err := withClientToken(tx, accountID, action+"/"+serviceID+"/"+endpointID, clientToken, dryRun, &done, func() error {
			sv, err := getEndpointService(tx, accountID, serviceID)
			if err != nil {
				return err
			}
			ep := new(model.Endpoint)
			if ok, err := getJSON(tx, model.PrefixEndpoint+endpointID, ep); err != nil {
				return err
			} else if !ok || ep.ServiceID != sv.ID {
				return errs.NotFound("EndpointNotFound", "The specified EndpointId %q is not an endpoint of service %s.", endpointID, sv.ID)
			}
			if dryRun {
				return errDryRun
			}
			done = true
			if ep.ConnectionStatus == status {
				return nil
			}
			ep.ConnectionStatus, ep.ConnectionChangedAt = status, s.stamp()
			return putJSON(tx, model.PrefixEndpoint+ep.ID, ep)
		})
		return err
	})
	return err
}

// EnableVpcEndpointConnection accepts an endpoint's connection: it
// carries traffic (Connected). bandwidth must be nil (not limited).
func (s *Service) EnableVpcEndpointConnection(ctx context.Context, accountID, serviceID, endpointID string, bandwidth *int, clientToken string, dryRun bool) error {
	if bandwidth != nil {
		return unsupported("Bandwidth", "Palisade does not limit the bandwidth of PrivateLink connections.")
	}
	return s.setConnection(ctx, "EnableVpcEndpointConnection", accountID, serviceID, endpointID, model.EndpointConnected, clientToken, dryRun)
}

// DisableVpcEndpointConnection disconnects an endpoint: it carries no
// traffic (Disconnected) until enabled again.
func (s *Service) DisableVpcEndpointConnection(ctx context.Context, accountID, serviceID, endpointID, clientToken string, dryRun bool) error {
	return s.setConnection(ctx, "DisableVpcEndpointConnection", accountID, serviceID, endpointID, model.EndpointDisconnected, clientToken, dryRun)
}

// ---------------------------------------------------------------------------
// Endpoints

// EndpointZoneSpec is an endpoint zone as the API gives it.
type EndpointZoneSpec struct {
	// Param is the element's wire name ("Zone.1"); errors name its fields
	// "Zone.1.VSwitchId". Empty: top-level parameters (AddZoneToVpcEndpoint).
	Param                 string
	ZoneID, VSwitchID, IP string
}

func (z EndpointZoneSpec) name(field string) string {
	if z.Param == "" {
		return field
	}
	return z.Param + "." + field
}

// addEndpointZone gives ep a zone in service sv: an ENI of the consumer in
// the zone's vSwitch, with the endpoint's groups, and a transit address.
// The ENI is written; ep is not.
func (s *Service) addEndpointZone(tx store.Txn, ep *model.Endpoint, sv *model.EndpointService, spec EndpointZoneSpec) error {
	if spec.VSwitchID == "" {
		return errs.MissingParameter(spec.name("VSwitchId"))
	}
	vsw, err := getVSwitch(tx, ep.AccountID, spec.VSwitchID)
	if err != nil {
		return err
	}
	if vsw.VpcID != ep.VpcID {
		return errs.InvalidParam("InvalidVSwitchId.VpcMismatch",
			"%s %s is in VPC %s, not in the endpoint's VPC %s.", spec.name("VSwitchId"), vsw.ID, vsw.VpcID, ep.VpcID)
	}
	if spec.ZoneID != "" && spec.ZoneID != vsw.ZoneID {
		return errs.InvalidParam("InvalidVSwitchId.ZoneMismatch",
			"%s %s is in zone %s, not in %s %s.", spec.name("VSwitchId"), vsw.ID, vsw.ZoneID, spec.name("ZoneId"), spec.ZoneID)
	}
	if slices.ContainsFunc(ep.Zones, func(z model.EndpointZone) bool { return z.ZoneID == vsw.ZoneID }) {
		return errs.InvalidParam("DuplicatedParam.ZoneId",
			"Endpoint %s would have zone %s twice (%s %s): an endpoint has one address per zone.", ep.ID, vsw.ZoneID, spec.name("VSwitchId"), vsw.ID)
	}
	if limit := s.cfg.Quotas.EndpointZones; len(ep.Zones) >= limit {
		return errs.Quota("QuotaExceeded.EndpointZone", "Endpoint %s has %d zones, the maximum; zone %s (%s %s) would be one more.", ep.ID, limit, vsw.ZoneID, spec.name("VSwitchId"), vsw.ID)
	}
	if zones := ServiceZones(sv); !slices.Contains(zones, vsw.ZoneID) {
		where := "no zone (it has no resources)"
		if len(zones) > 0 {
			where = strings.Join(zones, ", ")
		}
		return errs.InvalidParam("OperationDenied.EndpointZone",
			"Zone %s (%s %s) is not a zone of service %s, whose resources are in %s: an endpoint's zones are zones of its service.",
			vsw.ZoneID, spec.name("VSwitchId"), vsw.ID, sv.ID, where)
	}
	e, err := s.newENI(tx, ep.AccountID, ENISpec{
		VSwitchID: vsw.ID, SecurityGroupIDs: slices.Clone(ep.SecurityGroupIDs), PrimaryIP: spec.IP, PrimaryIPParam: spec.name("ip"),
		Description: "PrivateLink endpoint " + ep.ID,
	}, model.ENITypeSecondary, "", 0)
	if err != nil {
		return err
	}
	e.EndpointID, e.Status = ep.ID, model.ENIInUse
	if err := putJSON(tx, model.PrefixENI+e.ID, e); err != nil {
		return err
	}
	transit, err := allocTransit(tx, ep.ID)
	if err != nil {
		return err
	}
	ep.Zones = append(ep.Zones, model.EndpointZone{ZoneID: vsw.ZoneID, VSwitchID: vsw.ID, ENIID: e.ID, Addr: e.PrimaryIP, TransitAddr: transit})
	return nil
}

// removeEndpointZone deletes zone i of ep: its ENI (addresses,
// memberships) and its transit address. ep is not written.
func (s *Service) removeEndpointZone(tx store.Txn, ep *model.Endpoint, i int) error {
	z := ep.Zones[i]
	var e model.ENI
	if ok, err := getJSON(tx, model.PrefixENI+z.ENIID, &e); err != nil {
		return err
	} else if ok {
		if err := s.deleteENI(tx, &e); err != nil {
			return err
		}
	}
	if z.TransitAddr.IsValid() {
		if err := tx.Delete(transitKey(z.TransitAddr)); err != nil {
			return err
		}
	}
	ep.Zones = slices.Delete(ep.Zones, i, i+1)
	return nil
}

// CreateEndpointInput is the request of CreateVpcEndpoint.
type CreateEndpointInput struct {
	VpcID                  string
	SecurityGroupIDs       []string
	ServiceID, ServiceName string
	Zones                  []EndpointZoneSpec
	Name, Description      string
	EndpointType           string // "" = Interface
	ZonePrivateIPCount     *int   // nil or 1
	Protected              bool
	ResourceGroupID        string
	Tags                   []model.Tag
	ClientToken            string
	DryRun                 bool
}

func checkEndpointType(v string) error {
	switch strings.ToLower(v) {
	case "", "interface":
		return nil
	case "reverse", "gatewayloadbalancer":
		return errs.InvalidParam("OperationUnsupported.EndpointType",
			"EndpointType %s is not supported: Palisade has interface endpoints only (EndpointType Interface).", v)
	}
	return errs.InvalidParam("IllegalParam.EndpointType", "The specified EndpointType %q is not valid; use Interface.", v)
}

func checkEndpointText(name, description *string) error {
	if name != nil {
		if err := validatePrivateLinkText("EndpointName", *name, 128); err != nil {
			return err
		}
	}
	if description != nil {
		if err := validatePrivateLinkText("EndpointDescription", *description, 256); err != nil {
			return err
		}
	}
	return nil
}

// CreateVpcEndpoint creates an interface endpoint of a service in a VPC
// of the caller.
func (s *Service) CreateVpcEndpoint(ctx context.Context, accountID string, in CreateEndpointInput) (model.Endpoint, error) {
	var out model.Endpoint
	switch {
	case in.VpcID == "":
		return out, errs.MissingParameter("VpcId")
	case len(in.SecurityGroupIDs) == 0:
		return out, errs.MissingParameter("SecurityGroupId.N")
	case in.ServiceID == "" && in.ServiceName == "":
		return out, errs.MissingParameter("ServiceId or ServiceName")
	case len(in.Zones) == 0:
		return out, errs.MissingParameter("Zone.N")
	}
	if err := checkEndpointType(in.EndpointType); err != nil {
		return out, err
	}
	if in.ZonePrivateIPCount != nil && *in.ZonePrivateIPCount != 1 {
		return out, unsupported("ZonePrivateIpAddressCount", "an endpoint has one address per zone (1).")
	}
	if in.Protected {
		return out, unsupported("ProtectedEnabled", "endpoints are never managed by other cloud services in Palisade.")
	}
	if err := checkEndpointText(&in.Name, &in.Description); err != nil {
		return out, err
	}
	for i := range in.Zones {
		if in.Zones[i].Param == "" {
			in.Zones[i].Param = "Zone." + strconv.Itoa(i+1)
		}
	}
	if limit := s.cfg.Quotas.EndpointZones; len(in.Zones) > limit {
		return out, errs.Quota("QuotaExceeded.EndpointZone", "An endpoint has at most %d zones; %d were given.", limit, len(in.Zones))
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		_, err := withClientToken(tx, accountID, "CreateVpcEndpoint", in.ClientToken, in, &out, func() error {
			vpc, err := getVPC(tx, accountID, in.VpcID)
			if err != nil {
				return err
			}
			sv, err := usableService(tx, accountID, in.ServiceID, in.ServiceName)
			if err != nil {
				return err
			}
			if sv.VpcID == vpc.ID {
				return errs.InvalidParam("OperationDenied.EndpointVpc",
					"VPC %s is the VPC of service %s: its instances reach the service's instances directly; create the endpoint in another VPC.", vpc.ID, sv.ID)
			}
			if _, err := s.checkGroupsForENI(tx, accountID, vpc.ID, in.SecurityGroupIDs); err != nil {
				return err
			}
			now := s.stamp()
			ep := &model.Endpoint{
				ID: NewID("ep"), AccountID: accountID, RegionID: s.cfg.Region, Name: in.Name, Description: in.Description,
				VpcID: vpc.ID, ServiceID: sv.ID, ServiceName: sv.Name, SecurityGroupIDs: slices.Clone(in.SecurityGroupIDs),
				Zones: []model.EndpointZone{}, ConnectionStatus: model.EndpointDisconnected, Status: EndpointActive,
				CreatedAt: now, ServiceAccountID: sv.AccountID, ConnectionChangedAt: now,
				ResourceGroupID: in.ResourceGroupID, Tags: in.Tags,
			}
			ep.Domain = ep.ID + "." + sv.Domain
			if sv.AutoAccept {
				ep.ConnectionStatus = model.EndpointConnected
			}
			for _, z := range in.Zones {
				if err := s.addEndpointZone(tx, ep, sv, z); err != nil {
					return err
				}
			}
			if in.DryRun {
				return errDryRun
			}
			out = *ep
			return putJSON(tx, model.PrefixEndpoint+ep.ID, ep)
		})
		return err
	})
	return out, err
}

// GetVpcEndpointAttribute returns an endpoint of the caller.
func (s *Service) GetVpcEndpointAttribute(ctx context.Context, accountID, id string) (model.Endpoint, error) {
	var out model.Endpoint
	err := s.view(ctx, func(tx store.ReadTxn) error {
		ep, err := getEndpoint(tx, accountID, id)
		if err == nil {
			out = *ep
		}
		return err
	})
	return out, err
}

// changeEndpoint runs change on an endpoint of the caller and writes it,
// with ClientToken and DryRun.
func (s *Service) changeEndpoint(ctx context.Context, accountID, id, action, token string, params any, dryRun bool, change func(tx store.Txn, ep *model.Endpoint) error) error {
	if id == "" {
		return errs.MissingParameter(privateLinkEndpointName)
	}
	return changeOwned(s, ctx, accountID, action, id, token, params, dryRun,
		func(tx store.ReadTxn) (*model.Endpoint, error) { return getEndpoint(tx, accountID, id) },
		change, func(ep *model.Endpoint) string { return model.PrefixEndpoint + ep.ID })
}

// UpdateVpcEndpointAttribute renames an endpoint or changes its
// description.
func (s *Service) UpdateVpcEndpointAttribute(ctx context.Context, accountID, id string, name, description *string, clientToken string, dryRun bool) error {
	if err := checkEndpointText(name, description); err != nil {
		return err
	}
	params := struct {
		Name, Description *string
		DryRun            bool
	}{name, description, dryRun}
	return s.changeEndpoint(ctx, accountID, id, "UpdateVpcEndpointAttribute", clientToken, params, dryRun, func(_ store.Txn, ep *model.Endpoint) error {
		if name != nil {
			ep.Name = *name
		}
		if description != nil {
			ep.Description = *description
		}
		return nil
	})
}

// DeleteVpcEndpoint deletes an endpoint with its ENIs and transit
// addresses.
func (s *Service) DeleteVpcEndpoint(ctx context.Context, accountID, id, clientToken string, dryRun bool) error {
	if id == "" {
		return errs.MissingParameter(privateLinkEndpointName)
	}
	return deleteOwned(s, ctx, accountID, "DeleteVpcEndpoint", id, clientToken, dryRun,
		func(tx store.ReadTxn) (*model.Endpoint, error) { return getEndpoint(tx, accountID, id) },
		func(tx store.Txn, ep *model.Endpoint) error {
			for len(ep.Zones) > 0 {
				if err := s.removeEndpointZone(tx, ep, len(ep.Zones)-1); err != nil {
					return err
				}
			}
			return nil
		}, func(ep *model.Endpoint) string { return model.PrefixEndpoint + ep.ID })
}

// EndpointQuery selects endpoints in ListVpcEndpoints; empty fields match
// all.
type EndpointQuery struct {
	ID, Name, Status, Type, ServiceName, ConnectionStatus, VpcID string
	ResourceGroupID                                              string
	Tags                                                         []model.Tag
}

func (q EndpointQuery) match(ep *model.Endpoint) bool {
	return (q.ID == "" || ep.ID == q.ID) && (q.Name == "" || ep.Name == q.Name) &&
		(q.Status == "" || strings.EqualFold(q.Status, ep.Status)) &&
		(q.Type == "" || strings.EqualFold(q.Type, EndpointTypeInterface)) &&
		(q.ServiceName == "" || ep.ServiceName == q.ServiceName) &&
		(q.ConnectionStatus == "" || strings.EqualFold(q.ConnectionStatus, ep.ConnectionStatus)) &&
		(q.VpcID == "" || ep.VpcID == q.VpcID) &&
		(q.ResourceGroupID == "" || ep.ResourceGroupID == q.ResourceGroupID) &&
		hasTags(ep.Tags, q.Tags)
}

// ListVpcEndpoints lists the caller's endpoints, oldest first.
func (s *Service) ListVpcEndpoints(ctx context.Context, accountID string, q EndpointQuery) ([]model.Endpoint, error) {
	return listMatching(s, ctx, model.PrefixEndpoint, func(ep *model.Endpoint) bool { return ep.AccountID == accountID && q.match(ep) },
		func(ep model.Endpoint) (int64, string) { return ep.CreatedAt.UnixNano(), ep.ID })
}

// endpointENIs reads the ENIs of an endpoint's zones.
func endpointENIs(tx store.ReadTxn, ep *model.Endpoint) ([]*model.ENI, error) {
	out := make([]*model.ENI, 0, len(ep.Zones))
	for _, z := range ep.Zones {
		e := new(model.ENI)
		if ok, err := getJSON(tx, model.PrefixENI+z.ENIID, e); err != nil {
			return nil, err
		} else if !ok {
			return nil, errs.New(http.StatusInternalServerError, "InternalError", "The network interface %s of endpoint %s is missing.", z.ENIID, ep.ID)
		}
		out = append(out, e)
	}
	return out, nil
}

// AttachSecurityGroupToVpcEndpoint adds a group to an endpoint and its
// ENIs.
func (s *Service) AttachSecurityGroupToVpcEndpoint(ctx context.Context, accountID, id, sgID, clientToken string, dryRun bool) error {
	if sgID == "" {
		return errs.MissingParameter("SecurityGroupId")
	}
	params := struct {
		Group  string
		DryRun bool
	}{sgID, dryRun}
	return s.changeEndpoint(ctx, accountID, id, "AttachSecurityGroupToVpcEndpoint", clientToken, params, dryRun, func(tx store.Txn, ep *model.Endpoint) error {
		if _, err := getGroup(tx, accountID, sgID); err != nil {
			return err
		}
		if slices.Contains(ep.SecurityGroupIDs, sgID) {
			return errs.InvalidParam("InvalidSecurityGroupId.AlreadyJoined", "Endpoint %s is already in security group %s.", ep.ID, sgID)
		}
		groups := append(slices.Clone(ep.SecurityGroupIDs), sgID)
		if _, err := s.checkGroupsForENI(tx, accountID, ep.VpcID, groups); err != nil {
			return err
		}
		enis, err := endpointENIs(tx, ep)
		if err != nil {
			return err
		}
		for _, e := range enis {
			if err := s.setGroups(tx, accountID, e, groups); err != nil {
				return err
			}
			if err := putJSON(tx, model.PrefixENI+e.ID, e); err != nil {
				return err
			}
		}
		ep.SecurityGroupIDs = groups
		return nil
	})
}

// DetachSecurityGroupFromVpcEndpoint removes a group from an endpoint and
// its ENIs; the endpoint keeps at least one.
func (s *Service) DetachSecurityGroupFromVpcEndpoint(ctx context.Context, accountID, id, sgID, clientToken string, dryRun bool) error {
	if sgID == "" {
		return errs.MissingParameter("SecurityGroupId")
	}
	params := struct {
		Group  string
		DryRun bool
	}{sgID, dryRun}
	return s.changeEndpoint(ctx, accountID, id, "DetachSecurityGroupFromVpcEndpoint", clientToken, params, dryRun, func(tx store.Txn, ep *model.Endpoint) error {
		if _, err := getGroup(tx, accountID, sgID); err != nil {
			return err
		}
		i := slices.Index(ep.SecurityGroupIDs, sgID)
		if i < 0 {
			return errs.InvalidParam("InvalidSecurityGroupId.NotJoined", "Endpoint %s is not in security group %s.", ep.ID, sgID)
		}
		if len(ep.SecurityGroupIDs) == 1 {
			return errs.Forbidden("InvalidOperation.LastSecurityGroup",
				"Security group %s is the only group of endpoint %s; an endpoint stays in at least one group (attach another first).", sgID, ep.ID)
		}
		enis, err := endpointENIs(tx, ep)
		if err != nil {
			return err
		}
		for _, e := range enis {
			if err := s.removeMember(tx, sgID, e.ID); err != nil {
				return err
			}
			if j := slices.Index(e.SecurityGroupIDs, sgID); j >= 0 {
				e.SecurityGroupIDs = slices.Delete(e.SecurityGroupIDs, j, j+1)
			}
			if err := putJSON(tx, model.PrefixENI+e.ID, e); err != nil {
				return err
			}
		}
		ep.SecurityGroupIDs = slices.Delete(slices.Clone(ep.SecurityGroupIDs), i, i+1)
		return nil
	})
}

// AddZoneToVpcEndpoint gives an endpoint one more zone (the caller must
// still be allowed to use the service).
func (s *Service) AddZoneToVpcEndpoint(ctx context.Context, accountID, id string, zone EndpointZoneSpec, clientToken string, dryRun bool) error {
	if zone.VSwitchID == "" {
		return errs.MissingParameter(zone.name("VSwitchId"))
	}
	params := struct {
		Zone   EndpointZoneSpec
		DryRun bool
	}{zone, dryRun}
	return s.changeEndpoint(ctx, accountID, id, "AddZoneToVpcEndpoint", clientToken, params, dryRun, func(tx store.Txn, ep *model.Endpoint) error {
		sv, err := usableService(tx, accountID, ep.ServiceID, "")
		if err != nil {
			return err
		}
		return s.addEndpointZone(tx, ep, sv, zone)
	})
}

// RemoveZoneFromVpcEndpoint deletes one zone of an endpoint (not its
// last): its ENI and transit address.
func (s *Service) RemoveZoneFromVpcEndpoint(ctx context.Context, accountID, id, zoneID, clientToken string, dryRun bool) error {
	if zoneID == "" {
		return errs.MissingParameter("ZoneId")
	}
	params := struct {
		Zone   string
		DryRun bool
	}{zoneID, dryRun}
	return s.changeEndpoint(ctx, accountID, id, "RemoveZoneFromVpcEndpoint", clientToken, params, dryRun, func(tx store.Txn, ep *model.Endpoint) error {
		i := slices.IndexFunc(ep.Zones, func(z model.EndpointZone) bool { return z.ZoneID == zoneID })
		if i < 0 {
			return errs.NotFound("ResourceNotFound.EndpointZone", "Endpoint %s has no zone %q.", ep.ID, zoneID)
		}
		if len(ep.Zones) == 1 {
			return errs.Forbidden("InvalidOperation.LastEndpointZone",
				"Zone %s is the only zone of endpoint %s; an endpoint keeps at least one (add another first, or delete the endpoint).", zoneID, ep.ID)
		}
		return s.removeEndpointZone(tx, ep, i)
	})
}
