package mirror

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
)

func ipv4UDP(payload int, sport, dport uint16) []byte {
	p := make([]byte, 28+payload)
	p[0] = 0x45
	binary.BigEndian.PutUint16(p[2:4], uint16(len(p)))
	p[9] = 17
	copy(p[12:16], []byte{10, 0, 0, 1})
	copy(p[16:20], []byte{10, 0, 0, 2})
	binary.BigEndian.PutUint16(p[20:22], sport)
	binary.BigEndian.PutUint16(p[22:24], dport)
	for i := 28; i < len(p); i++ {
		p[i] = byte(i)
	}
	return p
}

func TestEncapBuild(t *testing.T) {
	src, dst := net.HardwareAddr{2, 0, 0, 0, 0, 1}, net.HardwareAddr{2, 0, 0, 0, 0, 2}
	e := Encap{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.9"), VNI: 0xabcdef, InnerSrc: src, InnerDst: dst}
	inner := ipv4UDP(100, 40000, 53)
	out := e.Build(nil, inner)
	if len(out) != EncapOverhead+len(inner) {
		t.Fatalf("length %d, want %d", len(out), EncapOverhead+len(inner))
	}
	if got := binary.BigEndian.Uint16(out[2:4]); int(got) != len(out) {
		t.Errorf("IPv4 total length %d, want %d", got, len(out))
	}
	if out[9] != 17 || !bytes.Equal(out[12:16], []byte{10, 0, 0, 1}) || !bytes.Equal(out[16:20], []byte{10, 0, 0, 9}) {
		t.Errorf("outer header % x", out[:20])
	}
	udp := out[20:28]
	if binary.BigEndian.Uint16(udp[2:4]) != 4789 || int(binary.BigEndian.Uint16(udp[4:6])) != len(out)-20 {
		t.Errorf("UDP header % x", udp)
	}
	if sp := binary.BigEndian.Uint16(udp[0:2]); sp < 49152 || sp != SourcePort(inner) {
		t.Errorf("source port %d, want the flow hash %d in the dynamic range", sp, SourcePort(inner))
	}
	vx := out[28:36]
	if vx[0] != 0x08 || binary.BigEndian.Uint32(vx[4:8])>>8 != 0xabcdef {
		t.Errorf("VXLAN header % x", vx)
	}
	eth := out[36:50]
	if !bytes.Equal(eth[0:6], dst) || !bytes.Equal(eth[6:12], src) || binary.BigEndian.Uint16(eth[12:14]) != 0x0800 {
		t.Errorf("inner Ethernet % x", eth)
	}
	if !bytes.Equal(out[50:], inner) {
		t.Error("inner packet changed")
	}
	// Cut to MaxLen.
	e.MaxLen = 64
	if out := e.Build(nil, inner); len(out) != EncapOverhead+64 || !bytes.Equal(out[50:], inner[:64]) {
		t.Errorf("MaxLen 64: %d bytes", len(out)-EncapOverhead)
	}
	// One flow, one port; another flow, (almost surely) another.
	if SourcePort(ipv4UDP(1, 40000, 53)) != SourcePort(ipv4UDP(900, 40000, 53)) {
		t.Error("the source port depends on more than the 5-tuple")
	}
	if SourcePort(ipv4UDP(1, 40000, 53)) == SourcePort(ipv4UDP(1, 40001, 53)) && SourcePort(ipv4UDP(1, 40002, 53)) == SourcePort(ipv4UDP(1, 40003, 53)) {
		t.Error("the source port ignores the ports")
	}
}

func TestFragment(t *testing.T) {
	e := Encap{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.9")}
	whole := e.Build(nil, ipv4UDP(1472, 1, 2)) // 1,500-byte packet, 1,550 with the headers
	if fs := Fragment(whole, 1600, 7); len(fs) != 1 || !bytes.Equal(fs[0], whole) {
		t.Fatalf("a packet that fits was changed")
	}
	fs := Fragment(whole, 1500, 7)
	if len(fs) != 2 {
		t.Fatalf("%d fragments, want 2", len(fs))
	}
	var payload []byte
	for i, f := range fs {
		if len(f) > 1500 || int(binary.BigEndian.Uint16(f[2:4])) != len(f) || binary.BigEndian.Uint16(f[4:6]) != 7 {
			t.Errorf("fragment %d: %d bytes, header % x", i, len(f), f[:20])
		}
		fl := binary.BigEndian.Uint16(f[6:8])
		if off := int(fl&0x1fff) * 8; off != len(payload) {
			t.Errorf("fragment %d at offset %d, want %d", i, off, len(payload))
		}
		if more := fl&0x2000 != 0; more != (i < len(fs)-1) {
			t.Errorf("fragment %d: more-fragments flag %v", i, more)
		}
		payload = append(payload, f[20:]...)
	}
	if !bytes.Equal(payload, whole[20:]) {
		t.Error("fragments do not reassemble into the packet")
	}
}

func FuzzParsePacket(f *testing.F) {
	f.Add(ipv4UDP(10, 1, 2))
	f.Add([]byte{0x60, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, ok := parsePacket(b)
		if ok && !p.Src.IsValid() {
			t.Fatal("parsed a packet without a source")
		}
		_ = SourcePort(b)
		for _, q := range Split(b, 1500, func() uint16 { return 1 }) {
			if len(q) > 1500 && len(q) > len(b) {
				t.Fatalf("split made a %d-byte packet of %d bytes", len(q), len(b))
			}
		}
		e := Encap{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), MaxLen: 100}
		out := e.Build(nil, b)
		for _, fr := range Fragment(out, 576, 1) {
			if len(fr) > 576 {
				t.Fatalf("fragment of %d bytes", len(fr))
			}
		}
	})
}
