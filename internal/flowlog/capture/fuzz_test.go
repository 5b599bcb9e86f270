package capture

import (
	"net/netip"
	"strings"
	"testing"

	nflog "github.com/florianl/go-nflog/v2"
)

// FuzzParseFlow decodes arbitrary conntrack attributes: never a panic, and
// a flow it accepts has addresses of one family at both ends of each
// direction.
func FuzzParseFlow(f *testing.F) {
	b, _ := sampleFlowAttrs()
	f.Add(b)
	f.Add(b[:len(b)/2])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var fl Flow
		if !parseFlow(b, &fl) {
			return
		}
		for _, tu := range []Tuple{fl.Orig, fl.Reply} {
			if tu.Src.IsValid() && tu.Dst.IsValid() && tu.Src.Is4() != tu.Dst.Is4() {
				t.Errorf("tuple with mixed families: %+v", tu)
			}
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
