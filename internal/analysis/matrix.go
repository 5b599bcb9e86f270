package analysis

import (
	"cmp"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
)

// DefaultMatrixPorts are the ports of a matrix query that gives none.
var DefaultMatrixPorts = []string{"tcp:22", "tcp:80", "tcp:443", "tcp:5432"}

// PortSpec is one column family of the matrix: a protocol and a
// destination port (0 for protocols without ports).
type PortSpec struct {
	Proto uint8
	Port  uint16
}

func (p PortSpec) String() string {
	if hasPorts(p.Proto) {
		return ProtoName(p.Proto) + ":" + strconv.Itoa(int(p.Port))
	}
	return ProtoName(p.Proto)
}

// ParsePorts reads "22,443,udp:53,icmp" (a bare number is TCP).
func ParsePorts(s string) ([]PortSpec, error) {
	var out []PortSpec
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		proto, port := "tcp", f
		if i := strings.IndexAny(f, ":/"); i >= 0 {
			proto, port = f[:i], f[i+1:]
		} else if _, err := strconv.Atoi(f); err != nil {
			proto, port = f, ""
		}
		pn, err := ParseProtocol(proto)
		if err != nil {
			return nil, errs.InvalidParameter("Ports", "%q: use port numbers (TCP), proto:port such as udp:53, or icmp", f)
		}
		ps := PortSpec{Proto: pn}
		if hasPorts(pn) {
			n, err := strconv.Atoi(port)
			if err != nil || n < 1 || n > 65535 {
				return nil, errs.InvalidParameter("Ports", "%q: the port must be 1-65535", f)
			}
			ps.Port = uint16(n)
		} else if port != "" {
			return nil, errs.InvalidParameter("Ports", "%q: %s has no ports", f, proto)
		}
		if !slices.Contains(out, ps) {
			out = append(out, ps)
		}
	}
	if len(out) == 0 {
		return nil, errs.MissingParameter("Ports")
	}
	return out, nil
}

// MatrixQuery asks who reaches whom among the instances of a VPC.
type MatrixQuery struct {
	VpcID      string
	Ports      []PortSpec
	SourcePort int // 0: DefaultSourcePort
	// IncludePeers adds the instances of every VPC joined to VpcID by an
	// Activated peering connection, when the World holds that VPC (one of
	// the account's own: another account's instances are never shown).
	IncludePeers bool
}

// MatrixInstance is one row and column of the matrix.
type MatrixInstance struct {
	Instance string
	Name     string
	ENI      string
	Address  string
	Status   string
	VpcID    string
}

// Matrix cell values. A cell stands for every address of the destination
// instance (each ENI's, IPv4 and IPv6), each reached from the ENI and
// source address the source instance's routing picks: it is reachable
// when one of these paths is.
const (
	CellReachable  = 'Y' // the flow opens and its replies pass (over every address family the pair shares)
	CellReachable4 = '4' // reachable over IPv4 only: both have IPv6, which is blocked
	CellReachable6 = '6' // reachable over IPv6 only: IPv4 is blocked
	CellBlocked    = '.' // the first packet is dropped
	CellOneWay     = 'r' // the first packet passes, the replies are dropped (network ACL, or the destination's routing)
	CellSelf       = '-'
)

// CellReaches reports whether a cell value is reachable (over at least
// one address family).
func CellReaches(c byte) bool {
	return c == CellReachable || c == CellReachable4 || c == CellReachable6
}

// MatrixRow holds, for each port of the query, one character per instance
// (in Instances order): see the Cell* constants.
type MatrixRow struct {
	Instance string
	Cells    []string
}

// MatrixResult is the answer of Matrix.
type MatrixResult struct {
	VpcID string
	// PeerVpcIDs are the peered VPCs whose instances the matrix includes
	// (IncludePeers), in ID order.
	PeerVpcIDs []string `json:",omitempty"`
	Ports      []string
	SourcePort int
	Instances  []MatrixInstance
	Rows       []MatrixRow
	// Reachable counts the reachable cells (Y, 4 and 6; pairs x ports).
	Reachable int
	Legend    string
	WhatIf    []string `json:",omitempty"`
	// Notes say which peered VPCs are left out, and why.
	Notes []string `json:",omitempty"`
}

// Matrix answers q: the instances of the VPC against each other, for each
// port. Rows and columns show each instance's primary ENI and address; a
// cell covers all its addresses (see CellReachable).
func (a *Analyzer) Matrix(q MatrixQuery) (*MatrixResult, error) {
	if q.VpcID == "" {
		return nil, errs.MissingParameter("VpcId")
	}
	if a.vpcs[q.VpcID] == nil {
		return nil, errs.NotFound("InvalidVpcId.NotFound", "The specified VPC %q does not exist.", q.VpcID)
	}
	if len(q.Ports) == 0 {
		q.Ports, _ = ParsePorts(strings.Join(DefaultMatrixPorts, ","))
	}
	sport := q.SourcePort
	if sport == 0 {
		sport = DefaultSourcePort
	}
	res := &MatrixResult{VpcID: q.VpcID, SourcePort: sport,
		Legend: "Y reachable, . blocked, r first packet passes but a network ACL drops the replies, - self"}
	// The VPCs of the matrix: q's first, then its peers.
	vpcs := []string{q.VpcID}
	if q.IncludePeers {
		res.PeerVpcIDs, res.Notes = a.matrixPeers(q.VpcID)
		vpcs = append(vpcs, res.PeerVpcIDs...)
	}
	for _, p := range q.Ports {
		res.Ports = append(res.Ports, p.String())
	}
	// An end is one address of an ENI with its rule lists prefiltered per
	// port; a node is an instance: its ENIs (the first carries the default
	// routes) and all their addresses.
	type end struct {
		eni     *eniInfo
		addr    netip.Addr
		in, out []pooled
	}
	var nodes []mNode
	var ends []end
	endIdx := map[eniAddr]int{}
	v6, multi := false, false
	for _, inst := range a.w.Instances {
		if !slices.Contains(vpcs, inst.VpcID) {
			continue
		}
		i, ok := a.eniIdx[inst.PrimaryENIID]
		if !ok || !a.enis[i].e.PrimaryIP.IsValid() {
			continue
		}
		n := mNode{primary: a.enis[i], enis: a.instENIs[inst.ID]}
		if len(n.enis) == 0 {
			n.enis = []*eniInfo{n.primary}
		}
		_, dead := a.stateStep(PointSource, target{eni: n.primary})
		n.live = !dead
		for _, e := range n.enis {
			a.contextOf(e)
			for _, ad := range e.e.Addrs() {
				ad = ad.Unmap()
				k := eniAddr{e.e.ID, ad}
				if _, dup := endIdx[k]; dup || !ad.IsValid() {
					continue
				}
				en := end{eni: e, addr: ad, in: make([]pooled, len(q.Ports)), out: make([]pooled, len(q.Ports))}
				for pi, p := range q.Ports {
					en.in[pi] = a.filter(e, ad, model.Ingress, p, uint16(sport))
					en.out[pi] = a.filter(e, ad, model.Egress, p, uint16(sport))
				}
				endIdx[k] = len(ends)
				n.ends = append(n.ends, len(ends))
				ends = append(ends, en)
				n.has[b2i(ad.Is6())] = true
				v6 = v6 || ad.Is6()
			}
			src := [2]int{-1, -1}
			for fam := range 2 {
				if k, ok := endIdx[eniAddr{e.e.ID, firstAddr(e, fam == 1)}]; ok {
					src[fam] = k
				}
			}
			n.src = append(n.src, src)
		}
		if len(n.enis) == 1 {
			n.only = [2]int{-1, -1}
			for fam := range 2 {
				if routeOut(n.enis, famProbe[fam]) != nil {
					n.only[fam] = 0
				}
			}
		}
		nodes = append(nodes, n)
		multi = multi || len(n.enis) > 1
	}
	// Grouped by VPC (q's first), then by instance ID.
	slices.SortFunc(nodes, func(x, y mNode) int {
		return cmp.Or(cmp.Compare(slices.Index(vpcs, x.primary.e.VpcID), slices.Index(vpcs, y.primary.e.VpcID)),
			strings.Compare(x.primary.e.InstanceID, y.primary.e.InstanceID))
	})
	res.Notes = append(res.Notes, a.hostsNotes(nodes)...)
	switch {
	case len(vpcs) > 1:
		res.Legend = "Y reachable, 4 reachable over IPv4 only, 6 reachable over IPv6 only, . blocked, r first packet passes but the replies are dropped (by a network ACL, the destination's routing sending them out of another ENI, or no route back over the peering), - self"
	case v6 || multi:
		res.Legend = "Y reachable, 4 reachable over IPv4 only, 6 reachable over IPv6 only, . blocked, r first packet passes but the replies are dropped (by a network ACL, or the destination's routing sends them out of another ENI), - self"
	}
	for _, n := range nodes {
		mi := MatrixInstance{Instance: n.primary.e.InstanceID, ENI: n.primary.e.ID, Address: n.primary.e.PrimaryIP.String(), VpcID: n.primary.e.VpcID}
		if n.primary.inst != nil {
			mi.Name, mi.Status = n.primary.inst.Name, n.primary.inst.Status
		}
		res.Instances = append(res.Instances, mi)
	}
	res.Rows = make([]MatrixRow, len(nodes))
	// The peerings between the VPCs, decided once per (VPC, address)
	// by reach's route steps.
	var pr *peerRoutes
	if len(vpcs) > 1 {
		addrs := make([]netip.Addr, len(ends))
		for k := range ends {
			addrs[k] = ends[k].addr
		}
		pr = a.newPeerRoutes(vpcs, func(k int) *eniInfo { return ends[k].eni }, addrs)
	}
	var wg sync.WaitGroup
	next := make(chan int, len(nodes))
	for i := range nodes {
		next <- i
	}
	close(next)
	counts := make([]int, len(nodes))
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			buf := make([]byte, len(nodes))
			for i := range next {
				f := &nodes[i]
				row := MatrixRow{Instance: f.primary.e.InstanceID, Cells: make([]string, len(q.Ports))}
				for pi, p := range q.Ports {
					for j := range nodes {
						if i == j {
							buf[j] = CellSelf
							continue
						}
						t := &nodes[j]
						var tried, reached [2]bool
						oneWay := false
						for _, d := range t.ends {
							de := &ends[d]
							fam := b2i(de.addr.Is6())
							if !f.has[fam] {
								continue // no pair of this family
							}
							tried[fam] = true
							// The instance's routing: the ENI the packet
							// leaves through must hold the source address
							// (anti-spoofing), else it is dropped.
							out := f.routeIdx(de.addr)
							if out < 0 || f.src[out][fam] < 0 {
								continue
							}
							se := &ends[f.src[out][fam]]
							pkt := Packet{Src: se.addr, Dst: de.addr, Proto: p.Proto}
							if hasPorts(p.Proto) {
								pkt.SrcPort, pkt.DstPort = uint16(sport), p.Port
							}
							var c byte
							if se.eni.e.VpcID == de.eni.e.VpcID {
								c = a.cell(se.eni, de.eni, pkt, f.live && t.live, se.out[pi], de.in[pi])
							} else {
								c = a.crossCell(pr, f.src[out][fam], d, se.eni, de.eni, pkt, f.live && t.live, se.out[pi], de.in[pi])
							}
							// The replies leave through the ENI their
							// source address belongs to (its source
							// routing table), or where the main table
							// sends them: another ENI's anti-spoofing
							// drops them.
							replied := len(t.enis) > 1 && hasSourceTable(de.eni, fam == 1)
							if k := t.routeIdx(se.addr); !replied {
								replied = k >= 0 && t.enis[k] == de.eni
							}
							if c == CellReachable && !replied {
								c = CellOneWay
							}
							switch c {
							case CellReachable:
								reached[fam] = true
							case CellOneWay:
								oneWay = true
							}
						}
						c := byte(CellBlocked)
						switch {
						case reached == tried && (reached[0] || reached[1]):
							c = CellReachable
						case reached[0]:
							c = CellReachable4
						case reached[1]:
							c = CellReachable6
						case oneWay:
							c = CellOneWay
						}
						if CellReaches(c) {
							counts[i]++
						}
						buf[j] = c
					}
					row.Cells[pi] = string(buf)
				}
				res.Rows[i] = row
			}
		})
	}
	wg.Wait()
	for _, c := range counts {
		res.Reachable += c
	}
	return res, nil
}

// mNode is an instance of the matrix: its ENIs (the first carries the
// default routes) and the ends (addresses) of all of them.
type mNode struct {
	primary *eniInfo
	enis    []*eniInfo
	ends    []int
	src     [][2]int // per ENI, the end of its source address per family (-1: none)
	has     [2]bool  // has an address of IPv4, IPv6
	live    bool
	// only is, for an instance with one ENI, routeIdx per family: the
	// ENI's index when it has a (default) route of the family, else -1.
	only [2]int
}

// hostsNotes say, for each pair of zones with instances of one VPC of the
// matrix whose hosts are not joined, why: the cells between them are
// blocked (reach's hosts step).
func (a *Analyzer) hostsNotes(nodes []mNode) []string {
	type vpcZone struct{ vpc, zone string }
	rep := map[vpcZone]*eniInfo{}
	var keys []vpcZone
	for _, n := range nodes {
		for _, e := range n.enis {
			k := vpcZone{e.e.VpcID, e.zone}
			if e.zone == "" || rep[k] != nil {
				continue
			}
			rep[k] = e
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(x, y vpcZone) int {
		return cmp.Or(strings.Compare(x.vpc, y.vpc), strings.Compare(x.zone, y.zone))
	})
	var notes []string
	for i, x := range keys {
		for _, y := range keys[i+1:] {
			if x.vpc != y.vpc {
				continue
			}
			if s, ok := a.hostsStep(rep[x], rep[y]); ok && !s.Allow {
				notes = append(notes, fmt.Sprintf("instances of %s in zones %s and %s do not reach each other: %s", x.vpc, x.zone, y.zone, s.Detail))
			}
		}
	}
	return notes
}

// famProbe are addresses outside every vSwitch, one per family: with one
// ENI, the route to any address of a family is the route to these.
var famProbe = [2]netip.Addr{netip.IPv4Unspecified(), netip.IPv6Unspecified()}

// routeIdx is the index in n.enis of the ENI n's routing sends a packet to
// dst through, -1 for none (see routeOut).
func (n *mNode) routeIdx(dst netip.Addr) int {
	if len(n.enis) == 1 {
		return n.only[b2i(dst.Is6())]
	}
	return slices.Index(n.enis, routeOut(n.enis, dst))
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// cell decides one pair and port with prefiltered lists.
func (a *Analyzer) cell(f, t *eniInfo, pkt Packet, live bool, out, in pooled) byte {
	if !live || f.e.VpcID != t.e.VpcID || pkt.Src.Is4() != pkt.Dst.Is4() {
		return CellBlocked
	}
	// In two zones: on two hosts, which must be joined (reach's hosts
	// step).
	if a.hostsBlock(f, t) {
		return CellBlocked
	}
	if !a.evalSGList(f, model.Egress, pkt, out).allow || !a.evalSGList(t, model.Ingress, pkt, in).allow {
		return CellBlocked
	}
	return a.aclCell(f, t, pkt)
}

// aclCell decides one pair and packet that the security groups pass at
// the network ACLs: of both vSwitches, for the packet and its reply.
func (a *Analyzer) aclCell(f, t *eniInfo, pkt Packet) byte {
	if f.e.VSwitchID == t.e.VSwitchID || (f.vsw == nil || f.vsw.NetworkAclID == "") && (t.vsw == nil || t.vsw.NetworkAclID == "") {
		return CellReachable
	}
	if !a.evalACL(f.vsw, t.e.VSwitchID, model.Egress, pkt).allow || !a.evalACL(t.vsw, f.e.VSwitchID, model.Ingress, pkt).allow {
		return CellBlocked
	}
	rp := pkt.reverse()
	if !a.evalACL(t.vsw, f.e.VSwitchID, model.Egress, rp).allow || !a.evalACL(f.vsw, t.e.VSwitchID, model.Ingress, rp).allow {
		return CellOneWay
	}
	return CellReachable
}

// filter keeps the rules of e's pooled list for dir that can match a
// packet of p with source port sport at e's address local (order kept).
func (a *Analyzer) filter(e *eniInfo, local netip.Addr, dir string, p PortSpec, sport uint16) pooled {
	c := a.contextOf(e)
	pkt := Packet{Proto: p.Proto}
	if hasPorts(p.Proto) {
		pkt.SrcPort, pkt.DstPort = sport, p.Port
	}
	if dir == model.Ingress {
		pkt.Dst = local
	} else {
		pkt.Src = local
	}
	out := pooled{}
	for _, r := range c.list(dir) {
		if !r.proto.has(uint16(p.Proto)) {
			continue
		}
		if r.ports && (!r.dport.has(pkt.DstPort) || !r.sport.has(pkt.SrcPort)) {
			continue
		}
		if r.local.IsValid() && !r.local.Contains(local) {
			continue
		}
		out = append(out, r)
	}
	return out
}

// MultiVPC reports whether the matrix covers more than one VPC (peered
// VPCs were included): renderings then name each instance's VPC.
func (m *MatrixResult) MultiVPC() bool { return len(m.PeerVpcIDs) > 0 }

// CSV renders the matrix as from,to,port,cell rows; with peered VPCs each
// end's VPC follows its address.
func (m *MatrixResult) CSV() string {
	var b strings.Builder
	multi := m.MultiVPC()
	if multi {
		b.WriteString("from_instance,from_address,from_vpc,to_instance,to_address,to_vpc,port,reachable,first_packet_passes\n")
	} else {
		b.WriteString("from_instance,from_address,to_instance,to_address,port,reachable,first_packet_passes\n")
	}
	for i, row := range m.Rows {
		for pi, port := range m.Ports {
			for j, c := range []byte(row.Cells[pi]) {
				if c == CellSelf {
					continue
				}
				from, to := m.Instances[i].Address, m.Instances[j].Address
				if multi {
					from += "," + m.Instances[i].VpcID
					to += "," + m.Instances[j].VpcID
				}
				fmt.Fprintf(&b, "%s,%s,%s,%s,%s,%t,%t\n", row.Instance, from, m.Instances[j].Instance,
					to, port, CellReaches(c), CellReaches(c) || c == CellOneWay)
			}
		}
	}
	return b.String()
}
