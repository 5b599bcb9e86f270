package linux

import (
	"crypto/sha256"
	"encoding/base32"
	"slices"
	"strconv"
	"strings"
)

// Names and markers of everything Palisade makes. Every kernel object this
// package creates is recognisable by one of them, and only objects carrying
// them are ever changed or deleted.
const (
	// vethPrefix starts the host-side veth of every ENI in a VPC namespace;
	// the anti-spoofing chain matches on it as a wildcard ("pv*").
	vethPrefix = "pv"
	// gatewayLink is the dummy interface in a VPC namespace that holds the
	// vSwitch gateway addresses (a port-less bridge where the kernel has no
	// dummy driver).
	gatewayLink = "pgw"
	// maxIfName is IFNAMSIZ-1: the kernel's limit for interface names.
	maxIfName = 15
	// markerPrefix is the alias Palisade writes on the loopback device of
	// every namespace it creates. The loopback cannot be deleted, so the
	// marker lives exactly as long as the namespace, whatever else is
	// removed from it by hand.
	markerPrefix = "palisade"
	// routeProto tags the routes Palisade installs (rtm_protocol), so that
	// reconciliation deletes only its own routes. 0x9a is unassigned in
	// iproute2's rt_protos.
	routeProto = 0x9a
	// vpcNSPrefix and instanceNSPrefix are the only namespace names Palisade
	// ever creates or deletes (they are the resource IDs themselves).
	vpcNSPrefix      = "vpc-"
	instanceNSPrefix = "i-"
)

// VethPrefix starts the host-side interface name of every ENI; the agent's
// fail-closed guard drops packets of unknown interfaces with this prefix.
const VethPrefix = vethPrefix

// VethName derives the host-side veth name of an ENI: "pv" followed by the
// first 13 characters of the part of the ID after its last '-'. It is
// deterministic and at most 15 characters. Palisade's IDs carry 20 random
// characters from a 36-letter alphabet, so two ENIs share a name only with
// probability ~2^-67; assignVethNames resolves such a clash anyway.
func VethName(eniID string) string {
	suffix := eniID
	if i := strings.LastIndexByte(eniID, '-'); i >= 0 && i+1 < len(eniID) {
		suffix = eniID[i+1:]
	}
	suffix = sanitizeIfName(suffix)
	if suffix == "" {
		return hashedVethName(eniID)
	}
	return truncate(vethPrefix+suffix, maxIfName)
}

// hashedVethName is the fallback name of an ENI whose plain name is taken in
// its VPC: "pv" + 13 base32 characters of the SHA-256 of the full ID.
func hashedVethName(eniID string) string {
	sum := sha256.Sum256([]byte(eniID))
	enc := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:]))
	return truncate(vethPrefix+enc, maxIfName)
}

// assignVethNames gives every ENI of one VPC a distinct host-side name.
// ENIs are visited in ID order so the result depends only on the set of
// IDs: the lexically first ENI of a clashing pair keeps VethName, the other
// gets hashedVethName (and, should even that clash, a numbered variant).
func assignVethNames(eniIDs []string) map[string]string {
	ids := slices.Clone(eniIDs)
	slices.Sort(ids)
	out := make(map[string]string, len(ids))
	used := make(map[string]bool, len(ids))
	for _, id := range ids {
		if _, done := out[id]; done {
			continue
		}
		name := VethName(id)
		if used[name] {
			name = hashedVethName(id)
		}
		for n := 0; used[name]; n++ {
			num := strconv.Itoa(n)
			name = truncate(hashedVethName(id), maxIfName-len(num)) + num
		}
		used[name] = true
		out[id] = name
	}
	return out
}

// InstanceIfName is the name of an ENI inside its instance: eth<DeviceIndex>.
func InstanceIfName(deviceIndex int) string {
	return "eth" + strconv.Itoa(deviceIndex)
}

// sanitizeIfName keeps only characters that are safe in interface names
// and in nftables wildcard matching.
func sanitizeIfName(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// isPalisadeNSName reports whether a namespace name is one Palisade could
// have created; the loopback marker decides whether it actually did.
func isPalisadeNSName(name string) bool {
	return strings.HasPrefix(name, vpcNSPrefix) || strings.HasPrefix(name, instanceNSPrefix)
}

// Names of the uplink, the link between a VPC's router namespace and the
// host's own namespace (the "internet") that carries its EIPs.
const (
	// uplinkLink is the router-side end of the uplink in a VPC namespace.
	uplinkLink = "uplink"
	// uplinkPrefix starts the host-side end of every uplink in the root
	// namespace; Palisade's marker is its alias.
	uplinkPrefix = "pu"
)

// UplinkName derives the host-side (root namespace) name of a VPC's
// uplink: "pu" followed by the first 13 characters of the part of the VPC
// ID after its last '-' (a hash of the ID if nothing of it is usable).
func UplinkName(vpcID string) string {
	suffix := vpcID
	if i := strings.LastIndexByte(vpcID, '-'); i >= 0 && i+1 < len(vpcID) {
		suffix = vpcID[i+1:]
	}
	if suffix = sanitizeIfName(suffix); suffix == "" {
		return uplinkPrefix + strings.TrimPrefix(hashedVethName(vpcID), vethPrefix)
	}
	return truncate(uplinkPrefix+suffix, maxIfName)
}
