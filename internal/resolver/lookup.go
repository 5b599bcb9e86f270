package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// ErrNoUpstream is LookupA's error when it has no server to ask.
var ErrNoUpstream = errors.New("no upstream DNS server")

// maxCNAMEs bounds the CNAME chain LookupA follows within an answer.
const maxCNAMEs = 16

// LookupA asks the upstream servers ("host:port"), in order, for the A
// records of name, each within timeout (default 2 s), over UDP and again
// over TCP when the answer is truncated. The first server that answers
// decides: its addresses for name, following the CNAMEs within the
// answer, sorted and each once. A name that does not exist (NXDOMAIN) or
// has no A record is an answer: no addresses and no error. An error
// means no server answered (a timeout, a refused connection, SERVFAIL or
// REFUSED from each); its text names each server and what went wrong,
// without anything that varies from one attempt to the next (a local
// port), so that an unchanged failure reads the same.
func LookupA(ctx context.Context, upstream []string, name string, timeout time.Duration) ([]netip.Addr, error) {
	if len(upstream) == 0 {
		return nil, ErrNoUpstream
	}
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	q := new(dns.Msg).SetQuestion(dns.Fqdn(name), dns.TypeA)
	var errList []error
	for _, up := range upstream {
		resp, err := exchange(ctx, q, up, timeout)
		if err == nil {
			switch resp.Rcode {
			case dns.RcodeSuccess:
				return answerAddrs(resp, q.Question[0].Name), nil
			case dns.RcodeNameError:
				return nil, nil
			}
			err = errors.New(dns.RcodeToString[resp.Rcode])
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		errList = append(errList, fmt.Errorf("%s: %s", up, stableError(err)))
	}
	return nil, errors.Join(errList...)
}

// exchange asks one server over UDP, then over TCP when the answer does
// not fit.
func exchange(ctx context.Context, q *dns.Msg, server string, timeout time.Duration) (*dns.Msg, error) {
	var resp *dns.Msg
	for _, transport := range []string{"udp", "tcp"} {
		r, err := exchangeOnce(ctx, &dns.Client{Net: transport, Timeout: timeout}, q, server, timeout)
		if err != nil {
			return nil, err
		}
		if resp = r; !r.Truncated {
			break
		}
	}
	return resp, nil
}

// exchangeOnce is one question and its answer. The connection is closed
// when ctx ends: the client only bounds a read by a deadline, and a
// server shutting down should not wait for the timeout.
func exchangeOnce(ctx context.Context, c *dns.Client, q *dns.Msg, server string, timeout time.Duration) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := c.DialContext(ctx, server)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	r, _, err := c.ExchangeWithConnContext(ctx, q, conn)
	if err != nil && ctx.Err() != nil {
		return nil, ctx.Err() // the timeout, or the caller gave up: not the closed connection
	}
	return r, err
}

// answerAddrs returns the addresses of the A records of qname in resp,
// following the CNAMEs that start there.
func answerAddrs(resp *dns.Msg, qname string) []netip.Addr {
	names := map[string]bool{dns.CanonicalName(qname): true}
	for range maxCNAMEs {
		grew := false
		for _, rr := range resp.Answer {
			if c, ok := rr.(*dns.CNAME); ok && names[dns.CanonicalName(c.Hdr.Name)] && !names[dns.CanonicalName(c.Target)] {
				names[dns.CanonicalName(c.Target)] = true
				grew = true
			}
		}
		if !grew {
			break
		}
	}
	var out []netip.Addr
	for _, rr := range resp.Answer {
		if a, ok := rr.(*dns.A); ok && names[dns.CanonicalName(a.Hdr.Name)] {
			if addr, ok := netip.AddrFromSlice(a.A); ok && addr.Unmap().Is4() {
				out = append(out, addr.Unmap())
			}
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

// stableError is err without what varies between attempts: a timeout is
// "timed out", a network error its operation and cause without the
// addresses (the local port changes every time).
func stableError(err error) string {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return "timed out"
	}
	var op *net.OpError
	if errors.As(err, &op) {
		inner := op.Err
		var sys *os.SyscallError
		if errors.As(inner, &sys) {
			inner = sys.Err
		}
		return strings.TrimSpace(op.Op + ": " + inner.Error())
	}
	return err.Error()
}
