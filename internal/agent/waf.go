package agent

import (
	"context"
	"net/netip"
	"slices"

	"github.com/palisade-project/palisade/internal/dataplane"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/policy"
	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/waf/wafconfig"
	"github.com/palisade-project/palisade/internal/waf/wafrule"
)

// WAFObject is a protected object this host serves: its instance runs
// here and has an EIP, whose port Port is steered to the WAF in the VPC
// namespace (dataplane.EIP.WAFPorts).
type WAFObject struct {
	AccountID string
	VPCID     string
	EIP       netip.Addr
	Port      uint16
	// Config is the object's WAF configuration; its Upstream is the
	// instance (the object's own upstream, or the EIP's private address and
	// Port), its Listen is opaque ("<vpc>/<eip>:<port>": a change restarts
	// the listener).
	Config wafrule.ObjectConfig
	// Clients, when set, says which clients the upstream's network ACL and
	// security groups admit (nil: every client, or the upstream is not an
	// ENI of the VPC). The WAF closes the live connections of the others,
	// as the agent cuts the direct path's flows a change denies.
	Clients *ClientAdmission
}

// ClientAdmission is the set of clients a protected port admits.
type ClientAdmission struct {
	// Ranges are the admitted (address, source port) ranges, sorted and
	// disjoint, when Eval is nil.
	Ranges []policy.SourceRange
	// Eval decides one client with the evaluator, when the ranges would
	// have been more than MaxAdmitRanges.
	Eval func(client netip.AddrPort) bool
}

// Admits reports whether client may hold a connection to the port.
func (a *ClientAdmission) Admits(client netip.AddrPort) bool {
	if a.Eval != nil {
		return a.Eval(client)
	}
	addr, port := client.Addr().Unmap(), client.Port()
	// Linear: ranges are disjoint as (address, port) boxes, so their
	// address spans overlap and are not ordered by their ends; there are
	// at most MaxAdmitRanges, and this runs only when they change.
	for _, r := range a.Ranges {
		if r.Addr.From.Compare(addr) <= 0 && addr.Compare(r.Addr.To) <= 0 && r.SPort.From <= port && port <= r.SPort.To {
			return true
		}
	}
	return false
}

// WAF runs the WAF for the steered protected objects of the host: a
// transparent listener in the VPC namespace per object, connecting on to
// the instance from the client's address. Apply is called after every
// topology apply with the full set; changed rules take effect for new
// requests without dropping connections.
type WAF interface {
	Apply(ctx context.Context, objs []WAFObject) error
}

// buildWAF finds the protected objects whose instance has an EIP on this
// host (byVPC holds the local VPCs with their EIPs), adds their ports to
// the EIPs' WAFPorts and returns them, sorted by ID. A protected object
// whose instance has no EIP here is not steered (nothing of it reaches
// this host from the internet). withObjects holds the local VPCs with a
// protected instance, steered or not: a standalone WAF ("waf serve") may
// forward to it, and its marked connections must meet the filters.
func buildWAF(tx store.ReadTxn, s *snapshot, byVPC map[string]*dataplane.VPC) (objs []WAFObject, withObjects map[string]bool, err error) {
	var prots []model.WAFProtection
	if err := listAll(tx, model.PrefixWAFProtection, func(p model.WAFProtection) { prots = append(prots, p) }); err != nil {
		return nil, nil, err
	}
	withObjects = map[string]bool{}
	if len(prots) == 0 {
		return nil, withObjects, nil
	}
	tpls := map[string]model.WAFTemplate{}
	if err := listAll(tx, model.PrefixWAFTemplate, func(t model.WAFTemplate) { tpls[t.ID] = t }); err != nil {
		return nil, nil, err
	}
	rules := map[string][]model.WAFRule{}
	if err := listAll(tx, model.PrefixWAFRule, func(r model.WAFRule) { rules[r.ProtectionID] = append(rules[r.ProtectionID], r) }); err != nil {
		return nil, nil, err
	}
	insts := map[string]model.Instance{}
	for _, i := range s.instances {
		insts[i.ID] = i
	}
	eniInst := map[string]string{}         // ENI ID -> instance ID
	instAddrs := map[string][]netip.Addr{} // instance ID -> its ENIs' private IPv4 addresses
	for _, e := range s.enis {
		eniInst[e.ID] = e.InstanceID
		for _, a := range append([]netip.Addr{e.PrimaryIP}, e.SecondaryIPs...) {
			if a.Is4() {
				instAddrs[e.InstanceID] = append(instAddrs[e.InstanceID], a)
			}
		}
	}
	var out []WAFObject
	for _, p := range prots {
		inst, ok := insts[p.InstanceID]
		if !ok || p.Port < 1 || p.Port > 65535 {
			continue
		}
		v := byVPC[inst.VpcID]
		if v == nil {
			continue // not on this host
		}
		withObjects[inst.VpcID] = true
		var mine []int // indexes in v.EIPs of the instance's EIPs
		for i, e := range v.EIPs {
			if eniInst[e.ENIID] == inst.ID {
				mine = append(mine, i)
			}
		}
		pick := model.SteeredEIP(inst.PrimaryENIID, mine, func(i int) (string, string) { return v.EIPs[i].ID, v.EIPs[i].ENIID })
		if pick < 0 {
			continue
		}
		e := &v.EIPs[mine[pick]]
		port := uint16(p.Port)
		var tpl *model.WAFTemplate
		if t, ok := tpls[p.TemplateID]; ok && t.AccountID == p.AccountID {
			tpl = &t
		}
		oc := wafconfig.Object(p, tpl, rules[p.ID], wafconfig.Upstream(e.PrivateIP.String(), p.Port))
		if up, err := netip.ParseAddrPort(oc.Upstream); err != nil || !slices.Contains(instAddrs[inst.ID], up.Addr()) {
			// The API refuses an upstream outside the instance; one stored
			// before it did, or an address the instance has released, is
			// not steered: the port stays on the direct path, where the
			// instance's own filters decide.
			continue
		}
		if !slices.Contains(e.WAFPorts, port) {
			e.WAFPorts = append(e.WAFPorts, port)
			slices.Sort(e.WAFPorts)
		}
		ap := netip.AddrPortFrom(e.Address, port)
		oc.Listen = v.ID + "/" + ap.String()
		out = append(out, WAFObject{AccountID: p.AccountID, VPCID: v.ID, EIP: e.Address, Port: port, Config: oc})
	}
	slices.SortFunc(out, func(a, b WAFObject) int { return cmpString(a.Config.ID, b.Config.ID) })
	return out, withObjects, nil
}

// MaxAdmitRanges bounds the client ranges loaded for one steered port. A
// port whose filters need more admits every client at the SYN, and its
// upstream connections alone are filtered (as before admission existed).
const MaxAdmitRanges = 1024

// admitWAFClients sets, on the EIP of every steered object, the clients
// that the network ACL and security groups of the object's upstream admit
// (policy.AdmittedSources), so that the others are dropped at their SYN,
// and the same answer on the object (WAFObject.Clients), so that the WAF
// closes the connections a change denies.
// The upstream must be an ENI address of the VPC (the instance, by
// default): the WAF's upstream connection goes there from the client's
// address and port, and those filters decide it. When an active flow log
// covers that ENI, the refused SYNs are logged as its security groups'
// drops are: its REJECT records. The log prefix carries the upstream's
// address, the destination capture attributes the packet by (it still
// bears the EIP). Run after buildFlowLogs.
func admitWAFClients(d *Desired, ifName func(eniID string) string) {
	for oi := range d.WAF {
		o := &d.WAF[oi]
		i := slices.IndexFunc(d.Host.VPCs, func(v dataplane.VPC) bool { return v.ID == o.VPCID })
		if i < 0 {
			continue
		}
		v := &d.Host.VPCs[i]
		j := slices.IndexFunc(v.EIPs, func(e dataplane.EIP) bool { return e.Address == o.EIP })
		up, err := netip.ParseAddrPort(o.Config.Upstream)
		if j < 0 || err != nil || !up.Addr().Unmap().Is4() {
			continue // a host name, or IPv6 (which a client of the EIP cannot reach)
		}
		eni := d.World.ENIByAddr(o.VPCID, up.Addr().Unmap())
		if eni == "" {
			continue // not an ENI of the VPC: no group of ours decides
		}
		ranges, all, ok := policy.AdmittedSources(d.World, eni, up.Addr(), up.Port(), MaxAdmitRanges)
		if !ok {
			world := d.World
			o.Clients = &ClientAdmission{Eval: func(c netip.AddrPort) bool {
				return policy.AdmitsClient(world, eni, up.Addr(), up.Port(), c)
			}}
		}
		if all || !ok {
			continue
		}
		o.Clients = &ClientAdmission{Ranges: ranges}
		a := dataplane.WAFAdmission{Clients: make([]dataplane.SourceRange, 0, len(ranges))}
		for _, r := range ranges {
			a.Clients = append(a.Clients, dataplane.SourceRange{From: r.Addr.From, To: r.Addr.To, PortFrom: r.SPort.From, PortTo: r.SPort.To})
		}
		if prog := d.Programs[o.VPCID]; prog != nil && slices.Contains(prog.FlowLogIfaces, ifName(eni)) {
			a.Log = dataplane.NFLog{
				Prefix: policy.FlowLogPrefix(policy.StageSG, policy.Ingress) + " " + up.Addr().Unmap().String(),
				Group:  policy.FlowLogGroup, Snaplen: policy.FlowLogSnaplen,
				Rate: policy.FlowLogRate, Burst: policy.FlowLogBurst,
				LoggedCounter: policy.FlowLogLoggedCounter, OverCounter: policy.FlowLogOverCounter,
			}
		}
		e := &v.EIPs[j]
		if e.WAFAdmit == nil {
			e.WAFAdmit = map[uint16]dataplane.WAFAdmission{}
		}
		e.WAFAdmit[o.Port] = a
	}
}
