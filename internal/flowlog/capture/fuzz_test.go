package capture

import (
	"net/netip"
	"strings"
	"testing"

	nflog "github.com/florianl/go-nflog/v2"
)

// FuzzParseElems decodes arbitrary NEWSETELEM bodies for every set
// shape: never a panic, and an element it accepts has addresses of the
// set's family and a protocol that fits the set.
func FuzzParseElems(f *testing.F) {
	key := concat(ipA.AsSlice(), ipB.AsSlice(), []byte{0x9c, 0x40, 0, 0, 0, 80, 0, 0, 0x12, 0, 0, 0})
	b := sampleElemAttrs(key, false)
	f.Add(b)
	f.Add(b[:len(b)/2])
	f.Add(sampleElemAttrs(key[:20], true))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, cs := range countShapes() {
			var e Elem
			parseElems(b, cs, &e, func(e *Elem) {
				if e.Src.Is4() == cs.v6 || e.Dst.Is4() == cs.v6 {
					t.Errorf("%s: element of the other family: %+v", cs.name, *e)
				}
				if cs.shape == shapeTCP && e.Proto != 6 {
					t.Errorf("%s: protocol %d", cs.name, e.Proto)
				}
			})
		}
	})
}

// FuzzParseLogged decodes arbitrary NFLOG prefixes and payloads: never a
// panic; an accepted packet has a source and a destination, and a fourth
// prefix field is its destination.
func FuzzParseLogged(f *testing.F) {
	syn := synTo(ipX, netip.MustParseAddr("198.18.0.2"), 80)
	f.Add("palisade sg in", syn)
	f.Add("palisade sg in 10.0.2.20", syn)
	f.Add("palisade acl out fd00::1", syn[:20])
	f.Fuzz(func(t *testing.T, prefix string, payload []byte) {
		p, ok := parseLogged(nflog.Attribute{Prefix: &prefix, Payload: &payload})
		if !ok {
			return
		}
		if !p.Src.IsValid() || !p.Dst.IsValid() {
			t.Fatalf("%q: accepted without addresses: %+v", prefix, p)
		}
		if fields := strings.Fields(prefix); len(fields) == 4 && p.Dst.String() != netip.MustParseAddr(fields[3]).String() {
			t.Errorf("%q: destination %s, want the prefix's", prefix, p.Dst)
		}
	})
}
