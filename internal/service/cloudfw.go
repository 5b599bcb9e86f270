package service

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
)

// Cloud Firewall (Cloudfw 2017-12-07), the control plane of the Internet
// firewall: access-control policies on the public (EIP) traffic of an
// account (AddControlPolicy, ModifyControlPolicy, DeleteControlPolicy,
// DescribeControlPolicy, ModifyControlPolicyPosition,
// DescribePolicyPriorUsed), address books (AddAddressBook,
// ModifyAddressBook, DeleteAddressBook, DescribeAddressBook) and the
// per-EIP switch (PutEnableFwSwitch, PutDisableFwSwitch,
// PutEnableAllFwSwitch, PutDisableAllFwSwitch, DescribeAssetList).
//
// Decisions (SEMANTICS.md Part A "Cloud Firewall", and where it is silent):
//   - Evaluation (the kernel's part): the policies of one account and
//     direction are tried in Order, 1 first; the first that matches a new
//     connection decides: accept allows, drop drops, log allows and counts
//     a hit; none matching allows. Direction in is from the internet to an
//     EIP of the account (Destination is the EIP side), out from an EIP to
//     the internet (Source is the EIP side).
//   - Orders are contiguous, 1..n per account and direction. NewOrder
//     1..n+1 inserts at that position and moves the policies from there
//     down by one; -1 (or n+1) appends. Deleting a policy moves the ones
//     after it up; ModifyControlPolicyPosition moves one policy (named by
//     AclUuid, Palisade's addition, or OldOrder as in the SDK) to NewOrder
//     1..n (-1: last). At most Quotas.FirewallPolicies (1000) policies per
//     account and direction.
//   - Fields: Direction in|out, AclAction accept|drop|log, Proto
//     ANY|TCP|UDP|ICMP (all case-insensitive; stored lower-case, the
//     protocol upper-case). SourceType and DestinationType net (an IPv4
//     CIDR, or a bare address meaning /32; stored masked: 10.0.0.7/24 is
//     10.0.0.0/24; 0.0.0.0/0 is any address) or group (the name of an IP
//     address book of the account). DestinationType domain (Direction out
//     only; and in NAT-firewall policies, natfirewall.go) names a host on
//     the internet: a DNS name (trimmed, lower-cased, without the final
//     dot; at least two labels of letters, digits and hyphens; not an IP
//     address) that the server resolves by DNS (domains.go) and whose
//     IPv4 addresses the policy matches; until the first answer, or when
//     the name has none, it matches nothing. DomainResolveType is 1 (DNS,
//     the default); 0 (FQDN) and 2 (FQDN and DNS) inspect TLS SNI and
//     HTTP Host in the cloud, which Palisade does not do
//     (OperationUnsupported.DomainResolveType), and a wildcard
//     (*.example.com) has no addresses to resolve
//     (OperationUnsupported.Destination). For any other destination
//     DomainResolveType is not used. A domain as the Source, as the
//     destination of Direction in (the EIP side) or in a VPC firewall's
//     policy, and location anywhere, are refused
//     (OperationUnsupported.SourceType/DestinationType). Ports (TCP and
//     UDP only): DestPortType port with DestPort "80", "80/88"
//     (1 <= a <= b <= 65535; stored "80" when a = b)
//     or "0/0"/none for every port (stored empty, shown "0/0"), or
//     DestPortType group with DestPortGroup, the name of a port address
//     book of the account. DestPortType may be left out: it is group when
//     only DestPortGroup is given, else port. A port or port book with
//     Proto ANY or ICMP is refused. ApplicationName and ApplicationNameList
//     take ANY only (the default when neither is given): Palisade matches
//     by port, not by application (OperationUnsupported.ApplicationName).
//     IpVersion 4 (the default); 6 is OperationUnsupported.IpVersion.
//     Release (enabled) "true" (default) or "false": a disabled policy
//     keeps its place and matches nothing. Description is required on
//     AddControlPolicy, at most 512 characters. SourceIp, Lang and
//     MessageType are informational and not used.
//   - AclUuid is a random UUID (crypto/rand). A policy identical to one
//     already at the requested position (every field but the ID, order
//     and times; NewOrder -1 or n+1 means the last policy) adds nothing
//     and answers that policy's AclUuid (Part A: an identical rule added
//     twice succeeds and adds nothing; Cloudfw has no ClientToken, so this
//     is what makes a retried AddControlPolicy safe).
//   - ModifyControlPolicy (AclUuid and Direction required; the direction
//     of a policy never changes) changes the fields it is given and keeps
//     the others, then checks the whole policy as AddControlPolicy does.
//     Changing SourceType or DestinationType (to or from domain too)
//     needs the new Source or Destination, DestPortType group needs
//     DestPortGroup. When Proto
//     becomes ANY or ICMP and no port is given, the policy's ports are
//     dropped (every port). Its order does not change.
//   - DescribeControlPolicy: without Direction, the in policies then the
//     out policies, each in order; filters Direction, AclUuid, AclAction,
//     Proto, Release (exact), Source, Destination, Description
//     (substrings). CurrentPage/PageSize (1-100, default 10). HitTimes and
//     HitLastTime are what the agents counted in the kernel: the new
//     connections a policy decided (ReportFirewallHits, every few seconds;
//     a policy changed within that time may lose the hits since). A domain
//     destination shows the addresses it was last resolved to
//     (DestinationGroupCidrs, as /32 blocks, and DnsResult), when
//     (DnsResultTime), and DnsFailedDomain when the last lookup failed.
//     DescribePolicyPriorUsed answers Start 1 and End n
//     (0 and 0 without policies).
//   - Address books: GroupType ip (IPv4 CIDRs or addresses, stored masked)
//     or port ("80" or "80/88", stored "80" when a = b); ipv6, domain and
//     tag books are refused (OperationUnsupported.GroupType), as are ECS
//     tag settings (TagList, TagRelation, AutoAddTagEcs 1). AddressList
//     is comma-separated, 1 to Quotas.AddressBookEntries (2000) entries
//     (an entry given twice counts once); Description is required (at
//     most 512 characters); GroupName (1-128 characters, no comma) is
//     unique in the account. A book identical to an existing one of the
//     same name (type, entries, description) adds nothing and answers its
//     GroupUuid. At most Quotas.AddressBooks (5000) books per account.
//   - Policies name books, so: a book that a policy uses (a policy of the
//     Internet firewall, a VPC firewall or a NAT firewall) cannot be
//     deleted (DependencyViolation.AddressBook names the policies); a
//     book's type never changes (ModifyAddressBook has no GroupType);
//     renaming a book renames it in the policies that use it, in the same
//     transaction; changing its entries changes what those policies match.
//   - The switch: the firewall is on for every EIP of the account unless
//     switched off. PutDisableFwSwitch writes model.FirewallOffKey for each
//     address of IpaddrList.N, PutEnableFwSwitch deletes it; each address
//     must be an EIP of the caller's account. Switching off what is off (or
//     on what is on) changes nothing. The All variants switch every EIP the
//     account holds now (a later EIP starts on); their InstanceId (the
//     cloud's firewall instance) is not used: an account has one Internet
//     firewall. RegionList and ResourceTypeList are refused
//     (OperationUnsupported.*): name the addresses. Releasing an EIP drops
//     its switch. DescribeAssetList lists the account's EIPs with
//     ProtectStatus open or closed.
//   - One account never sees or changes another's policies, books or
//     switches: they are reported as not found, and its policies name
//     only its own books. The addresses of a policy are match criteria:
//     the policies of an account judge the traffic of its own EIPs only,
//     so naming another account's address changes nothing for that
//     account.
//
// Error codes (HTTP status):
//   - MissingParameter (400).
//   - IllegalParam.<Parameter> (400): a value malformed or out of range
//     (Direction, AclAction, Proto, SourceType, DestinationType, Source,
//     Destination, DestPortType, DestPort, DestPortGroup, NewOrder,
//     OldOrder, Release, IpVersion, Description, GroupName, GroupType,
//     AddressList, ContainPort, IpaddrList.N, DomainResolveType),
//     including a book of the wrong type, ports with Proto ANY or ICMP
//     and a malformed domain name.
//   - OperationUnsupported.<Parameter> (400): SourceType domain,
//     DestinationType domain where it is not accepted, location,
//     Destination a wildcard domain, DomainResolveType 0 or 2,
//     ApplicationName(List) other than ANY, IpVersion 6, GroupType
//     ipv6/domain/tag, TagList, TagRelation, AutoAddTagEcs, RegionList, ResourceTypeList, MemberUid and the asset filters
//     Palisade has no data for.
//   - ResourceNotFound.ControlPolicy (404): no such policy of the caller in
//     that direction; ResourceNotFound.AddressBook (404): no such book of
//     the caller (by GroupUuid, or by name in Source, Destination or
//     DestPortGroup); ResourceNotFound.Asset (404): an address that is not
//     an EIP of the caller.
//   - DuplicatedParam.GroupName (400): another book of the account has
//     that name.
//   - DependencyViolation.AddressBook (403): deleting a book in use.
//   - QuotaExceeded.ControlPolicy, QuotaExceeded.AddressBook,
//     QuotaExceeded.AddressBookEntries (403): the quotas above.

// Defaults of the Cloud Firewall quotas (Quotas.FirewallPolicies,
// AddressBooks, AddressBookEntries).
const (
	DefaultFirewallPolicies   = 1000 // per account and direction
	DefaultAddressBooks       = 5000 // per account (SEMANTICS Part B §8.3)
	DefaultAddressBookEntries = 2000 // per book
)

// Cloud Firewall values the API shows.
const (
	FirewallApplicationAny = "ANY"
	FirewallProtectOpen    = "open"   // DescribeAssetList ProtectStatus: switched on
	FirewallProtectClosed  = "closed" // switched off
	firewallDescriptionMax = 512
	addressBookNameMax     = 128
	aclUuidParam           = "AclUuid"
	groupUuidParam         = "GroupUuid"
)

// NewUUID returns a random (version 4) UUID, lower-case.
func NewUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func illegal(param, format string, args ...any) *errs.Error {
	return errs.InvalidParam("IllegalParam."+param, format, args...)
}

func notSupported(param, format string, args ...any) *errs.Error {
	return errs.InvalidParam("OperationUnsupported."+param, format, args...)
}

func errPolicyNotFound(id string) *errs.Error {
	return errs.NotFound("ResourceNotFound.ControlPolicy", "The specified AclUuid %q does not exist: DescribeControlPolicy lists your policies.", id)
}

func errBookNotFound(id string) *errs.Error {
	return errs.NotFound("ResourceNotFound.AddressBook", "The specified GroupUuid %q does not exist: DescribeAddressBook lists your address books.", id)
}

// ParseFirewallDirection checks a Direction: in or out, case-insensitive.
func ParseFirewallDirection(v string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "":
		return "", errs.MissingParameter("Direction")
	case model.FirewallIn:
		return model.FirewallIn, nil
	case model.FirewallOut:
		return model.FirewallOut, nil
	}
	return "", illegal("Direction", "The specified Direction %q is not valid: use in (from the internet to your EIPs) or out (from your EIPs to the internet).", v)
}

func parseAclAction(v string) (string, error) {
	switch a := strings.ToLower(strings.TrimSpace(v)); a {
	case model.FirewallAccept, model.FirewallDrop, model.FirewallLog:
		return a, nil
	case "":
		return "", errs.MissingParameter("AclAction")
	}
	return "", illegal("AclAction", "The specified AclAction %q is not valid: use accept (allow), drop (deny) or log (allow and count).", v)
}

func parseFirewallProto(v string) (string, error) {
	switch p := strings.ToUpper(strings.TrimSpace(v)); p {
	case model.FirewallProtoANY, model.FirewallProtoTCP, model.FirewallProtoUDP, model.FirewallProtoICMP:
		return p, nil
	case "":
		return "", errs.MissingParameter("Proto")
	}
	return "", illegal("Proto", "The specified Proto %q is not valid: use ANY, TCP, UDP or ICMP.", v)
}

// parseAddressType checks SourceType or DestinationType. domain passes
// here; where it is accepted is domainRefusal's question.
func parseAddressType(param, v string) (string, error) {
	switch t := strings.ToLower(strings.TrimSpace(v)); t {
	case model.FirewallNet, model.FirewallGroup, model.FirewallDomain:
		return t, nil
	case "":
		return "", errs.MissingParameter(param)
	case "location":
		return "", notSupported(param, "%s location is not supported: Palisade has no geolocation data of addresses; give a CIDR (%s net) or an IP address book (%s group).", param, param, param)
	}
	return "", illegal(param, "The specified %s %q is not valid: use net (a CIDR), group (an IP address book) or, for a Destination, domain (a DNS name).", param, v)
}

// domainAccepted says where a domain is accepted, for the refusals.
const domainAccepted = "a domain is accepted as the Destination of Internet-firewall policies of Direction out (AddControlPolicy) and of NAT-firewall policies (CreateNatFirewallControlPolicy)"

// domainRefusal refuses a domain as param (Source or Destination) of p
// where it makes no sense: a domain names a host on the internet that
// connections go to, so it can be the destination of an outbound
// Internet-firewall policy or of a NAT-firewall policy only.
func domainRefusal(p *model.FirewallPolicy, param string) error {
	typeParam := param + "Type"
	switch {
	case param != "Destination":
		return notSupported(typeParam, "%s domain is not supported: %s; give the %s as a CIDR (%s net) or an IP address book (%s group).", typeParam, domainAccepted, param, typeParam, typeParam)
	case p.VpcFirewallID != "":
		return notSupported(typeParam, "%s domain is not supported in a VPC firewall's policies: the connections across a peering go between private addresses, which public DNS names do not resolve to; %s. Give a CIDR (%s net) or an IP address book (%s group).", typeParam, domainAccepted, typeParam, typeParam)
	case p.NatGatewayID == "" && p.Direction != model.FirewallOut:
		return notSupported(typeParam, "%s domain is not supported for Direction %s: the destination of an inbound connection is your EIP; %s. Give a CIDR (%s net) or an IP address book (%s group).", typeParam, p.Direction, domainAccepted, typeParam, typeParam)
	}
	return nil
}

// domainNameMax is the longest domain name (RFC 1035, without the final
// dot), domainLabelMax the longest label.
const (
	domainNameMax  = 253
	domainLabelMax = 63
)

// ParseFirewallDomain reads a domain Destination: trimmed, lower-cased,
// without the final dot. A wildcard is refused apart: it is a name the
// cloud matches by inspecting TLS SNI and HTTP Host, not one DNS resolves.
func ParseFirewallDomain(param, v string) (string, error) {
	name := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(v)), ".")
	if strings.HasPrefix(name, "*") {
		return "", notSupported(param, "%s %q is a wildcard domain, which is not supported: Palisade resolves a domain by DNS and matches its addresses, and a wildcard has no addresses to resolve (matching one needs TLS SNI or HTTP Host inspection, which Palisade does not do). Name each host (www.example.com) in a policy of its own, or give their addresses (DestinationType net or group).", param, v)
	}
	bad := func() error {
		return illegal(param, "The specified %s %q is not a valid domain name: with DestinationType domain give a DNS name of at least two labels such as www.example.com (at most %d characters; each label 1 to %d letters, digits or hyphens, not starting or ending with a hyphen).", param, v, domainNameMax, domainLabelMax)
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return "", illegal(param, "The specified %s %q is an IP address, not a domain name: give it with DestinationType net.", param, v)
	}
	if _, err := netip.ParsePrefix(name); err == nil {
		return "", illegal(param, "The specified %s %q is a CIDR block, not a domain name: give it with DestinationType net.", param, v)
	}
	if name == "" || len(name) > domainNameMax {
		return "", bad()
	}
	labels := strings.Split(name, ".")
	if len(labels) < 2 {
		return "", bad()
	}
	for _, l := range labels {
		if l == "" || len(l) > domainLabelMax || l[0] == '-' || l[len(l)-1] == '-' {
			return "", bad()
		}
		for _, c := range []byte(l) {
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return "", bad()
			}
		}
	}
	// An all-numeric last label makes an address-like name (10.0.0, or
	// an address with a label too many), which no top-level domain is.
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return "", illegal(param, "The specified %s %q is not a domain name: its last label is a number; give an address with DestinationType net, or a name such as www.example.com.", param, v)
	}
	return name, nil
}

// parseDomainResolveType reads DomainResolveType for a domain
// destination: absent or 1 is DNS, the one kind Palisade does.
func parseDomainResolveType(v *string) (int, error) {
	if v == nil {
		return model.FirewallResolveDNS, nil
	}
	switch t := strings.TrimSpace(*v); t {
	case "", "1":
		return model.FirewallResolveDNS, nil
	case "0", "2":
		kind := map[string]string{"0": "FQDN", "2": "FQDN and DNS"}[t]
		return 0, notSupported("DomainResolveType", "DomainResolveType %s (%s) is not supported: Palisade resolves domains by DNS only and matches the addresses it finds; it does not inspect TLS SNI or HTTP Host. Send DomainResolveType 1 (DNS), or leave it out.", t, kind)
	}
	return 0, illegal("DomainResolveType", "The specified DomainResolveType %q is not valid: use 1 (the domain is resolved by DNS), the one kind Palisade supports.", *v)
}

// ParseFirewallCIDR reads an IPv4 CIDR (or a bare address: /32), masked.
func ParseFirewallCIDR(v string) (netip.Prefix, bool) {
	v = strings.TrimSpace(v)
	var p netip.Prefix
	var err error
	if strings.Contains(v, "/") {
		p, err = netip.ParsePrefix(v)
	} else {
		var a netip.Addr
		a, err = netip.ParseAddr(v)
		if err == nil {
			p = netip.PrefixFrom(a, a.BitLen())
		}
	}
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, false
	}
	return p.Masked(), true
}

// ParseFirewallPorts reads "80" or "80/88" (1 <= a <= b <= 65535).
func ParseFirewallPorts(v string) (from, to int, ok bool) {
	a, b, ranged := strings.Cut(strings.TrimSpace(v), "/")
	from, err1 := strconv.Atoi(a)
	to, err2 := from, error(nil)
	if ranged {
		to, err2 = strconv.Atoi(b)
	}
	if err1 != nil || err2 != nil || from < 1 || to > 65535 || from > to {
		return 0, 0, false
	}
	return from, to, true
}

// FormatFirewallPorts is the stored form of a port range: "80" or "80/88".
func FormatFirewallPorts(from, to int) string {
	if from == to {
		return strconv.Itoa(from)
	}
	return strconv.Itoa(from) + "/" + strconv.Itoa(to)
}

func checkFirewallText(param, v string, required bool) error {
	if v == "" {
		if required {
			return errs.MissingParameter(param)
		}
		return nil
	}
	if !utf8.ValidString(v) || utf8.RuneCountInString(v) > firewallDescriptionMax {
		return illegal(param, "The specified %s is not valid: use at most %d characters of UTF-8 text.", param, firewallDescriptionMax)
	}
	return nil
}

func parseRelease(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, illegal("Release", "The specified Release %q is not valid: use true (the policy is enabled) or false.", v)
}

// CheckFirewallIPVersion checks an IpVersion parameter: 4 or none (6 is
// OperationUnsupported.IpVersion).
func CheckFirewallIPVersion(v string) error {
	switch strings.TrimSpace(v) {
	case "", "4":
		return nil
	case "6":
		return notSupported("IpVersion", "IpVersion 6 is not supported: Palisade's Cloud Firewall policies match IPv4 addresses (EIPs are IPv4, and IPv6 crossing a VPC firewall meets no policy, so it is allowed); use IpVersion 4.")
	}
	return illegal("IpVersion", "The specified IpVersion %q is not valid: use 4.", v)
}

// ---------------------------------------------------------------------------
// Reading policies and books

// firewallPolicies returns the policies of an account and direction in
// order.
func firewallPolicies(tx store.ReadTxn, accountID, direction string) ([]*model.FirewallPolicy, error) {
	return policiesWhere(tx, model.PrefixFirewallPolicy, func(p *model.FirewallPolicy) bool {
		return p.AccountID == accountID && p.Direction == direction
	})
}

// policyKey is the store key of a policy: an Internet-firewall policy's,
// a VPC firewall's (VpcFirewallID set) or a NAT firewall's (NatGatewayID
// set).
func policyKey(p *model.FirewallPolicy) string {
	switch {
	case p.VpcFirewallID != "":
		return model.PrefixVpcFirewallPolicy + p.ID
	case p.NatGatewayID != "":
		return model.PrefixNatFirewallPolicy + p.ID
	}
	return model.PrefixFirewallPolicy + p.ID
}

// policyPrefixes are the store prefixes of the policies of every kind of
// firewall: Internet, VPC and NAT.
var policyPrefixes = []string{model.PrefixFirewallPolicy, model.PrefixVpcFirewallPolicy, model.PrefixNatFirewallPolicy}

// policiesWhere returns the policies under prefix that keep selects, in
// order.
func policiesWhere(tx store.ReadTxn, prefix string, keep func(*model.FirewallPolicy) bool) ([]*model.FirewallPolicy, error) {
	var out []*model.FirewallPolicy
	err := listJSON(tx, prefix, func(p *model.FirewallPolicy) error {
		if keep(p) {
			out = append(out, p)
		}
		return nil
	})
	slices.SortFunc(out, func(a, b *model.FirewallPolicy) int {
		if a.Order != b.Order {
			return a.Order - b.Order
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, err
}

// getFirewallPolicy reads a policy of the account in direction.
func getFirewallPolicy(tx store.ReadTxn, accountID, id, direction string) (*model.FirewallPolicy, error) {
	p, err := getOwned(tx, model.PrefixFirewallPolicy, aclUuidParam, accountID, id, func(v *model.FirewallPolicy) string { return v.AccountID }, errPolicyNotFound)
	if err != nil {
		return nil, err
	}
	if p.Direction != direction {
		return nil, errs.NotFound("ResourceNotFound.ControlPolicy",
			"Policy %s is not a policy of direction %s (it is one of direction %s): give Direction %s.", id, direction, p.Direction, p.Direction)
	}
	return p, nil
}

// renumber gives the policies (one account and direction, one VPC
// firewall or one NAT gateway, in their new sequence) the orders 1..n and
// writes those whose order changed.
func renumber(tx store.Txn, list []*model.FirewallPolicy) error {
	for i, p := range list {
		if p.Order == i+1 {
			continue
		}
		p.Order = i + 1
		if err := putJSON(tx, policyKey(p), p); err != nil {
			return err
		}
	}
	return nil
}

// addressBooks returns the books of an account, oldest first.
func addressBooks(tx store.ReadTxn, accountID string) ([]*model.AddressBook, error) {
	var out []*model.AddressBook
	err := listJSON(tx, model.PrefixAddressBook, func(b *model.AddressBook) error {
		if b.AccountID == accountID {
			out = append(out, b)
		}
		return nil
	})
	sortByCreation(out, func(b *model.AddressBook) (int64, string) { return b.CreatedAt.UnixNano(), b.ID })
	return out, err
}

func getAddressBook(tx store.ReadTxn, accountID, id string) (*model.AddressBook, error) {
	return getOwned(tx, model.PrefixAddressBook, groupUuidParam, accountID, id, func(v *model.AddressBook) string { return v.AccountID }, errBookNotFound)
}

// bookByName finds the account's book of that name (nil when none).
func bookByName(tx store.ReadTxn, accountID, name string) (*model.AddressBook, error) {
	var out *model.AddressBook
	err := listJSON(tx, model.PrefixAddressBook, func(b *model.AddressBook) error {
		if out == nil && b.AccountID == accountID && b.Name == name {
			out = b
		}
		return nil
	})
	return out, err
}

// namedBook resolves a book that param names (Source, Destination,
// DestPortGroup): it must exist in the account and be of type typ.
func namedBook(tx store.ReadTxn, accountID, param, name, typ string) (*model.AddressBook, error) {
	what := map[string]string{model.AddressBookIP: "IP", model.AddressBookPort: "port"}[typ]
	if name == "" {
		return nil, errs.MissingParameter(param)
	}
	b, err := bookByName(tx, accountID, name)
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, errs.NotFound("ResourceNotFound.AddressBook",
			"%s %q: your account has no %s address book of that name (AddAddressBook creates one, DescribeAddressBook lists them).", param, name, what)
	}
	if b.Type != typ {
		return nil, illegal(param, "%s %q is a %s address book; %s needs a %s address book.", param, name, b.Type, param, what)
	}
	return b, nil
}

// usesBook reports whether a policy refers to the book.
func usesBook(p *model.FirewallPolicy, b *model.AddressBook) bool {
	if b.Type == model.AddressBookPort {
		return p.DestPortType == model.FirewallPortGroup && p.DestPortGroup == b.Name
	}
	return p.SourceType == model.FirewallGroup && p.Source == b.Name ||
		p.DestinationType == model.FirewallGroup && p.Destination == b.Name
}

// accountPolicies returns every policy of the account: in, out (each in
// order), then those of its VPC firewalls, then those of the NAT firewalls
// of its NAT gateways.
func accountPolicies(tx store.ReadTxn, accountID string) ([]*model.FirewallPolicy, error) {
	var out []*model.FirewallPolicy
	for _, dir := range []string{model.FirewallIn, model.FirewallOut} {
		list, err := firewallPolicies(tx, accountID, dir)
		if err != nil {
			return nil, err
		}
		out = append(out, list...)
	}
	for _, prefix := range []string{model.PrefixVpcFirewallPolicy, model.PrefixNatFirewallPolicy} {
		list, err := policiesWhere(tx, prefix, func(p *model.FirewallPolicy) bool { return p.AccountID == accountID })
		if err != nil {
			return nil, err
		}
		out = append(out, list...)
	}
	return out, nil
}

// bookUsers lists the account's policies that use the book (Internet, VPC
// and NAT firewalls).
func bookUsers(tx store.ReadTxn, b *model.AddressBook) ([]*model.FirewallPolicy, error) {
	all, err := accountPolicies(tx, b.AccountID)
	if err != nil {
		return nil, err
	}
	var out []*model.FirewallPolicy
	for _, p := range all {
		if usesBook(p, b) {
			out = append(out, p)
		}
	}
	return out, nil
}

// ---------------------------------------------------------------------------
// Policies

// PolicyInput is the rule part of AddControlPolicy and
// ModifyControlPolicy. A nil field was not given: AddControlPolicy
// requires AclAction, Source, SourceType, Destination, DestinationType,
// Proto and Description; ModifyControlPolicy keeps the policy's value.
type PolicyInput struct {
	AclAction, Proto                      *string
	Source, SourceType                    *string
	Destination, DestinationType          *string
	DestPort, DestPortType, DestPortGroup *string
	Description, Release, IpVersion       *string
	ApplicationName                       *string
	ApplicationNameList                   []string
	// DomainResolveType is for a domain Destination (absent: 1, DNS);
	// with any other destination it is not used.
	DomainResolveType *string
}

// applyAddress sets one side (Source or Destination) of p.
func applyAddress(tx store.ReadTxn, p *model.FirewallPolicy, param string, value, typ *string, curValue, curType *string, creating bool) error {
	typeParam := param + "Type"
	if typ != nil {
		t, err := parseAddressType(typeParam, *typ)
		if err != nil {
			return err
		}
		if !creating && t != *curType && value == nil {
			return errs.InvalidParam("MissingParameter", "%s changes from %s to %s: give the new %s too.", typeParam, *curType, t, param)
		}
		*curType = t
	} else if creating {
		return errs.MissingParameter(typeParam)
	}
	if value != nil {
		*curValue = strings.TrimSpace(*value)
	} else if creating {
		return errs.MissingParameter(param)
	}
	if *curValue == "" {
		return errs.MissingParameter(param)
	}
	switch *curType {
	case model.FirewallNet:
		cidr, ok := ParseFirewallCIDR(*curValue)
		if !ok {
			return illegal(param, "The specified %s %q is not valid: with %s net give an IPv4 CIDR block such as 192.0.2.0/24 (0.0.0.0/0: any address); Palisade's Cloud Firewall policies are IPv4 only.", param, *curValue, typeParam)
		}
		*curValue = cidr.String()
	case model.FirewallGroup:
		if _, err := namedBook(tx, p.AccountID, param, *curValue, model.AddressBookIP); err != nil {
			return err
		}
	case model.FirewallDomain:
		if err := domainRefusal(p, param); err != nil {
			return err
		}
		name, err := ParseFirewallDomain(param, *curValue)
		if err != nil {
			return err
		}
		*curValue = name
	}
	return nil
}

// applyPorts sets the port fields of p (whose Proto is already set).
func applyPorts(tx store.ReadTxn, accountID string, p *model.FirewallPolicy, in PolicyInput, creating, protoChanged bool) error {
	typ := p.DestPortType
	switch {
	case in.DestPortType != nil:
		switch t := strings.ToLower(strings.TrimSpace(*in.DestPortType)); t {
		case model.FirewallPort, model.FirewallPortGroup:
			typ = t
		default:
			return illegal("DestPortType", "The specified DestPortType %q is not valid: use port (DestPort) or group (DestPortGroup, a port address book).", *in.DestPortType)
		}
	case in.DestPortGroup != nil && in.DestPort == nil:
		typ = model.FirewallPortGroup
	case in.DestPort != nil || creating:
		typ = model.FirewallPort
	}
	if typ == "" {
		typ = model.FirewallPort
	}
	portless := p.Proto == model.FirewallProtoANY || p.Proto == model.FirewallProtoICMP
	switch typ {
	case model.FirewallPort:
		if in.DestPortGroup != nil {
			return illegal("DestPortGroup", "DestPortGroup is for DestPortType group; with DestPortType port give DestPort.")
		}
		port := p.DestPort
		if p.DestPortType != model.FirewallPort {
			port = ""
		}
		if in.DestPort != nil {
			port = strings.TrimSpace(*in.DestPort)
		} else if portless && protoChanged {
			port = "" // the policy's ports do not apply to the new protocol
		}
		if port == "0/0" {
			port = ""
		}
		if port != "" {
			from, to, ok := ParseFirewallPorts(port)
			if !ok {
				return illegal("DestPort", "The specified DestPort %q is not valid: give a port (80), a range (80/88, 1 to 65535, the first not above the second) or 0/0 for every port.", port)
			}
			if portless {
				return illegal("DestPort", "Proto %s has no ports: give DestPort 0/0 (or none), or Proto TCP or UDP for port %s.", p.Proto, port)
			}
			port = FormatFirewallPorts(from, to)
		}
		p.DestPortType, p.DestPort, p.DestPortGroup = model.FirewallPort, port, ""
	case model.FirewallPortGroup:
		if in.DestPort != nil && strings.TrimSpace(*in.DestPort) != "" && strings.TrimSpace(*in.DestPort) != "0/0" {
			return illegal("DestPort", "DestPort is for DestPortType port; with DestPortType group give DestPortGroup.")
		}
		if portless && protoChanged && in.DestPortType == nil && in.DestPortGroup == nil {
			// The policy's port book does not apply to the new protocol.
			p.DestPortType, p.DestPort, p.DestPortGroup = model.FirewallPort, "", ""
			return nil
		}
		group := p.DestPortGroup
		if in.DestPortGroup != nil {
			group = strings.TrimSpace(*in.DestPortGroup)
		}
		if group == "" {
			return errs.MissingParameter("DestPortGroup")
		}
		if portless {
			return illegal("DestPortGroup", "Proto %s has no ports: a port address book (DestPortGroup %s) needs Proto TCP or UDP.", p.Proto, group)
		}
		if _, err := namedBook(tx, accountID, "DestPortGroup", group, model.AddressBookPort); err != nil {
			return err
		}
		p.DestPortType, p.DestPort, p.DestPortGroup = model.FirewallPortGroup, "", group
	}
	return nil
}

// applyPolicyInput sets the fields in of p (new when creating) and checks
// the whole policy.
func applyPolicyInput(tx store.ReadTxn, p *model.FirewallPolicy, in PolicyInput, creating bool) error {
	if in.AclAction != nil || creating {
		v := ""
		if in.AclAction != nil {
			v = *in.AclAction
		}
		a, err := parseAclAction(v)
		if err != nil {
			return err
		}
		p.Action = a
	}
	protoChanged := false
	if in.Proto != nil || creating {
		v := ""
		if in.Proto != nil {
			v = *in.Proto
		}
		proto, err := parseFirewallProto(v)
		if err != nil {
			return err
		}
		protoChanged = proto != p.Proto
		p.Proto = proto
	}
	if err := applyAddress(tx, p, "Source", in.Source, in.SourceType, &p.Source, &p.SourceType, creating); err != nil {
		return err
	}
	if err := applyAddress(tx, p, "Destination", in.Destination, in.DestinationType, &p.Destination, &p.DestinationType, creating); err != nil {
		return err
	}
	p.DomainResolveType = 0
	if p.DestinationType == model.FirewallDomain {
		t, err := parseDomainResolveType(in.DomainResolveType)
		if err != nil {
			return err
		}
		p.DomainResolveType = t
	}
	if err := applyPorts(tx, p.AccountID, p, in, creating, protoChanged); err != nil {
		return err
	}
	apps := slices.Clone(in.ApplicationNameList)
	if in.ApplicationName != nil {
		apps = append([]string{*in.ApplicationName}, apps...)
	}
	for _, a := range apps {
		if !strings.EqualFold(strings.TrimSpace(a), FirewallApplicationAny) {
			return notSupported("ApplicationName", "Application %q is not supported: Palisade matches by port, not by application; give ApplicationName ANY and the application's port in DestPort (e.g. Proto TCP, DestPort 443 for HTTPS).", a)
		}
	}
	if len(apps) > 0 || creating {
		p.ApplicationNames = []string{FirewallApplicationAny}
	}
	if in.IpVersion != nil {
		if err := CheckFirewallIPVersion(*in.IpVersion); err != nil {
			return err
		}
	}
	if in.Release != nil {
		on, err := parseRelease(*in.Release)
		if err != nil {
			return err
		}
		p.Enabled = on
	} else if creating {
		p.Enabled = true
	}
	if in.Description != nil || creating {
		v := ""
		if in.Description != nil {
			v = *in.Description
		}
		if err := checkFirewallText("Description", v, true); err != nil {
			return err
		}
		p.Description = v
	}
	return nil
}

// samePolicy reports whether two policies are identical but for their
// ID, order and times.
func samePolicy(a, b *model.FirewallPolicy) bool {
	return a.AccountID == b.AccountID && a.Direction == b.Direction && a.Action == b.Action && a.Description == b.Description &&
		a.Source == b.Source && a.SourceType == b.SourceType && a.Destination == b.Destination && a.DestinationType == b.DestinationType &&
		a.Proto == b.Proto && a.DestPort == b.DestPort && a.DestPortType == b.DestPortType && a.DestPortGroup == b.DestPortGroup &&
		slices.Equal(a.ApplicationNames, b.ApplicationNames) && a.DomainResolveType == b.DomainResolveType && a.Enabled == b.Enabled
}

// parseNewOrder reads NewOrder for a list of n policies: 1..max, or -1
// for max (max is n+1 to insert, n to move).
func parseNewOrder(v string, max int, moving bool) (int, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, errs.MissingParameter("NewOrder")
	}
	n, err := strconv.Atoi(v)
	if err == nil && n == -1 {
		return max, nil
	}
	if err != nil || n < 1 || n > max {
		what := fmt.Sprintf("1 to %d (1 is tried first; %d or -1 appends)", max, max)
		if moving {
			what = fmt.Sprintf("1 to %d, the orders in use (-1: last)", max)
		}
		return 0, illegal("NewOrder", "The specified NewOrder %q is not valid: give %s.", v, what)
	}
	return n, nil
}

// AddControlPolicyInput is the request of AddControlPolicy.
type AddControlPolicyInput struct {
	Direction string
	NewOrder  string
	PolicyInput
}

// AddControlPolicy adds a policy at NewOrder; the policies from there on
// move down by one.
func (s *Service) AddControlPolicy(ctx context.Context, accountID string, in AddControlPolicyInput) (model.FirewallPolicy, error) {
	var out model.FirewallPolicy
	dir, err := ParseFirewallDirection(in.Direction)
	if err != nil {
		return out, err
	}
	if strings.TrimSpace(in.NewOrder) == "" {
		return out, errs.MissingParameter("NewOrder")
	}
	_, err = s.update(ctx, func(tx store.Txn) error {
		now := s.stamp()
		p := &model.FirewallPolicy{ID: NewUUID(), AccountID: accountID, Direction: dir, CreatedAt: now, UpdatedAt: now}
		if err := applyPolicyInput(tx, p, in.PolicyInput, true); err != nil {
			return err
		}
		list, err := firewallPolicies(tx, accountID, dir)
		if err != nil {
			return err
		}
		out, err = placePolicy(tx, list, p, in.NewOrder, s.cfg.Quotas.FirewallPolicies, "Your account has %d policies of direction "+dir)
		return err
	})
	return out, err
}

// placePolicy inserts the new policy p into list (the policies of one
// account and direction, of one VPC firewall or of one NAT gateway, in
// order) at NewOrder and writes what changed. The same policy already
// where it was asked for is a retry: it answers that one and writes
// nothing. what describes the list for the quota error ("... %d policies
// ...").
func placePolicy(tx store.Txn, list []*model.FirewallPolicy, p *model.FirewallPolicy, newOrder string, limit int, what string) (model.FirewallPolicy, error) {
	order, err := parseNewOrder(newOrder, len(list)+1, false)
	if err != nil {
		return model.FirewallPolicy{}, err
	}
	at := order - 1
	if order == len(list)+1 {
		at = len(list) - 1
	}
	if at >= 0 && samePolicy(list[at], p) {
		return *list[at], nil
	}
	if len(list) >= limit {
		return model.FirewallPolicy{}, errs.Quota("QuotaExceeded.ControlPolicy",
			what+", the most allowed (%d): delete one first, or ask the operator to raise the quota.", len(list), limit)
	}
	// p (order 0 until now) is written with its order, and the policies
	// after it with theirs.
	list = slices.Insert(list, order-1, p)
	if err := renumber(tx, list); err != nil {
		return model.FirewallPolicy{}, err
	}
	return *p, nil
}

// changePolicy applies in to the stored policy p and writes it when
// something changed.
func (s *Service) changePolicy(tx store.Txn, p *model.FirewallPolicy, in PolicyInput) error {
	before := *p
	if err := applyPolicyInput(tx, p, in, false); err != nil {
		return err
	}
	if samePolicy(&before, p) {
		return nil
	}
	p.UpdatedAt = s.stamp()
	return putJSON(tx, policyKey(p), p)
}

// removePolicy deletes p (and its hits) and renumbers the rest of its
// list, which list reads after the delete.
func removePolicy(tx store.Txn, p *model.FirewallPolicy, list func() ([]*model.FirewallPolicy, error)) error {
	if err := deletePolicies(tx, []*model.FirewallPolicy{p}); err != nil {
		return err
	}
	rest, err := list()
	if err != nil {
		return err
	}
	return renumber(tx, rest)
}

// deletePolicies deletes the policies and their hits, renumbering nothing:
// one policy that removePolicy renumbers after, or every policy of a
// firewall that goes.
func deletePolicies(tx store.Txn, list []*model.FirewallPolicy) error {
	for _, p := range list {
		if err := tx.Delete(policyKey(p)); err != nil {
			return err
		}
		if err := tx.Delete(model.PrefixFirewallHits + p.ID); err != nil {
			return err
		}
	}
	return nil
}

// ModifyControlPolicy changes the fields given of a policy.
func (s *Service) ModifyControlPolicy(ctx context.Context, accountID, id, direction string, in PolicyInput) error {
	if strings.TrimSpace(id) == "" {
		return errs.MissingParameter(aclUuidParam)
	}
	dir, err := ParseFirewallDirection(direction)
	if err != nil {
		return err
	}
	_, err = s.update(ctx, func(tx store.Txn) error {
		p, err := getFirewallPolicy(tx, accountID, id, dir)
		if err != nil {
			return err
		}
		return s.changePolicy(tx, p, in)
	})
	return err
}

// DeleteControlPolicy deletes a policy; the ones after it move up.
func (s *Service) DeleteControlPolicy(ctx context.Context, accountID, id, direction string) error {
	if strings.TrimSpace(id) == "" {
		return errs.MissingParameter(aclUuidParam)
	}
	dir, err := ParseFirewallDirection(direction)
	if err != nil {
		return err
	}
	_, err = s.update(ctx, func(tx store.Txn) error {
		p, err := getFirewallPolicy(tx, accountID, id, dir)
		if err != nil {
			return err
		}
		return removePolicy(tx, p, func() ([]*model.FirewallPolicy, error) { return firewallPolicies(tx, accountID, dir) })
	})
	return err
}

// MovePolicyInput is the request of ModifyControlPolicyPosition: the
// policy by AclUuid or by OldOrder (both given must agree).
type MovePolicyInput struct {
	Direction, AclUuid, OldOrder, NewOrder string
}

// ModifyControlPolicyPosition moves a policy to NewOrder; the ones in
// between shift by one.
func (s *Service) ModifyControlPolicyPosition(ctx context.Context, accountID string, in MovePolicyInput) error {
	dir, err := ParseFirewallDirection(in.Direction)
	if err != nil {
		return err
	}
	id, old := strings.TrimSpace(in.AclUuid), strings.TrimSpace(in.OldOrder)
	if id == "" && old == "" {
		return errs.MissingParameter("AclUuid or OldOrder")
	}
	if strings.TrimSpace(in.NewOrder) == "" {
		return errs.MissingParameter("NewOrder")
	}
	_, err = s.update(ctx, func(tx store.Txn) error {
		list, err := firewallPolicies(tx, accountID, dir)
		if err != nil {
			return err
		}
		from := -1
		if id != "" {
			p, err := getFirewallPolicy(tx, accountID, id, dir)
			if err != nil {
				return err
			}
			from = p.Order - 1
		}
		if old != "" {
			n, err := strconv.Atoi(old)
			if err != nil || n < 1 || n > len(list) {
				if len(list) == 0 {
					return illegal("OldOrder", "The specified OldOrder %q is not valid: you have no policies of direction %s.", old, dir)
				}
				return illegal("OldOrder", "The specified OldOrder %q is not valid: direction %s has the orders 1 to %d.", old, dir, len(list))
			}
			if from >= 0 && from != n-1 {
				return illegal("OldOrder", "Policy %s has the order %d, not %s: give one of AclUuid and OldOrder, or both of the same policy.", id, from+1, old)
			}
			from = n - 1
		}
		return movePolicy(tx, list, from, in.NewOrder)
	})
	return err
}

// movePolicy moves the policy at index from of list (the policies of one
// account and direction, or of one NAT gateway, in order) to NewOrder
// (1..n, -1: last); the ones in between shift by one.
func movePolicy(tx store.Txn, list []*model.FirewallPolicy, from int, newOrder string) error {
	to, err := parseNewOrder(newOrder, len(list), true)
	if err != nil {
		return err
	}
	p := list[from]
	list = slices.Delete(list, from, from+1)
	list = slices.Insert(list, to-1, p)
	return renumber(tx, list)
}

// orderRange is DescribePolicyPriorUsed's answer for a list of n
// policies: the orders in use, 1..n, or 0..0 when there are none.
func orderRange(n int) (start, end int) {
	if n == 0 {
		return 0, 0
	}
	return 1, n
}

// PolicyPriorUsed is the answer of DescribePolicyPriorUsed: the orders in
// use, Start..End (0, 0 without policies).
func (s *Service) PolicyPriorUsed(ctx context.Context, accountID, direction string) (start, end int, err error) {
	dir, err := ParseFirewallDirection(direction)
	if err != nil {
		return 0, 0, err
	}
	err = s.view(ctx, func(tx store.ReadTxn) error {
		list, err := firewallPolicies(tx, accountID, dir)
		if err != nil {
			return err
		}
		start, end = orderRange(len(list))
		return nil
	})
	return start, end, err
}

// ControlPolicyQuery selects policies in DescribeControlPolicy; empty
// fields match all.
type ControlPolicyQuery struct {
	Direction, AclUuid, AclAction, Proto, Release, IpVersion string
	Source, Destination, Description                         string // substrings
}

// FirewallPolicyView is a policy with the contents of the books it names.
type FirewallPolicyView struct {
	model.FirewallPolicy
	// SourceGroupCidrs, DestinationGroupCidrs and DestPortGroupPorts are
	// the entries of the books the policy names; DestinationGroupCidrs of
	// a domain destination are the addresses it resolved to, as /32
	// blocks.
	SourceGroupCidrs, DestinationGroupCidrs, DestPortGroupPorts []string
	// Hits are the new connections the policy decided (ReportFirewallHits).
	Hits model.FirewallHits
	// Resolution is what the server's resolver last found for a domain
	// destination; nil before the first lookup (and for other
	// destinations).
	Resolution *model.DomainResolution
}

// DescribeControlPolicy lists the caller's policies: in then out, each in
// order.
func (s *Service) DescribeControlPolicy(ctx context.Context, accountID string, q ControlPolicyQuery) ([]FirewallPolicyView, error) {
	dirs := []string{model.FirewallIn, model.FirewallOut}
	if q.Direction != "" {
		d, err := ParseFirewallDirection(q.Direction)
		if err != nil {
			return nil, err
		}
		dirs = []string{d}
	}
	f, err := parsePolicyFilter(q.AclUuid, q.AclAction, q.Proto, q.Release, q.Source, q.Destination, q.Description)
	if err != nil {
		return nil, err
	}
	ipv6 := false
	if strings.TrimSpace(q.IpVersion) == "6" {
		ipv6 = true // a valid question: there are no IPv6 policies
	} else if err := CheckFirewallIPVersion(q.IpVersion); err != nil {
		return nil, err
	}
	var out []FirewallPolicyView
	err = s.view(ctx, func(tx store.ReadTxn) error {
		out = nil
		if ipv6 {
			return nil
		}
		var list []*model.FirewallPolicy
		for _, dir := range dirs {
			l, err := firewallPolicies(tx, accountID, dir)
			if err != nil {
				return err
			}
			list = append(list, l...)
		}
		out, err = policyViews(tx, accountID, list, f)
		return err
	})
	return out, err
}

// policyFilter selects policies in DescribeControlPolicy,
// DescribeVpcFirewallControlPolicy and DescribeNatFirewallControlPolicy;
// empty fields match all.
type policyFilter struct {
	id, action, proto                string
	release                          *bool
	source, destination, description string // substrings
}

func parsePolicyFilter(id, action, proto, release, source, destination, description string) (policyFilter, error) {
	f := policyFilter{id: id, source: source, destination: destination, description: description}
	var err error
	if action != "" {
		if f.action, err = parseAclAction(action); err != nil {
			return f, err
		}
	}
	if proto != "" {
		if f.proto, err = parseFirewallProto(proto); err != nil {
			return f, err
		}
	}
	if release != "" {
		on, err := parseRelease(release)
		if err != nil {
			return f, err
		}
		f.release = &on
	}
	return f, nil
}

func (f policyFilter) match(p *model.FirewallPolicy) bool {
	return (f.id == "" || p.ID == f.id) && (f.action == "" || p.Action == f.action) && (f.proto == "" || p.Proto == f.proto) &&
		(f.release == nil || p.Enabled == *f.release) && strings.Contains(p.Source, f.source) &&
		strings.Contains(p.Destination, f.destination) && strings.Contains(p.Description, f.description)
}

// policyViews shows the policies of list that f selects, with the entries
// of the account's books they name and their hits.
func policyViews(tx store.ReadTxn, accountID string, list []*model.FirewallPolicy, f policyFilter) ([]FirewallPolicyView, error) {
	books, err := addressBooks(tx, accountID)
	if err != nil {
		return nil, err
	}
	byName := map[string]*model.AddressBook{}
	for _, b := range books {
		byName[b.Name] = b
	}
	entries := func(name string) []string {
		if b := byName[name]; b != nil {
			return slices.Clone(b.Addresses)
		}
		return []string{}
	}
	var out []FirewallPolicyView
	for _, p := range list {
		if !f.match(p) {
			continue
		}
		v := FirewallPolicyView{FirewallPolicy: *p, SourceGroupCidrs: []string{}, DestinationGroupCidrs: []string{}, DestPortGroupPorts: []string{}}
		if p.SourceType == model.FirewallGroup {
			v.SourceGroupCidrs = entries(p.Source)
		}
		switch p.DestinationType {
		case model.FirewallGroup:
			v.DestinationGroupCidrs = entries(p.Destination)
		case model.FirewallDomain:
			r := new(model.DomainResolution)
			if ok, err := getJSON(tx, model.PrefixDomainResolution+p.Destination, r); err != nil {
				return nil, err
			} else if ok {
				v.Resolution = r
				for _, a := range r.Addrs {
					v.DestinationGroupCidrs = append(v.DestinationGroupCidrs, netip.PrefixFrom(a, a.BitLen()).String())
				}
			}
		}
		if p.DestPortType == model.FirewallPortGroup {
			v.DestPortGroupPorts = entries(p.DestPortGroup)
		}
		if _, err := getJSON(tx, model.PrefixFirewallHits+p.ID, &v.Hits); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// ---------------------------------------------------------------------------
// Address books

// AddressBookInput is the request of AddAddressBook and ModifyAddressBook.
// A nil field was not given (ModifyAddressBook keeps the book's value).
type AddressBookInput struct {
	Name, Type, Description, AddressList *string
	// ECS tag books, which Palisade does not have: TagCount is the number
	// of TagList.N given.
	TagCount                   int
	TagRelation, AutoAddTagEcs string
}

func checkBookName(v string) error {
	if v == "" {
		return errs.MissingParameter("GroupName")
	}
	if !utf8.ValidString(v) || utf8.RuneCountInString(v) > addressBookNameMax || strings.TrimSpace(v) != v || strings.ContainsAny(v, ",\n\r\t") {
		return illegal("GroupName", "The specified GroupName %q is not valid: use 1 to %d characters, without commas, tabs, line breaks or surrounding spaces.", v, addressBookNameMax)
	}
	return nil
}

func parseBookType(v string) (string, error) {
	switch t := strings.ToLower(strings.TrimSpace(v)); t {
	case model.AddressBookIP, model.AddressBookPort:
		return t, nil
	case "":
		return "", errs.MissingParameter("GroupType")
	case "ipv6", "domain", "tag":
		return "", notSupported("GroupType", "GroupType %s is not supported: Palisade's Internet firewall matches IPv4 addresses and ports; use GroupType ip (IPv4 CIDR blocks) or port.", t)
	}
	return "", illegal("GroupType", "The specified GroupType %q is not valid: use ip (IPv4 CIDR blocks) or port (ports and port ranges).", v)
}

// ParseAddressList reads the comma-separated entries of a book of type
// typ: stored forms, in order, each once.
func ParseAddressList(typ, list string, limit int) ([]string, error) {
	var out []string
	for _, raw := range strings.Split(list, ",") {
		e := strings.TrimSpace(raw)
		if e == "" {
			continue
		}
		switch typ {
		case model.AddressBookIP:
			p, ok := ParseFirewallCIDR(e)
			if !ok {
				return nil, illegal("AddressList", "AddressList entry %q is not valid: an ip address book holds IPv4 CIDR blocks (192.0.2.0/24) or addresses, separated by commas.", e)
			}
			e = p.String()
		case model.AddressBookPort:
			from, to, ok := ParseFirewallPorts(e)
			if !ok {
				return nil, illegal("AddressList", "AddressList entry %q is not valid: a port address book holds ports (80) and ranges (80/88, 1 to 65535), separated by commas.", e)
			}
			e = FormatFirewallPorts(from, to)
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		return nil, errs.MissingParameter("AddressList")
	}
	if len(out) > limit {
		return nil, errs.Quota("QuotaExceeded.AddressBookEntries", "An address book holds at most %d entries; AddressList has %d.", limit, len(out))
	}
	return out, nil
}

func checkTagSettings(in AddressBookInput) error {
	if in.TagCount > 0 {
		return notSupported("TagList", "TagList is not supported: Palisade has no ECS tag address books; list the addresses in AddressList.")
	}
	if in.TagRelation != "" {
		return notSupported("TagRelation", "TagRelation is not supported: Palisade has no ECS tag address books; list the addresses in AddressList.")
	}
	switch in.AutoAddTagEcs {
	case "", "0", "false":
		return nil
	}
	return notSupported("AutoAddTagEcs", "AutoAddTagEcs %s is not supported: Palisade does not add the addresses of tagged instances to books; list the addresses in AddressList (AutoAddTagEcs 0).", in.AutoAddTagEcs)
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// AddAddressBook creates an address book.
func (s *Service) AddAddressBook(ctx context.Context, accountID string, in AddressBookInput) (model.AddressBook, error) {
	var out model.AddressBook
	name := deref(in.Name)
	if err := checkBookName(name); err != nil {
		return out, err
	}
	typ, err := parseBookType(deref(in.Type))
	if err != nil {
		return out, err
	}
	if err := checkTagSettings(in); err != nil {
		return out, err
	}
	if err := checkFirewallText("Description", deref(in.Description), true); err != nil {
		return out, err
	}
	if deref(in.AddressList) == "" {
		return out, errs.MissingParameter("AddressList")
	}
	entries, err := ParseAddressList(typ, deref(in.AddressList), s.cfg.Quotas.AddressBookEntries)
	if err != nil {
		return out, err
	}
	_, err = s.update(ctx, func(tx store.Txn) error {
		books, err := addressBooks(tx, accountID)
		if err != nil {
			return err
		}
		b := &model.AddressBook{ID: NewUUID(), AccountID: accountID, Name: name, Type: typ, Description: *in.Description, Addresses: entries, CreatedAt: s.stamp()}
		for _, o := range books {
			if o.Name != name {
				continue
			}
			if o.Type == b.Type && o.Description == b.Description && slices.Equal(o.Addresses, b.Addresses) {
				out = *o // the same book again: a retry
				return nil
			}
			return errs.InvalidParam("DuplicatedParam.GroupName",
				"Your account has an address book named %q (GroupUuid %s): choose another GroupName, or change that book with ModifyAddressBook.", name, o.ID)
		}
		if limit := s.cfg.Quotas.AddressBooks; len(books) >= limit {
			return errs.Quota("QuotaExceeded.AddressBook", "Your account has %d address books, the most allowed (%d): delete one first, or ask the operator to raise the quota.", len(books), limit)
		}
		out = *b
		return putJSON(tx, model.PrefixAddressBook+b.ID, b)
	})
	return out, err
}

// ModifyAddressBook renames a book (and the policies that use it),
// changes its description or replaces its entries.
func (s *Service) ModifyAddressBook(ctx context.Context, accountID, id string, in AddressBookInput) error {
	if strings.TrimSpace(id) == "" {
		return errs.MissingParameter(groupUuidParam)
	}
	if in.Name != nil {
		if err := checkBookName(*in.Name); err != nil {
			return err
		}
	}
	if in.Type != nil {
		return illegal("GroupType", "An address book's type never changes: create a book of the other type (AddAddressBook) and point the policies at it.")
	}
	if err := checkTagSettings(in); err != nil {
		return err
	}
	if in.Description != nil {
		if err := checkFirewallText("Description", *in.Description, true); err != nil {
			return err
		}
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		b, err := getAddressBook(tx, accountID, id)
		if err != nil {
			return err
		}
		oldName := b.Name
		if in.AddressList != nil {
			if b.Addresses, err = ParseAddressList(b.Type, *in.AddressList, s.cfg.Quotas.AddressBookEntries); err != nil {
				return err
			}
		}
		if in.Description != nil {
			b.Description = *in.Description
		}
		if in.Name != nil && *in.Name != oldName {
			if o, err := bookByName(tx, accountID, *in.Name); err != nil {
				return err
			} else if o != nil {
				return errs.InvalidParam("DuplicatedParam.GroupName",
					"Your account has another address book named %q (GroupUuid %s): choose another GroupName.", *in.Name, o.ID)
			}
			users, err := bookUsers(tx, b)
			if err != nil {
				return err
			}
			now := s.stamp()
			for _, p := range users {
				if p.SourceType == model.FirewallGroup && p.Source == oldName {
					p.Source = *in.Name
				}
				if p.DestinationType == model.FirewallGroup && p.Destination == oldName {
					p.Destination = *in.Name
				}
				if p.DestPortType == model.FirewallPortGroup && p.DestPortGroup == oldName {
					p.DestPortGroup = *in.Name
				}
				p.UpdatedAt = now
				if err := putJSON(tx, policyKey(p), p); err != nil {
					return err
				}
			}
			b.Name = *in.Name
		}
		return putJSON(tx, model.PrefixAddressBook+b.ID, b)
	})
	return err
}

func policyRefs(ps []*model.FirewallPolicy) string {
	refs := make([]string, 0, len(ps))
	for _, p := range ps {
		where := p.Direction
		switch {
		case p.VpcFirewallID != "":
			where = p.VpcFirewallID
		case p.NatGatewayID != "":
			where = p.NatGatewayID
		}
		refs = append(refs, fmt.Sprintf("%s (%s #%d)", p.ID, where, p.Order))
	}
	return strings.Join(refs, ", ")
}

// DeleteAddressBook deletes a book that no policy uses.
func (s *Service) DeleteAddressBook(ctx context.Context, accountID, id string) error {
	_, err := s.update(ctx, func(tx store.Txn) error {
		b, err := getAddressBook(tx, accountID, strings.TrimSpace(id))
		if err != nil {
			return err
		}
		users, err := bookUsers(tx, b)
		if err != nil {
			return err
		}
		if len(users) > 0 {
			return errs.Forbidden("DependencyViolation.AddressBook",
				"Address book %q (%s) is used by the policies %s: change or delete them first (ModifyControlPolicy, DeleteControlPolicy, or their VpcFirewall and NatFirewall counterparts).", b.Name, b.ID, policyRefs(users))
		}
		return tx.Delete(model.PrefixAddressBook + b.ID)
	})
	return err
}

// AddressBookQuery selects books in DescribeAddressBook; empty fields
// match all.
type AddressBookQuery struct {
	GroupType   string
	Query       string // a substring of the name, the description or an entry
	ContainPort string // a port that a port book's entries contain
}

// AddressBookView is a book with the number of policies that use it.
type AddressBookView struct {
	model.AddressBook
	References int
}

// DescribeAddressBook lists the caller's books, oldest first.
func (s *Service) DescribeAddressBook(ctx context.Context, accountID string, q AddressBookQuery) ([]AddressBookView, error) {
	typ := ""
	switch t := strings.ToLower(strings.TrimSpace(q.GroupType)); t {
	case "":
	case model.AddressBookIP, model.AddressBookPort, "ipv6", "domain", "tag":
		typ = t // Palisade has no books of the last three: none match
	default:
		return nil, illegal("GroupType", "The specified GroupType %q is not valid: use ip or port.", q.GroupType)
	}
	port := 0
	if v := strings.TrimSpace(q.ContainPort); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 65535 {
			return nil, illegal("ContainPort", "The specified ContainPort %q is not valid: give a port, 1 to 65535.", q.ContainPort)
		}
		port = n
	}
	var out []AddressBookView
	err := s.view(ctx, func(tx store.ReadTxn) error {
		out = nil
		books, err := addressBooks(tx, accountID)
		if err != nil {
			return err
		}
		policies, err := accountPolicies(tx, accountID)
		if err != nil {
			return err
		}
		for _, b := range books {
			if typ != "" && b.Type != typ || port != 0 && !bookHasPort(b, port) || !bookMatches(b, q.Query) {
				continue
			}
			v := AddressBookView{AddressBook: *b}
			for _, p := range policies {
				if usesBook(p, b) {
					v.References++
				}
			}
			out = append(out, v)
		}
		return nil
	})
	return out, err
}

func bookHasPort(b *model.AddressBook, port int) bool {
	if b.Type != model.AddressBookPort {
		return false
	}
	return slices.ContainsFunc(b.Addresses, func(e string) bool {
		from, to, ok := ParseFirewallPorts(e)
		return ok && from <= port && port <= to
	})
}

func bookMatches(b *model.AddressBook, q string) bool {
	q = strings.ToLower(strings.TrimSpace(q))
	if q == "" || strings.Contains(strings.ToLower(b.Name), q) || strings.Contains(strings.ToLower(b.Description), q) {
		return true
	}
	return slices.ContainsFunc(b.Addresses, func(e string) bool { return strings.Contains(e, q) })
}

// ---------------------------------------------------------------------------
// The switch

// FirewallSwitchAddr is one address of IpaddrList.N: its wire name
// ("IpaddrList.2") and value.
type FirewallSwitchAddr struct {
	Param, Value string
}

// accountEIPByAddr finds the caller's EIP of an address.
func accountEIPByAddr(tx store.ReadTxn, accountID string, a netip.Addr) (*model.EIP, error) {
	id, ok, err := tx.Get(model.PrefixEIPAddr + a.String()) // the allocation ID, not JSON
	if err != nil || !ok {
		return nil, err
	}
	e := new(model.EIP)
	if ok, err := getJSON(tx, model.PrefixEIP+string(id), e); err != nil || !ok || e.AccountID != accountID {
		return nil, err
	}
	return e, nil
}

// setFirewallSwitch writes (off) or deletes (on) the switch of each EIP.
func setFirewallSwitch(tx store.Txn, accountID string, eips []netip.Addr, on bool) error {
	for _, a := range eips {
		key := model.FirewallOffKey(accountID, a)
		_, present, err := tx.Get(key)
		if err != nil {
			return err
		}
		switch {
		case on && present:
			err = tx.Delete(key)
		case !on && !present:
			err = putJSON(tx, key, struct{}{})
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// PutFirewallSwitch switches the Internet firewall on (PutEnableFwSwitch)
// or off (PutDisableFwSwitch) for EIPs of the caller.
func (s *Service) PutFirewallSwitch(ctx context.Context, accountID string, addrs []FirewallSwitchAddr, on bool) error {
	if len(addrs) == 0 {
		return errs.MissingParameter("IpaddrList.N")
	}
	parsed := make([]netip.Addr, 0, len(addrs))
	for _, it := range addrs {
		a, err := netip.ParseAddr(strings.TrimSpace(it.Value))
		if err != nil || !a.Is4() {
			return illegal("IpaddrList", "%s %q is not valid: give the IPv4 address of an EIP of your account (DescribeEipAddresses lists them).", it.Param, it.Value)
		}
		parsed = append(parsed, a)
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		for i, a := range parsed {
			e, err := accountEIPByAddr(tx, accountID, a)
			if err != nil {
				return err
			}
			if e == nil {
				return errs.NotFound("ResourceNotFound.Asset",
					"%s %s is not an EIP of your account: the Internet firewall protects your EIPs (DescribeEipAddresses lists them).", addrs[i].Param, a)
			}
		}
		return setFirewallSwitch(tx, accountID, parsed, on)
	})
	return err
}

// PutAllFirewallSwitch switches the Internet firewall on or off for every
// EIP the caller holds now.
func (s *Service) PutAllFirewallSwitch(ctx context.Context, accountID string, on bool) error {
	_, err := s.update(ctx, func(tx store.Txn) error {
		var addrs []netip.Addr
		if err := listJSON(tx, model.PrefixEIP, func(e *model.EIP) error {
			if e.AccountID == accountID {
				addrs = append(addrs, e.Address)
			}
			return nil
		}); err != nil {
			return err
		}
		if on {
			// Also the switches of addresses no longer held (none should
			// be left: releasing an EIP drops its switch).
			var stale []netip.Addr
			if err := tx.List(model.PrefixFirewallOff+accountID+"/", func(k string, _ []byte) error {
				if a, err := netip.ParseAddr(strings.TrimPrefix(k, model.PrefixFirewallOff+accountID+"/")); err == nil && !slices.Contains(addrs, a) {
					stale = append(stale, a)
				}
				return nil
			}); err != nil {
				return err
			}
			addrs = append(addrs, stale...)
		}
		return setFirewallSwitch(tx, accountID, addrs, on)
	})
	return err
}

// FirewallAsset is an EIP of the caller with its Internet-firewall switch.
type FirewallAsset struct {
	model.EIP
	Protected    bool
	InstanceName string // the bound instance's name, if an instance
}

// FirewallAssetResourceType is the cloud's asset type of an EIP: EcsEIP
// (bound to an instance), EniEIP (to an ENI), NatEIP (to a NAT gateway)
// or EIP (unbound).
func FirewallAssetResourceType(e model.EIP) string {
	switch {
	case e.InstanceID == "":
		return "EIP"
	case e.InstanceType == "NetworkInterface":
		return "EniEIP"
	case e.InstanceType == model.EIPInstanceNat:
		return "NatEIP"
	}
	return "EcsEIP"
}

// AssetQuery selects assets in DescribeAssetList; empty fields match all.
type AssetQuery struct {
	Status       string // open or closed (opening/closing: none, switches are immediate)
	ResourceType string // EIP, EcsEIP, EniEIP, NatEIP (case-insensitive)
	Type         string // the same, as DescribeAssetList's Type
	SearchItem   string // a substring of the address, the EIP's ID or name, or the bound instance's ID
	RegionNo     string
	IpVersion    string
}

// DescribeFirewallAssets lists the caller's EIPs with their switch, oldest
// first.
func (s *Service) DescribeFirewallAssets(ctx context.Context, accountID string, q AssetQuery) ([]FirewallAsset, error) {
	status := strings.ToLower(strings.TrimSpace(q.Status))
	switch status {
	case "", FirewallProtectOpen, FirewallProtectClosed, "opening", "closing":
	default:
		return nil, illegal("Status", "The specified Status %q is not valid: use open or closed.", q.Status)
	}
	ipv6 := strings.TrimSpace(q.IpVersion) == "6"
	if !ipv6 {
		if err := CheckFirewallIPVersion(q.IpVersion); err != nil {
			return nil, err
		}
	}
	var out []FirewallAsset
	err := s.view(ctx, func(tx store.ReadTxn) error {
		out = nil
		if ipv6 || q.RegionNo != "" && q.RegionNo != s.cfg.Region {
			return nil
		}
		return listJSON(tx, model.PrefixEIP, func(e *model.EIP) error {
			if e.AccountID != accountID {
				return nil
			}
			_, off, err := tx.Get(model.FirewallOffKey(accountID, e.Address))
			if err != nil {
				return err
			}
			a := FirewallAsset{EIP: *e, Protected: !off}
			st := FirewallProtectOpen
			if off {
				st = FirewallProtectClosed
			}
			rt := FirewallAssetResourceType(*e)
			if status != "" && status != st || q.ResourceType != "" && !strings.EqualFold(q.ResourceType, rt) || q.Type != "" && !strings.EqualFold(q.Type, rt) {
				return nil
			}
			if si := strings.TrimSpace(q.SearchItem); si != "" && !strings.Contains(e.Address.String(), si) && !strings.Contains(e.ID, si) &&
				!strings.Contains(e.Name, si) && (e.InstanceID == "" || !strings.Contains(e.InstanceID, si)) {
				return nil
			}
			switch {
			case e.InstanceType == model.EIPInstanceNat:
				var g model.NatGateway
				if ok, err := getJSON(tx, model.PrefixNatGateway+e.InstanceID, &g); err != nil {
					return err
				} else if ok {
					a.InstanceName = g.Name
				}
			case e.InstanceType != "NetworkInterface" && e.InstanceID != "":
				var in model.Instance
				if ok, err := getJSON(tx, model.PrefixInstance+e.InstanceID, &in); err != nil {
					return err
				} else if ok {
					a.InstanceName = in.Name
				}
			}
			out = append(out, a)
			return nil
		})
	})
	sortByCreation(out, func(a FirewallAsset) (int64, string) { return a.CreatedAt.UnixNano(), a.ID })
	return out, err
}

// FirewallHitsPerReport bounds one ReportFirewallHits call.
const FirewallHitsPerReport = 1000

// ReportFirewallHits adds the hits agents counted in the kernel to the
// policies' totals (HitTimes) and moves their last hit (HitLastTime)
// forward; a policy is one of any firewall (Internet, VPC or NAT), named
// by its ID. A policy deleted meanwhile is skipped: its hits went with it.
// Agents only (the admin, or an agent key: policies belong to no zone).
func (s *Service) ReportFirewallHits(ctx context.Context, callerID string, hits []model.FirewallHits) error {
	if len(hits) > FirewallHitsPerReport {
		return errs.InvalidParameter("Hits", "at most %d entries per call, got %d", FirewallHitsPerReport, len(hits))
	}
	for i, h := range hits {
		if h.PolicyID == "" || h.Hits < 0 || (h.Hits > 0 && h.LastHit.IsZero()) {
			return errs.InvalidParameter("Hits", "Hits[%d]: want a policy ID, a count of at least 0 and, with hits, the time of the last", i)
		}
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		if err := requireAdmin(tx, callerID); err != nil {
			return err
		}
		for _, h := range hits {
			if h.Hits == 0 {
				continue
			}
			if ok, err := policyStored(tx, h.PolicyID); err != nil {
				return err
			} else if !ok {
				continue
			}
			var cur model.FirewallHits
			if _, err := getJSON(tx, model.PrefixFirewallHits+h.PolicyID, &cur); err != nil {
				return err
			}
			cur.PolicyID, cur.Hits = h.PolicyID, cur.Hits+h.Hits
			if h.LastHit.After(cur.LastHit) {
				cur.LastHit = h.LastHit
			}
			if err := putJSON(tx, model.PrefixFirewallHits+h.PolicyID, cur); err != nil {
				return err
			}
		}
		return nil
	})
	return err
}

// policyStored reports whether a policy of any firewall has the ID.
func policyStored(tx store.ReadTxn, id string) (bool, error) {
	for _, prefix := range policyPrefixes {
		if _, ok, err := tx.Get(prefix + id); err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}
