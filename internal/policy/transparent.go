package policy

import (
	"fmt"
	"strings"
)

// WAF steering: the router namespace itself opens connections to ENIs on
// behalf of internet clients (the WAF forwarding a clean request, from the
// client's own address). Such packets are locally generated, so they take
// the output hook, not forward: without the chains below no security group
// or network ACL would see them.
const (
	// TransparentMark is the packet mark of the WAF's upstream connections
	// (SO_MARK; linux.UpstreamMark has the same value). Only packets with
	// it are filtered on the output hook: the router's own traffic (IPv6
	// neighbour discovery, ICMP errors) is not a security-group matter.
	TransparentMark = 0x00200000
	// SteeredMark marks the packets the router delivers to the WAF's
	// transparent sockets (linux.SteerMark has the same value): the
	// instances' answers on the WAF's upstream connections among them.
	SteeredMark = 0x00400000
	// MirrorCopyMark marks the copies the traffic mirror sends (SO_MARK;
	// mirror.Mark has the same value): they are neither mirrored again,
	// tracked by conntrack, nor counted by flow logs.
	MirrorCopyMark = 0x00800000
	// OutputChain filters the WAF's upstream connections with the
	// receiver's ingress network ACL and security groups, as if they came
	// from the client; InputChain holds the answers to the sender's
	// egress network ACL (stateless, as on the forward path).
	OutputChain = "sg_output"
	InputChain  = "acl_input"
)

// renderTransparent prints the output-hook chain (and, with network ACLs,
// the input-hook chain) of a Transparent program.
func (p *Program) renderTransparent(b *strings.Builder) {
	if !p.Transparent {
		return
	}
	acl := len(p.VSwitchChains) > 0
	fmt.Fprintf(b, "\tchain %s {\n\t\ttype filter hook output priority filter; policy accept;\n", OutputChain)
	fmt.Fprintf(b, "\t\tmeta mark & 0x%08x == 0 accept\n", TransparentMark)
	if p.GuardPrefix != "" {
		// Seen by this table: the guard table's output chain drops the
		// WAF's upstream packets without it (a table deleted by hand).
		fmt.Fprintf(b, "\t\tmeta mark set meta mark | 0x%08x\n", GuardMark)
	}
	if acl {
		// Stateless: every packet, before the established shortcut.
		fmt.Fprintf(b, "\t\toifname vmap @%s\n", ACLIngressIfaces)
	}
	b.WriteString("\t\tct state established,related accept\n")
	b.WriteString("\t\tct state invalid drop\n")
	fmt.Fprintf(b, "\t\toifname vmap @%s\n", IngressIfaces)
	b.WriteString("\t\tdrop comment \"not an ENI\"\n\t}\n")
	if acl {
		fmt.Fprintf(b, "\tchain %s {\n\t\ttype filter hook input priority filter; policy accept;\n", InputChain)
		fmt.Fprintf(b, "\t\tmeta mark & 0x%08x != 0 iifname vmap @%s\n\t}\n", SteeredMark, ACLEgressIfaces)
	}
}
