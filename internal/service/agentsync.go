package service

import (
	"context"
	"encoding/json"
	"regexp"
	"time"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
)

// Remote agents (palisade agent --server) mirror the part of the store the
// data plane needs, through the admin-only actions below. Accounts, access
// keys and idempotency records never leave the server.

// AgentPrefixes returns the key prefixes an agent mirrors.
func AgentPrefixes() []string {
	return []string{
		model.PrefixVPC, model.PrefixVSwitch, model.PrefixSecurityGroup,
		model.PrefixInstance, model.PrefixENI, model.PrefixMember, model.PrefixNetworkACL, model.PrefixEIP,
		model.PrefixFlowLog,
		// Traffic mirroring: a host mirrors the packets of its own source
		// ENIs to the sessions' targets.
		model.PrefixMirrorFilter, model.PrefixMirrorSession,
		// WAF protected objects, templates and rules: agents run the WAF
		// for the steered EIP ports of their instances (TLS keys included:
		// the agent terminates TLS). Not the WAF logs.
		model.PrefixWAFProtection, model.PrefixWAFTemplate, model.PrefixWAFRule,
		// PrivateLink services and endpoints: the host of a connected
		// endpoint's zone joins the consumer and provider VPCs (the
		// endpoint ENIs are ENIs).
		model.PrefixEndpointService, model.PrefixEndpoint,
		// Internet firewall: each host filters the public traffic of its
		// EIPs with the policies and address books of their account,
		// unless the EIP's switch is off.
		model.PrefixFirewallPolicy, model.PrefixAddressBook, model.PrefixFirewallOff,
		// VPC peering, its route entries and the VPC firewall: a host
		// links the namespaces of two peered VPCs, routes what the route
		// entries say and filters what the VPC firewall's policies say.
		model.PrefixPeerConnection, model.PrefixRouteEntry, model.PrefixVpcFirewall, model.PrefixVpcFirewallPolicy,
		// Where the other zones' hosts are (VXLAN between VPC namespaces).
		model.PrefixUnderlay,
		// Anti-DDoS Basic: each host measures, scrubs and blackholes the
		// inbound traffic of its EIPs with their manual thresholds and the
		// operator's configuration, and resumes the open events after a
		// restart. KeyDDoSConfig is a single key; as a prefix it lists
		// exactly that key (no other key starts with it).
		model.PrefixDDoSThreshold, model.PrefixDDoSEvent, model.KeyDDoSConfig,
		// Server Load Balancer: the host of a load balancer's zone
		// programs its address, listeners and backends, and probes them
		// (the health it reports, PrefixLBHealth, stays on the server),
		// filtering the new connections of listeners with access control
		// by their lists.
		model.PrefixLoadBalancer, model.PrefixLBACL,
		// Internet NAT gateways: the host of a gateway's zone translates
		// with its EIPs what its SNAT and forward entries say, for the
		// destinations its VPC routes to it (PrefixRouteEntry above).
		model.PrefixNatGateway, model.PrefixSnatEntry, model.PrefixForwardEntry,
		// Cloud Firewall's NAT firewall: the host that translates for a
		// gateway judges the outbound connections through it with the
		// gateway's policies (and the account's address books, above).
		// Mirrored to every agent, as the VPC firewall's policies are:
		// they hold no secret (only the WAF objects, which hold TLS keys,
		// are filtered by zone in ExportState).
		model.PrefixNatFirewallPolicy,
		// The addresses the server's resolver found for the domains that
		// the policies above name (DestinationType domain): each host
		// matches those, the same everywhere (public DNS, no secret).
		model.PrefixDomainResolution,
	}
}

// ZoneTTL is how long a zone counts as served after its agent's last
// heartbeat; agents heartbeat well within it.
const ZoneTTL = 30 * time.Second

// Record is one store entry.
type Record struct {
	Key   string
	Value json.RawMessage
}

// ExportState returns the records agents mirror, at one revision. An
// agent key (keyZone) gets the WAF objects of its zone's instances only:
// they hold TLS private keys, and no other zone's agent needs them.
func (s *Service) ExportState(ctx context.Context, callerID, keyZone string) (int64, []Record, error) {
	var rev int64
	var out []Record
	err := s.view(ctx, func(tx store.ReadTxn) error {
		if err := requireAdmin(tx, callerID); err != nil {
			return err
		}
		rev, out = tx.Revision(), nil
		for _, p := range AgentPrefixes() {
			if err := tx.List(p, func(k string, v []byte) error {
				if keyZone != "" && p == model.PrefixWAFProtection {
					var wp model.WAFProtection
					if err := json.Unmarshal(v, &wp); err != nil {
						return err
					}
					var in model.Instance
					if ok, err := getJSON(tx, model.PrefixInstance+wp.InstanceID, &in); err != nil {
						return err
					} else if !ok || in.ZoneID != keyZone {
						return nil
					}
				}
				if len(v) == 0 {
					v = []byte("null")
				}
				out = append(out, Record{Key: k, Value: append(json.RawMessage(nil), v...)})
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	return rev, out, err
}

// WaitRevision returns as soon as the store's revision is greater than
// after, or when wait has passed; it returns the revision then.
func (s *Service) WaitRevision(ctx context.Context, callerID string, after int64, wait time.Duration) (int64, error) {
	if err := s.view(ctx, func(tx store.ReadTxn) error { return requireAdmin(tx, callerID) }); err != nil {
		return 0, err
	}
	if rev := s.st.Revision(); rev > after || wait <= 0 {
		return rev, nil
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	events, err := s.st.Watch(ctx, "", after)
	if err != nil {
		// Compacted history: the caller re-lists anyway.
		return s.st.Revision(), nil
	}
	select {
	case <-events:
	case <-ctx.Done():
	}
	return s.st.Revision(), nil
}

var zoneIDRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// RegisterZone records (or refreshes) the agent that serves zone: the zone
// then appears in DescribeZones, and instances launched in it stay Pending
// until the agent has put them in the kernel.
// keyZone is the zone of the caller's agent key ("" for a full key of the
// admin: any zone).
// underlay is the agent's underlay (UnderlayRequest).
func (s *Service) RegisterZone(ctx context.Context, callerID, keyZone, zone, host string, appliedRev int64, underlay UnderlayRequest) error {
	if !zoneIDRe.MatchString(zone) {
		return errs.InvalidParam("InvalidZoneId.Malformed",
			"The specified ZoneId %q is not valid: use lowercase letters, digits and '-', at most 63 characters.", zone)
	}
	if keyZone != "" && zone != keyZone {
		return errAgentZone(keyZone, "register zone "+zone)
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		if err := requireAdmin(tx, callerID); err != nil {
			return err
		}
		if err := setUnderlay(tx, zone, underlay); err != nil {
			return err
		}
		return putJSON(tx, model.PrefixZoneStatus+zone, model.ZoneStatus{
			ZoneID: zone, Host: host, LastSeen: s.cfg.Now().UTC(), AppliedRevision: appliedRev, Agent: true,
		})
	})
	return err
}

// ReportStatus records the statuses an agent observed (admin only). With
// an agent key (keyZone), every instance, ENI and EIP must be of its zone.
func (s *Service) ReportStatus(ctx context.Context, callerID, keyZone string, instances, enis, eips map[string]string) error {
	err := s.view(ctx, func(tx store.ReadTxn) error {
		if err := requireAdmin(tx, callerID); err != nil {
			return err
		}
		if keyZone == "" {
			return nil
		}
		for id := range instances {
			if err := instanceInZone(tx, keyZone, id); err != nil {
				return err
			}
		}
		for id := range enis {
			if err := eniInZone(tx, keyZone, id); err != nil {
				return err
			}
		}
		for id := range eips {
			var e model.EIP
			if ok, err := getJSON(tx, model.PrefixEIP+id, &e); err != nil {
				return err
			} else if ok && e.ENIID != "" {
				if err := eniInZone(tx, keyZone, e.ENIID); err != nil {
					return errAgentZone(keyZone, "report EIP "+id+", which is mapped to an ENI of another zone")
				}
			} else if ok && e.InstanceType == model.EIPInstanceNat && e.ZoneID != keyZone {
				return errAgentZone(keyZone, "report EIP "+id+", which is associated with NAT gateway "+e.InstanceID+" of zone "+e.ZoneID)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for id, st := range instances {
		if st != model.InstancePending && st != model.InstanceRunning {
			return errs.InvalidParameter("Instance.N.Status", "an agent reports Pending or Running, got %q for %s", st, id)
		}
	}
	for id, st := range enis {
		if st != model.ENIAttaching && st != model.ENIInUse {
			return errs.InvalidParameter("NetworkInterface.N.Status", "an agent reports Attaching or InUse, got %q for %s", st, id)
		}
	}
	for id, st := range eips {
		if st != model.EIPAssociating && st != model.EIPInUse {
			return errs.InvalidParameter("Eip.N.Status", "an agent reports Associating or InUse, got %q for %s", st, id)
		}
	}
	for id, st := range eips {
		if err := s.SetEIPStatus(ctx, id, st); err != nil {
			return err
		}
	}
	for id, st := range enis {
		if err := s.SetENIStatus(ctx, id, st); err != nil {
			return err
		}
	}
	for id, st := range instances {
		if err := s.SetInstanceStatus(ctx, id, st); err != nil {
			return err
		}
	}
	return nil
}

// zoneServed reports whether an agent serves zone: the in-process agent
// (Config.ZoneServed) or a remote one whose heartbeat is recent.
func (s *Service) zoneServed(tx store.ReadTxn, zone string) bool {
	if s.cfg.ZoneServed != nil && s.cfg.ZoneServed(zone) {
		return true
	}
	var z model.ZoneStatus
	ok, err := getJSON(tx, model.PrefixZoneStatus+zone, &z)
	return err == nil && ok && z.Agent && s.cfg.Now().Sub(z.LastSeen) < ZoneTTL
}

// errAgentZone: an agent key of zone tried to act for another zone.
func errAgentZone(zone, what string) *errs.Error {
	return errs.Forbidden("Forbidden.AgentZone",
		"This access key is the agent key of zone %s: it cannot %s. Run each zone's agent with that zone's key (CreateAccessKey with AgentZoneId).", zone, what)
}

// instanceInZone checks that instance id, if it exists, is in zone.
func instanceInZone(tx store.ReadTxn, zone, id string) error {
	return recordInZone(tx, zone, model.PrefixInstance, "instance", id, func(in *model.Instance) string { return in.ZoneID })
}

// eniInZone checks that ENI id, if it exists, is in zone.
func eniInZone(tx store.ReadTxn, zone, id string) error {
	return recordInZone(tx, zone, model.PrefixENI, "ENI", id, func(e *model.ENI) string { return e.ZoneID })
}

// recordInZone checks that the record id under prefix, if it exists, is
// in zone (zoneOf reads its zone); what names it in the error.
func recordInZone[T any](tx store.ReadTxn, zone, prefix, what, id string, zoneOf func(*T) string) error {
	v := new(T)
	ok, err := getJSON(tx, prefix+id, v)
	if err != nil {
		return err
	}
	if z := zoneOf(v); ok && z != zone {
		return errAgentZone(zone, "report "+what+" "+id+" of zone "+z)
	}
	return nil
}
