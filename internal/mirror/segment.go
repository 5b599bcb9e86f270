package mirror

import (
	"encoding/binary"
)

// Packets larger than the ENI's MTU reach the VPC namespace whole: a TCP
// stream in segmentation-offload batches of up to 64 KiB, and UDP
// datagrams reassembled by conntrack. On a wire, and so in a mirror, they
// are MTU-sized packets. Split returns the packets the ENI's link would
// have carried, each with valid checksums (the kernel leaves the TCP and
// UDP checksums of locally sent packets to the device, so a logged copy
// holds only the pseudo-header's sum).

// Split cuts an IP packet to packets of at most mtu bytes: TCP into
// segments, anything else over IPv4 into fragments. TCP and UDP checksums
// are computed. A packet that fits is returned alone (checksum fixed).
// IPv6 packets other than TCP are returned as they are.
func Split(pkt []byte, mtu int, nextID func() uint16) [][]byte {
	if len(pkt) < 20 {
		return [][]byte{pkt}
	}
	v6 := pkt[0]>>4 == 6
	ihl, proto := 0, byte(0)
	switch {
	case !v6 && pkt[0]>>4 == 4:
		ihl, proto = int(pkt[0]&0x0f)*4, pkt[9]
		if ihl < 20 || ihl > len(pkt) || int(binary.BigEndian.Uint16(pkt[2:4])) != len(pkt) || isFragment(pkt) {
			return [][]byte{pkt} // truncated or a fragment: as it came
		}
	case v6 && len(pkt) >= 40:
		ihl, proto = 40, pkt[6]
		if 40+int(binary.BigEndian.Uint16(pkt[4:6])) != len(pkt) {
			return [][]byte{pkt}
		}
	default:
		return [][]byte{pkt}
	}
	if len(pkt) <= mtu || mtu < ihl+60 {
		out := append([]byte(nil), pkt...)
		fixL4Checksum(out, ihl, proto, v6)
		return [][]byte{out}
	}
	if proto == 6 && len(pkt) >= ihl+20 {
		return segmentTCP(pkt, ihl, mtu, v6)
	}
	if v6 {
		return [][]byte{pkt}
	}
	whole := append([]byte(nil), pkt...)
	fixL4Checksum(whole, ihl, proto, false)
	if ihl != 20 {
		return [][]byte{whole} // options: not fragmented here
	}
	return Fragment(whole, mtu, nextID())
}

func isFragment(ip []byte) bool {
	return binary.BigEndian.Uint16(ip[6:8])&0x3fff != 0 // offset or more-fragments
}

func segmentTCP(pkt []byte, ihl, mtu int, v6 bool) [][]byte {
	thl := int(pkt[ihl+12]>>4) * 4
	if thl < 20 || ihl+thl > len(pkt) {
		return [][]byte{pkt}
	}
	hdr := pkt[:ihl+thl]
	payload := pkt[ihl+thl:]
	mss := mtu - ihl - thl
	seq := binary.BigEndian.Uint32(pkt[ihl+4 : ihl+8])
	flags := pkt[ihl+13]
	var id uint16
	if !v6 {
		id = binary.BigEndian.Uint16(pkt[4:6])
	}
	var out [][]byte
	for off := 0; off < len(payload); off += mss {
		end := min(off+mss, len(payload))
		s := make([]byte, 0, len(hdr)+end-off)
		s = append(s, hdr...)
		s = append(s, payload[off:end]...)
		f := flags
		if off > 0 {
			f &^= 0x80 // CWR on the first segment only
		}
		if end < len(payload) {
			f &^= 0x09 // FIN and PSH on the last only
		}
		s[ihl+13] = f
		binary.BigEndian.PutUint32(s[ihl+4:ihl+8], seq+uint32(off))
		if v6 {
			binary.BigEndian.PutUint16(s[4:6], uint16(len(s)-40))
		} else {
			binary.BigEndian.PutUint16(s[2:4], uint16(len(s)))
			binary.BigEndian.PutUint16(s[4:6], id)
			id++
			ipv4Checksum(s[:ihl])
		}
		fixL4Checksum(s, ihl, 6, v6)
		out = append(out, s)
	}
	return out
}

// ipv4Checksum sets the header checksum.
func ipv4Checksum(h []byte) {
	h[10], h[11] = 0, 0
	binary.BigEndian.PutUint16(h[10:12], ^fold(sum(0, h)))
}

// fixL4Checksum computes the TCP or UDP checksum of a whole packet. A UDP
// datagram over IPv4 sent without checksum (0) keeps none.
func fixL4Checksum(p []byte, ihl int, proto byte, v6 bool) {
	var field int
	switch proto {
	case 6:
		field = ihl + 16
	case 17:
		field = ihl + 6
		if !v6 && len(p) >= ihl+8 && p[field] == 0 && p[field+1] == 0 {
			return
		}
	default:
		return
	}
	if len(p) < field+2 {
		return
	}
	l4 := p[ihl:]
	p[field], p[field+1] = 0, 0
	var s uint32
	if v6 {
		s = sum(s, p[8:40])
	} else {
		s = sum(s, p[12:20])
	}
	s += uint32(proto) + uint32(len(l4))
	c := ^fold(sum(s, l4))
	if c == 0 && proto == 17 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(p[field:field+2], c)
}

func sum(s uint32, b []byte) uint32 {
	for len(b) >= 2 {
		s += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

func fold(s uint32) uint16 {
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}
