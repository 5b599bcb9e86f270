package ipspace

import (
	"net/netip"
	"testing"
)

func TestArithmetic(t *testing.T) {
	for _, tc := range []struct {
		name      string
		got, want U128
	}{
		{"add1 carries", U128{Hi: 1, Lo: ^uint64(0)}.Add1(), U128{Hi: 2, Lo: 0}},
		{"sub1 borrows", U128{Hi: 2, Lo: 0}.Sub1(), U128{Hi: 1, Lo: ^uint64(0)}},
		{"sub borrows", U128{Hi: 3, Lo: 1}.Sub(U128{Hi: 1, Lo: 2}), U128{Hi: 1, Lo: ^uint64(0)}},
		{"add1 wraps", Max().Add1(), U128{}},
		{"and", U128{Hi: 0xf0, Lo: 0xff}.And(U128{Hi: 0x3c, Lo: 0x0f}), U128{Hi: 0x30, Lo: 0x0f}},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, tc.got, tc.want)
		}
	}
	if U64(1).Cmp(U128{Hi: 1}) != -1 || (U128{Hi: 1}).Cmp(U64(^uint64(0))) != 1 || U64(7).Cmp(U64(7)) != 0 {
		t.Error("Cmp orders by Hi, then Lo")
	}
	if Max().OnesCount() != 128 || !(U128{}).IsZero() || U64(1).IsZero() {
		t.Error("OnesCount or IsZero")
	}
}

func TestAddresses(t *testing.T) {
	for _, s := range []string{"0.0.0.0", "10.1.2.3", "255.255.255.255", "::", "fd00::1", "2001:db8::ffff:1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"} {
		a := netip.MustParseAddr(s)
		fam := 6
		if a.Is4() {
			fam = 4
		}
		if got := ToAddr(FromAddr(a), fam); got != a {
			t.Errorf("%s: round trip gives %s", s, got)
		}
	}
	if FromAddr(netip.MustParseAddr("10.0.0.1")) != U64(0x0a000001) {
		t.Error("an IPv4 address is a 32-bit number")
	}
}

func TestPrefixes(t *testing.T) {
	for _, tc := range []struct {
		prefix string
		lo, hi string
	}{
		{"10.1.2.0/24", "10.1.2.0", "10.1.2.255"},
		{"10.1.2.77/24", "10.1.2.0", "10.1.2.255"},
		{"0.0.0.0/0", "0.0.0.0", "255.255.255.255"},
		{"10.0.0.1/32", "10.0.0.1", "10.0.0.1"},
		{"fd00::/64", "fd00::", "fd00::ffff:ffff:ffff:ffff"},
		{"fd00::/63", "fd00::", "fd00::1:ffff:ffff:ffff:ffff"},
		{"::/0", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
	} {
		p := netip.MustParsePrefix(tc.prefix)
		fam := 6
		if p.Addr().Is4() {
			fam = 4
		}
		iv := PrefixInterval(p)
		if lo, hi := ToAddr(iv.Lo, fam).String(), ToAddr(iv.Hi, fam).String(); lo != tc.lo || hi != tc.hi {
			t.Errorf("%s: %s-%s, want %s-%s", tc.prefix, lo, hi, tc.lo, tc.hi)
		}
		if back, ok := iv.AsPrefix(fam); !ok || back != p.Masked() {
			t.Errorf("%s: AsPrefix gives %s %v", tc.prefix, back, ok)
		}
	}
	for _, r := range [][2]string{{"10.0.0.1", "10.0.0.2"}, {"10.0.0.0", "10.0.0.2"}, {"fd00::1", "fd00::2"}} {
		a, b := netip.MustParseAddr(r[0]), netip.MustParseAddr(r[1])
		fam := 6
		if a.Is4() {
			fam = 4
		}
		if p, ok := (Interval{Lo: FromAddr(a), Hi: FromAddr(b)}).AsPrefix(fam); ok {
			t.Errorf("%s-%s is not a prefix, got %s", r[0], r[1], p)
		}
	}
	x, y := PrefixInterval(netip.MustParsePrefix("10.0.0.0/24")), PrefixInterval(netip.MustParsePrefix("10.0.0.128/25"))
	z := PrefixInterval(netip.MustParsePrefix("10.0.1.0/24"))
	if !x.Overlaps(y) || !y.Overlaps(x) || x.Overlaps(z) {
		t.Error("Overlaps")
	}
}
