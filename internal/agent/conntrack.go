package agent

import (
	"errors"
	"fmt"
	"net"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
	vnl "github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/palisade-project/palisade/internal/netnsrun"
	"github.com/palisade-project/palisade/internal/policy"
)

// FlowVerdict decides whether an established flow of a VPC may continue
// under the current policy: its original direction must pass security
// groups (first packet) and network ACLs, and its reply direction the
// network ACLs too (they are stateless: every reply packet is checked, so
// a flow whose replies the ACLs now drop is dead anyway; cutting it keeps
// conntrack honest).
//
// A flow to an internal load balancer (translated to a backend) is judged
// as the packet the VPC forwarded: from the client to the backend.
//
// A flow through the VPC's uplink (an elastic IP's address translation)
// has one ENI end: an inbound one (DNAT) must still pass the ingress
// security groups of the ENI it was translated to, with the internet
// peer's real address as source; an outbound one (SNAT) the egress groups
// of its sender. Network ACLs are not judged for these flows.
func FlowVerdict(w policy.World, vpcID string, f conntrack.Flow) bool {
	pkt := tuplePacket(f.TupleOrig)
	if f.Status.DstNAT() {
		// original: peer -> EIP or load balancer; the reply comes from
		// the private address.
		rpkt := tuplePacket(f.TupleReply)
		if to := w.ENIByAddr(vpcID, rpkt.Src); to != "" {
			in := pkt
			in.Dst, in.DstPort = rpkt.Src, rpkt.SrcPort
			if from := w.ENIByAddr(vpcID, pkt.Src); from != "" {
				// A client of the VPC through an internal load balancer:
				// judged as the packet the VPC forwarded, to the backend.
				return policy.Evaluate(w, from, to, in).Allow
			}
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
	if to != "" && f.Mark != 0 {
		// A stamped flow to an ENI from beyond the VPC: an ENI of a
		// peered VPC (over a peering here, or across hosts), or the
		// router's own connection that the program's output chain
		// judged and stamped (a WAF's upstream connection, marked: from
		// the client's address, or from the router's gateway address
		// for waf serve). The receiver's ingress network ACL (not from
		// an address of its own vSwitch) and security groups decide, as
		// at its first packet.
		return policy.EvaluateACLIngress(w, to, pkt).Allow && policy.EvaluateENI(w, to, policy.Ingress, pkt).Allow
	}
	if from != "" && f.Mark != 0 {
		// A stamped flow from an ENI to beyond the VPC (an ENI of a
		// peered VPC): the sender's egress groups decide, as at its
		// first packet (its network ACL judges every packet anyway).
		return policy.EvaluateENI(w, from, policy.Egress, pkt).Allow
	}
	// Otherwise one end is not an ENI of this VPC and nothing stamped the
	// flow: the VPC namespace's own traffic (its gateway addresses),
	// which no security group chain judged, so it is not cut.
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
	var local []conntrack.Flow // the router's own TCP connections among them
	for _, f := range flows {
		if FlowVerdict(w, vpcID, f) {
			continue
		}
		denied = append(denied, f)
		if routerConn(w, vpcID, f) {
			local = append(local, f)
		}
	}
	// The router's own sockets are aborted first (their peers get a
	// reset while the entry still lets it through), so that their owner,
	// a WAF, fails over at once instead of writing into a cut flow until
	// its timeouts.
	var abortErr error
	if len(local) > 0 {
		// Reported, but the flows are cut all the same.
		abortErr = abortSockets(nsFd, local)
	}
	cut := 0
	for _, f := range denied {
		if err := c.Delete(f); err != nil {
			return cut, errors.Join(abortErr, fmt.Errorf("conntrack delete %v: %w", f.TupleOrig, err))
		}
		cut++
	}
	return cut, abortErr
}

// routerConn reports whether f is a TCP connection the VPC router opened
// itself to an ENI and the program judged (marked): a WAF's upstream.
func routerConn(w policy.World, vpcID string, f conntrack.Flow) bool {
	pkt := tuplePacket(f.TupleOrig)
	return pkt.Proto == unix.IPPROTO_TCP && f.Mark != 0 && !f.Status.DstNAT() && !f.Status.SrcNAT() &&
		w.ENIByAddr(vpcID, pkt.Src) == "" && w.ENIByAddr(vpcID, pkt.Dst) != ""
}

// abortSockets destroys (sock_diag SOCK_DESTROY) the local TCP sockets of
// flows in the namespace nsFd; a socket already gone is no error.
func abortSockets(nsFd int, flows []conntrack.Flow) error {
	return netnsrun.In(netns.NsHandle(nsFd), func() error {
		h, err := vnl.NewHandle()
		if err != nil {
			return fmt.Errorf("netlink handle: %w", err)
		}
		defer h.Delete()
		for _, f := range flows {
			t := f.TupleOrig
			local := &net.TCPAddr{IP: t.IP.SourceAddress.AsSlice(), Port: int(t.Proto.SourcePort)}
			remote := &net.TCPAddr{IP: t.IP.DestinationAddress.AsSlice(), Port: int(t.Proto.DestinationPort)}
			err := h.SocketDestroy(local, remote)
			switch {
			case err == nil, errors.Is(err, unix.ENOENT), errors.Is(err, vnl.ErrNotImplemented):
			case errors.Is(err, unix.EOPNOTSUPP):
				// A kernel without CONFIG_INET_DIAG_DESTROY: the flows
				// are still cut; their sockets find out by timeout.
				return nil
			default:
				return fmt.Errorf("abort socket %v -> %v: %w", local, remote, err)
			}
		}
		return nil
	})
}
