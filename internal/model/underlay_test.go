package model

import (
	"net/netip"
	"testing"
)

// TestUnderlayJoins: two hosts are joined when both have an underlay
// address, of one family, on one port, and the addresses differ; the
// relation is symmetric.
func TestUnderlayJoins(t *testing.T) {
	u := func(addr string, port uint16) Underlay {
		var a netip.Addr
		if addr != "" {
			a = netip.MustParseAddr(addr)
		}
		return Underlay{ZoneID: "z-" + addr, Addr: a, Port: port}
	}
	const p = DefaultUnderlayPort
	for _, c := range []struct {
		name string
		x, y Underlay
		want bool
	}{
		{"IPv4, one port", u("10.0.0.1", p), u("10.0.0.2", p), true},
		{"IPv6, one port", u("2001:db8::1", 4800), u("2001:db8::2", 4800), true},
		{"ports differ", u("10.0.0.1", p), u("10.0.0.2", 4800), false},
		{"families differ", u("10.0.0.1", p), u("2001:db8::2", p), false},
		{"IPv4-mapped is IPv6", u("10.0.0.1", p), u("::ffff:10.0.0.2", p), false},
		{"same address", u("10.0.0.1", p), u("10.0.0.1", p), false},
		{"no address", u("10.0.0.1", p), u("", p), false},
		{"neither has an address", u("", p), u("", p), false},
	} {
		if got := c.x.Joins(c.y); got != c.want {
			t.Errorf("%s: %v.Joins(%v) = %v, want %v", c.name, c.x, c.y, got, c.want)
		}
		if got := c.y.Joins(c.x); got != c.want {
			t.Errorf("%s: %v.Joins(%v) = %v, want %v (not symmetric)", c.name, c.y, c.x, got, c.want)
		}
	}
}
