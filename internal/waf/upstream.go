package waf

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
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
