package app

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"
)

// certCheckInterval is how often, at most, a TLS handshake looks at the
// certificate and key files for a change.
const certCheckInterval = time.Second

// serverTLS returns the API listener's TLS configuration (TLS 1.2 at
// least, the pair re-read when its files change), or nil when
// Options.TLSCertFile and TLSKeyFile are both empty: then the API serves
// plain HTTP. The pair is loaded now, so a bad one fails the start.
func serverTLS(o Options, log *slog.Logger) (*tls.Config, error) {
	if o.TLSCertFile == "" && o.TLSKeyFile == "" {
		return nil, nil
	}
	if o.TLSCertFile == "" || o.TLSKeyFile == "" {
		return nil, errors.New("TLS needs both a certificate and a private key file")
	}
	r, err := newCertReloader(o.TLSCertFile, o.TLSKeyFile, log)
	if err != nil {
		return nil, err
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.getCertificate}, nil
}

// warnCleartext logs a warning when the API serves plain HTTP on an
// address other hosts may reach: requests, responses (DescribeState
// carries every account's records) and the access-key signatures that
// travel with the parameters cross the network in clear text.
func (a *App) warnCleartext() {
	if a.srv.TLSConfig != nil {
		return
	}
	if tcp, ok := a.ln.Addr().(*net.TCPAddr); ok && tcp.IP.IsLoopback() {
		return
	}
	a.log.Warn("API listens on a non-loopback address without TLS: requests, responses and their signatures cross the network in clear text; "+
		"give a certificate and key (--tls-cert, --tls-key)", "addr", a.Addr())
}

// serveListener serves a.ln with TLS when configured, else plain HTTP.
func (a *App) serveListener() error {
	if a.srv.TLSConfig != nil {
		// The pair comes from TLSConfig.GetCertificate.
		return a.srv.ServeTLS(a.ln, "", "")
	}
	return a.srv.Serve(a.ln)
}

// fileStamp identifies one version of a file.
type fileStamp struct {
	modTime time.Time
	size    int64
}

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{modTime: fi.ModTime(), size: fi.Size()}, nil
}

// certReloader serves a certificate and key pair and reloads it when either
// file changes (a renewal), checked at most every interval on a handshake.
// A pair that fails to load (a half-written renewal, a key that does not
// match) is logged and the previous one served until the files change
// again.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger
	interval          time.Duration

	mu      sync.Mutex // guards the fields below
	cert    *tls.Certificate
	seen    [2]fileStamp // stamps of the files last tried
	checked time.Time
}

func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, log: log, interval: certCheckInterval}
	stamps, err := r.stamps()
	if err != nil {
		return nil, fmt.Errorf("TLS: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("TLS: load certificate %s and key %s: %w", certFile, keyFile, err)
	}
	r.cert, r.seen, r.checked = &cert, stamps, time.Now()
	r.logLoaded("TLS certificate loaded", &cert)
	return r, nil
}

func (r *certReloader) stamps() ([2]fileStamp, error) {
	c, err := stampOf(r.certFile)
	if err != nil {
		return [2]fileStamp{}, err
	}
	k, err := stampOf(r.keyFile)
	if err != nil {
		return [2]fileStamp{}, err
	}
	return [2]fileStamp{c, k}, nil
}

func (r *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if now.Sub(r.checked) < r.interval {
		return r.cert, nil
	}
	r.checked = now
	stamps, err := r.stamps()
	if err != nil || stamps == r.seen {
		// A file missing for a moment (being replaced) keeps the pair.
		return r.cert, nil
	}
	r.seen = stamps
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		r.log.Warn("TLS certificate or key changed but does not load: still serving the previous one",
			"cert", r.certFile, "key", r.keyFile, "err", err)
		return r.cert, nil
	}
	r.cert = &cert
	r.logLoaded("TLS certificate reloaded", &cert)
	return r.cert, nil
}

func (r *certReloader) logLoaded(msg string, c *tls.Certificate) {
	if c.Leaf == nil {
		r.log.Info(msg, "cert", r.certFile)
		return
	}
	r.log.Info(msg, "cert", r.certFile, "subject", c.Leaf.Subject.String(), "not_after", c.Leaf.NotAfter.UTC())
	if now := time.Now(); now.After(c.Leaf.NotAfter) || now.Before(c.Leaf.NotBefore) {
		r.log.Warn("TLS certificate is not valid now: clients will refuse it", "cert", r.certFile,
			"not_before", c.Leaf.NotBefore.UTC(), "not_after", c.Leaf.NotAfter.UTC())
	}
}
