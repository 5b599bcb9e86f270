package mirror

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// tcpPacket is a TCP packet with payload n bytes, PSH|ACK|FIN|CWR set.
func tcpPacket(v6 bool, n int) []byte {
	ihl := 20
	if v6 {
		ihl = 40
	}
	p := make([]byte, ihl+20+n)
	if v6 {
		p[0] = 0x60
		binary.BigEndian.PutUint16(p[4:6], uint16(len(p)-40))
		p[6] = 6
		p[8], p[23], p[24], p[39] = 0x20, 1, 0x20, 2
	} else {
		p[0] = 0x45
		binary.BigEndian.PutUint16(p[2:4], uint16(len(p)))
		binary.BigEndian.PutUint16(p[4:6], 100)
		p[8], p[9] = 64, 6
		copy(p[12:20], []byte{10, 0, 0, 1, 10, 0, 0, 2})
	}
	t := p[ihl:]
	binary.BigEndian.PutUint16(t[0:2], 40000)
	binary.BigEndian.PutUint16(t[2:4], 8080)
	binary.BigEndian.PutUint32(t[4:8], 0xfffff000) // wraps while segmenting
	t[12] = 5 << 4
	t[13] = 0x80 | 0x10 | 0x08 | 0x01
	for i := range n {
		t[20+i] = byte(i * 7)
	}
	return p
}

// l4Valid checks a TCP or UDP checksum.
func l4Valid(p []byte, ihl int, proto byte, v6 bool) bool {
	var s uint32
	if v6 {
		s = sum(s, p[8:40])
	} else {
		s = sum(s, p[12:20])
	}
	s += uint32(proto) + uint32(len(p)-ihl)
	return fold(sum(s, p[ihl:])) == 0xffff
}

func TestSplitTCP(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		ihl := 20
		if v6 {
			ihl = 40
		}
		pkt := tcpPacket(v6, 10000)
		segs := Split(pkt, 1500, func() uint16 { return 1 })
		mss := 1500 - ihl - 20
		if want := (10000 + mss - 1) / mss; len(segs) != want {
			t.Fatalf("v6=%v: %d segments, want %d", v6, len(segs), want)
		}
		var payload []byte
		for i, s := range segs {
			if len(s) > 1500 {
				t.Errorf("segment %d: %d bytes", i, len(s))
			}
			tcp := s[ihl:]
			if seq := binary.BigEndian.Uint32(tcp[4:8]); seq != 0xfffff000+uint32(len(payload)) {
				t.Errorf("segment %d: seq %#x", i, seq)
			}
			last := i == len(segs)-1
			if f := tcp[13]; (f&0x01 != 0) != last || (f&0x08 != 0) != last || (f&0x80 != 0) != (i == 0) || f&0x10 == 0 {
				t.Errorf("segment %d: flags %#x", i, f)
			}
			if !l4Valid(s, ihl, 6, v6) {
				t.Errorf("segment %d: bad TCP checksum", i)
			}
			if !v6 {
				if fold(sum(0, s[:20])) != 0xffff || int(binary.BigEndian.Uint16(s[2:4])) != len(s) || binary.BigEndian.Uint16(s[4:6]) != uint16(100+i) {
					t.Errorf("segment %d: IPv4 header % x", i, s[:20])
				}
			} else if int(binary.BigEndian.Uint16(s[4:6])) != len(s)-40 {
				t.Errorf("segment %d: payload length", i)
			}
			payload = append(payload, tcp[20:]...)
		}
		if !bytes.Equal(payload, pkt[ihl+20:]) {
			t.Errorf("v6=%v: segments do not carry the payload", v6)
		}
		// A packet that fits stays one, with its checksum computed.
		small := tcpPacket(v6, 100)
		if out := Split(small, 1500, nil); len(out) != 1 || !l4Valid(out[0], ihl, 6, v6) || !bytes.Equal(out[0][ihl+20:], small[ihl+20:]) {
			t.Errorf("v6=%v: small packet: %d packets", v6, len(out))
		}
	}
}

func TestSplitUDPFragments(t *testing.T) {
	pkt := ipv4UDP(4000, 5000, 53)
	binary.BigEndian.PutUint16(pkt[26:28], 0x1234) // has a checksum
	frags := Split(pkt, 1500, func() uint16 { return 77 })
	if len(frags) != 3 {
		t.Fatalf("%d fragments, want 3", len(frags))
	}
	var whole []byte
	whole = append(whole, frags[0][:20]...)
	for _, f := range frags {
		if len(f) > 1500 || binary.BigEndian.Uint16(f[4:6]) != 77 {
			t.Errorf("fragment % x", f[:20])
		}
		whole = append(whole, f[20:]...)
	}
	binary.BigEndian.PutUint16(whole[2:4], uint16(len(whole)))
	binary.BigEndian.PutUint16(whole[6:8], 0)
	if !l4Valid(whole, 20, 17, false) || !bytes.Equal(whole[28:], pkt[28:]) {
		t.Error("reassembled datagram: bad checksum or payload")
	}
	// A truncated packet (total length beyond the bytes) is left alone.
	if out := Split(pkt[:100], 1500, nil); len(out) != 1 || len(out[0]) != 100 {
		t.Error("truncated packet changed")
	}
}
