package agent

import (
	"fmt"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"

	"github.com/palisade-project/palisade/internal/policy"
)

// FlowVerdict decides whether an established flow of a VPC may continue
// under the current policy: its original direction must pass security
// groups (first packet) and network ACLs, and its reply direction the
// network ACLs too (they are stateless: every reply packet is checked, so
// a flow whose replies the ACLs now drop is dead anyway; cutting it keeps
// conntrack honest).
//
// A flow through the VPC's uplink (an elastic IP's address translation)
// has one ENI end: an inbound one (DNAT) must still pass the ingress
// security groups of the ENI it was translated to, with the internet
// peer's real address as source; an outbound one (SNAT) the egress groups
// of its sender. Network ACLs are not judged for these flows.
func FlowVerdict(w policy.World, vpcID string, f conntrack.Flow) bool {
	pkt := tuplePacket(f.TupleOrig)
	if f.Status.DstNAT() {
		// original: peer -> EIP; the reply comes from the private address.
		rpkt := tuplePacket(f.TupleReply)
		if to := w.ENIByAddr(vpcID, rpkt.Src); to != "" {
			in := pkt
			in.Dst, in.DstPort = rpkt.Src, rpkt.SrcPort
			return policy.EvaluateENI(w, to, policy.Ingress, in).Allow
		}
		return true
	}
	if f.Status.SrcNAT() {
		if from := w.ENIByAddr(vpcID, pkt.Src); from != "" {
			return policy.EvaluateENI(w, from, policy.Egress, pkt).Allow
		}
		return true
	}
	from := w.ENIByAddr(vpcID, pkt.Src)
	to := w.ENIByAddr(vpcID, pkt.Dst)
	if from != "" && to != "" {
		if !policy.Evaluate(w, from, to, pkt).Allow {
			return false
		}
		rpkt := tuplePacket(f.TupleReply)
		rfrom, rto := w.ENIByAddr(vpcID, rpkt.Src), w.ENIByAddr(vpcID, rpkt.Dst)
		if rfrom == "" || rto == "" {
			return true // not a plain ENI-to-ENI reply (NAT); not ours to judge
		}
		out, in := policy.EvaluateACLs(w, rfrom, rto, rpkt)
		return out.Allow && in.Allow
	}
	// One end is not an ENI of this VPC: the VPC namespace's own traffic
	// (its gateway addresses), which it delivers locally instead of
	// forwarding. The security-group chains hook forward only, so these
	// flows were never subject to them and are not cut.
	return true
}

func tuplePacket(t conntrack.Tuple) policy.Packet {
	return policy.Packet{
		Src: t.IP.SourceAddress.Unmap(), Dst: t.IP.DestinationAddress.Unmap(),
		Proto: t.Proto.Protocol, SrcPort: t.Proto.SourcePort, DstPort: t.Proto.DestinationPort,
	}
}

// CutDeniedFlows deletes, in the network namespace nsFd, every conntrack
// entry whose flow the policy now denies, and leaves the others alone.
// This is what makes a rule or membership change cut exactly the
// established flows it turns to deny (SEMANTICS.md Part A). (Flow logs
// count packets in the kernel's counting sets, not in conntrack: a cut
// flow has been counted up to its last packet.)
func CutDeniedFlows(nsFd int, vpcID string, w policy.World) (int, error) {
	c, err := conntrack.Dial(&netlink.Config{NetNS: nsFd})
	if err != nil {
		return 0, fmt.Errorf("conntrack dial: %w", err)
	}
	defer c.Close()
	flows, err := c.Dump(nil)
	if err != nil {
		return 0, fmt.Errorf("conntrack dump: %w", err)
	}
	var denied []conntrack.Flow
	for _, f := range flows {
		if !FlowVerdict(w, vpcID, f) {
			denied = append(denied, f)
		}
	}
	cut := 0
	for _, f := range denied {
		if err := c.Delete(f); err != nil {
			return cut, fmt.Errorf("conntrack delete %v: %w", f.TupleOrig, err)
		}
		cut++
	}
	return cut, nil
}
