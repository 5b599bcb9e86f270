package service

import (
	"cmp"
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"sort"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
)

// IP address management: every allocated address of a vSwitch has a key
// ipam/<vsw>/<ip> whose value is the ENI holding it (or the load
// balancer: slb.go), written in the same transaction as the ENI.
// Duplicates are impossible because allocation and the check happen in
// one serializable store transaction.

func ipamKey(vswID string, a netip.Addr) string { return model.PrefixIPAM + vswID + "/" + a.String() }

func errENINotFound(id string) *errs.Error {
	return errs.NotFound("InvalidEniId.NotFound", "The specified NetworkInterfaceId %q does not exist.", id)
}

// getENI reads an ENI of the account.
func getENI(tx store.ReadTxn, accountID, id string) (*model.ENI, error) {
	return getOwned(tx, model.PrefixENI, "NetworkInterfaceId", accountID, id, func(v *model.ENI) string { return v.AccountID }, errENINotFound)
}

// allocator hands out addresses of one vSwitch inside a transaction.
type allocator struct {
	tx  store.Txn
	vsw *model.VSwitch
}

// claim takes a given address for eniID.
func (al allocator) claim(param, ip, eniID string) (netip.Addr, error) {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return netip.Addr{}, errs.InvalidParam("InvalidPrivateIpAddress.Malformed",
			"The specified %s %q is not an IP address.", param, ip)
	}
	if a.Is4() != al.vsw.CidrBlock.Addr().Is4() && !(a.Is6() && al.vsw.Ipv6CidrBlock.IsValid()) {
		return netip.Addr{}, errs.InvalidParam("InvalidPrivateIpAddress.Malformed", "The specified %s %q is of the wrong address family.", param, ip)
	}
	cidr := al.vsw.CidrBlock
	if a.Is6() {
		cidr = al.vsw.Ipv6CidrBlock
	}
	if !cidr.Contains(a) {
		return netip.Addr{}, errs.InvalidParam("InvalidPrivateIpAddress.Mismatch",
			"The specified %s %s is not in vSwitch %s (%s).", param, a, al.vsw.ID, cidr)
	}
	if a.Is4() && model.IsReservedInVSwitch(cidr, a) {
		return netip.Addr{}, errs.InvalidParam("InvalidPrivateIpAddress.Reserved",
			"The specified %s %s is reserved in vSwitch %s: the first address and the last three (gateway %s) cannot be assigned.",
			param, a, al.vsw.ID, model.VSwitchGateway(cidr))
	}
	if owner, ok, err := al.tx.Get(ipamKey(al.vsw.ID, a)); err != nil {
		return netip.Addr{}, err
	} else if ok {
		return netip.Addr{}, errs.Conflict("InvalidPrivateIpAddress.Duplicated",
			"The specified %s %s is already used by %s in vSwitch %s.", param, a, string(owner), al.vsw.ID)
	}
	return a, al.tx.Put(ipamKey(al.vsw.ID, a), []byte(eniID))
}

// next takes the lowest free IPv4 address (or IPv6 address when v6).
func (al allocator) next(eniID string, v6 bool) (netip.Addr, error) {
	used := map[netip.Addr]bool{}
	prefix := model.PrefixIPAM + al.vsw.ID + "/"
	if err := al.tx.List(prefix, func(k string, _ []byte) error {
		if a, err := netip.ParseAddr(k[len(prefix):]); err == nil {
			used[a] = true
		}
		return nil
	}); err != nil {
		return netip.Addr{}, err
	}
	cidr := al.vsw.CidrBlock
	if v6 {
		if !al.vsw.Ipv6CidrBlock.IsValid() {
			return netip.Addr{}, errs.InvalidParam("InvalidVSwitchId.Ipv6NotTurnOn",
				"vSwitch %s has no IPv6 CIDR block; create the vSwitch with Ipv6CidrBlock to assign IPv6 addresses.", al.vsw.ID)
		}
		cidr = al.vsw.Ipv6CidrBlock
	}
	// Skip the network address; stop at the reserved tail (IPv4) or after
	// 65536 tries (IPv6 /64 is never exhausted in practice).
	a := cidr.Addr().Next()
	for i := 0; cidr.Contains(a) && i < 1<<16; i, a = i+1, a.Next() {
		if (!v6 && model.IsReservedInVSwitch(cidr, a)) || used[a] {
			continue
		}
		return a, al.tx.Put(ipamKey(al.vsw.ID, a), []byte(eniID))
	}
	return netip.Addr{}, errs.New(http.StatusForbidden, "InvalidVSwitchId.IpNotEnough",
		"vSwitch %s (%s) has no free private IP address left.", al.vsw.ID, cidr)
}

// release frees every address of an ENI.
func releaseAddrs(tx store.Txn, e *model.ENI) error {
	for _, a := range e.Addrs() {
		if err := tx.Delete(ipamKey(e.VSwitchID, a)); err != nil {
			return err
		}
	}
	return nil
}

func newMAC() string {
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	// 00:16:3e is the OUI the cloud's ENIs use.
	return fmt.Sprintf("00:16:3e:%02x:%02x:%02x", b[0], b[1], b[2])
}

// ENISpec describes a new ENI.
type ENISpec struct {
	VSwitchID        string
	SecurityGroupIDs []string
	PrimaryIP        string   // "" = automatic
	PrimaryIPParam   string   // the request parameter PrimaryIP came from, for errors ("": PrimaryIpAddress)
	SecondaryIPs     []string // explicit secondary private IPv4 addresses
	SecondaryCount   int      // additional automatic secondary IPv4 addresses
	IPv6s            []string // explicit IPv6 addresses
	IPv6Count        int      // automatic IPv6 addresses
	Name             string
	Description      string
	Tags             []model.Tag
}

// newENI allocates addresses, checks and joins groups and writes an ENI.
// Groups nil means the VPC's default group.
func (s *Service) newENI(tx store.Txn, accountID string, spec ENISpec, typ, instanceID string, deviceIndex int) (*model.ENI, error) {
	vsw, err := getVSwitch(tx, accountID, spec.VSwitchID)
	if err != nil {
		return nil, err
	}
	if len(spec.SecurityGroupIDs) == 0 {
		def, err := s.ensureDefaultSecurityGroup(tx, accountID, vsw.VpcID)
		if err != nil {
			return nil, err
		}
		spec.SecurityGroupIDs = []string{def.ID}
	}
	groups, err := s.checkGroupsForENI(tx, accountID, vsw.VpcID, spec.SecurityGroupIDs)
	if err != nil {
		return nil, err
	}
	if n := 1 + len(spec.SecondaryIPs) + spec.SecondaryCount; n > s.cfg.Quotas.PrivateIPsPerENI {
		return nil, errs.Quota("QuotaExceed.PrivateIpAddress",
			"An ENI may hold at most %d private IPv4 addresses (primary included); %d were requested.", s.cfg.Quotas.PrivateIPsPerENI, n)
	}
	if n := len(spec.IPv6s) + spec.IPv6Count; n > s.cfg.Quotas.PrivateIPsPerENI {
		return nil, errs.Quota("QuotaExceed.Ipv6Address",
			"An ENI may hold at most %d IPv6 addresses; %d were requested.", s.cfg.Quotas.PrivateIPsPerENI, n)
	}
	e := &model.ENI{
		ID: NewID("eni"), AccountID: accountID, Name: spec.Name, Description: spec.Description,
		Type: typ, VpcID: vsw.VpcID, VSwitchID: vsw.ID, ZoneID: vsw.ZoneID, InstanceID: instanceID,
		DeviceIndex: deviceIndex, MAC: newMAC(), SecurityGroupIDs: spec.SecurityGroupIDs,
		Status: model.ENIAvailable, Tags: spec.Tags, CreatedAt: s.stamp(),
	}
	if instanceID != "" {
		e.Status = model.ENIInUse
	}
	al := allocator{tx: tx, vsw: vsw}
	if spec.PrimaryIP != "" {
		param := cmp.Or(spec.PrimaryIPParam, "PrimaryIpAddress")
		e.PrimaryIP, err = al.claim(param, spec.PrimaryIP, e.ID)
		if err == nil && !e.PrimaryIP.Is4() {
			err = errs.InvalidParam("InvalidPrivateIpAddress.Malformed", "%s must be an IPv4 address, got %s.", param, e.PrimaryIP)
		}
	} else {
		e.PrimaryIP, err = al.next(e.ID, false)
	}
	if err != nil {
		return nil, err
	}
	if e.SecondaryIPs, err = s.allocMore(al, e.ID, "PrivateIpAddress", spec.SecondaryIPs, spec.SecondaryCount, false); err != nil {
		return nil, err
	}
	if e.IPv6s, err = s.allocMore(al, e.ID, "Ipv6Address", spec.IPv6s, spec.IPv6Count, true); err != nil {
		return nil, err
	}
	for _, g := range groups {
		if err := s.addMember(tx, g, e); err != nil {
			return nil, err
		}
	}
	return e, putJSON(tx, model.PrefixENI+e.ID, e)
}

// allocMore claims explicit addresses then count automatic ones.
func (s *Service) allocMore(al allocator, eniID, param string, explicit []string, count int, v6 bool) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, ip := range explicit {
		a, err := al.claim(param, ip, eniID)
		if err != nil {
			return nil, err
		}
		if a.Is6() != v6 {
			return nil, errs.InvalidParam("InvalidPrivateIpAddress.Malformed", "%s %s is of the wrong address family.", param, a)
		}
		out = append(out, a)
	}
	for range count {
		a, err := al.next(eniID, v6)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// deleteENI removes an ENI with its addresses and memberships; EIPs
// mapped to it become Available again (their address stays allocated). An
// ENI that a traffic-mirror session mirrors to is refused
// (DependencyViolation.TrafficMirrorSession).
func (s *Service) deleteENI(tx store.Txn, e *model.ENI) error {
	// A traffic-mirror target cannot go; a source leaves its sessions
	// (see mirror.go).
	if err := releaseMirrorENI(tx, e); err != nil {
		return err
	}
	if err := releaseAddrs(tx, e); err != nil {
		return err
	}
	// Flow logs of exactly this ENI go with it (see flowlog.go).
	if err := deleteFlowLogsOn(tx, s.stamp(), e.ID); err != nil {
		return err
	}
	var eips []*model.EIP
	if err := listJSON(tx, model.PrefixEIP, func(x *model.EIP) error {
		if x.ENIID == e.ID {
			eips = append(eips, x)
		}
		return nil
	}); err != nil {
		return err
	}
	for _, x := range eips {
		x.InstanceID, x.InstanceType, x.ENIID, x.PrivateIP, x.VpcID, x.ZoneID = "", "", "", netip.Addr{}, "", ""
		x.Status = model.EIPAvailable
		if err := putJSON(tx, model.PrefixEIP+x.ID, x); err != nil {
			return err
		}
	}
	for _, g := range e.SecurityGroupIDs {
		if err := s.removeMember(tx, g, e.ID); err != nil {
			return err
		}
	}
	return tx.Delete(model.PrefixENI + e.ID)
}

// CreateNetworkInterface creates an unattached (secondary) ENI.
func (s *Service) CreateNetworkInterface(ctx context.Context, accountID string, spec ENISpec, clientToken string) (model.ENI, error) {
	if spec.VSwitchID == "" {
		return model.ENI{}, errs.MissingParameter("VSwitchId")
	}
	if len(spec.SecurityGroupIDs) == 0 {
		return model.ENI{}, errs.MissingParameter("SecurityGroupId")
	}
	if err := validateName("InvalidNetworkInterfaceName.Malformed", "NetworkInterfaceName", spec.Name); err != nil {
		return model.ENI{}, err
	}
	if err := validateDescription(spec.Description); err != nil {
		return model.ENI{}, err
	}
	var out model.ENI
	_, err := s.update(ctx, func(tx store.Txn) error {
		var id string
		replayed, err := withClientToken(tx, accountID, "CreateNetworkInterface", clientToken, spec, &id, func() error {
			e, err := s.newENI(tx, accountID, spec, model.ENITypeSecondary, "", 0)
			if err != nil {
				return err
			}
			id, out = e.ID, *e
			return nil
		})
		if err != nil || !replayed {
			return err
		}
		e, err := getENI(tx, accountID, id)
		if err == nil {
			out = *e
		}
		return err
	})
	return out, err
}

// ENIFilter selects ENIs in DescribeNetworkInterfaces.
type ENIFilter struct {
	IDs                                                 []string
	VpcID, VSwitchID, InstanceID, SecurityGroupID, Type string
	Status, Name                                        string
	PrimaryIP                                           string
	PrivateIPs                                          []string
	Tags                                                []model.Tag
}

func (f ENIFilter) match(e *model.ENI) bool {
	hasIP := func(ips []string) bool {
		for _, ip := range ips {
			for _, a := range e.Addrs() {
				if a.String() == ip {
					return true
				}
			}
		}
		return false
	}
	return (len(f.IDs) == 0 || slices.Contains(f.IDs, e.ID)) &&
		(f.VpcID == "" || e.VpcID == f.VpcID) &&
		(f.VSwitchID == "" || e.VSwitchID == f.VSwitchID) &&
		(f.InstanceID == "" || e.InstanceID == f.InstanceID) &&
		(f.SecurityGroupID == "" || slices.Contains(e.SecurityGroupIDs, f.SecurityGroupID)) &&
		(f.Type == "" || e.Type == f.Type) &&
		(f.Status == "" || e.Status == f.Status) &&
		(f.Name == "" || e.Name == f.Name) &&
		(f.PrimaryIP == "" || e.PrimaryIP.String() == f.PrimaryIP) &&
		(len(f.PrivateIPs) == 0 || hasIP(f.PrivateIPs)) &&
		hasTags(e.Tags, f.Tags)
}

// listMatching reads, in one view, the records under prefix that keep
// accepts, oldest first (created gives a record's creation time and ID).
func listMatching[T any](s *Service, ctx context.Context, prefix string, keep func(*T) bool, created func(T) (int64, string)) ([]T, error) {
	var out []T
	err := s.view(ctx, func(tx store.ReadTxn) error {
		out = nil
		return listJSON(tx, prefix, func(v *T) error {
			if keep(v) {
				out = append(out, *v)
			}
			return nil
		})
	})
	sortByCreation(out, created)
	return out, err
}

func sortByCreation[T any](items []T, key func(T) (int64, string)) {
	sort.SliceStable(items, func(i, j int) bool {
		ti, idi := key(items[i])
		tj, idj := key(items[j])
		if ti != tj {
			return ti < tj
		}
		return idi < idj
	})
}

// DescribeNetworkInterfaces lists the account's ENIs, oldest first.
func (s *Service) DescribeNetworkInterfaces(ctx context.Context, accountID string, f ENIFilter) ([]model.ENI, error) {
	var out []model.ENI
	err := s.view(ctx, func(tx store.ReadTxn) error {
		out = nil
		return listJSON(tx, model.PrefixENI, func(e *model.ENI) error {
			if e.AccountID == accountID && f.match(e) {
				out = append(out, *e)
			}
			return nil
		})
	})
	sortByCreation(out, func(e model.ENI) (int64, string) { return e.CreatedAt.UnixNano(), e.ID })
	return out, err
}

// AttachNetworkInterface attaches an available ENI to an instance as the
// next free device index.
func (s *Service) AttachNetworkInterface(ctx context.Context, accountID, eniID, instanceID string) error {
	if eniID == "" {
		return errs.MissingParameter("NetworkInterfaceId")
	}
	if instanceID == "" {
		return errs.MissingParameter("InstanceId")
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		e, err := getENI(tx, accountID, eniID)
		if err != nil {
			return err
		}
		if err := refuseEndpointENI(e, "attached to an instance"); err != nil {
			return err
		}
		inst, err := getInstance(tx, accountID, instanceID)
		if err != nil {
			return err
		}
		if e.InstanceID != "" || e.Status != model.ENIAvailable {
			return errs.Forbidden("InvalidOperation.InvalidEniState",
				"Network interface %s is %s (attached to %q); only an Available interface can be attached.", e.ID, e.Status, e.InstanceID)
		}
		if inst.Status != model.InstanceRunning && inst.Status != model.InstanceStopped && inst.Status != model.InstancePending {
			return errs.Forbidden("IncorrectInstanceStatus", "Instance %s is %s; attach interfaces to a Running or Stopped instance.", inst.ID, inst.Status)
		}
		if e.VpcID != inst.VpcID {
			return errs.InvalidParam("InvalidVSwitchId.VpcMismatch",
				"Network interface %s is in VPC %s, instance %s in VPC %s; both must be in one VPC.", e.ID, e.VpcID, inst.ID, inst.VpcID)
		}
		if e.ZoneID != inst.ZoneID {
			return errs.InvalidParam("InvalidVSwitchId.ZoneMismatch",
				"Network interface %s is in zone %s, instance %s in zone %s; both must be in one zone.", e.ID, e.ZoneID, inst.ID, inst.ZoneID)
		}
		enis, err := instanceENIs(tx, inst.ID)
		if err != nil {
			return err
		}
		if len(enis) >= s.cfg.Quotas.ENIsPerInstance {
			return errs.Quota("QuotaExceed.NetworkInterface",
				"Instance %s already has %d network interfaces, the maximum.", inst.ID, len(enis))
		}
		used := map[int]bool{}
		for _, o := range enis {
			used[o.DeviceIndex] = true
		}
		idx := 1
		for used[idx] {
			idx++
		}
		e.InstanceID, e.DeviceIndex, e.Status = inst.ID, idx, model.ENIInUse
		if s.zoneServed(tx, inst.ZoneID) {
			e.Status = model.ENIAttaching
		}
		return putJSON(tx, model.PrefixENI+e.ID, e)
	})
	return err
}

// DetachNetworkInterface detaches a secondary ENI from its instance.
func (s *Service) DetachNetworkInterface(ctx context.Context, accountID, eniID, instanceID string) error {
	if eniID == "" {
		return errs.MissingParameter("NetworkInterfaceId")
	}
	if instanceID == "" {
		return errs.MissingParameter("InstanceId")
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		e, err := getENI(tx, accountID, eniID)
		if err != nil {
			return err
		}
		if err := refuseEndpointENI(e, "detached"); err != nil {
			return err
		}
		if _, err := getInstance(tx, accountID, instanceID); err != nil {
			return err
		}
		if e.InstanceID != instanceID {
			return errs.Forbidden("InvalidOperation.InvalidEniState",
				"Network interface %s is not attached to instance %s.", e.ID, instanceID)
		}
		if e.Type == model.ENITypePrimary {
			return errs.Forbidden("InvalidOperation.DetachPrimaryEniNotAllowed",
				"Network interface %s is the primary interface of %s; it cannot be detached (delete the instance instead).", e.ID, instanceID)
		}
		e.InstanceID, e.DeviceIndex, e.Status = "", 0, model.ENIAvailable
		return putJSON(tx, model.PrefixENI+e.ID, e)
	})
	return err
}

// DeleteNetworkInterface deletes an unattached ENI and frees its addresses.
func (s *Service) DeleteNetworkInterface(ctx context.Context, accountID, eniID string) error {
	_, err := s.update(ctx, func(tx store.Txn) error {
		e, err := getENI(tx, accountID, eniID)
		if err != nil {
			return err
		}
		if err := refuseEndpointENI(e, "deleted by hand (DeleteVpcEndpoint or RemoveZoneFromVpcEndpoint deletes it)"); err != nil {
			return err
		}
		if e.InstanceID != "" {
			return errs.Forbidden("InvalidOperation.InvalidEniState",
				"Network interface %s is attached to instance %s; detach it first.", e.ID, e.InstanceID)
		}
		return s.deleteENI(tx, e)
	})
	return err
}

// ModifyENIInput holds the changes of ModifyNetworkInterfaceAttribute.
type ModifyENIInput struct {
	Name, Description *string
	SecurityGroupIDs  []string // nil: unchanged; else replaces the set
}

// ModifyNetworkInterfaceAttribute renames an ENI or replaces its groups.
func (s *Service) ModifyNetworkInterfaceAttribute(ctx context.Context, accountID, eniID string, in ModifyENIInput) error {
	if in.Name != nil {
		if err := validateName("InvalidNetworkInterfaceName.Malformed", "NetworkInterfaceName", *in.Name); err != nil {
			return err
		}
	}
	if in.Description != nil {
		if err := validateDescription(*in.Description); err != nil {
			return err
		}
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		e, err := getENI(tx, accountID, eniID)
		if err != nil {
			return err
		}
		if err := refuseEndpointENI(e, "modified (its groups are the endpoint's: AttachSecurityGroupToVpcEndpoint, DetachSecurityGroupFromVpcEndpoint)"); err != nil {
			return err
		}
		if in.SecurityGroupIDs != nil {
			if err := s.setGroups(tx, accountID, e, in.SecurityGroupIDs); err != nil {
				return err
			}
		}
		if in.Name != nil {
			e.Name = *in.Name
		}
		if in.Description != nil {
			e.Description = *in.Description
		}
		return putJSON(tx, model.PrefixENI+e.ID, e)
	})
	return err
}

// setGroups replaces the groups of e (the caller writes e).
func (s *Service) setGroups(tx store.Txn, accountID string, e *model.ENI, ids []string) error {
	groups, err := s.checkGroupsForENI(tx, accountID, e.VpcID, ids)
	if err != nil {
		return err
	}
	for _, old := range e.SecurityGroupIDs {
		if !slices.Contains(ids, old) {
			if err := s.removeMember(tx, old, e.ID); err != nil {
				return err
			}
		}
	}
	for _, g := range groups {
		if err := s.addMember(tx, g, e); err != nil {
			return err
		}
	}
	e.SecurityGroupIDs = slices.Clone(ids)
	return nil
}

// AssignPrivateIpAddresses adds secondary IPv4 addresses to an ENI, either
// the given ones or count automatic ones. It returns the new addresses.
func (s *Service) AssignPrivateIpAddresses(ctx context.Context, accountID, eniID string, ips []string, count int) ([]netip.Addr, error) {
	if len(ips) == 0 && count == 0 {
		return nil, errs.MissingParameter("PrivateIpAddress.N or SecondaryPrivateIpAddressCount")
	}
	if len(ips) > 0 && count > 0 {
		return nil, errs.InvalidParameter("SecondaryPrivateIpAddressCount", "give either PrivateIpAddress.N or SecondaryPrivateIpAddressCount, not both")
	}
	var added []netip.Addr
	_, err := s.update(ctx, func(tx store.Txn) error {
		e, err := getENI(tx, accountID, eniID)
		if err != nil {
			return err
		}
		if err := refuseEndpointENI(e, "given more addresses (an endpoint has one address per zone)"); err != nil {
			return err
		}
		have := 1 + len(e.SecondaryIPs)
		if have+len(ips)+count > s.cfg.Quotas.PrivateIPsPerENI {
			return errs.Quota("QuotaExceed.PrivateIpAddress",
				"Network interface %s has %d private IPv4 addresses; %d more would exceed the maximum of %d.",
				e.ID, have, len(ips)+count, s.cfg.Quotas.PrivateIPsPerENI)
		}
		vsw, err := getVSwitch(tx, accountID, e.VSwitchID)
		if err != nil {
			return err
		}
		if err := s.checkCapacityAfterIPChange(tx, e, len(ips)+count); err != nil {
			return err
		}
		if added, err = s.allocMore(allocator{tx: tx, vsw: vsw}, e.ID, "PrivateIpAddress", ips, count, false); err != nil {
			return err
		}
		e.SecondaryIPs = append(e.SecondaryIPs, added...)
		return putJSON(tx, model.PrefixENI+e.ID, e)
	})
	return added, err
}

// UnassignPrivateIpAddresses removes secondary IPv4 addresses of an ENI.
func (s *Service) UnassignPrivateIpAddresses(ctx context.Context, accountID, eniID string, ips []string) error {
	if len(ips) == 0 {
		return errs.MissingParameter("PrivateIpAddress.N")
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		e, err := getENI(tx, accountID, eniID)
		if err != nil {
			return err
		}
		if err := refuseEndpointENI(e, "changed"); err != nil {
			return err
		}
		for _, ip := range ips {
			a, err := netip.ParseAddr(ip)
			if err != nil {
				return errs.InvalidParam("InvalidPrivateIpAddress.Malformed", "The specified PrivateIpAddress %q is not an IP address.", ip)
			}
			if a == e.PrimaryIP {
				return errs.Forbidden("InvalidOperation.UnassignPrimaryIp",
					"%s is the primary private IP of %s; it cannot be unassigned.", a, e.ID)
			}
			if err := listJSON(tx, model.PrefixEIP, func(x *model.EIP) error {
				if x.ENIID == e.ID && x.PrivateIP == a {
					return errs.DependencyViolation("%s of %s is mapped to EIP %s (%s); unassociate it first.", a, e.ID, x.ID, x.Address)
				}
				return nil
			}); err != nil {
				return err
			}
			i := slices.Index(e.SecondaryIPs, a)
			if i < 0 {
				return errs.NotFound("InvalidPrivateIpAddress.NotFound",
					"Network interface %s has no secondary private IP %s.", e.ID, a)
			}
			e.SecondaryIPs = slices.Delete(e.SecondaryIPs, i, i+1)
			if err := tx.Delete(ipamKey(e.VSwitchID, a)); err != nil {
				return err
			}
		}
		return putJSON(tx, model.PrefixENI+e.ID, e)
	})
	return err
}

// resolveENI returns the ENI named by eniID or the primary ENI of instanceID.
func resolveENI(tx store.ReadTxn, accountID, instanceID, eniID string) (*model.ENI, error) {
	if eniID == "" && instanceID == "" {
		return nil, errs.MissingParameter("InstanceId or NetworkInterfaceId")
	}
	if eniID != "" {
		return getENI(tx, accountID, eniID)
	}
	inst, err := getInstance(tx, accountID, instanceID)
	if err != nil {
		return nil, err
	}
	return getENI(tx, accountID, inst.PrimaryENIID)
}

// JoinSecurityGroup adds an ENI (or an instance's primary ENI) to a group.
func (s *Service) JoinSecurityGroup(ctx context.Context, accountID, sgID, instanceID, eniID string) error {
	if sgID == "" {
		return errs.MissingParameter("SecurityGroupId")
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		e, err := resolveENI(tx, accountID, instanceID, eniID)
		if err != nil {
			return err
		}
		if err := refuseEndpointENI(e, "moved between security groups (the endpoint's groups are its: AttachSecurityGroupToVpcEndpoint, DetachSecurityGroupFromVpcEndpoint)"); err != nil {
			return err
		}
		if _, err := getGroup(tx, accountID, sgID); err != nil {
			return err
		}
		if slices.Contains(e.SecurityGroupIDs, sgID) {
			return errs.InvalidParam("InvalidSecurityGroupId.AlreadyJoined",
				"Network interface %s is already in security group %s.", e.ID, sgID)
		}
		if err := s.setGroups(tx, accountID, e, append(slices.Clone(e.SecurityGroupIDs), sgID)); err != nil {
			return err
		}
		return putJSON(tx, model.PrefixENI+e.ID, e)
	})
	return err
}

// LeaveSecurityGroup removes an ENI (or an instance's primary ENI) from a
// group; an ENI keeps at least one group.
func (s *Service) LeaveSecurityGroup(ctx context.Context, accountID, sgID, instanceID, eniID string) error {
	if sgID == "" {
		return errs.MissingParameter("SecurityGroupId")
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		e, err := resolveENI(tx, accountID, instanceID, eniID)
		if err != nil {
			return err
		}
		if err := refuseEndpointENI(e, "moved between security groups (the endpoint's groups are its: AttachSecurityGroupToVpcEndpoint, DetachSecurityGroupFromVpcEndpoint)"); err != nil {
			return err
		}
		if _, err := getGroup(tx, accountID, sgID); err != nil {
			return err
		}
		i := slices.Index(e.SecurityGroupIDs, sgID)
		if i < 0 {
			return errs.InvalidParam("InvalidSecurityGroupId.NotJoined",
				"Network interface %s is not in security group %s.", e.ID, sgID)
		}
		if len(e.SecurityGroupIDs) == 1 {
			return errs.Forbidden("InvalidOperation.LastSecurityGroup",
				"Security group %s is the only group of network interface %s; an interface must stay in at least one group (join another first).", sgID, e.ID)
		}
		if err := s.removeMember(tx, sgID, e.ID); err != nil {
			return err
		}
		e.SecurityGroupIDs = slices.Delete(e.SecurityGroupIDs, i, i+1)
		return putJSON(tx, model.PrefixENI+e.ID, e)
	})
	return err
}

// SetENIStatus records the status the agent observed for an ENI.
func (s *Service) SetENIStatus(ctx context.Context, eniID, status string) error {
	_, err := s.update(ctx, func(tx store.Txn) error {
		var e model.ENI
		ok, err := getJSON(tx, model.PrefixENI+eniID, &e)
		// A report from an older snapshot must not mark a detached ENI.
		if err != nil || !ok || e.Status == status || e.InstanceID == "" {
			return err
		}
		e.Status = status
		return putJSON(tx, model.PrefixENI+e.ID, &e)
	})
	return err
}
