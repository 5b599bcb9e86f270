package mirror

import (
	"encoding/binary"
	"hash/fnv"
	"net"
	"net/netip"
)

// Header sizes of a mirrored copy: outer IPv4, UDP, VXLAN, inner Ethernet.
const (
	ipv4HeaderLen = 20
	udpHeaderLen  = 8
	vxlanLen      = 8
	ethLen        = 14
	// EncapOverhead is what the copy adds to the mirrored IP packet.
	EncapOverhead = ipv4HeaderLen + udpHeaderLen + vxlanLen + ethLen
	vxlanPort     = 4789
	// Outer source ports are taken from the dynamic range (RFC 7348 §5).
	srcPortBase  = 49152
	srcPortRange = 65536 - srcPortBase
)

// Encap is one mirrored copy to build.
type Encap struct {
	// Outer addresses: the source ENI's and the target ENI's primary
	// IPv4 addresses.
	Src, Dst netip.Addr
	VNI      uint32
	// Inner Ethernet addresses: the frame as it crossed the ENI.
	InnerDst, InnerSrc net.HardwareAddr
	// MaxLen cuts the mirrored IP packet to this many bytes (the
	// session's PacketLength); 0 keeps it whole.
	MaxLen int
}

// Build appends the outer IPv4 header, UDP header, VXLAN header and inner
// Ethernet header, then the IP packet pkt (cut to MaxLen), to buf and
// returns it. The IPv4 header's checksum is left 0 (the kernel fills it
// for raw sockets); the UDP checksum is 0, as RFC 7348 recommends.
func (e Encap) Build(buf, pkt []byte) []byte {
	if e.MaxLen > 0 && len(pkt) > e.MaxLen {
		pkt = pkt[:e.MaxLen]
	}
	total := EncapOverhead + len(pkt)
	var h [EncapOverhead]byte
	ip := h[:ipv4HeaderLen]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:4], uint16(total))
	ip[8] = 64 // TTL
	ip[9] = 17 // UDP
	src, dst := e.Src.As4(), e.Dst.As4()
	copy(ip[12:16], src[:])
	copy(ip[16:20], dst[:])
	udp := h[ipv4HeaderLen : ipv4HeaderLen+udpHeaderLen]
	binary.BigEndian.PutUint16(udp[0:2], SourcePort(pkt))
	binary.BigEndian.PutUint16(udp[2:4], vxlanPort)
	binary.BigEndian.PutUint16(udp[4:6], uint16(total-ipv4HeaderLen))
	vx := h[ipv4HeaderLen+udpHeaderLen : ipv4HeaderLen+udpHeaderLen+vxlanLen]
	vx[0] = 0x08 // I flag: the VNI is valid
	binary.BigEndian.PutUint32(vx[4:8], e.VNI<<8)
	eth := h[ipv4HeaderLen+udpHeaderLen+vxlanLen:]
	copy(eth[0:6], e.InnerDst)
	copy(eth[6:12], e.InnerSrc)
	etype := uint16(0x0800)
	if len(pkt) > 0 && pkt[0]>>4 == 6 {
		etype = 0x86dd
	}
	binary.BigEndian.PutUint16(eth[12:14], etype)
	buf = append(buf, h[:]...)
	return append(buf, pkt...)
}

// SourcePort is the outer UDP source port of a copy of pkt: a hash of its
// addresses, protocol and (for TCP and UDP) ports, so that the copies of
// one flow take one path, as RFC 7348 asks.
func SourcePort(pkt []byte) uint16 {
	h := fnv.New32a()
	var l4 []byte
	proto := byte(0)
	switch {
	case len(pkt) >= 20 && pkt[0]>>4 == 4:
		ihl := int(pkt[0]&0x0f) * 4
		proto = pkt[9]
		h.Write(pkt[12:20])
		if ihl >= 20 && ihl < len(pkt) {
			l4 = pkt[ihl:]
		}
	case len(pkt) >= 40 && pkt[0]>>4 == 6:
		proto = pkt[6]
		h.Write(pkt[8:40])
		l4 = pkt[40:]
	default:
		h.Write(pkt)
	}
	h.Write([]byte{proto})
	if (proto == 6 || proto == 17) && len(l4) >= 4 {
		h.Write(l4[:4])
	}
	return uint16(srcPortBase + h.Sum32()%srcPortRange)
}

// Fragment splits an IPv4 packet built by Build into fragments of at most
// mtu bytes, all with identification id (raw sockets that write their own
// header are not fragmented by the kernel). A packet that fits is
// returned as it is.
func Fragment(pkt []byte, mtu int, id uint16) [][]byte {
	if len(pkt) <= mtu || len(pkt) < ipv4HeaderLen {
		return [][]byte{pkt}
	}
	hdr, payload := pkt[:ipv4HeaderLen], pkt[ipv4HeaderLen:]
	step := (mtu - ipv4HeaderLen) &^ 7 // fragment offsets count 8 bytes
	if step <= 0 {
		return nil
	}
	var out [][]byte
	for off := 0; off < len(payload); off += step {
		end := min(off+step, len(payload))
		f := make([]byte, 0, ipv4HeaderLen+end-off)
		f = append(f, hdr...)
		f = append(f, payload[off:end]...)
		binary.BigEndian.PutUint16(f[2:4], uint16(len(f)))
		binary.BigEndian.PutUint16(f[4:6], id)
		fl := uint16(off / 8)
		if end < len(payload) {
			fl |= 0x2000 // more fragments
		}
		binary.BigEndian.PutUint16(f[6:8], fl)
		out = append(out, f)
	}
	return out
}
