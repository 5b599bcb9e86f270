package nftprog

import (
	"encoding/binary"
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/userdata"
	mnl "github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Conn is a netlink connection to nftables in one network namespace.
//
// google/nftables v0.3.0 does not write the data byte order of a map
// (NFTNL_UDATA_SET_DATABYTEORDER) into the set's user data, which nft
// needs to print host-endian map data such as the marks of sg_genmark
// (it would print them byte-swapped; the kernel does not care). So the
// nftables.Conn talks to a relay (a netlink.Conn over nltest's socket)
// that adds it to NEWSET messages of maps with mark data and forwards
// everything to the real socket, unchanged otherwise.
type Conn struct {
	nft  *nftables.Conn
	real *mnl.Conn
}

// Dial opens a connection in the network namespace nsFd (-1: the
// caller's), with socket buffers large enough for big batches.
func Dial(nsFd int) (*Conn, error) {
	cfg := &mnl.Config{}
	if nsFd >= 0 {
		cfg.NetNS = nsFd
	}
	real, err := mnl.Dial(unix.NETLINK_NETFILTER, cfg)
	if err != nil {
		return nil, fmt.Errorf("netlink netfilter socket: %w", err)
	}
	bigBuffers(real)
	c := &Conn{real: real}
	nft, err := nftables.New(nftables.WithTestDial(c.relay))
	if err != nil {
		real.Close()
		return nil, fmt.Errorf("nftables connection: %w", err)
	}
	c.nft = nft
	return c, nil
}

// Close closes the socket.
func (c *Conn) Close() error { return c.real.Close() }

// relay is the nltest function: requests go to the real socket (patched),
// a receive with nothing queued (req nil) reads the real socket.
func (c *Conn) relay(req []mnl.Message) ([]mnl.Message, error) {
	if req == nil {
		msgs, err := c.real.Receive()
		for i := range msgs {
			// As if addressed to the relay's conn, which validates
			// replies of its requests (stamped with nltest.PID).
			msgs[i].Header.PID = relayPID
		}
		// The real conn read a multi-part reply up to its end and
		// dropped the end marker; the relay's conn waits for one.
		if n := len(msgs); err == nil && n > 0 && msgs[n-1].Header.Flags&mnl.Multi != 0 {
			last := msgs[n-1].Header
			msgs = append(msgs, mnl.Message{
				Header: mnl.Header{Type: mnl.Done, Flags: mnl.Multi, Sequence: last.Sequence, PID: relayPID},
				Data:   make([]byte, 4),
			})
		}
		return msgs, err
	}
	for i := range req {
		patchDataByteOrder(&req[i])
		// The relay's conn stamped its own port ID; the real one stamps
		// the socket's.
		req[i].Header.PID = 0
	}
	if _, err := c.real.SendMessages(req); err != nil {
		return nil, err
	}
	return nil, nil
}

// bigBuffers raises the socket buffers past the sysctl limits (root:
// SO_*BUFFORCE), falling back to the plain options. Best effort: without
// them small batches still work.
func bigBuffers(c *mnl.Conn) {
	forced := false
	if rc, err := c.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			e1 := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, sockBuf)
			e2 := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, sockBuf)
			forced = e1 == nil && e2 == nil
		})
	}
	if !forced {
		_ = c.SetWriteBuffer(sockBuf)
		_ = c.SetReadBuffer(sockBuf)
	}
}

// relayPID is nltest.PID, the port ID of the relay's conn.
const relayPID = 1

// byteorderHost is nft's BYTEORDER_HOST_ENDIAN.
const byteorderHost = 1

// patchDataByteOrder adds the host data byte order to the user data of a
// NEWSET message whose data type is mark.
func patchDataByteOrder(m *mnl.Message) {
	if m.Header.Type != mnl.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8|unix.NFT_MSG_NEWSET) || len(m.Data) < 4 {
		return
	}
	attrs := m.Data[4:]
	mark := false
	udAt := -1
	for off := 0; off+4 <= len(attrs); {
		l := int(binary.NativeEndian.Uint16(attrs[off:]))
		typ := binary.NativeEndian.Uint16(attrs[off+2:]) &^ (unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER)
		if l < 4 || off+l > len(attrs) {
			return
		}
		switch typ {
		case unix.NFTA_SET_DATA_TYPE:
			mark = l == 8 && binary.BigEndian.Uint32(attrs[off+4:]) == nftables.TypeMark.GetNFTMagic()
		case unix.NFTA_SET_USERDATA:
			udAt = off
		}
		off += (l + 3) &^ 3
	}
	if !mark {
		return
	}
	var ud []byte
	rest := attrs
	if udAt >= 0 {
		l := int(binary.NativeEndian.Uint16(attrs[udAt:]))
		ud = append(ud, attrs[udAt+4:udAt+l]...)
		rest = append(append([]byte{}, attrs[:udAt]...), attrs[udAt+((l+3)&^3):]...)
	}
	ud = userdata.AppendUint32(ud, userdata.NFTNL_UDATA_SET_DATABYTEORDER, byteorderHost)
	attr := make([]byte, 4, 4+len(ud)+3)
	binary.NativeEndian.PutUint16(attr, uint16(4+len(ud)))
	binary.NativeEndian.PutUint16(attr[2:], unix.NFTA_SET_USERDATA)
	attr = append(attr, ud...)
	for len(attr)%4 != 0 {
		attr = append(attr, 0)
	}
	data := append(append(append([]byte{}, m.Data[:4]...), rest...), attr...)
	m.Data = data
	m.Header.Length = 0 // recomputed by the real conn
}
