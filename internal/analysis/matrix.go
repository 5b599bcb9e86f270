package analysis

import (
	"fmt"
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
}

// MatrixInstance is one row and column of the matrix.
type MatrixInstance struct {
	Instance string
	Name     string
	ENI      string
	Address  string
	Status   string
}

// Matrix cell values.
const (
	CellReachable = 'Y' // the flow opens and its replies pass
	CellBlocked   = '.' // the first packet is dropped
	CellOneWay    = 'r' // the first packet passes, a network ACL drops the replies
	CellSelf      = '-'
)

// MatrixRow holds, for each port of the query, one character per instance
// (in Instances order): see the Cell* constants.
type MatrixRow struct {
	Instance string
	Cells    []string
}

// MatrixResult is the answer of Matrix.
type MatrixResult struct {
	VpcID      string
	Ports      []string
	SourcePort int
	Instances  []MatrixInstance
	Rows       []MatrixRow
	// Reachable counts the Y cells (pairs x ports).
	Reachable int
	Legend    string
	WhatIf    []string `json:",omitempty"`
}

// Matrix answers q: the instances of the VPC (each by its primary ENI and
// primary address) against each other, for each port.
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
	for _, p := range q.Ports {
		res.Ports = append(res.Ports, p.String())
	}
	var nodes []*eniInfo
	for _, inst := range a.w.Instances {
		if inst.VpcID != q.VpcID {
			continue
		}
		i, ok := a.eniIdx[inst.PrimaryENIID]
		if !ok || !a.enis[i].e.PrimaryIP.IsValid() {
			continue
		}
		nodes = append(nodes, a.enis[i])
	}
	slices.SortFunc(nodes, func(x, y *eniInfo) int { return strings.Compare(x.e.InstanceID, y.e.InstanceID) })
	for _, n := range nodes {
		mi := MatrixInstance{Instance: n.e.InstanceID, ENI: n.e.ID, Address: n.e.PrimaryIP.String()}
		if n.inst != nil {
			mi.Name, mi.Status = n.inst.Name, n.inst.Status
		}
		res.Instances = append(res.Instances, mi)
	}
	// Prefiltered rule lists per node, port and direction.
	type lists struct{ in, out []pooled }
	pre := make([]lists, len(nodes))
	live := make([]bool, len(nodes))
	for i, n := range nodes {
		a.contextOf(n)
		_, dead := a.stateStep(PointSource, target{eni: n})
		live[i] = !dead
		pre[i] = lists{in: make([]pooled, len(q.Ports)), out: make([]pooled, len(q.Ports))}
		for pi, p := range q.Ports {
			pre[i].in[pi] = a.filter(n, model.Ingress, p, uint16(sport))
			pre[i].out[pi] = a.filter(n, model.Egress, p, uint16(sport))
		}
	}
	res.Rows = make([]MatrixRow, len(nodes))
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
				f := nodes[i]
				row := MatrixRow{Instance: f.e.InstanceID, Cells: make([]string, len(q.Ports))}
				for pi, p := range q.Ports {
					for j, t := range nodes {
						if i == j {
							buf[j] = CellSelf
							continue
						}
						pkt := Packet{Src: f.e.PrimaryIP, Dst: t.e.PrimaryIP, Proto: p.Proto}
						if hasPorts(p.Proto) {
							pkt.SrcPort, pkt.DstPort = uint16(sport), p.Port
						}
						c := a.cell(f, t, pkt, live[i] && live[j], pre[i].out[pi], pre[j].in[pi])
						if c == CellReachable {
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

// cell decides one pair and port with prefiltered lists.
func (a *Analyzer) cell(f, t *eniInfo, pkt Packet, live bool, out, in pooled) byte {
	if !live || f.e.VpcID != t.e.VpcID || pkt.Src.Is4() != pkt.Dst.Is4() {
		return CellBlocked
	}
	if !a.evalSGList(f, model.Egress, pkt, out).allow || !a.evalSGList(t, model.Ingress, pkt, in).allow {
		return CellBlocked
	}
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
// packet of p with source port sport at e's primary address (order kept).
func (a *Analyzer) filter(e *eniInfo, dir string, p PortSpec, sport uint16) pooled {
	c := a.contextOf(e)
	local := e.e.PrimaryIP
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

// CSV renders the matrix as from,to,port,cell rows.
func (m *MatrixResult) CSV() string {
	var b strings.Builder
	b.WriteString("from_instance,from_address,to_instance,to_address,port,reachable,first_packet_passes\n")
	for i, row := range m.Rows {
		for pi, port := range m.Ports {
			for j, c := range []byte(row.Cells[pi]) {
				if c == CellSelf {
					continue
				}
				fmt.Fprintf(&b, "%s,%s,%s,%s,%s,%t,%t\n", row.Instance, m.Instances[i].Address, m.Instances[j].Instance,
					m.Instances[j].Address, port, c == CellReachable, c == CellReachable || c == CellOneWay)
			}
		}
	}
	return b.String()
}
