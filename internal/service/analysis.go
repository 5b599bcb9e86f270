package service

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/palisade-project/palisade/internal/analysis"
	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/waf/wafconfig"
)

// ChangeSpec is a proposed security group change for a what-if analysis:
// Action "add" (Direction and Rule as AuthorizeSecurityGroup[Egress] take
// them) or "remove" (RuleID).
type ChangeSpec struct {
	Action    string
	GroupID   string
	RuleID    string
	Direction string
	Rule      RuleSpec
}

// analysisCache keeps the analyzers of the last few (account, store
// revision) pairs: a repeated query on an unchanged store skips reading and
// indexing the account (any write changes the revision, so an entry is
// never stale).
var analysisCache struct {
	sync.Mutex
	entries []*cachedAnalyzer
}

const analysisCacheSize = 4

type cachedAnalyzer struct {
	svc      *Service
	account  string
	revision int64
	world    *analysis.World
	analyzer *analysis.Analyzer
}

func cachedAnalysis(svc *Service, account string, rev int64) *cachedAnalyzer {
	analysisCache.Lock()
	defer analysisCache.Unlock()
	for _, e := range analysisCache.entries {
		if e.svc == svc && e.account == account && e.revision == rev {
			return e
		}
	}
	return nil
}

func storeAnalysis(e *cachedAnalyzer) {
	analysisCache.Lock()
	defer analysisCache.Unlock()
	c := &analysisCache.entries
	*c = append([]*cachedAnalyzer{e}, *c...)
	if len(*c) > analysisCacheSize {
		(*c)[analysisCacheSize] = nil
		*c = (*c)[:analysisCacheSize]
	}
}

// analysisWorld reads the caller's account's resources in one view: every
// analysis sees only them. It returns the revision read.
func (s *Service) analysisWorld(ctx context.Context, accountID string) (*analysis.World, int64, error) {
	var rev int64
	q := s.cfg.Quotas
	w := &analysis.World{Limits: analysis.Limits{
		VpcsPerAccount: q.VpcsPerAccount, VSwitchesPerVpc: q.VSwitchesPerVpc, SecurityGroupsPerAccount: q.SecurityGroupsPerAccount,
		GroupsPerENI: q.GroupsPerENI, RulesPerENI: q.RulesPerENI, RulesPerGroup: q.RulesPerGroup,
		GroupRefRulesPerGroup: q.GroupRefRulesPerGroup, BasicGroupIPs: q.BasicGroupIPs, ENIsPerInstance: q.ENIsPerInstance,
		PrivateIPsPerENI: q.PrivateIPsPerENI, NetworkAclsPerVpc: q.NetworkAclsPerVpc, ACLEntriesPerDirection: q.ACLEntriesPerDirection,
	}}
	err := s.view(ctx, func(tx store.ReadTxn) error {
		*w = analysis.World{Limits: w.Limits, PublicCIDR: s.publicPool(), AccountID: accountID}
		rev = tx.Revision()
		if err := listJSON(tx, model.PrefixVPC, func(v *model.VPC) error {
			if v.AccountID == accountID {
				w.VPCs = append(w.VPCs, *v)
			}
			return nil
		}); err != nil {
			return err
		}
		if err := listJSON(tx, model.PrefixVSwitch, func(v *model.VSwitch) error {
			if v.AccountID == accountID {
				w.VSwitches = append(w.VSwitches, *v)
			}
			return nil
		}); err != nil {
			return err
		}
		if err := listJSON(tx, model.PrefixSecurityGroup, func(v *model.SecurityGroup) error {
			if v.AccountID == accountID {
				w.Groups = append(w.Groups, *v)
			}
			return nil
		}); err != nil {
			return err
		}
		if err := listJSON(tx, model.PrefixENI, func(v *model.ENI) error {
			if v.AccountID == accountID {
				w.ENIs = append(w.ENIs, *v)
			}
			return nil
		}); err != nil {
			return err
		}
		if err := listJSON(tx, model.PrefixInstance, func(v *model.Instance) error {
			if v.AccountID == accountID {
				w.Instances = append(w.Instances, *v)
			}
			return nil
		}); err != nil {
			return err
		}
		if err := listJSON(tx, model.PrefixNetworkACL, func(v *model.NetworkACL) error {
			if v.AccountID == accountID {
				w.ACLs = append(w.ACLs, *v)
			}
			return nil
		}); err != nil {
			return err
		}
		if err := listJSON(tx, model.PrefixEIP, func(v *model.EIP) error {
			if v.AccountID == accountID {
				w.EIPs = append(w.EIPs, *v)
			}
			return nil
		}); err != nil {
			return err
		}
		if err := listInternetFirewall(tx, accountID, w); err != nil {
			return err
		}
		now := time.Now()
		if err := listJSON(tx, model.PrefixDDoSEvent, func(v *model.DDoSEvent) error {
			if v.AccountID == accountID && v.Open(now) {
				w.DDoSEvents = append(w.DDoSEvents, *v)
			}
			return nil
		}); err != nil {
			return err
		}
		if err := listJSON(tx, model.PrefixEndpoint, func(v *model.Endpoint) error {
			if v.AccountID == accountID {
				w.Endpoints = append(w.Endpoints, *v)
			}
			return nil
		}); err != nil {
			return err
		}
		if err := listJSON(tx, model.PrefixEndpointService, func(v *model.EndpointService) error {
			if v.AccountID == accountID {
				w.Services = append(w.Services, *v)
			}
			return nil
		}); err != nil {
			return err
		}
		if err := listLoadBalancers(tx, accountID, w); err != nil {
			return err
		}
		if err := listNatGateways(tx, accountID, w); err != nil {
			return err
		}
		// Every zone's underlay (the deployment's, not an account's): an
		// account's VPC spans the hosts of its vSwitches' zones.
		if err := listJSON(tx, model.PrefixUnderlay, func(v *model.Underlay) error {
			w.Underlays = append(w.Underlays, *v)
			return nil
		}); err != nil {
			return err
		}
		// The zones a host serves now: only between two of them is there
		// an underlay to speak of.
		if err := listJSON(tx, model.PrefixZoneStatus, func(z *model.ZoneStatus) error {
			if s.zoneServed(tx, z.ZoneID) {
				w.HostedZones = append(w.HostedZones, z.ZoneID)
			}
			return nil
		}); err != nil {
			return err
		}
		if err := listPeering(tx, accountID, w); err != nil {
			return err
		}
		return listWAFSteering(tx, accountID, &w.WAF)
	})
	return w, rev, err
}

// listLoadBalancers reads the account's load balancers into w, with the
// last health the agents of their zones reported.
func listLoadBalancers(tx store.ReadTxn, accountID string, w *analysis.World) error {
	own := map[string]bool{}
	if err := listJSON(tx, model.PrefixLoadBalancer, func(v *model.LoadBalancer) error {
		if v.AccountID == accountID {
			w.LoadBalancers = append(w.LoadBalancers, *v)
			own[v.ID] = true
		}
		return nil
	}); err != nil {
		return err
	}
	if len(own) == 0 {
		return nil
	}
	if err := listJSON(tx, model.PrefixLBACL, func(v *model.LBAccessControlList) error {
		if v.AccountID == accountID {
			w.LBACLs = append(w.LBACLs, *v)
		}
		return nil
	}); err != nil {
		return err
	}
	return listJSON(tx, model.PrefixLBHealth, func(v *model.LBHealth) error {
		if own[v.LoadBalancerID] {
			w.LBHealth = append(w.LBHealth, *v)
		}
		return nil
	})
}

// listNatGateways reads the account's NAT gateways with their SNAT and
// forward entries and the policies of their NAT firewalls into w (their
// EIPs are among w.EIPs, their routes among the route entries listPeering
// reads, the address books of the policies among the Internet firewall's
// that listInternetFirewall reads).
func listNatGateways(tx store.ReadTxn, accountID string, w *analysis.World) error {
	own := map[string]bool{}
	if err := listJSON(tx, model.PrefixNatGateway, func(v *model.NatGateway) error {
		if v.AccountID == accountID {
			w.NatGateways = append(w.NatGateways, *v)
			own[v.ID] = true
		}
		return nil
	}); err != nil {
		return err
	}
	if len(own) == 0 {
		return nil
	}
	if err := listJSON(tx, model.PrefixSnatEntry, func(v *model.SnatEntry) error {
		if v.AccountID == accountID {
			w.SnatEntries = append(w.SnatEntries, *v)
		}
		return nil
	}); err != nil {
		return err
	}
	if err := listJSON(tx, model.PrefixForwardEntry, func(v *model.ForwardEntry) error {
		if v.AccountID == accountID {
			w.ForwardEntries = append(w.ForwardEntries, *v)
		}
		return nil
	}); err != nil {
		return err
	}
	// Only the policies of the account's own gateways: a policy left
	// behind by a deleted gateway judges nothing.
	return listJSON(tx, model.PrefixNatFirewallPolicy, func(v *model.FirewallPolicy) error {
		if v.AccountID == accountID && own[v.NatGatewayID] {
			w.NatFirewallPolicies = append(w.NatFirewallPolicies, *v)
		}
		return nil
	})
}

// listWAFSteering appends the account's protected ports with their
// template's mode (the built-in default for objects without one) and
// their upstream as stored (empty: the default, which the analyzer
// resolves as the agent does).
func listWAFSteering(tx store.ReadTxn, accountID string, out *[]analysis.WAFSteer) error {
	tpls, err := accountWAFTemplates(tx, accountID)
	if err != nil {
		return err
	}
	return listJSON(tx, model.PrefixWAFProtection, func(p *model.WAFProtection) error {
		if p.AccountID != accountID {
			return nil
		}
		tpl, ok := tpls[p.TemplateID]
		if !ok {
			tpl = wafconfig.DefaultTemplate()
		}
		*out = append(*out, analysis.WAFSteer{ProtectionID: p.ID, InstanceID: p.InstanceID, Port: p.Port,
			Protocol: p.Protocol, Mode: tpl.Action, Paranoia: tpl.ParanoiaLevel, Upstream: p.Upstream})
		return nil
	})
}

// analyzer builds the analyzer of the account with the proposed changes
// applied (to a copy: nothing is written).
func (s *Service) analyzer(ctx context.Context, accountID string, changes []ChangeSpec) (*analysis.Analyzer, []string, error) {
	ce := cachedAnalysis(s, accountID, s.st.Revision())
	if ce == nil {
		w, rev, err := s.analysisWorld(ctx, accountID)
		if err != nil {
			return nil, nil, err
		}
		a := analysis.New(w)
		a.Prepare()
		ce = &cachedAnalyzer{svc: s, account: accountID, revision: rev, world: w, analyzer: a}
		storeAnalysis(ce)
	}
	if len(changes) == 0 {
		return ce.analyzer, nil, nil
	}
	w := ce.world
	groups := map[string]*model.SecurityGroup{}
	for i := range w.Groups {
		groups[w.Groups[i].ID] = &w.Groups[i]
	}
	var cs []analysis.Change
	for i, c := range changes {
		g := groups[c.GroupID]
		if c.GroupID == "" {
			return nil, nil, errs.MissingParameter("Changes[" + itoa(i+1) + "].SecurityGroupId")
		}
		if g == nil {
			return nil, nil, errGroupNotFound(c.GroupID)
		}
		ch := analysis.Change{Action: strings.ToLower(c.Action), GroupID: c.GroupID, RuleID: c.RuleID}
		switch ch.Action {
		case "add":
			dir := strings.ToLower(c.Direction)
			if err := checkDirection(dir); err != nil {
				return nil, nil, err
			}
			r, err := ParseRule(dir, c.Rule)
			if err != nil {
				return nil, nil, err
			}
			if r.PeerGroupID != "" {
				pg := groups[r.PeerGroupID]
				if pg == nil {
					return nil, nil, errGroupNotFound(r.PeerGroupID)
				}
				if pg.VpcID != g.VpcID {
					return nil, nil, errs.InvalidParameter("Changes", "change %d: group %s is in another VPC than %s", i+1, pg.ID, g.ID)
				}
			}
			ch.Rule = r
		case "remove":
			if c.RuleID == "" {
				return nil, nil, errs.MissingParameter("Changes[" + itoa(i+1) + "].RuleId")
			}
		default:
			return nil, nil, errs.InvalidParameter("Changes", "change %d: Action must be add or remove, got %q", i+1, c.Action)
		}
		cs = append(cs, ch)
	}
	w2, desc, err := w.WithChanges(cs)
	if err != nil {
		return nil, nil, err
	}
	return analysis.New(w2), desc, nil
}

// AnalyzeReachability answers whether From reaches To (analysis.Reach) in
// the caller's account, as if changes were applied.
func (s *Service) AnalyzeReachability(ctx context.Context, accountID string, q analysis.ReachQuery, changes []ChangeSpec) (*analysis.ReachResult, error) {
	a, desc, err := s.analyzer(ctx, accountID, changes)
	if err != nil {
		return nil, err
	}
	r, err := a.Reach(q)
	if err != nil {
		return nil, err
	}
	r.WhatIf = desc
	return r, nil
}

// AnalyzeMatrix answers who reaches whom in a VPC of the caller.
func (s *Service) AnalyzeMatrix(ctx context.Context, accountID string, q analysis.MatrixQuery, changes []ChangeSpec) (*analysis.MatrixResult, error) {
	a, desc, err := s.analyzer(ctx, accountID, changes)
	if err != nil {
		return nil, err
	}
	r, err := a.Matrix(q)
	if err != nil {
		return nil, err
	}
	r.WhatIf = desc
	return r, nil
}

// AuditSecurity audits the caller's account or one of its VPCs.
func (s *Service) AuditSecurity(ctx context.Context, accountID string, q analysis.AuditQuery, changes []ChangeSpec) (*analysis.AuditResult, error) {
	a, desc, err := s.analyzer(ctx, accountID, changes)
	if err != nil {
		return nil, err
	}
	r, err := a.Audit(q)
	if err != nil {
		return nil, err
	}
	r.WhatIf = desc
	return r, nil
}

// listInternetFirewall reads the account's Internet-firewall policies,
// address books and switched-off EIPs into w, and the resolutions of
// the domains policies name (public DNS answers, not an account's data).
func listInternetFirewall(tx store.ReadTxn, accountID string, w *analysis.World) error {
	if err := listJSON(tx, model.PrefixDomainResolution, func(v *model.DomainResolution) error {
		w.DomainResolutions = append(w.DomainResolutions, *v)
		return nil
	}); err != nil {
		return err
	}
	if err := listJSON(tx, model.PrefixFirewallPolicy, func(v *model.FirewallPolicy) error {
		if v.AccountID == accountID {
			w.FirewallPolicies = append(w.FirewallPolicies, *v)
		}
		return nil
	}); err != nil {
		return err
	}
	if err := listJSON(tx, model.PrefixAddressBook, func(v *model.AddressBook) error {
		if v.AccountID == accountID {
			w.AddressBooks = append(w.AddressBooks, *v)
		}
		return nil
	}); err != nil {
		return err
	}
	return tx.List(model.PrefixFirewallOff+accountID+"/", func(k string, _ []byte) error {
		if ip, err := netip.ParseAddr(strings.TrimPrefix(k, model.PrefixFirewallOff+accountID+"/")); err == nil {
			w.FirewallOff = append(w.FirewallOff, ip)
		}
		return nil
	})
}

// listPeering reads into w (whose VPCs are read) the peering connections
// with an end in one of the account's VPCs, the route entries of the
// account's VPCs and of the other ends of those peerings (the route
// back), the VPC firewalls on those peerings with their policies, and the
// address books of the other accounts owning one of them. As for
// PrivateLink, nothing else of another account is read: a path into its
// VPC ends at the address, and the analyzer names none of its route
// entries or policies (w.AccountID).
func listPeering(tx store.ReadTxn, accountID string, w *analysis.World) error {
	own := map[string]bool{}
	for _, v := range w.VPCs {
		own[v.ID] = true
	}
	ends := map[string]bool{} // the VPCs at either end of a visible peering
	peerings := map[string]bool{}
	if err := listJSON(tx, model.PrefixPeerConnection, func(v *model.PeerConnection) error {
		if own[v.VpcID] || own[v.AcceptingVpcID] {
			w.Peerings = append(w.Peerings, *v)
			peerings[v.ID] = true
			ends[v.VpcID], ends[v.AcceptingVpcID] = true, true
		}
		return nil
	}); err != nil {
		return err
	}
	if err := listJSON(tx, model.PrefixRouteEntry, func(v *model.RouteEntry) error {
		if own[v.VpcID] || ends[v.VpcID] {
			w.RouteEntries = append(w.RouteEntries, *v)
		}
		return nil
	}); err != nil {
		return err
	}
	fws := map[string]string{} // firewall ID -> owner account
	owners := map[string]bool{}
	if err := listJSON(tx, model.PrefixVpcFirewall, func(v *model.VpcFirewall) error {
		if peerings[v.PeerConnectionID] {
			w.VpcFirewalls = append(w.VpcFirewalls, *v)
			fws[v.ID] = v.AccountID
			if v.AccountID != accountID {
				owners[v.AccountID] = true
			}
		}
		return nil
	}); err != nil {
		return err
	}
	if len(fws) == 0 {
		return nil
	}
	if err := listJSON(tx, model.PrefixVpcFirewallPolicy, func(v *model.FirewallPolicy) error {
		if owner, ok := fws[v.VpcFirewallID]; ok && owner == v.AccountID {
			w.VpcFirewallPolicies = append(w.VpcFirewallPolicies, *v)
		}
		return nil
	}); err != nil {
		return err
	}
	if len(owners) == 0 {
		return nil
	}
	return listJSON(tx, model.PrefixAddressBook, func(v *model.AddressBook) error {
		if owners[v.AccountID] {
			w.PeerAddressBooks = append(w.PeerAddressBooks, *v)
		}
		return nil
	})
}
