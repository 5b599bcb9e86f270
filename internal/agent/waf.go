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
// this host from the internet).
func buildWAF(tx store.ReadTxn, s *snapshot, byVPC map[string]*dataplane.VPC) ([]WAFObject, error) {
	var prots []model.WAFProtection
	if err := listAll(tx, model.PrefixWAFProtection, func(p model.WAFProtection) { prots = append(prots, p) }); err != nil {
		return nil, err
	}
	if len(prots) == 0 {
		return nil, nil
	}
	tpls := map[string]model.WAFTemplate{}
	if err := listAll(tx, model.PrefixWAFTemplate, func(t model.WAFTemplate) { tpls[t.ID] = t }); err != nil {
		return nil, err
	}
	rules := map[string][]model.WAFRule{}
	if err := listAll(tx, model.PrefixWAFRule, func(r model.WAFRule) { rules[r.ProtectionID] = append(rules[r.ProtectionID], r) }); err != nil {
		return nil, err
	}
	insts := map[string]model.Instance{}
	for _, i := range s.instances {
		insts[i.ID] = i
	}
	eniInst := map[string]string{} // ENI ID -> instance ID
	for _, e := range s.enis {
		eniInst[e.ID] = e.InstanceID
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
		if !slices.Contains(e.WAFPorts, port) {
			e.WAFPorts = append(e.WAFPorts, port)
			slices.Sort(e.WAFPorts)
		}
		var tpl *model.WAFTemplate
		if t, ok := tpls[p.TemplateID]; ok && t.AccountID == p.AccountID {
			tpl = &t
		}
		oc := wafconfig.Object(p, tpl, rules[p.ID], wafconfig.Upstream(e.PrivateIP.String(), p.Port))
		ap := netip.AddrPortFrom(e.Address, port)
		oc.Listen = v.ID + "/" + ap.String()
		out = append(out, WAFObject{AccountID: p.AccountID, VPCID: v.ID, EIP: e.Address, Port: port, Config: oc})
	}
	slices.SortFunc(out, func(a, b WAFObject) int { return cmpString(a.Config.ID, b.Config.ID) })
	return out, nil
}

// MaxAdmitRanges bounds the client ranges loaded for one steered port. A
// port whose filters need more admits every client at the SYN, and its
// upstream connections alone are filtered (as before admission existed).
const MaxAdmitRanges = 1024

// admitWAFClients sets, on the EIP of every steered object, the clients
// that the instance's network ACL and security groups admit to the port
// (policy.AdmittedSources), so that the others are dropped at their SYN.
// Only objects that forward to the instance's own port get one.
func admitWAFClients(w policy.World, objs []WAFObject, byVPC map[string]*dataplane.VPC) {
	for _, o := range objs {
		v := byVPC[o.VPCID]
		i := slices.IndexFunc(v.EIPs, func(e dataplane.EIP) bool { return e.Address == o.EIP })
		if i < 0 {
			continue
		}
		e := &v.EIPs[i]
		if o.Config.Upstream != wafconfig.Upstream(e.PrivateIP.String(), int(o.Port)) {
			continue // an upstream of its own: its filters are not the port's
		}
		ranges, all, ok := policy.AdmittedSources(w, e.ENIID, e.PrivateIP, o.Port, MaxAdmitRanges)
		if all || !ok {
			continue
		}
		if e.WAFAdmit == nil {
			e.WAFAdmit = map[uint16][]dataplane.SourceRange{}
		}
		out := make([]dataplane.SourceRange, 0, len(ranges))
		for _, r := range ranges {
			out = append(out, dataplane.SourceRange{From: r.Addr.From, To: r.Addr.To, PortFrom: r.SPort.From, PortTo: r.SPort.To})
		}
		e.WAFAdmit[o.Port] = out
	}
}

// logRefusedWAFClients makes the EIPs of ENIs that an active flow log
// covers log the SYNs their WAF ports refuse, as the security groups'
// drops of those ENIs are logged: the ENI's REJECT records. The prefix
// carries the ENI's address, the destination the packet would have had
// after translation (as on the direct path), so that capture attributes it.
func logRefusedWAFClients(d *Desired, ifName func(eniID string) string) {
	for i := range d.Host.VPCs {
		v := &d.Host.VPCs[i]
		prog := d.Programs[v.ID]
		if prog == nil {
			continue
		}
		for j := range v.EIPs {
			e := &v.EIPs[j]
			if len(e.WAFAdmit) == 0 || !slices.Contains(prog.FlowLogIfaces, ifName(e.ENIID)) {
				continue
			}
			e.RefuseLog = dataplane.NFLog{
				Prefix: policy.FlowLogPrefix(policy.StageSG, policy.Ingress) + " " + e.PrivateIP.String(),
				Group:  policy.FlowLogGroup, Snaplen: policy.FlowLogSnaplen,
				Rate: policy.FlowLogRate, Burst: policy.FlowLogBurst,
				LoggedCounter: policy.FlowLogLoggedCounter, OverCounter: policy.FlowLogOverCounter,
			}
		}
	}
}
