package model

import "net/netip"

// LastAddr returns the last address of p (the broadcast address for IPv4).
func LastAddr(p netip.Prefix) netip.Addr {
	p = p.Masked()
	a := p.Addr().AsSlice()
	bits := p.Bits()
	for i := range a {
		// Set every host bit: bit positions >= bits.
		for b := 0; b < 8; b++ {
			if i*8+b >= bits {
				a[i] |= 0x80 >> b
			}
		}
	}
	out, _ := netip.AddrFromSlice(a)
	return out
}

// VSwitchGateway is the vSwitch's gateway: the third-from-last address
// (192.168.1.253 in 192.168.1.0/24), as in the cloud.
func VSwitchGateway(p netip.Prefix) netip.Addr {
	return LastAddr(p).Prev().Prev()
}

// IsReservedInVSwitch reports whether a is one of the four addresses the
// cloud reserves in every IPv4 vSwitch: the first and the last three.
func IsReservedInVSwitch(p netip.Prefix, a netip.Addr) bool {
	p = p.Masked()
	if !p.Contains(a) {
		return false
	}
	last := LastAddr(p)
	return a == p.Addr() || a == last || a == last.Prev() || a == last.Prev().Prev()
}

// UsableAddrs is the number of assignable IPv4 addresses in a vSwitch CIDR
// (size minus the four reserved ones); 0 for prefixes too small or IPv6.
func UsableAddrs(p netip.Prefix) int {
	if !p.Addr().Is4() || p.Bits() > 30 {
		return 0
	}
	return (1 << (32 - p.Bits())) - 4
}
