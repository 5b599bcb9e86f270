package service

import (
	"context"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
)

// DefaultPublicCIDR is the public address pool when none is configured: a
// part of 198.18.0.0/15, the range reserved for benchmarking (RFC 2544),
// so that Palisade's "internet" never collides with real addresses.
var DefaultPublicCIDR = netip.MustParsePrefix("198.18.0.0/20")

// PublicGateway is the address of the pool that the host keeps for itself
// (its side of the VPC uplinks); it is never allocated.
func PublicGateway(pool netip.Prefix) netip.Addr { return pool.Addr().Next() }

func (s *Service) publicPool() netip.Prefix {
	if s.cfg.PublicCIDR.IsValid() {
		return s.cfg.PublicCIDR
	}
	return DefaultPublicCIDR
}

func errEIPNotFound(id string) *errs.Error {
	return errs.NotFound("InvalidAllocationId.NotFound", "The specified AllocationId %q does not exist.", id)
}

func getEIP(tx store.ReadTxn, accountID, id string) (*model.EIP, error) {
	return getOwned(tx, model.PrefixEIP, "AllocationId", accountID, id, func(v *model.EIP) string { return v.AccountID }, errEIPNotFound)
}

// AllocateEipInput is the request of AllocateEipAddress.
type AllocateEipInput struct {
	Name, Description, InternetChargeType, ISP string
	Bandwidth                                  string
	IPAddress                                  string // a specific address of the pool
	ClientToken                                string
}

// AllocateEipAddress takes a free address of the public pool.
func (s *Service) AllocateEipAddress(ctx context.Context, accountID string, in AllocateEipInput) (model.EIP, error) {
	var out model.EIP
	bw := 5
	if in.Bandwidth != "" {
		n, err := strconv.Atoi(in.Bandwidth)
		if err != nil || n < 1 || n > 10000 {
			return out, errs.InvalidParam("InvalidBandwidth.Malformed", "The specified Bandwidth %q is not valid: use 1 to 10000 (Mbit/s).", in.Bandwidth)
		}
		bw = n
	}
	switch in.InternetChargeType {
	case "":
		in.InternetChargeType = "PayByTraffic"
	case "PayByTraffic", "PayByBandwidth":
	default:
		return out, errs.InvalidParam("InvalidInternetChargeType.ValueNotSupported",
			"The specified InternetChargeType %q is not valid; use PayByTraffic or PayByBandwidth.", in.InternetChargeType)
	}
	if in.ISP == "" {
		in.ISP = "BGP"
	}
	if err := validateName("InvalidName.Malformed", "Name", in.Name); err != nil {
		return out, err
	}
	if err := validateDescription(in.Description); err != nil {
		return out, err
	}
	pool := s.publicPool()
	var want netip.Addr
	if in.IPAddress != "" {
		a, err := netip.ParseAddr(in.IPAddress)
		if err != nil || !pool.Contains(a) || !eipUsable(pool, a) {
			return out, errs.InvalidParam("InvalidIpAddress.NotInPool",
				"The specified IpAddress %q is not a usable address of the public pool %s.", in.IPAddress, pool)
		}
		want = a
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		var id string
		replayed, err := withClientToken(tx, accountID, "AllocateEipAddress", in.ClientToken, in, &id, func() error {
			// The account's quota first: an account at its quota learns
			// that, whatever is left in the pool.
			if err := s.checkEIPQuota(tx, accountID); err != nil {
				return err
			}
			addr, err := allocPublic(tx, pool, want)
			if err != nil {
				return err
			}
			out = model.EIP{
				ID: NewID("eip"), AccountID: accountID, Address: addr, Name: in.Name, Description: in.Description,
				Bandwidth: bw, InternetChargeType: in.InternetChargeType, ISP: in.ISP,
				Status: model.EIPAvailable, CreatedAt: s.stamp(),
			}
			id = out.ID
			if err := tx.Put(model.PrefixEIPAddr+addr.String(), []byte(out.ID)); err != nil {
				return err
			}
			return putJSON(tx, model.PrefixEIP+out.ID, &out)
		})
		if err != nil || !replayed {
			return err
		}
		e, err := getEIP(tx, accountID, id)
		if err == nil {
			out = *e
		}
		return err
	})
	return out, err
}

// eipUsable: not the network address, not the host's gateway, not the
// broadcast address.
func eipUsable(pool netip.Prefix, a netip.Addr) bool {
	return a != pool.Addr() && a != PublicGateway(pool) && a != model.LastAddr(pool)
}

func allocPublic(tx store.Txn, pool netip.Prefix, want netip.Addr) (netip.Addr, error) {
	if want.IsValid() {
		if _, ok, err := tx.Get(model.PrefixEIPAddr + want.String()); err != nil {
			return netip.Addr{}, err
		} else if ok {
			return netip.Addr{}, errs.InvalidParam("InvalidIpAddress.AlreadyAllocated", "The public address %s is already allocated.", want)
		}
		return want, nil
	}
	used := map[string]bool{}
	if err := tx.List(model.PrefixEIPAddr, func(k string, _ []byte) error {
		used[strings.TrimPrefix(k, model.PrefixEIPAddr)] = true
		return nil
	}); err != nil {
		return netip.Addr{}, err
	}
	for a := pool.Addr(); pool.Contains(a); a = a.Next() {
		if eipUsable(pool, a) && !used[a.String()] {
			return a, nil
		}
	}
	return netip.Addr{}, errPoolExhausted(pool)
}

// errPoolExhausted: the deployment's public pool has no free address. It
// is not the account's quota (QuotaExceeded.Eip): every account gets it
// until addresses are released or the operator widens the pool.
func errPoolExhausted(pool netip.Prefix) *errs.Error {
	return errs.New(http.StatusForbidden, "ResourceNotEnough.Eip",
		"The public address pool %s has no free address left; release unused EIPs or ask the operator to widen the pool (--public-cidr).", pool)
}

// checkEIPQuota refuses a new EIP to an account that holds
// Quotas.EipsPerAccount already (QuotaExceeded.Eip, the cloud's code and
// status for its per-account EIP quota), so that one account cannot take
// the whole shared pool.
func (s *Service) checkEIPQuota(tx store.ReadTxn, accountID string) error {
	limit := s.cfg.Quotas.EipsPerAccount
	n := 0
	if err := listJSON(tx, model.PrefixEIP, func(e *model.EIP) error {
		if e.AccountID == accountID {
			n++
		}
		return nil
	}); err != nil {
		return err
	}
	if n >= limit {
		return errs.New(http.StatusBadRequest, "QuotaExceeded.Eip",
			"Elastic IP address quota exceeded: an account may hold at most %d EIPs and this one holds %d; release unused EIPs (ReleaseEipAddress) or ask the operator to raise the quota.",
			limit, n)
	}
	return nil
}

// EIPFilter selects EIPs in DescribeEipAddresses.
type EIPFilter struct {
	ID, Address, Status, Name, InstanceID, InstanceType string
}

// DescribeEipAddresses lists the account's EIPs, oldest first.
func (s *Service) DescribeEipAddresses(ctx context.Context, accountID string, f EIPFilter) ([]model.EIP, error) {
	var out []model.EIP
	err := s.view(ctx, func(tx store.ReadTxn) error {
		out = nil
		return listJSON(tx, model.PrefixEIP, func(e *model.EIP) error {
			if e.AccountID != accountID || (f.ID != "" && e.ID != f.ID) || (f.Address != "" && e.Address.String() != f.Address) ||
				(f.Status != "" && e.Status != f.Status) || (f.Name != "" && e.Name != f.Name) ||
				(f.InstanceID != "" && e.InstanceID != f.InstanceID) || (f.InstanceType != "" && e.InstanceType != f.InstanceType) {
				return nil
			}
			out = append(out, *e)
			return nil
		})
	})
	sortByCreation(out, func(e model.EIP) (int64, string) { return e.CreatedAt.UnixNano(), e.ID })
	return out, err
}

// ModifyEipAddressAttribute renames an EIP or changes its description or
// bandwidth.
func (s *Service) ModifyEipAddressAttribute(ctx context.Context, accountID, id string, name, description, bandwidth *string) error {
	if name != nil {
		if err := validateName("InvalidName.Malformed", "Name", *name); err != nil {
			return err
		}
	}
	if description != nil {
		if err := validateDescription(*description); err != nil {
			return err
		}
	}
	bw := 0
	if bandwidth != nil && *bandwidth != "" {
		n, err := strconv.Atoi(*bandwidth)
		if err != nil || n < 1 || n > 10000 {
			return errs.InvalidParam("InvalidBandwidth.Malformed", "The specified Bandwidth %q is not valid: use 1 to 10000 (Mbit/s).", *bandwidth)
		}
		bw = n
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		e, err := getEIP(tx, accountID, id)
		if err != nil {
			return err
		}
		if name != nil {
			e.Name = *name
		}
		if description != nil {
			e.Description = *description
		}
		if bw > 0 {
			e.Bandwidth = bw
		}
		return putJSON(tx, model.PrefixEIP+e.ID, e)
	})
	return err
}

// AssociateEipAddress maps an EIP to an instance (its primary ENI's primary
// IP), to an ENI (its primary IP, or PrivateIpAddress of the ENI) or to a
// NAT gateway (InstanceType Nat: nat.go).
func (s *Service) AssociateEipAddress(ctx context.Context, accountID, id, instanceID, instanceType, privateIP string) error {
	if instanceID == "" {
		return errs.MissingParameter("InstanceId")
	}
	switch instanceType {
	case "":
		instanceType = "EcsInstance"
		if strings.HasPrefix(instanceID, "eni-") {
			instanceType = "NetworkInterface"
		} else if strings.HasPrefix(instanceID, "ngw-") {
			instanceType = model.EIPInstanceNat
		}
	case "EcsInstance", "NetworkInterface", model.EIPInstanceNat:
	default:
		return errs.InvalidParam("InvalidInstanceType.ValueNotSupported",
			"The specified InstanceType %q is not supported; use EcsInstance, NetworkInterface or Nat.", instanceType)
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		e, err := getEIP(tx, accountID, id)
		if err != nil {
			return err
		}
		if e.Status != model.EIPAvailable {
			return errs.Forbidden("IncorrectEipStatus",
				"EIP %s is %s (associated with %s); unassociate it first.", e.ID, e.Status, e.InstanceID)
		}
		if instanceType == model.EIPInstanceNat {
			return s.associateNatEIP(tx, accountID, e, instanceID, privateIP)
		}
		var eni *model.ENI
		if instanceType == "EcsInstance" {
			inst, err := getInstance(tx, accountID, instanceID)
			if err != nil {
				return err
			}
			if eni, err = getENI(tx, accountID, inst.PrimaryENIID); err != nil {
				return err
			}
		} else if eni, err = getENI(tx, accountID, instanceID); err != nil {
			return err
		}
		if err := refuseEndpointENI(eni, "associated with an EIP (a PrivateLink endpoint is reached from its VPC only)"); err != nil {
			return err
		}
		addr := eni.PrimaryIP
		if privateIP != "" {
			a, err := netip.ParseAddr(privateIP)
			if err != nil || !slices.Contains(eni.Addrs(), a) || !a.Is4() {
				return errs.InvalidParam("InvalidPrivateIpAddress.NotFound",
					"The specified PrivateIpAddress %q is not an IPv4 address of network interface %s.", privateIP, eni.ID)
			}
			addr = a
		}
		// One EIP per private address.
		if err := listJSON(tx, model.PrefixEIP, func(o *model.EIP) error {
			if o.ID != e.ID && o.ENIID == eni.ID && o.PrivateIP == addr {
				return errs.Forbidden("InvalidAssociation.Duplicated",
					"Private address %s of %s already has EIP %s (%s).", addr, eni.ID, o.ID, o.Address)
			}
			return nil
		}); err != nil {
			return err
		}
		e.InstanceID, e.InstanceType, e.ENIID, e.PrivateIP, e.VpcID, e.ZoneID = instanceID, instanceType, eni.ID, addr, eni.VpcID, eni.ZoneID
		e.Status = model.EIPInUse
		if s.zoneServed(tx, eni.ZoneID) {
			e.Status = model.EIPAssociating
		}
		return putJSON(tx, model.PrefixEIP+e.ID, e)
	})
	return err
}

// UnassociateEipAddress removes the mapping of an EIP.
func (s *Service) UnassociateEipAddress(ctx context.Context, accountID, id, instanceID string) error {
	_, err := s.update(ctx, func(tx store.Txn) error {
		e, err := getEIP(tx, accountID, id)
		if err != nil {
			return err
		}
		if e.InstanceID == "" {
			return errs.Forbidden("IncorrectEipStatus", "EIP %s is not associated with anything.", e.ID)
		}
		if instanceID != "" && instanceID != e.InstanceID {
			return errs.InvalidParam("InvalidInstanceId.NotAssociated",
				"EIP %s is associated with %s, not with %s.", e.ID, e.InstanceID, instanceID)
		}
		// An EIP that an SNAT or forward entry uses stays (nat.go).
		if err := refuseNatEIPInUse(tx, e); err != nil {
			return err
		}
		clearEIPAssociation(e)
		return putJSON(tx, model.PrefixEIP+e.ID, e)
	})
	return err
}

// ReleaseEipAddress returns an unassociated EIP to the pool.
func (s *Service) ReleaseEipAddress(ctx context.Context, accountID, id string) error {
	_, err := s.update(ctx, func(tx store.Txn) error {
		e, err := getEIP(tx, accountID, id)
		if err != nil {
			return err
		}
		if e.InstanceID != "" {
			return errs.Forbidden("IncorrectEipStatus", "EIP %s is associated with %s; unassociate it before releasing it.", e.ID, e.InstanceID)
		}
		if err := tx.Delete(model.PrefixEIPAddr + e.Address.String()); err != nil {
			return err
		}
		// Its Internet-firewall switch goes with it: the address may come
		// back to the account later, and then starts protected.
		if err := tx.Delete(model.FirewallOffKey(accountID, e.Address)); err != nil {
			return err
		}
		// So does its manual Anti-DDoS threshold (its events stay, as
		// history of the address under that EIP's ID).
		if err := tx.Delete(model.DDoSThresholdKey(accountID, e.Address)); err != nil {
			return err
		}
		return tx.Delete(model.PrefixEIP + e.ID)
	})
	return err
}

// SetEIPStatus records what the agent applied (Associating -> InUse).
func (s *Service) SetEIPStatus(ctx context.Context, id, status string) error {
	_, err := s.update(ctx, func(tx store.Txn) error {
		var e model.EIP
		ok, err := getJSON(tx, model.PrefixEIP+id, &e)
		if err != nil || !ok || e.Status == status || e.InstanceID == "" {
			return err
		}
		e.Status = status
		return putJSON(tx, model.PrefixEIP+e.ID, &e)
	})
	return err
}
