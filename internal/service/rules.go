package service

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
)

// RuleSpec is one security group rule as the API sends it: raw strings, in
// the direction-neutral form (peer = source for ingress, destination for
// egress; local = the ENI-side address). ParseRule validates it.
type RuleSpec struct {
	IpProtocol      string
	PortRange       string
	SourcePortRange string
	PeerCidr        string // SourceCidrIp (ingress) / DestCidrIp (egress)
	PeerCidr6       string // Ipv6SourceCidrIp / Ipv6DestCidrIp
	PeerGroupID     string // SourceGroupId / DestGroupId
	PeerGroupOwner  string // SourceGroupOwnerId|Account / DestGroupOwnerId|Account
	PeerPrefixList  string // SourcePrefixListId / DestPrefixListId
	LocalCidr       string // DestCidrIp (ingress) / SourceCidrIp (egress)
	LocalCidr6      string // Ipv6DestCidrIp / Ipv6SourceCidrIp
	Policy          string
	Priority        string
	NicType         string
	Description     string
}

// Names of the parameters per direction, for error messages that say
// exactly which parameter to fix.
type ruleParamNames struct {
	peer, peer6, peerGroup, peerPrefixList, local, local6 string
}

func paramNames(dir string) ruleParamNames {
	if dir == model.Egress {
		return ruleParamNames{"DestCidrIp", "Ipv6DestCidrIp", "DestGroupId", "DestPrefixListId", "SourceCidrIp", "Ipv6SourceCidrIp"}
	}
	return ruleParamNames{"SourceCidrIp", "Ipv6SourceCidrIp", "SourceGroupId", "SourcePrefixListId", "DestCidrIp", "Ipv6DestCidrIp"}
}

// canonicalProtocol maps the case-insensitive API protocol to its canonical
// spelling.
func canonicalProtocol(p string) (string, bool) {
	switch strings.ToLower(strings.TrimSpace(p)) {
	case "tcp":
		return model.ProtoTCP, true
	case "udp":
		return model.ProtoUDP, true
	case "icmp":
		return model.ProtoICMP, true
	case "icmpv6":
		return model.ProtoICMPv6, true
	case "gre":
		return model.ProtoGRE, true
	case "all":
		return model.ProtoALL, true
	}
	return "", false
}

// HasPorts reports whether a protocol carries port numbers.
func HasPorts(proto string) bool { return proto == model.ProtoTCP || proto == model.ProtoUDP }

// parsePortRange parses "start/end". For protocols with ports both ends
// are 1..65535 and start <= end; otherwise only "-1/-1" is valid.
func parsePortRange(param, v, proto string, optional bool) (model.PortRange, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		if optional {
			return model.PortRange{}, nil
		}
		if !HasPorts(proto) {
			return model.PortRange{From: -1, To: -1}, nil
		}
		return model.PortRange{}, errs.MissingParameter(param)
	}
	bad := func(why string) error {
		return errs.InvalidParam("InvalidIpPortRange.Malformed",
			"The specified parameter %s %q is not valid: %s.", param, v, why)
	}
	from, to, ok := strings.Cut(v, "/")
	if !ok {
		return model.PortRange{}, bad("use start/end, such as 22/22 or 1024/65535")
	}
	a, err1 := strconv.Atoi(from)
	b, err2 := strconv.Atoi(to)
	if err1 != nil || err2 != nil {
		return model.PortRange{}, bad("both ends must be integers")
	}
	if !HasPorts(proto) {
		if a == -1 && b == -1 {
			if optional {
				return model.PortRange{}, nil
			}
			return model.PortRange{From: -1, To: -1}, nil
		}
		return model.PortRange{}, bad("protocol " + proto + " has no ports; use -1/-1")
	}
	if optional && a == -1 && b == -1 {
		return model.PortRange{}, nil
	}
	if a < 1 || a > 65535 || b < 1 || b > 65535 {
		return model.PortRange{}, bad("ports are 1-65535 for " + proto)
	}
	if a > b {
		return model.PortRange{}, bad("the start must not be greater than the end")
	}
	return model.PortRange{From: a, To: b}, nil
}

// parseCidr parses an IPv4 or IPv6 CIDR or single address (a /32 or /128).
// The host bits must be zero, as in the cloud ("10.0.0.1/8" is refused).
func parseCidr(param, v string, want6 bool) (netip.Prefix, error) {
	v = strings.TrimSpace(v)
	code := "Invalid" + param + ".Malformed"
	var p netip.Prefix
	if strings.Contains(v, "/") {
		var err error
		p, err = netip.ParsePrefix(v)
		if err != nil {
			return p, errs.InvalidParam(code, "The specified parameter %s %q is not a valid CIDR block, such as 10.0.0.0/8.", param, v)
		}
		if p != p.Masked() {
			return p, errs.InvalidParam(code, "The specified parameter %s %q has host bits set; did you mean %s?", param, v, p.Masked())
		}
	} else {
		a, err := netip.ParseAddr(v)
		if err != nil || a.Zone() != "" {
			return p, errs.InvalidParam(code, "The specified parameter %s %q is not a valid IP address or CIDR block.", param, v)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if p.Addr().Is4In6() {
		return p, errs.InvalidParam(code, "The specified parameter %s %q is an IPv4-mapped IPv6 address; give the IPv4 CIDR instead.", param, v)
	}
	if want6 != p.Addr().Is6() {
		fam := "IPv4"
		if want6 {
			fam = "IPv6"
		}
		return p, errs.InvalidParam(code, "The specified parameter %s %q must be an %s CIDR block.", param, v, fam)
	}
	return p, nil
}

// ParseRule validates a rule spec for direction dir and returns the rule
// (without ID, timestamps, and with the peer group not yet resolved). It is
// pure: existence of referenced groups is checked by the caller.
func ParseRule(dir string, spec RuleSpec) (model.Rule, error) {
	names := paramNames(dir)
	r := model.Rule{Direction: dir, Description: spec.Description}
	if strings.TrimSpace(spec.IpProtocol) == "" {
		return r, errs.MissingParameter("IpProtocol")
	}
	proto, ok := canonicalProtocol(spec.IpProtocol)
	if !ok {
		return r, errs.InvalidParam("InvalidIpProtocol.Malformed",
			"The specified parameter IpProtocol %q is not valid; use one of TCP, UDP, ICMP, ICMPv6, GRE, ALL.", spec.IpProtocol)
	}
	r.Protocol = proto
	var err error
	if r.Ports, err = parsePortRange("PortRange", spec.PortRange, proto, false); err != nil {
		return r, err
	}
	if r.SourcePorts, err = parsePortRange("SourcePortRange", spec.SourcePortRange, proto, true); err != nil {
		return r, err
	}

	// Peer: a CIDR beats a group, and any of them makes the prefix list
	// ignored (the cloud's documented precedence). IPv4 and IPv6 CIDRs
	// together are ambiguous: refuse.
	switch {
	case spec.PeerCidr != "" && spec.PeerCidr6 != "":
		return r, errs.InvalidParameter(names.peer, "give either %s or %s, not both", names.peer, names.peer6)
	case spec.PeerCidr != "":
		if r.PeerCidr, err = parseCidr(names.peer, spec.PeerCidr, false); err != nil {
			return r, err
		}
	case spec.PeerCidr6 != "":
		if r.PeerCidr, err = parseCidr(names.peer6, spec.PeerCidr6, true); err != nil {
			return r, err
		}
	case spec.PeerGroupID != "":
		r.PeerGroupID = strings.TrimSpace(spec.PeerGroupID)
		r.PeerGroupOwnerID = strings.TrimSpace(spec.PeerGroupOwner)
	case spec.PeerPrefixList != "":
		r.PeerPrefixListID = strings.TrimSpace(spec.PeerPrefixList)
	default:
		return r, errs.MissingParameter(names.peer + " | " + names.peer6 + " | " + names.peerGroup + " | " + names.peerPrefixList)
	}

	switch {
	case spec.LocalCidr != "" && spec.LocalCidr6 != "":
		return r, errs.InvalidParameter(names.local, "give either %s or %s, not both", names.local, names.local6)
	case spec.LocalCidr != "":
		if r.LocalCidr, err = parseCidr(names.local, spec.LocalCidr, false); err != nil {
			return r, err
		}
	case spec.LocalCidr6 != "":
		if r.LocalCidr, err = parseCidr(names.local6, spec.LocalCidr6, true); err != nil {
			return r, err
		}
	}
	if r.LocalCidr.IsValid() && r.PeerCidr.IsValid() && r.LocalCidr.Addr().Is4() != r.PeerCidr.Addr().Is4() {
		return r, errs.InvalidParameter(names.local, "the local address %s and the peer %s are of different IP families", r.LocalCidr, r.PeerCidr)
	}
	if r.LocalCidr.IsValid() && r.LocalCidr == r.PeerCidr {
		// The cloud requires SourceCidrIp and DestCidrIp to differ.
		return r, errs.InvalidParameter(names.local, "%s is the same as %s (%s): a rule's source and destination must differ", names.local, names.peer, r.LocalCidr)
	}
	if r.PeerCidr.IsValid() && (proto == model.ProtoICMP && r.PeerCidr.Addr().Is6() || proto == model.ProtoICMPv6 && r.PeerCidr.Addr().Is4()) {
		return r, errs.InvalidParam("InvalidIpProtocol.Malformed",
			"IpProtocol %s does not match the IP family of %s; use ICMP for IPv4 and ICMPv6 for IPv6.", proto, r.PeerCidr)
	}

	switch strings.ToLower(strings.TrimSpace(spec.Policy)) {
	case "", "accept":
		r.Policy = model.PolicyAccept
	case "drop":
		r.Policy = model.PolicyDrop
	default:
		return r, errs.InvalidParam("InvalidPolicy.Malformed",
			"The specified parameter Policy %q is not valid; use accept or drop.", spec.Policy)
	}
	r.Priority = 1
	if p := strings.TrimSpace(spec.Priority); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 100 {
			return r, errs.InvalidParam("InvalidPriority.Malformed",
				"The specified parameter Priority %q is not valid; use an integer from 1 (first) to 100.", spec.Priority)
		}
		r.Priority = n
	}
	switch strings.ToLower(strings.TrimSpace(spec.NicType)) {
	case "", "intranet":
		r.NicType = "intranet"
	case "internet":
		return r, errs.InvalidParam("InvalidNicType.ValueNotSupported",
			"NicType internet applies to the classic network only; security groups of a VPC use intranet.")
	default:
		return r, errs.InvalidParam("InvalidNicType.ValueNotSupported",
			"The specified parameter NicType %q is not valid; use intranet.", spec.NicType)
	}
	if len(spec.Description) > 512 {
		return r, errs.InvalidParameter("Description", "at most 512 characters, got %d", len(spec.Description))
	}
	return r, nil
}

// sameRule reports whether two rules match the same traffic with the same
// action at the same priority: the cloud's rule identity. Adding a rule
// identical to an existing one succeeds and adds nothing.
func sameRule(a, b model.Rule) bool {
	return a.Direction == b.Direction && a.Protocol == b.Protocol && a.Ports == b.Ports &&
		a.SourcePorts == b.SourcePorts && a.PeerCidr == b.PeerCidr && a.PeerGroupID == b.PeerGroupID &&
		a.PeerPrefixListID == b.PeerPrefixListID && a.LocalCidr == b.LocalCidr &&
		a.Policy == b.Policy && a.Priority == b.Priority && a.NicType == b.NicType
}

// FormatPortRange renders a range as the API does ("22/22", "-1/-1"); an
// unset optional range renders as "".
func FormatPortRange(p model.PortRange) string {
	if p.IsZero() {
		return ""
	}
	return strconv.Itoa(p.From) + "/" + strconv.Itoa(p.To)
}
