package capture

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"syscall"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/netfilter"
	"golang.org/x/sys/unix"
)

// Flow is what capture reads of a conntrack entry.
type Flow struct {
	ID uint32
	// Start is when the flow began (Unix nanoseconds; 0 without
	// nf_conntrack_timestamp).
	Start       int64
	Orig, Reply Tuple
	Counts
	// TCPState is the conntrack TCP state (0 for other protocols).
	TCPState uint8
	// Timeout is the entry's remaining lifetime in seconds at the dump
	// (without a new packet it expires then).
	Timeout uint32
}

// Tuple is one direction of a conntrack entry.
type Tuple struct {
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Proto            uint8
}

// ctnetlink message and attribute numbers (linux/netfilter/nfnetlink.h,
// nfnetlink_conntrack.h).
const (
	ctGet           = 1        // IPCTNL_MSG_CT_GET
	ctNewMsg        = 1 << 8   // NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_NEW
	ctDeleteMsg     = 1<<8 | 2 // NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_DELETE
	ctaTupleOrig    = 1
	ctaTupleReply   = 2
	ctaProtoinfo    = 4
	ctaCountersOrig = 9
	ctaCountersRepl = 10
	ctaID           = 12
	ctaTimeout      = 7
	ctaTimestamp    = 20
	ctaTupleIP      = 1
	ctaTupleProto   = 2
	ctaIPv4Src      = 1
	ctaIPv4Dst      = 2
	ctaIPv6Src      = 3
	ctaIPv6Dst      = 4
	ctaProtoNum     = 1
	ctaProtoSrcPort = 2
	ctaProtoDstPort = 3
	ctaProtoinfoTCP = 1
	ctaTCPState     = 1
	ctaCtrPackets   = 1
	ctaCtrBytes     = 2
	ctaTSStart      = 1
	nlaTypeMask     = 0x3fff // without NLA_F_NESTED and NLA_F_NET_BYTEORDER
)

// dumper dumps a namespace's conntrack table as a stream: each entry is
// decoded in place, without allocation, and handed over as its netlink
// message arrives, so a dump of 100,000 flows needs one receive buffer
// (conntrack.Conn.Dump holds every message and a large Flow per entry at
// once, and allocates kilobytes per entry decoding it).
type dumper struct {
	nl  *netlink.Conn
	buf []byte
}

func newDumper(nsFd int) (*dumper, error) {
	nl, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: nsFd})
	if err != nil {
		return nil, fmt.Errorf("netlink dial: %w", err)
	}
	return &dumper{nl: nl, buf: make([]byte, 256<<10)}, nil
}

func (d *dumper) Close() error { return d.nl.Close() }

// dump calls fn for every entry of the table (IPv4 and IPv6); f is reused.
func (d *dumper) dump(fn func(f *Flow)) error {
	req, err := netfilter.MarshalNetlink(netfilter.Header{
		SubsystemID: netfilter.NFSubsysCTNetlink, MessageType: ctGet,
		Family: netfilter.ProtoUnspec, Flags: netlink.Request | netlink.Dump,
	}, nil)
	if err != nil {
		return err
	}
	if _, err := d.nl.Send(req); err != nil {
		return fmt.Errorf("conntrack dump request: %w", err)
	}
	rc, err := d.nl.SyscallConn()
	if err != nil {
		return err
	}
	var f Flow
	for {
		var n int
		var rerr error
		if err := rc.Read(func(fd uintptr) bool {
			n, _, rerr = unix.Recvfrom(int(fd), d.buf, 0)
			return rerr != unix.EAGAIN && rerr != unix.EINTR
		}); err != nil {
			return fmt.Errorf("conntrack dump: %w", err)
		}
		if rerr != nil {
			return fmt.Errorf("conntrack dump: %w", rerr)
		}
		b := d.buf[:n]
		for len(b) >= unix.NLMSG_HDRLEN {
			l := int(binary.NativeEndian.Uint32(b[0:4]))
			typ := binary.NativeEndian.Uint16(b[4:6])
			if l < unix.NLMSG_HDRLEN || l > len(b) {
				return fmt.Errorf("conntrack dump: bad message length %d", l)
			}
			data := b[unix.NLMSG_HDRLEN:l]
			switch typ {
			case unix.NLMSG_DONE:
				return nil
			case unix.NLMSG_ERROR:
				if len(data) >= 4 {
					if errno := int32(binary.NativeEndian.Uint32(data[:4])); errno != 0 {
						return fmt.Errorf("conntrack dump: %w", syscall.Errno(-errno))
					}
				}
				return nil
			case ctNewMsg:
				if len(data) > 4 && parseFlow(data[4:], &f) { // after struct nfgenmsg
					fn(&f)
				}
			}
			b = b[min(align4(l), len(b)):]
		}
	}
}

func align4(n int) int { return (n + 3) &^ 3 }

// attrs calls fn for each netlink attribute of b.
func attrs(b []byte, fn func(typ uint16, v []byte)) {
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b[0:2]))
		if l < 4 || l > len(b) {
			return
		}
		fn(binary.NativeEndian.Uint16(b[2:4])&nlaTypeMask, b[4:l])
		b = b[min(align4(l), len(b)):]
	}
}

// parseFlow decodes the attributes of one conntrack entry into f.
func parseFlow(b []byte, f *Flow) bool {
	*f = Flow{}
	ok := false
	attrs(b, func(typ uint16, v []byte) {
		switch typ {
		case ctaTupleOrig:
			ok = parseTuple(v, &f.Orig)
		case ctaTupleReply:
			parseTuple(v, &f.Reply)
		case ctaCountersOrig:
			f.OrigPackets, f.OrigBytes = parseCounters(v)
		case ctaCountersRepl:
			f.ReplyPackets, f.ReplyBytes = parseCounters(v)
		case ctaID:
			if len(v) >= 4 {
				f.ID = binary.BigEndian.Uint32(v)
			}
		case ctaTimeout:
			if len(v) >= 4 {
				f.Timeout = binary.BigEndian.Uint32(v)
			}
		case ctaTimestamp:
			attrs(v, func(t uint16, v []byte) {
				if t == ctaTSStart && len(v) >= 8 {
					f.Start = int64(binary.BigEndian.Uint64(v))
				}
			})
		case ctaProtoinfo:
			attrs(v, func(t uint16, v []byte) {
				if t == ctaProtoinfoTCP {
					attrs(v, func(t uint16, v []byte) {
						if t == ctaTCPState && len(v) >= 1 {
							f.TCPState = v[0]
						}
					})
				}
			})
		}
	})
	return ok
}

func parseTuple(b []byte, t *Tuple) bool {
	attrs(b, func(typ uint16, v []byte) {
		switch typ {
		case ctaTupleIP:
			attrs(v, func(typ uint16, v []byte) {
				switch {
				case (typ == ctaIPv4Src || typ == ctaIPv4Dst) && len(v) == 4:
					a := netip.AddrFrom4([4]byte(v))
					if typ == ctaIPv4Src {
						t.Src = a
					} else {
						t.Dst = a
					}
				case (typ == ctaIPv6Src || typ == ctaIPv6Dst) && len(v) == 16:
					a := netip.AddrFrom16([16]byte(v))
					if typ == ctaIPv6Src {
						t.Src = a
					} else {
						t.Dst = a
					}
				}
			})
		case ctaTupleProto:
			attrs(v, func(typ uint16, v []byte) {
				switch {
				case typ == ctaProtoNum && len(v) >= 1:
					t.Proto = v[0]
				case typ == ctaProtoSrcPort && len(v) >= 2:
					t.SrcPort = binary.BigEndian.Uint16(v)
				case typ == ctaProtoDstPort && len(v) >= 2:
					t.DstPort = binary.BigEndian.Uint16(v)
				}
			})
		}
	})
	return t.Src.IsValid() && t.Dst.IsValid()
}

func parseCounters(b []byte) (packets, bytes uint64) {
	attrs(b, func(typ uint16, v []byte) {
		if len(v) < 8 {
			return
		}
		switch typ {
		case ctaCtrPackets:
			packets = binary.BigEndian.Uint64(v)
		case ctaCtrBytes:
			bytes = binary.BigEndian.Uint64(v)
		}
	})
	return packets, bytes
}
