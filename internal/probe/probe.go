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
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/vishvananda/netns"
)

// NetnsDir is where named namespaces live (as made by `ip netns add`).
const NetnsDir = "/run/netns"

// InNetns runs fn on an OS thread inside the named namespace.
func InNetns(name string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("current netns: %w", err)
			return
		}
		defer orig.Close()
		ns, err := netns.GetFromPath(filepath.Join(NetnsDir, name))
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open netns %s: %w", name, err)
			return
		}
		defer ns.Close()
		if err := netns.Set(ns); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter netns %s: %w", name, err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			// The thread stays locked and dies with the goroutine.
			errc <- errors.Join(ferr, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
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
	c, err := DialTCP(ctx, ns, dst, timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	return Echo(c, "probe", timeout)
}

// UDP sends one datagram from ns to dst and waits for its echo.
func UDP(ctx context.Context, ns string, dst netip.AddrPort, timeout time.Duration) error {
	var c net.Conn
	err := InNetns(ns, func() error {
		var err error
		c, err = (&net.Dialer{}).DialContext(ctx, "udp", dst.String())
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
