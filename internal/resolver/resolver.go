// Package resolver is a VPC's DNS server: it answers the names Palisade
// owns (PrivateLink endpoint domains) with authority, and forwards every
// other question to the host's upstream servers, as a cloud's VPC
// resolver does.
package resolver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Records maps fully qualified names (lowercase, with the final dot) to
// their IPv4 addresses.
type Records map[string][]netip.Addr

// Config configures a Server.
type Config struct {
	// Zones are the domains the server is authoritative for (with the
	// final dot): a name under one of them that Records lacks does not
	// exist; nothing under them is forwarded.
	Zones []string
	// Upstream are the servers ("host:port") other questions go to, tried
	// in order; none: those questions fail (SERVFAIL).
	Upstream []string
	// Timeout bounds each upstream exchange (default 2 s).
	Timeout time.Duration
	// TTL of the answers from Records (default 30 s).
	TTL    uint32
	Logger *slog.Logger
}

// Server serves one VPC on UDP and TCP.
type Server struct {
	cfg     Config
	client  *dns.Client
	mu      sync.RWMutex
	records Records
	servers []*dns.Server
	wg      sync.WaitGroup
}

// Serve starts a server on the given sockets (made by the caller inside
// the VPC's namespace; the upstream exchanges use the process's own
// network, the host's).
func Serve(cfg Config, pc net.PacketConn, ln net.Listener) *Server {
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.TTL == 0 {
		cfg.TTL = 30
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	for i, z := range cfg.Zones {
		cfg.Zones[i] = dns.CanonicalName(z)
	}
	s := &Server{cfg: cfg, client: &dns.Client{Timeout: cfg.Timeout}, records: Records{}}
	h := dns.HandlerFunc(s.serveDNS)
	s.servers = []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}}
	// Serve returns only once both servers run (or have failed): a
	// Shutdown that comes before ActivateAndServe marks a server started
	// is refused by miekg/dns ("server not started"), and the server would
	// then serve on forever, hanging Close.
	var ready sync.WaitGroup
	for _, srv := range s.servers {
		ready.Add(1)
		started := sync.OnceFunc(ready.Done)
		srv.NotifyStartedFunc = started
		s.wg.Go(func() {
			defer started()
			if err := srv.ActivateAndServe(); err != nil && !errors.Is(err, net.ErrClosed) {
				cfg.Logger.Warn("dns server", "err", err)
			}
		})
	}
	ready.Wait()
	return s
}

// SetRecords replaces the served records.
func (s *Server) SetRecords(r Records) {
	canon := make(Records, len(r))
	for name, addrs := range r {
		canon[dns.CanonicalName(name)] = addrs
	}
	s.mu.Lock()
	s.records = canon
	s.mu.Unlock()
}

// Close stops the server and waits for it.
func (s *Server) Close() {
	for _, srv := range s.servers {
		_ = srv.Shutdown()
	}
	s.wg.Wait()
}

func (s *Server) serveDNS(w dns.ResponseWriter, req *dns.Msg) {
	resp := s.answer(w, req)
	if err := w.WriteMsg(resp); err != nil {
		s.cfg.Logger.Debug("dns reply", "err", err)
	}
}

// answer is the reply to req: from the records for a name of the zones,
// from upstream for any other.
func (s *Server) answer(w dns.ResponseWriter, req *dns.Msg) *dns.Msg {
	resp := new(dns.Msg)
	if len(req.Question) != 1 || req.Opcode != dns.OpcodeQuery {
		return resp.SetRcode(req, dns.RcodeNotImplemented)
	}
	q := req.Question[0]
	name := dns.CanonicalName(q.Name)
	if !s.owned(name) {
		return s.forward(w, req)
	}
	resp.SetReply(req)
	resp.Authoritative = true
	s.mu.RLock()
	addrs, ok := s.records[name]
	s.mu.RUnlock()
	if !ok {
		resp.Rcode = dns.RcodeNameError
		return resp
	}
	if q.Qclass == dns.ClassINET && (q.Qtype == dns.TypeA || q.Qtype == dns.TypeANY) {
		for _, a := range addrs {
			resp.Answer = append(resp.Answer, &dns.A{
				Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: s.cfg.TTL},
				A:   net.IP(a.AsSlice()),
			})
		}
	}
	return resp // other types: the name exists, with no such record
}

func (s *Server) owned(name string) bool {
	for _, z := range s.cfg.Zones {
		if dns.IsSubDomain(z, name) {
			return true
		}
	}
	return false
}

// forward asks the upstream servers in turn, over the transport the
// question came on.
func (s *Server) forward(w dns.ResponseWriter, req *dns.Msg) *dns.Msg {
	c := *s.client
	if _, tcp := w.LocalAddr().(*net.TCPAddr); tcp {
		c.Net = "tcp"
	}
	var errs []error
	for _, up := range s.cfg.Upstream {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
		resp, _, err := c.ExchangeContext(ctx, req, up)
		cancel()
		if err == nil {
			return resp
		}
		errs = append(errs, fmt.Errorf("%s: %w", up, err))
	}
	if len(errs) > 0 {
		s.cfg.Logger.Debug("dns forward", "name", req.Question[0].Name, "err", errors.Join(errs...))
	}
	return new(dns.Msg).SetRcode(req, dns.RcodeServerFailure)
}

// HostUpstream reads the host's resolvers from resolv.conf (path), as
// "host:port"; a missing file gives none.
func HostUpstream(path string) []string {
	cc, err := dns.ClientConfigFromFile(path)
	if err != nil {
		return nil
	}
	var out []string
	for _, s := range cc.Servers {
		out = append(out, net.JoinHostPort(strings.Trim(s, "[]"), cc.Port))
	}
	return out
}
