package agent

import (
	"fmt"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"

	"github.com/palisade-project/palisade/internal/policy"
)

// FlowVerdict decides whether an established flow of a VPC may continue
// under the current policy, from its original-direction tuple.
func FlowVerdict(w policy.World, vpcID string, f conntrack.Flow) bool {
	orig := f.TupleOrig
	pkt := policy.Packet{
		Src: orig.IP.SourceAddress.Unmap(), Dst: orig.IP.DestinationAddress.Unmap(),
		Proto: orig.Proto.Protocol, SrcPort: orig.Proto.SourcePort, DstPort: orig.Proto.DestinationPort,
	}
	from := w.ENIByAddr(vpcID, pkt.Src)
	to := w.ENIByAddr(vpcID, pkt.Dst)
	if from != "" && to != "" {
		return policy.Evaluate(w, from, to, pkt).Allow
	}
	// One end is not an ENI of this VPC: the VPC namespace's own traffic
	// (its gateway addresses), which it delivers locally instead of
	// forwarding. The security-group chains hook forward only, so these
	// flows were never subject to them and are not cut.
	return true
}

// CutDeniedFlows deletes, in the network namespace nsFd, every conntrack
// entry whose flow the policy now denies, and leaves the others alone.
// This is what makes a rule or membership change cut exactly the
// established flows it turns to deny (SEMANTICS.md Part A).
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
	cut := 0
	for _, f := range flows {
		if FlowVerdict(w, vpcID, f) {
			continue
		}
		if err := c.Delete(f); err != nil {
			return cut, fmt.Errorf("conntrack delete %v: %w", f.TupleOrig, err)
		}
		cut++
	}
	return cut, nil
}
