package analysis

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/palisade-project/palisade/internal/model"
)

// The matrix across peered VPCs (MatrixQuery.IncludePeers). A cell
// between two VPCs is what reach answers for the pair: the route steps of
// peering.go decide the way there and back (once per VPC and address,
// they do not depend on the port), the VPC firewall step each packet, and
// the security groups, network ACLs and instance routing decide as within
// a VPC.

// matrixPeers lists the VPCs joined to vpc by an Activated peering that
// the matrix may show: those the World holds, of the caller's account.
// notes say which peered VPCs are left out.
func (a *Analyzer) matrixPeers(vpc string) (peers, notes []string) {
	ps := slices.Clone(a.w.Peerings)
	slices.SortFunc(ps, func(x, y model.PeerConnection) int { return strings.Compare(x.ID, y.ID) })
	for _, p := range ps {
		o := p.Other(vpc)
		if o == "" || o == vpc || p.Status != model.PeerActivated {
			continue
		}
		if v := a.vpcs[o]; v == nil || v.AccountID != "" && !a.own(v.AccountID) {
			// Another account's VPC: the World has none of its
			// instances, and they are not the caller's to see.
			notes = append(notes, fmt.Sprintf("peering connection %s joins %s to %s, a VPC of another account: its instances are not shown (analyze reach from an instance of %s to an address of %s covers your side of the path)",
				p.ID, vpc, o, vpc, o))
			continue
		}
		if !slices.Contains(peers, o) {
			peers = append(peers, o)
		}
	}
	slices.Sort(peers)
	return peers, notes
}

// peerRoutes holds reach's route verdicts between the VPCs of a matrix for
// each end (an address of an ENI) of it.
type peerRoutes struct {
	idx map[string]int // VPC -> index in the matrix's VPCs
	// fwd[v][d] is the peering VPC v's route sends end d's address over
	// to d's VPC (peerRouteStep allows it), nil when the route denies.
	fwd [][]*model.PeerConnection
	// back[v][s] are the peerings VPC v sends the replies to end s's
	// address back over (replyRouteStep allows them).
	back [][][]string
}

// newPeerRoutes decides the routes between vpcs for the ends: end k is
// address addrs[k] of ENI eniOf(k).
func (a *Analyzer) newPeerRoutes(vpcs []string, eniOf func(int) *eniInfo, addrs []netip.Addr) *peerRoutes {
	pr := &peerRoutes{idx: map[string]int{}, fwd: make([][]*model.PeerConnection, len(vpcs)), back: make([][][]string, len(vpcs))}
	for i, v := range vpcs {
		pr.idx[v] = i
	}
	for vi, v := range vpcs {
		pr.fwd[vi] = make([]*model.PeerConnection, len(addrs))
		pr.back[vi] = make([][]string, len(addrs))
		for k, ad := range addrs {
			e := eniOf(k)
			if e.e.VpcID == v {
				continue
			}
			end := target{eni: e, addr: ad, vpc: e.e.VpcID}
			if s, p := a.peerRouteStep(target{vpc: v}, end); s.Allow {
				pr.fwd[vi][k] = p
			}
			for i := range a.w.Peerings {
				p := &a.w.Peerings[i]
				if p.Other(v) != e.e.VpcID {
					continue
				}
				if a.replyRouteStep(end, target{vpc: v}, p).Allow {
					pr.back[vi][k] = append(pr.back[vi][k], p.ID)
				}
			}
		}
	}
	return pr
}

// crossCell decides one pair of ends in different VPCs (s and d, of ENIs
// f and t) and one packet with prefiltered lists, with the steps of
// reach's path: the route over a peering, its VPC firewall, the security
// groups and network ACLs; then the replies: the route back over the same
// peering and the network ACLs (the instances' own routing is the
// caller's, as within a VPC).
func (a *Analyzer) crossCell(pr *peerRoutes, s, d int, f, t *eniInfo, pkt Packet, live bool, out, in pooled) byte {
	if !live || pkt.Src.Is4() != pkt.Dst.Is4() {
		return CellBlocked
	}
	p := pr.fwd[pr.idx[f.e.VpcID]][d]
	if p == nil || a.crossesHosts(f, t) && a.hostsJoin(f, t, p.TunnelVPC()) != hostsJoined {
		return CellBlocked // no route, or two hosts not joined (peerHostsStep)
	}
	if !a.evalSGList(f, model.Egress, pkt, out).allow || !a.evalSGList(t, model.Ingress, pkt, in).allow {
		return CellBlocked
	}
	c := a.aclCell(f, t, pkt)
	// The first packet passes when every step allows it, in any order:
	// the VPC firewall (a policy walk) last.
	if c == CellBlocked || !a.vpcFirewallAllows(p, pkt) {
		return CellBlocked
	}
	if c == CellReachable && !slices.Contains(pr.back[pr.idx[t.e.VpcID]][s], p.ID) {
		return CellOneWay
	}
	return c
}
