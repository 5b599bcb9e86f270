// Package mirror is traffic mirroring in a VPC namespace: the packets its
// source ENIs send and receive, once the security groups and network ACLs
// have let them through, reach userspace through NFLOG (table.go); each is
// matched against the ENI's sessions (policy.SelectMirrorSession) and the
// copy is sent to the session's target in VXLAN (vxlan.go), from the
// source ENI's address, through a raw socket of the namespace; a target
// on another host gets it through that host's relay (relay.go).
package mirror

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	"strings"
	"sync"
	"sync/atomic"

	"github.com/florianl/go-nflog/v2"
	"github.com/mdlayher/netlink"
	vnl "github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/palisade-project/palisade/internal/netnsrun"
	"github.com/palisade-project/palisade/internal/policy"
)

// Session is a session of one source, as the data plane needs it.
type Session struct {
	policy.MirrorSession
	VNI          uint32
	PacketLength int
	// Target is the target ENI's primary IPv4 address, TargetIf its
	// host-side interface (for the MTU of the path).
	Target   netip.Addr
	TargetIf string
	// Relay, when valid, is the relay of the target's host (another
	// one): the copies go there over the underlay (relay.go), and that
	// host sends them to the target.
	Relay netip.AddrPort
	// TargetNetns, when set, is the namespace of the target's VPC on
	// this host, peered with the source's: the copies are sent from
	// there (TargetIf is its interface there).
	TargetNetns string
	// Backends, when set, stand for a load balancer target on this host
	// (Target is its address): each copy goes to the backend its outer
	// source port picks, so the copies of a flow go to one backend, as a
	// load balancer's UDP listener spreads datagrams by flow. A backend
	// is listed as often as its weight is worth. (A load balancer on
	// another host gets the copies at Target through the relay, whose
	// host picks the backend the same way.)
	Backends []netip.Addr
}

// Dst is where the copy of pkt goes: the target, or for a load balancer
// target the backend the copy's flow picks.
func (s Session) Dst(pkt []byte) netip.Addr {
	if len(s.Backends) == 0 {
		return s.Target
	}
	return s.Backends[int(SourcePort(pkt))%len(s.Backends)]
}

// Source is a source ENI.
type Source struct {
	ENIID string
	// Addr is the ENI's primary IPv4 address (the copies' outer source),
	// MAC its hardware address.
	Addr netip.Addr
	MAC  net.HardwareAddr
	// Sessions are sorted as policy.NewMirrorSessions sorts them.
	Sessions []Session
}

// View is what a VPC namespace mirrors: sources by host-side interface.
type View struct {
	Sources map[string]Source
	// Relay sends the copies of sessions whose target runs on another
	// host (nil: their copies are counted as send errors).
	Relay *Relay
}

// Stats counts what the mirror did.
type Stats struct {
	// Received counts the packets NFLOG handed over; Mirrored those
	// copied; Unmatched those no session's filter accepted; SendErrors
	// the copies the kernel refused.
	Received, Mirrored, Unmatched, SendErrors uint64
}

// Config configures a Mirror.
type Config struct {
	VpcID     string
	NetnsPath string
	Logger    *slog.Logger
}

// resolved is the view with interface indexes and MACs of the namespace.
type resolved struct {
	byIndex map[uint32]*resolvedSource
	relay   *Relay
}

type resolvedSource struct {
	Source
	vethMAC net.HardwareAddr
	// mtu is the ENI's link MTU (the size of the packets it carries);
	// targetMTU, by session, the MTU toward the target, and targetVia
	// the socket that reaches it.
	mtu       int
	targetMTU []int
	targetVia []*injector
	// sessions are the policy halves of Sessions.
	sessions []policy.MirrorSession
}

// Mirror mirrors the sources of one VPC namespace.
type Mirror struct {
	cfg Config
	log *slog.Logger
	ns  netns.NsHandle
	nl  *vnl.Handle
	nf  *nflog.Nflog
	own *injector // the namespace's raw socket
	// ino identifies the namespace the mirror runs in (netnsrun.Inode).
	ino uint64
	// peered are the raw sockets in the namespaces of peered VPCs with
	// targets (only Update, on the reconciling goroutine, changes it).
	peered map[string]*injector
	cancel context.CancelFunc
	view   atomic.Pointer[resolved]
	ipID   atomic.Uint32
	mu     sync.Mutex // serialises sends (one buffer)
	buf    []byte

	received, mirrored, unmatched, sendErrors atomic.Uint64
}

// Start opens the namespace's NFLOG group and raw socket and begins
// mirroring v. The table (ApplyTable) is the caller's.
func Start(cfg Config, v View) (*Mirror, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	m := &Mirror{cfg: cfg, log: cfg.Logger.With("component", "mirror", "vpc", cfg.VpcID), peered: map[string]*injector{}}
	var err error
	m.ino = netnsrun.Inode(cfg.NetnsPath)
	if m.ns, err = netns.GetFromPath(cfg.NetnsPath); err != nil {
		return nil, fmt.Errorf("open namespace of %s: %w", cfg.VpcID, err)
	}
	if m.nl, err = vnl.NewHandleAt(m.ns); err != nil {
		m.close()
		return nil, fmt.Errorf("netlink in %s: %w", cfg.VpcID, err)
	}
	fd, err := openRawSocket(m.ns)
	if err != nil {
		m.close()
		return nil, fmt.Errorf("raw socket in %s: %w", cfg.VpcID, err)
	}
	m.own = &injector{ino: m.ino, sock: fd}
	m.Update(v)
	m.nf, err = nflog.Open(&nflog.Config{NetNS: int(m.ns), Group: Group, Copymode: nflog.CopyPacket, QThresh: queueThreshold, Timeout: 1})
	if err != nil {
		m.close()
		return nil, fmt.Errorf("nflog open in %s: %w", cfg.VpcID, err)
	}
	_ = m.nf.Con.SetReadBuffer(4 << 20)
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	errFn := func(err error) int {
		if ctx.Err() != nil {
			return 1
		}
		var op *netlink.OpError
		if errors.As(err, &op) && op.Timeout() {
			return 0
		}
		m.log.Debug("nflog receive", "err", err) // ENOBUFS: copies lost under load
		return 0
	}
	if err := m.nf.RegisterWithErrorFunc(ctx, m.handle, errFn); err != nil {
		m.close()
		return nil, fmt.Errorf("nflog register in %s: %w", cfg.VpcID, err)
	}
	return m, nil
}

// Update replaces the view; packets logged from now on follow it.
func (m *Mirror) Update(v View) {
	r := &resolved{byIndex: map[uint32]*resolvedSource{}, relay: v.Relay}
	peered := map[string]*injector{}
	for name, s := range v.Sources {
		l, err := m.nl.LinkByName(name)
		if err != nil {
			m.log.Warn("mirror source interface", "eni", s.ENIID, "ifname", name, "err", err)
			continue
		}
		rs := &resolvedSource{Source: s, vethMAC: l.Attrs().HardwareAddr, mtu: l.Attrs().MTU}
		if rs.mtu <= 0 {
			rs.mtu = 1500
		}
		for _, ss := range s.Sessions {
			mtu, via := 1500, m.own
			switch {
			case ss.TargetNetns != "":
				via = peered[ss.TargetNetns]
				if old := m.peered[ss.TargetNetns]; via == nil && old != nil && !old.stale(ss.TargetNetns) {
					via = old
				}
				if via == nil {
					var err error
					if via, err = openInjector(ss.TargetNetns); err != nil {
						m.log.Warn("mirror target's namespace", "session", ss.ID, "netns", ss.TargetNetns, "err", err)
					}
				}
				if via != nil {
					peered[ss.TargetNetns] = via
					mtu = linkMTU(ss.TargetNetns, ss.TargetIf)
				}
			default:
				if t, err := m.nl.LinkByName(ss.TargetIf); err == nil && t.Attrs().MTU > 0 {
					mtu = t.Attrs().MTU
				}
			}
			rs.targetMTU = append(rs.targetMTU, mtu)
			rs.targetVia = append(rs.targetVia, via)
			rs.sessions = append(rs.sessions, ss.MirrorSession)
		}
		r.byIndex[uint32(l.Attrs().Index)] = rs
	}
	m.view.Store(r)
	// Sockets no session needs any more: a packet still being handled
	// with the old view fails to send, counted as a send error.
	for path, inj := range m.peered {
		if peered[path] != inj {
			inj.close()
		}
	}
	m.peered = peered
}

// Stale reports whether the mirror's namespace is no longer the one at
// its path (deleted, or made anew by the agent): its NFLOG group and
// socket belong to the old one, so the caller starts a new mirror.
func (m *Mirror) Stale() bool {
	return netnsrun.Inode(m.cfg.NetnsPath) != m.ino
}

// handle mirrors one logged packet.
func (m *Mirror) handle(a nflog.Attribute) int {
	m.received.Add(1)
	if a.Prefix == nil || a.Payload == nil {
		return 0
	}
	var dir policy.Direction
	var idx *uint32
	routed := false
	switch strings.TrimRight(*a.Prefix, "\x00") {
	case prefixEgress:
		dir, idx, routed = policy.Egress, a.InDev, true
	case prefixEgressLocal:
		dir, idx = policy.Egress, a.InDev
	case prefixIngress:
		dir, idx = policy.Ingress, a.OutDev
	default:
		return 0
	}
	if idx == nil {
		return 0
	}
	view := m.view.Load()
	src := view.byIndex[*idx]
	if src == nil {
		return 0
	}
	pkt := *a.Payload
	if routed {
		// Routing has already taken one from the TTL; the copy shows the
		// packet as the ENI sent it.
		pkt = undoForwardTTL(pkt)
	}
	p, ok := parsePacket(pkt)
	if !ok {
		return 0
	}
	i := policy.SelectMirrorSession(src.sessions, dir, p)
	if i < 0 {
		m.unmatched.Add(1)
		return 0
	}
	s := src.Sessions[i]
	e := Encap{Src: src.Addr, Dst: s.Dst(pkt), VNI: s.VNI, MaxLen: s.PacketLength}
	if dir == policy.Egress {
		e.InnerSrc, e.InnerDst = src.MAC, src.vethMAC
	} else {
		e.InnerSrc, e.InnerDst = src.vethMAC, src.MAC
	}
	for _, q := range Split(pkt, src.mtu, m.nextID) {
		var err error
		if s.Relay.IsValid() {
			err = m.relay(view.relay, s, e, q)
		} else {
			err = m.send(src.targetVia[i], e, q, src.targetMTU[i])
		}
		if err != nil {
			m.sendErrors.Add(1)
			m.log.Debug("send mirrored copy", "eni", src.ENIID, "session", s.ID, "err", err)
			continue
		}
		m.mirrored.Add(1)
	}
	return 0
}

// send sends one copy through via (the namespace's own socket, or a
// peered VPC's), in fragments of at most mtu bytes.
func (m *Mirror) send(via *injector, e Encap, pkt []byte, mtu int) error {
	if via == nil {
		return errors.New("no socket toward the target")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.buf = e.Build(m.buf[:0], pkt)
	return via.send(m.buf, e.Dst, mtu, m.nextID)
}

// relay sends one copy to the relay of the target's host, whole: that
// host fragments it to its target's MTU, and the underlay fragments the
// relay datagram if it must.
func (m *Mirror) relay(r *Relay, s Session, e Encap, pkt []byte) error {
	if r == nil {
		return errors.New("no relay to the target's host")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.buf = e.Build(m.buf[:0], pkt)
	return r.Send(s.ID, m.buf, s.Relay)
}

// undoForwardTTL returns a copy of an IP packet with its TTL (hop limit)
// one higher, and the IPv4 header checksum fixed.
func undoForwardTTL(b []byte) []byte {
	switch {
	case len(b) >= 20 && b[0]>>4 == 4 && int(b[0]&0x0f)*4 <= len(b) && b[8] < 255:
		c := append([]byte(nil), b...)
		c[8]++
		ipv4Checksum(c[:int(c[0]&0x0f)*4])
		return c
	case len(b) >= 40 && b[0]>>4 == 6 && b[7] < 255:
		c := append([]byte(nil), b...)
		c[7]++
		return c
	}
	return b
}

// nextID returns a fresh, non-zero IPv4 identification.
func (m *Mirror) nextID() uint16 {
	for {
		if id := uint16(m.ipID.Add(1)); id != 0 {
			return id
		}
	}
}

// parsePacket reads what filters match on from an IP packet.
func parsePacket(b []byte) (policy.Packet, bool) {
	var p policy.Packet
	var l4 []byte
	switch {
	case len(b) >= 20 && b[0]>>4 == 4:
		ihl := int(b[0]&0x0f) * 4
		p.Proto = b[9]
		p.Src = netip.AddrFrom4([4]byte(b[12:16]))
		p.Dst = netip.AddrFrom4([4]byte(b[16:20]))
		// Only a first fragment (offset 0) carries the ports.
		if ihl >= 20 && ihl < len(b) && b[6]&0x1f == 0 && b[7] == 0 {
			l4 = b[ihl:]
		}
	case len(b) >= 40 && b[0]>>4 == 6:
		p.Proto = b[6]
		p.Src = netip.AddrFrom16([16]byte(b[8:24]))
		p.Dst = netip.AddrFrom16([16]byte(b[24:40]))
		l4 = b[40:]
	default:
		return p, false
	}
	if (p.Proto == policy.IPProtoTCP || p.Proto == policy.IPProtoUDP) && len(l4) >= 4 {
		p.SrcPort = uint16(l4[0])<<8 | uint16(l4[1])
		p.DstPort = uint16(l4[2])<<8 | uint16(l4[3])
	}
	return p, true
}

// Stats returns the counters.
func (m *Mirror) Stats() Stats {
	return Stats{Received: m.received.Load(), Mirrored: m.mirrored.Load(), Unmatched: m.unmatched.Load(), SendErrors: m.sendErrors.Load()}
}

// Stop stops mirroring and closes the sockets.
func (m *Mirror) Stop() {
	if m.cancel != nil {
		m.cancel()
	}
	m.close()
}

func (m *Mirror) close() {
	if m.nf != nil {
		m.nf.Close()
		m.nf = nil
	}
	if m.own != nil {
		m.own.close()
	}
	for _, inj := range m.peered {
		inj.close()
	}
	if m.nl != nil {
		m.nl.Close()
		m.nl = nil
	}
	if m.ns.IsOpen() {
		m.ns.Close()
	}
}
