package mirror

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	vnl "github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/palisade-project/palisade/internal/netnsrun"
)

// Mirroring across hosts. A session's source and target may run on two
// hosts (two zones of one VPC). The source's host copies as it does for a
// local target, and sends each copy (the whole VXLAN packet the target is
// to receive, outer IPv4 header included) to the target host's agent over
// the underlay, in a relay datagram to the UDP port after the VXLAN
// tunnels' (RelayPort). That agent checks the copy against its own view of
// the session (a source of it on the sending host, the target here, the
// session's VNI) and sends it from the target VPC's namespace through a
// raw socket with the copies' mark, exactly as a local copy is sent. So the
// target receives the same packets wherever the source runs, and on both
// hosts the copies stay out of conntrack, the security groups and flow
// logs; the copies never enter the VPC's tunnel, where nothing would tell
// them from an instance's own datagrams to 4789. The host's underlay
// filter admits the relay port from the other hosts only, as it does the
// tunnels'.
//
// A relay datagram:
//
//	"PMR1" | length of the session ID (1 byte) | session ID | the copy
const (
	relayMagic = "PMR1"
	// maxSessionID bounds the session ID a datagram may carry (IDs are
	// "tms-" and 20 characters).
	maxSessionID = 64
)

// RelayPort is the UDP port of the copies relayed between hosts whose
// VXLAN tunnels use underlayPort.
func RelayPort(underlayPort uint16) uint16 { return underlayPort + 1 }

// AppendRelay appends the relay datagram of session's copy to buf.
func AppendRelay(buf []byte, session string, pkt []byte) []byte {
	buf = append(buf, relayMagic...)
	buf = append(buf, byte(len(session)))
	buf = append(buf, session...)
	return append(buf, pkt...)
}

// ParseRelay splits a relay datagram into its session ID and copy.
func ParseRelay(b []byte) (session string, pkt []byte, err error) {
	if len(b) < len(relayMagic)+1 || string(b[:len(relayMagic)]) != relayMagic {
		return "", nil, errors.New("not a relay datagram")
	}
	n := int(b[len(relayMagic)])
	rest := b[len(relayMagic)+1:]
	if n == 0 || n > maxSessionID || len(rest) < n {
		return "", nil, fmt.Errorf("session ID of %d bytes in a datagram of %d", n, len(b))
	}
	return string(rest[:n]), rest[n:], nil
}

// RelayTarget is a session whose target runs on this host and whose
// sources (some of them) on others: what the relay delivers.
type RelayTarget struct {
	SessionID string
	VpcID     string
	// NetnsPath is the target VPC's namespace, where copies are sent from.
	NetnsPath string
	VNI       uint32
	// Target is the target ENI's primary IPv4 address, TargetIf its
	// host-side interface in the VPC namespace (for the MTU).
	Target   netip.Addr
	TargetIf string
	// Backends, for a load balancer target (Target is its address), are
	// where the copies go: the source's host sends them to Target, and
	// the relay sends each to the backend its outer source port picks
	// (as Session.Dst does for a local source).
	Backends []netip.Addr
	// Sources maps the primary address of each source ENI on another
	// host to that host's underlay address: a copy is taken only from
	// the host of its source.
	Sources map[netip.Addr]netip.Addr
}

// CheckCopy reports why pkt, relayed from underlay address from, is not
// a copy of session t (nil: it is): an unfragmented IPv4 VXLAN datagram
// from one of t's sources, sent from that source's host, to t's target
// with t's VNI.
func CheckCopy(t RelayTarget, from netip.Addr, pkt []byte) error {
	if len(pkt) < EncapOverhead {
		return fmt.Errorf("copy of %d bytes is shorter than its headers", len(pkt))
	}
	ip := pkt[:ipv4HeaderLen]
	if ip[0] != 0x45 || ip[9] != unix.IPPROTO_UDP {
		return errors.New("not an IPv4 UDP datagram without options")
	}
	if int(binary.BigEndian.Uint16(ip[2:4])) != len(pkt) || binary.BigEndian.Uint16(ip[6:8])&0x3fff != 0 {
		return errors.New("length or fragment fields do not match a whole datagram")
	}
	src, dst := netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20]))
	if dst != t.Target {
		return fmt.Errorf("copy to %s, but session %s's target is %s", dst, t.SessionID, t.Target)
	}
	host, ok := t.Sources[src]
	if !ok {
		return fmt.Errorf("copy from %s, which is no source of session %s on another host", src, t.SessionID)
	}
	if host != from.Unmap() {
		return fmt.Errorf("copy from %s relayed by %s, but that source runs on %s", src, from, host)
	}
	udp := pkt[ipv4HeaderLen : ipv4HeaderLen+udpHeaderLen]
	if binary.BigEndian.Uint16(udp[2:4]) != vxlanPort || int(binary.BigEndian.Uint16(udp[4:6])) != len(pkt)-ipv4HeaderLen {
		return errors.New("not a whole UDP datagram to the VXLAN port")
	}
	vx := pkt[ipv4HeaderLen+udpHeaderLen : ipv4HeaderLen+udpHeaderLen+vxlanLen]
	if vx[0] != 0x08 || binary.BigEndian.Uint32(vx[4:8])>>8 != t.VNI {
		return fmt.Errorf("VXLAN header without session %s's VNI %d", t.SessionID, t.VNI)
	}
	return nil
}

// RelayStats counts what the relay did: datagrams received, copies
// delivered to targets here, datagrams refused (not a copy of a session
// of this view), copies the kernel refused; Sent and SendErrors count the
// copies this host relayed to others.
type RelayStats struct {
	Received, Delivered, Refused, DeliverErrors uint64
	Sent, SendErrors                            uint64
}

// Relay is a host's end of mirroring across hosts: one UDP socket on the
// underlay address and relay port, which sends this host's copies for
// targets elsewhere and receives the other hosts' copies for targets here.
type Relay struct {
	log  *slog.Logger
	conn *net.UDPConn
	addr netip.AddrPort

	view atomic.Pointer[map[string]RelayTarget]
	ipID atomic.Uint32

	mu      sync.Mutex // guards injectors
	inject  map[string]*injector
	sendMu  sync.Mutex // serialises Send's buffer
	sendBuf []byte
	done    chan struct{}

	received, delivered, refused, deliverErrors, sent, sendErrors atomic.Uint64
}

// injector sends copies from one VPC namespace.
type injector struct {
	// ino identifies the namespace the socket was opened in (netnsrun.Inode):
	// a namespace made anew under the same name needs a new socket.
	ino  uint64
	mu   sync.Mutex
	sock int
	// mtu is the MTU toward each target interface, read when the target
	// joined the view.
	mtu map[string]int
}

// ListenRelay opens the relay socket on addr (this host's underlay
// address and RelayPort) and starts delivering what arrives. The socket
// belongs to the namespace of the calling thread (the host's).
func ListenRelay(addr netip.AddrPort, log *slog.Logger) (*Relay, error) {
	if log == nil {
		log = slog.Default()
	}
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
	if err != nil {
		return nil, fmt.Errorf("traffic-mirror relay on %s: %w", addr, err)
	}
	// Bursts of copies (a bulk transfer being mirrored) overflow the
	// default buffers.
	_ = conn.SetReadBuffer(4 << 20)
	_ = conn.SetWriteBuffer(4 << 20)
	r := &Relay{log: log.With("component", "mirror-relay"), conn: conn, addr: addr, inject: map[string]*injector{}, done: make(chan struct{})}
	empty := map[string]RelayTarget{}
	r.view.Store(&empty)
	go r.loop()
	return r, nil
}

// Addr is the address the relay was asked to listen on.
func (r *Relay) Addr() netip.AddrPort { return r.addr }

// LocalAddr is the address the relay's socket is bound to (its port
// chosen by the kernel when Addr's is 0).
func (r *Relay) LocalAddr() net.Addr { return r.conn.LocalAddr() }

// Update replaces the sessions the relay delivers, opening a raw socket in
// each target VPC's namespace it has none in yet and closing those no
// target needs any more.
func (r *Relay) Update(targets []RelayTarget) error {
	view := map[string]RelayTarget{}
	byNS := map[string][]RelayTarget{}
	for _, t := range targets {
		view[t.SessionID] = t
		byNS[t.NetnsPath] = append(byNS[t.NetnsPath], t)
	}
	var errs []error
	r.mu.Lock()
	for path, ts := range byNS {
		inj := r.inject[path]
		if inj != nil && inj.stale(path) {
			inj.close()
			inj = nil
		}
		if inj == nil {
			var err error
			if inj, err = openInjector(path); err != nil {
				errs = append(errs, err)
				for _, t := range ts {
					delete(view, t.SessionID)
				}
				continue
			}
			r.inject[path] = inj
		}
		ifs := make([]string, len(ts))
		for i, t := range ts {
			ifs[i] = t.TargetIf
		}
		inj.readMTUs(path, ifs)
	}
	for path, inj := range r.inject {
		if _, ok := byNS[path]; !ok {
			inj.close()
			delete(r.inject, path)
		}
	}
	r.mu.Unlock()
	r.view.Store(&view)
	return errors.Join(errs...)
}

// Send relays one copy of session to the relay at to.
func (r *Relay) Send(session string, pkt []byte, to netip.AddrPort) error {
	r.sendMu.Lock()
	defer r.sendMu.Unlock()
	r.sendBuf = AppendRelay(r.sendBuf[:0], session, pkt)
	if _, err := r.conn.WriteToUDPAddrPort(r.sendBuf, to); err != nil {
		r.sendErrors.Add(1)
		return err
	}
	r.sent.Add(1)
	return nil
}

// Stats returns the counters.
func (r *Relay) Stats() RelayStats {
	return RelayStats{Received: r.received.Load(), Delivered: r.delivered.Load(), Refused: r.refused.Load(),
		DeliverErrors: r.deliverErrors.Load(), Sent: r.sent.Load(), SendErrors: r.sendErrors.Load()}
}

// Close stops the relay and closes its sockets.
func (r *Relay) Close() {
	r.conn.Close()
	<-r.done
	r.mu.Lock()
	for path, inj := range r.inject {
		inj.close()
		delete(r.inject, path)
	}
	r.mu.Unlock()
}

func (r *Relay) loop() {
	defer close(r.done)
	buf := make([]byte, 65536)
	for {
		n, from, err := r.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			r.log.Debug("receive", "err", err)
			continue
		}
		r.received.Add(1)
		if err := r.deliver(from.Addr(), buf[:n]); err != nil {
			r.log.Debug("relayed copy not delivered", "from", from, "err", err)
		}
	}
}

// deliver checks one relay datagram and sends its copy to the target.
func (r *Relay) deliver(from netip.Addr, b []byte) error {
	session, pkt, err := ParseRelay(b)
	if err != nil {
		r.refused.Add(1)
		return err
	}
	t, ok := (*r.view.Load())[session]
	if !ok {
		r.refused.Add(1)
		return fmt.Errorf("session %q has no target on this host", session)
	}
	if err := CheckCopy(t, from, pkt); err != nil {
		r.refused.Add(1)
		return err
	}
	r.mu.Lock()
	inj := r.inject[t.NetnsPath]
	r.mu.Unlock()
	if inj == nil {
		r.deliverErrors.Add(1)
		return fmt.Errorf("no socket in %s", t.VpcID)
	}
	dst := t.Target
	if len(t.Backends) > 0 {
		// A load balancer's copy: to the backend its flow picks. The
		// outer IPv4 checksum is the kernel's to fill and the UDP one is
		// 0, so rewriting the address is all it takes.
		dst = t.Backends[int(binary.BigEndian.Uint16(pkt[ipv4HeaderLen:ipv4HeaderLen+2]))%len(t.Backends)]
		copy(pkt[16:20], dst.AsSlice())
	}
	if err := inj.send(pkt, dst, inj.mtuOf(t.TargetIf), r.nextID); err != nil {
		r.deliverErrors.Add(1)
		return err
	}
	r.delivered.Add(1)
	return nil
}

func (r *Relay) nextID() uint16 {
	for {
		if id := uint16(r.ipID.Add(1)); id != 0 {
			return id
		}
	}
}

// openRawSocket opens, in ns, the raw IPv4 socket copies are sent through:
// it writes whole IP packets and marks them as copies (Mark).
func openRawSocket(ns netns.NsHandle) (int, error) {
	fd := -1
	err := netnsrun.In(ns, func() error {
		var err error
		if fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW); err != nil {
			return err
		}
		return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, Mark)
	})
	if err != nil && fd >= 0 {
		unix.Close(fd)
		fd = -1
	}
	return fd, err
}

func openInjector(path string) (*injector, error) {
	ino := netnsrun.Inode(path)
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("open namespace %s: %w", path, err)
	}
	defer ns.Close()
	fd, err := openRawSocket(ns)
	if err != nil {
		return nil, fmt.Errorf("raw socket in %s: %w", path, err)
	}
	return &injector{ino: ino, sock: fd, mtu: map[string]int{}}, nil
}

// stale reports whether the namespace at path is no longer the one the
// socket was opened in (deleted, or made anew).
func (inj *injector) stale(path string) bool {
	return netnsrun.Inode(path) != inj.ino
}

// readMTUs records the MTU of each of the namespace's interfaces ifnames
// (targets'), forgetting the others (1500 when it cannot be read).
func (inj *injector) readMTUs(path string, ifnames []string) {
	mtu := map[string]int{}
	if ns, err := netns.GetFromPath(path); err == nil {
		if h, err := vnl.NewHandleAt(ns); err == nil {
			for _, n := range ifnames {
				if l, err := h.LinkByName(n); err == nil && l.Attrs().MTU > 0 {
					mtu[n] = l.Attrs().MTU
				}
			}
			h.Close()
		}
		ns.Close()
	}
	inj.mu.Lock()
	inj.mtu = mtu
	inj.mu.Unlock()
}

// linkMTU is the MTU of interface ifname of the namespace at path (1500
// when it cannot be read).
func linkMTU(path, ifname string) int {
	inj := &injector{}
	inj.readMTUs(path, []string{ifname})
	return inj.mtuOf(ifname)
}

func (inj *injector) mtuOf(ifname string) int {
	inj.mu.Lock()
	defer inj.mu.Unlock()
	if m, ok := inj.mtu[ifname]; ok {
		return m
	}
	return 1500
}

// send sends a copy built by Encap.Build to dst, in fragments of at most
// mtu bytes.
func (inj *injector) send(pkt []byte, dst netip.Addr, mtu int, nextID func() uint16) error {
	inj.mu.Lock()
	defer inj.mu.Unlock()
	if inj.sock < 0 {
		return errors.New("relay stopped")
	}
	to := &unix.SockaddrInet4{Addr: dst.As4()}
	for _, f := range Fragment(pkt, mtu, nextID()) {
		if err := unix.Sendto(inj.sock, f, 0, to); err != nil {
			return err
		}
	}
	return nil
}

func (inj *injector) close() {
	inj.mu.Lock()
	defer inj.mu.Unlock()
	if inj.sock >= 0 {
		unix.Close(inj.sock)
		inj.sock = -1
	}
}
