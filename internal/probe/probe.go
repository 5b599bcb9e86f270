// Package probe sends real TCP, UDP and ICMP probes between network
// namespaces and serves the far end of them. Tests of the data plane use it
// to ask "does a packet from A reach B on this port?" of the kernel itself.
//
// Sockets are made on an OS thread that has entered the namespace; a socket
// stays in the namespace it was made in, so the rest of the work runs on
// any goroutine.
package probe

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netns"

	"github.com/palisade-project/palisade/internal/netnsrun"
)

// NetnsDir is where named namespaces live (as made by `ip netns add`).
const NetnsDir = "/run/netns"

// InNetns runs fn on an OS thread inside the named namespace; an absolute
// path names a namespace file anywhere (such as
// /proc/PID/root/run/netns/NAME, a namespace named in another mount
// namespace: another "host" of a multi-host test).
func InNetns(name string, fn func() error) error {
	path := name
	if !filepath.IsAbs(path) {
		path = filepath.Join(NetnsDir, name)
	}
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", name, err)
	}
	defer ns.Close()
	return netnsrun.In(ns, fn)
}

// Server answers probes in one namespace: TCP ports echo lines, UDP ports
// echo datagrams. It listens on every address (IPv4 and IPv6).
type Server struct {
	mu     sync.Mutex
	closed bool
	lns    []net.Listener
	pcs    []net.PacketConn
	conns  map[net.Conn]bool
	wg     sync.WaitGroup
}

// Serve starts a Server in namespace ns.
func Serve(ns string, tcpPorts, udpPorts []int) (*Server, error) {
	s := &Server{conns: map[net.Conn]bool{}}
	err := InNetns(ns, func() error {
		for _, p := range tcpPorts {
			ln, err := net.Listen("tcp", ":"+strconv.Itoa(p))
			if err != nil {
				return fmt.Errorf("listen tcp %d: %w", p, err)
			}
			s.lns = append(s.lns, ln)
		}
		for _, p := range udpPorts {
			pc, err := net.ListenPacket("udp", ":"+strconv.Itoa(p))
			if err != nil {
				return fmt.Errorf("listen udp %d: %w", p, err)
			}
			s.pcs = append(s.pcs, pc)
		}
		return nil
	})
	if err != nil {
		s.Close()
		return nil, err
	}
	for _, ln := range s.lns {
		s.wg.Go(func() { s.acceptLoop(ln) })
	}
	for _, pc := range s.pcs {
		s.wg.Go(func() { echoDatagrams(pc) })
	}
	return s, nil
}

func (s *Server) acceptLoop(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Go(func() {
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
			r := bufio.NewReader(c)
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if _, err := c.Write([]byte(line)); err != nil {
					return
				}
			}
		})
	}
}

func echoDatagrams(pc net.PacketConn) {
	buf := make([]byte, 65536)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		_, _ = pc.WriteTo(buf[:n], from)
	}
}

// Close stops the server and closes its connections.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	for _, ln := range s.lns {
		ln.Close()
	}
	for _, pc := range s.pcs {
		pc.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// DialTCP opens a TCP connection from namespace ns.
func DialTCP(ctx context.Context, ns string, dst netip.AddrPort, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := InNetns(ns, func() error {
		d := net.Dialer{Timeout: timeout}
		var err error
		c, err = d.DialContext(ctx, "tcp", dst.String())
		return err
	})
	return c, err
}

// Echo sends one line on c and waits up to timeout for it to come back.
func Echo(c net.Conn, line string, timeout time.Duration) error {
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	if _, err := c.Write([]byte(line + "\n")); err != nil {
		return err
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if got != line+"\n" {
		return fmt.Errorf("echo: got %q, want %q", got, line)
	}
	return nil
}

// TCP connects from ns to dst and exchanges one line. It returns nil when
// the path is open both ways.
func TCP(ctx context.Context, ns string, dst netip.AddrPort, timeout time.Duration) error {
	return TCPFrom(ctx, ns, 0, dst, timeout)
}

// TCPFrom is TCP from source port sport (0: any). The port may be reused
// while an earlier connection from it is in TIME_WAIT.
func TCPFrom(ctx context.Context, ns string, sport uint16, dst netip.AddrPort, timeout time.Duration) error {
	var c net.Conn
	err := InNetns(ns, func() error {
		d := net.Dialer{Timeout: timeout, LocalAddr: localAddr("tcp", dst, sport), Control: reuseAddr}
		var err error
		c, err = d.DialContext(ctx, "tcp", dst.String())
		return err
	})
	if err != nil {
		return err
	}
	defer c.Close()
	return Echo(c, "probe", timeout)
}

// UDP sends one datagram from ns to dst and waits for its echo.
func UDP(ctx context.Context, ns string, dst netip.AddrPort, timeout time.Duration) error {
	return UDPFrom(ctx, ns, 0, dst, timeout)
}

// UDPFrom is UDP from source port sport (0: any).
func UDPFrom(ctx context.Context, ns string, sport uint16, dst netip.AddrPort, timeout time.Duration) error {
	var c net.Conn
	err := InNetns(ns, func() error {
		d := net.Dialer{LocalAddr: localAddr("udp", dst, sport), Control: reuseAddr}
		var err error
		c, err = d.DialContext(ctx, "udp", dst.String())
		return err
	})
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	if _, err := c.Write([]byte("probe")); err != nil {
		return err
	}
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if err != nil {
		return err
	}
	if string(buf[:n]) != "probe" {
		return fmt.Errorf("udp echo: got %q", buf[:n])
	}
	return nil
}

// localAddr binds sport in dst's family; nil (any port) when sport is 0.
func localAddr(network string, dst netip.AddrPort, sport uint16) net.Addr {
	if sport == 0 {
		return nil
	}
	unspec := netip.IPv4Unspecified()
	if dst.Addr().Is6() {
		unspec = netip.IPv6Unspecified()
	}
	ap := netip.AddrPortFrom(unspec, sport)
	if network == "udp" {
		return net.UDPAddrFromAddrPort(ap)
	}
	return net.TCPAddrFromAddrPort(ap)
}

// reuseAddr lets a probe bind a source port a finished connection of the
// same port still holds in TIME_WAIT toward another peer.
func reuseAddr(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
	}); err != nil {
		return err
	}
	return serr
}

// timeoutErr is the error of an unanswered ICMP probe.
type timeoutErr struct{ what string }

func (e timeoutErr) Error() string   { return e.what + ": timeout" }
func (e timeoutErr) Timeout() bool   { return true }
func (e timeoutErr) Temporary() bool { return true }

// Ping sends one IPv4 echo request from ns over a raw socket and waits up
// to timeout for the reply (sub-second, unlike ping(8)). Each probe has a
// random identifier; replies to other probes are skipped. An ICMP error
// answering it is an error that is not a timeout (not a silent drop).
func Ping(ns string, dst netip.Addr, timeout time.Duration) error {
	var c net.PacketConn
	if err := InNetns(ns, func() error {
		var err error
		c, err = net.ListenPacket("ip4:icmp", "0.0.0.0")
		return err
	}); err != nil {
		return err
	}
	defer c.Close()
	id := uint16(1 + rand.IntN(65534))
	msg := make([]byte, 16)
	msg[0] = 8 // echo request
	binary.BigEndian.PutUint16(msg[4:], id)
	binary.BigEndian.PutUint16(msg[6:], 1)
	copy(msg[8:], "palisade")
	binary.BigEndian.PutUint16(msg[2:], icmpChecksum(msg))
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	if _, err := c.WriteTo(msg, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
		return err
	}
	buf := make([]byte, 1500)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return timeoutErr{fmt.Sprintf("icmp echo %s from %s", dst, ns)}
			}
			return err
		}
		ip, _ := from.(*net.IPAddr)
		if n >= 8 && buf[0] == 0 && binary.BigEndian.Uint16(buf[4:]) == id && ip != nil && ip.IP.Equal(dst.AsSlice()) {
			return nil
		}
		if n >= 8+20+8 && (buf[0] == 3 || buf[0] == 11) && binary.BigEndian.Uint16(buf[8+20+4:]) == id {
			return fmt.Errorf("icmp echo %s from %s: icmp error type %d code %d", dst, ns, buf[0], buf[1])
		}
	}
}

func icmpChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// ICMP pings dst once from ns with the system's ping.
func ICMP(ctx context.Context, ns string, dst netip.Addr, timeout time.Duration) error {
	secs := max(1, int(timeout/time.Second))
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", ns,
		"ping", "-n", "-q", "-c", "1", "-W", strconv.Itoa(secs), dst.String()).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ping %s from %s: %w: %s", dst, ns, err, out)
	}
	return nil
}

// IsTimeout reports whether err is a timeout: the mark of a silent drop (a
// refused or reset connection means packets got through).
func IsTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
