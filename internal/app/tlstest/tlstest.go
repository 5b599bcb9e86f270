// Package tlstest makes throwaway TLS material for tests and starts a
// Palisade API server that serves TLS with it. Only for tests: it imports
// package testing.
package tlstest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/app"
)

// Pair is a self-signed certificate for 127.0.0.1, ::1 and localhost and
// its key, in PEM files. CertFile is also the CA file a client must trust.
type Pair struct {
	CertFile string
	KeyFile  string
	Cert     *x509.Certificate
}

// SelfSigned writes a new self-signed pair named name(-key).pem into dir.
func SelfSigned(t testing.TB, dir, name string) Pair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "palisade test " + name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p := Pair{CertFile: filepath.Join(dir, name+".pem"), KeyFile: filepath.Join(dir, name+"-key.pem"), Cert: cert}
	writePEM(t, p.CertFile, "CERTIFICATE", der)
	writePEM(t, p.KeyFile, "PRIVATE KEY", keyDER)
	return p
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	// Through a rename, as a renewal would, so a reader never sees half a file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// Server is a running API server that serves TLS.
type Server struct {
	App *app.App
	// Endpoint is "https://127.0.0.1:port".
	Endpoint string
	// Pair is the server's certificate; Pair.CertFile is the CA to trust.
	Pair            Pair
	AccessKeyID     string
	AccessKeySecret string
}

// Start starts a server (memory backend, region "local") on 127.0.0.1:0
// with a new self-signed pair; it stops in t.Cleanup. log nil: discarded.
func Start(t testing.TB, log *slog.Logger) *Server {
	t.Helper()
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	dir := t.TempDir()
	pair := SelfSigned(t, dir, "server")
	a, err := app.New(app.Options{
		Listen:      "127.0.0.1:0",
		DataDir:     filepath.Join(dir, "data"),
		Region:      app.DefaultRegion,
		Backend:     app.BackendMemory,
		Logger:      log,
		TLSCertFile: pair.CertFile,
		TLSKeyFile:  pair.KeyFile,
	})
	if err != nil {
		t.Fatalf("tlstest: start server: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("tlstest: server shutdown: %v", err)
		}
	})
	_, key := a.Admin()
	return &Server{App: a, Endpoint: "https://" + a.Addr(), Pair: pair, AccessKeyID: key.ID, AccessKeySecret: key.Secret}
}
