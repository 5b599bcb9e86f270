package waf

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/palisade-project/palisade/internal/netnsrun"
	"github.com/palisade-project/palisade/internal/waf/wafrule"
)

// clientConn is one client connection to an object's server. The runtime
// puts it in the context of the connection's requests (and so of their
// upstream requests) and closes it when the client's connection ends.
type clientConn struct {
	remote netip.AddrPort // invalid when the listener's address is not IP

	mu       sync.Mutex
	upstream *http.Transport // made on first use by PerClientConnection
	closed   bool
}

type clientConnKey struct{}

func newClientConn(c net.Conn) *clientConn {
	ap, _ := netip.ParseAddrPort(c.RemoteAddr().String())
	return &clientConn{remote: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())}
}

func clientConnOf(ctx context.Context) (*clientConn, bool) {
	cc, ok := ctx.Value(clientConnKey{}).(*clientConn)
	return cc, ok
}

// ClientAddr is the address and port of the client whose request ctx
// belongs to (the context of a request the runtime serves, of the upstream
// request derived from it, and of the upstream dial): a transparent
// upstream connects from it.
func ClientAddr(ctx context.Context) (netip.AddrPort, bool) {
	cc, ok := clientConnOf(ctx)
	if !ok || !cc.remote.IsValid() {
		return netip.AddrPort{}, false
	}
	return cc.remote, true
}

// transport returns the client connection's upstream transport, made by
// newTransport on first use.
func (cc *clientConn) transport(newTransport func() *http.Transport) (*http.Transport, error) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.closed {
		return nil, errors.New("waf: the client connection is closed")
	}
	if cc.upstream == nil {
		cc.upstream = newTransport()
	}
	return cc.upstream, nil
}

// close ends the client connection's upstream connections that are idle;
// one still busy is closed when its response body is (closeBody).
func (cc *clientConn) close() {
	cc.mu.Lock()
	cc.closed = true
	t := cc.upstream
	cc.mu.Unlock()
	if t != nil {
		t.CloseIdleConnections()
	}
}

func (cc *clientConn) isClosed() bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.closed
}

// PerClientConnection returns a round tripper that gives each client
// connection its own upstream connections: the requests of one client
// connection reuse its upstream connection, no other client's request
// ever does, and it is closed when the client's connection ends. So the
// upstream sees one connection per client connection, as on a direct
// path, and a transparent upstream connection can keep the client's
// source address and port for its whole life. newTransport makes the
// transport of one client connection on its first request. Requests not
// served by a Runtime (no client connection in their context) fail.
func PerClientConnection(newTransport func() *http.Transport) http.RoundTripper {
	return perClientConn(newTransport)
}

type perClientConn func() *http.Transport

func (p perClientConn) RoundTrip(r *http.Request) (*http.Response, error) {
	cc, ok := clientConnOf(r.Context())
	if !ok {
		return nil, errors.New("waf: upstream request without a client connection")
	}
	t, err := cc.transport(p)
	if err != nil {
		return nil, err
	}
	resp, err := t.RoundTrip(r)
	if err != nil || resp.StatusCode == http.StatusSwitchingProtocols {
		// An upgraded connection is the response body's (an
		// io.ReadWriteCloser the reverse proxy needs as it is); it never
		// returns to the pool.
		return resp, err
	}
	resp.Body = &closeBody{ReadCloser: resp.Body, cc: cc, t: t}
	return resp, nil
}

// closeBody closes the upstream connection a response leaves idle once
// its client connection has ended (an HTTP/2 stream or a request in
// flight when the client left).
type closeBody struct {
	io.ReadCloser
	cc *clientConn
	t  *http.Transport
}

func (b *closeBody) Close() error {
	err := b.ReadCloser.Close()
	if b.cc.isClosed() {
		b.t.CloseIdleConnections()
	}
	return err
}

// mirrorClose ends an HTTP/1 client connection after this response when
// its own upstream connection (PerClientConnection) ends after it: the
// upstream said Connection: close, as it would have to the client on a
// direct path. The client then reconnects, and its next connection gets a
// fresh upstream connection, rather than this client connection being
// carried on over another one.
func mirrorClose(resp *http.Response) {
	if !resp.Close || resp.Request == nil || resp.Request.ProtoMajor != 1 {
		return
	}
	cc, ok := clientConnOf(resp.Request.Context())
	if !ok {
		return
	}
	cc.mu.Lock()
	own := cc.upstream != nil
	cc.mu.Unlock()
	if own {
		resp.Header.Set("Connection", "close")
	}
}

// NetnsDir is where the named network namespaces are (`ip netns`): a VPC's
// is named after its ID.
const NetnsDir = "/run/netns"

// VPCNamespaces reaches objects' upstreams inside their VPC's network
// namespace, as the agents' host WAF does (netnsrun): a VPC's private
// addresses are routed there, and nowhere else on the host. An address of
// a VPC dialled from any other namespace would leave through that
// namespace's own routes, to whatever machine has the address there.
type VPCNamespaces struct {
	// Dir holds the namespaces (empty: NetnsDir).
	Dir string
	// Mark, when not 0, is the SO_MARK of the upstream connections. The
	// security-group program of a VPC with protected instances filters the
	// connections its router opens with linux.UpstreamMark through the
	// receiving ENI's ingress network ACL and security groups.
	Mark int

	mu      sync.Mutex
	entered map[string]enterCheck // VPC ID -> last check of its namespace file
}

type enterCheck struct {
	fi  os.FileInfo
	err error
}

// Errors of CheckObject and DialContext.
var (
	// ErrNetnsNotOnHost: the VPC's namespace is not on this host.
	ErrNetnsNotOnHost = errors.New("namespace not on this host")
	// ErrNetnsDenied: this process may not enter the namespace.
	ErrNetnsDenied = errors.New("namespace not enterable")
)

func (v *VPCNamespaces) dir() string {
	if v.Dir == "" {
		return NetnsDir
	}
	return v.Dir
}

func (v *VPCNamespaces) path(vpcID string) (string, error) {
	if !strings.HasPrefix(vpcID, "vpc-") || len(vpcID) == len("vpc-") || len(vpcID) > 200 || strings.ContainsAny(vpcID, "/\x00") {
		return "", fmt.Errorf("invalid VPC ID %q", vpcID)
	}
	return filepath.Join(v.dir(), vpcID), nil
}

// Check returns nil when the namespace of vpcID is on this host and this
// process can enter it: ErrNetnsNotOnHost or ErrNetnsDenied (wrapped)
// otherwise. Entering is tried once per namespace file.
func (v *VPCNamespaces) Check(vpcID string) error {
	p, err := v.path(vpcID)
	if err != nil {
		return err
	}
	fi, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: %s", ErrNetnsNotOnHost, p)
		}
		return fmt.Errorf("%w: %w", ErrNetnsDenied, err)
	}
	v.mu.Lock()
	last, ok := v.entered[vpcID]
	v.mu.Unlock()
	if ok && os.SameFile(last.fi, fi) {
		return last.err
	}
	err = v.in(vpcID, func() error { return nil })
	v.mu.Lock()
	if v.entered == nil {
		v.entered = map[string]enterCheck{}
	}
	v.entered[vpcID] = enterCheck{fi: fi, err: err}
	v.mu.Unlock()
	return err
}

// in runs fn on an OS thread inside the namespace of vpcID.
func (v *VPCNamespaces) in(vpcID string, fn func() error) error {
	p, err := v.path(vpcID)
	if err != nil {
		return err
	}
	ns, err := netns.GetFromPath(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: %s", ErrNetnsNotOnHost, p)
		}
		return fmt.Errorf("%w: open %s: %w", ErrNetnsDenied, p, err)
	}
	defer ns.Close()
	entered := false
	err = netnsrun.In(ns, func() error {
		entered = true
		return fn()
	})
	if err != nil && !entered {
		return fmt.Errorf("%w: %s: %w", ErrNetnsDenied, p, err)
	}
	return err
}

// DialContext connects to address from inside the namespace of vpcID. It
// never falls back to the caller's own namespace: when the namespace is
// gone or cannot be entered the dial fails.
func (v *VPCNamespaces) DialContext(ctx context.Context, vpcID, network, address string) (net.Conn, error) {
	var c net.Conn
	err := v.in(vpcID, func() error {
		d := net.Dialer{Timeout: UpstreamDialTimeout, KeepAlive: 30 * time.Second}
		// From the router's address on the upstream's subnet (the
		// vSwitch gateway), which the instance's filters then see.
		if src := localAddrOn(address); src.IsValid() {
			d.LocalAddr = &net.TCPAddr{IP: src.AsSlice()}
		}
		if v.Mark != 0 {
			d.Control = func(_, _ string, rc syscall.RawConn) error {
				var serr error
				if err := rc.Control(func(fd uintptr) {
					serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK, v.Mark)
				}); err != nil {
					return err
				}
				if serr != nil {
					return fmt.Errorf("SO_MARK: %w", serr)
				}
				return nil
			}
		}
		var err error
		c, err = d.DialContext(ctx, network, address)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("dial %s in VPC %s: %w", address, vpcID, err)
	}
	return c, nil
}

// localAddrOn returns this namespace's own IPv4 address on the subnet of
// address (host:port), other than address itself; invalid when there is
// none (the kernel then chooses the source).
func localAddrOn(address string) netip.Addr {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || !ap.Addr().Unmap().Is4() {
		return netip.Addr{}
	}
	dst := ap.Addr().Unmap()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return netip.Addr{}
	}
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(n.IP)
		if !ok || !ip.Unmap().Is4() || ip.Unmap() == dst || !n.Contains(dst.AsSlice()) {
			continue
		}
		return ip.Unmap()
	}
	return netip.Addr{}
}

// Transport returns the pooled transport to the upstreams of VPC vpcID:
// every connection is made inside its namespace (a socket stays in the
// namespace it was made in).
func (v *VPCNamespaces) Transport(vpcID string) *http.Transport {
	t := NewTransport()
	t.DialContext = func(ctx context.Context, network, address string) (net.Conn, error) {
		return v.DialContext(ctx, vpcID, network, address)
	}
	return t
}

// CheckObject says whether a standalone data plane (`palisade waf serve`)
// can serve oc from this host, with the reason when not. An object of a
// VPC (VPCID set, as the control plane gives every object) is served when
// the VPC's namespace is here and may be entered: its upstream is then
// reached from inside it. An object without a VPC is reached from this
// process's own namespace, so only when its upstream is a loopback
// address (it cannot leave the host); any other address would be sent
// wherever the host's own routes lead (a configuration from a server
// that predates VPC IDs, say).
func (v *VPCNamespaces) CheckObject(oc wafrule.ObjectConfig) error {
	const fix = "run waf serve as root on the host that runs the VPC"
	if oc.VPCID == "" {
		host, _, err := net.SplitHostPort(oc.Upstream)
		if a, perr := netip.ParseAddr(host); err == nil && (host == "localhost" || perr == nil && a.Unmap().IsLoopback()) {
			return nil
		}
		return fmt.Errorf("upstream %q has no VPC in the configuration (is the server older than this client?): not served, as this host's own routes would carry it elsewhere", oc.Upstream)
	}
	err := v.Check(oc.VPCID)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNetnsNotOnHost):
		return fmt.Errorf("upstream %s is in VPC %s, whose namespace is not on this host: %s", oc.Upstream, oc.VPCID, fix)
	case errors.Is(err, ErrNetnsDenied):
		return fmt.Errorf("upstream %s is in VPC %s, whose namespace this process may not enter (%v): %s", oc.Upstream, oc.VPCID, err, fix)
	default:
		return fmt.Errorf("upstream %s is in VPC %s: %v", oc.Upstream, oc.VPCID, err)
	}
}
