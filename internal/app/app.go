// Package app assembles the Palisade API server: store, service, router,
// HTTP server, admin credentials. cmd/palisade calls Run; tests use New,
// Serve and Close (see package apitest).
//
// The app does not read the environment: the caller fills Options (use
// RootKeyFromEnv for PALISADE_ROOT_ACCESS_KEY_ID and
// PALISADE_ROOT_ACCESS_KEY_SECRET), so tests are not affected by the
// environment they run in.
package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/console"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/service"
	"github.com/palisade-project/palisade/internal/store"
)

// Defaults.
const (
	DefaultListen  = "127.0.0.1:8787"
	DefaultDataDir = "./palisade-data"
	DefaultRegion  = "local"

	// CredentialsFile is the admin key file in the data directory.
	CredentialsFile = "credentials.json"
	// DBFile is the bbolt database in the data directory.
	DBFile = "palisade.db"

	// EnvRootKeyID and EnvRootKeySecret preset the admin key pair.
	EnvRootKeyID     = "PALISADE_ROOT_ACCESS_KEY_ID"
	EnvRootKeySecret = "PALISADE_ROOT_ACCESS_KEY_SECRET"

	shutdownTimeout = 10 * time.Second
)

// Backends.
const (
	BackendBolt   = "bolt"
	BackendMemory = "memory" // nothing persists; tests and benchmark baselines
)

// Options configures an App. Zero values mean the defaults above.
type Options struct {
	Listen  string // host:port; ":0" or "127.0.0.1:0" picks a free port (see Addr)
	DataDir string
	Region  string
	Backend string // BackendBolt (default) or BackendMemory
	// RootAccessKeyID and RootAccessKeySecret preset the admin key (both
	// or neither); see RootKeyFromEnv.
	RootAccessKeyID     string
	RootAccessKeySecret string
	Quotas              service.Quotas // zero: service.DefaultQuotas()
	Logger              *slog.Logger   // nil: slog.Default()
	// ZoneServed is passed to the service (nil: no agent serves any zone).
	ZoneServed func(zoneID string) bool
	// PublicCIDR is the elastic IP pool (zero: service.DefaultPublicCIDR).
	PublicCIDR netip.Prefix
	// FlowLogWindowScale divides flow-log capture windows (demos, tests;
	// 0 or 1 in production). FlowLogRetention is how long flow-log records
	// are kept (0: DefaultFlowLogRetention).
	FlowLogWindowScale int
	FlowLogRetention   time.Duration
	// DDoS is the operator's Anti-DDoS Basic configuration, which the
	// server writes to the store for the agents (zero:
	// model.DefaultDDoSConfig(); otherwise it must pass Validate).
	DDoS model.DDoSConfig
	// TLSCertFile and TLSKeyFile are a PEM certificate (chain) and its
	// private key: with them the API serves TLS only (1.2 at least) and
	// re-reads the pair when the files change; both empty: plain HTTP.
	TLSCertFile string
	TLSKeyFile  string
	// DNSUpstream are the DNS servers ("host:port", tried in order) the
	// server resolves the domains of Cloud Firewall policies with (the
	// --dns-upstream flag). nil: the nameservers of /etc/resolv.conf; an
	// empty non-nil list: none (every lookup fails; tests).
	DNSUpstream []string
	// DomainResolvePeriod is how often every domain is looked up again
	// (0: DefaultDomainResolvePeriod, 30 s).
	DomainResolvePeriod time.Duration
}

// RootKeyFromEnv reads PALISADE_ROOT_ACCESS_KEY_ID and
// PALISADE_ROOT_ACCESS_KEY_SECRET with getenv (os.Getenv in main).
func RootKeyFromEnv(getenv func(string) string) (id, secret string) {
	return getenv(EnvRootKeyID), getenv(EnvRootKeySecret)
}

// Credentials is the content of credentials.json.
type Credentials struct {
	AccessKeyID     string `json:"access_key_id"`
	AccessKeySecret string `json:"access_key_secret"`
}

// App is a running Palisade control plane.
type App struct {
	opts     Options
	log      *slog.Logger
	st       store.Store
	svc      *service.Service
	router   *api.Router
	handler  *api.Server // closed before the store: it flushes the used nonces
	ln       net.Listener
	srv      *http.Server
	mu       sync.Mutex // guards admin and adminKey (the root key may be replaced)
	admin    model.Account
	adminKey model.AccessKey

	closeOnce sync.Once
	closeErr  error

	// metrics is the Prometheus registry served on /metrics (to admin
	// keys): the API's, the local agent's and the Go runtime's metrics.
	metrics *prometheus.Registry

	// domains resolves the domains of Cloud Firewall policies (domains.go),
	// in a loop that Serve starts (domStop stops it; domClosed: Close ran,
	// it never starts again).
	domains   *domainResolver
	domMu     sync.Mutex
	domStop   func()
	domClosed bool
}

// New opens the store, ensures the admin account, writes credentials.json
// and binds the listener. It does not serve until Serve.
func New(opts Options) (*App, error) {
	if opts.Listen == "" {
		opts.Listen = DefaultListen
	}
	if opts.DataDir == "" {
		opts.DataDir = DefaultDataDir
	}
	if opts.Region == "" {
		opts.Region = DefaultRegion
	}
	if opts.Backend == "" {
		opts.Backend = BackendBolt
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	a := &App{opts: opts, log: opts.Logger}
	if err := a.init(); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

func (a *App) init() error {
	if a.opts.DDoS == (model.DDoSConfig{}) {
		a.opts.DDoS = model.DefaultDDoSConfig()
	}
	if err := a.opts.DDoS.Validate(); err != nil {
		return err
	}
	if err := secureDataDir(a.opts.DataDir, a.log); err != nil {
		return err
	}
	st, err := openStore(a.opts.Backend, filepath.Join(a.opts.DataDir, DBFile))
	if err != nil {
		return err
	}
	a.st = st
	if a.opts.FlowLogRetention <= 0 {
		a.opts.FlowLogRetention = DefaultFlowLogRetention
	}
	flowRecs, err := openFlowRecords(a.opts.Backend, a.opts.DataDir, a.opts.FlowLogRetention)
	if err != nil {
		return err
	}
	a.svc = service.New(st, service.Config{Region: a.opts.Region, Quotas: a.opts.Quotas, ZoneServed: a.opts.ZoneServed, PublicCIDR: a.opts.PublicCIDR,
		FlowLogWindowScale: a.opts.FlowLogWindowScale, FlowLogRetention: a.opts.FlowLogRetention, FlowRecords: flowRecs, DataDir: a.opts.DataDir, Logger: a.log,
		RootKeyDeleted: a.rootKeyDeleted, DDoS: a.opts.DDoS})
	a.router = api.NewRouter()
	registerAll(a.router, a.svc)
	a.domains = newDomainResolver(a.svc, st, a.log, a.opts.DNSUpstream, a.opts.DomainResolvePeriod)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.svc.ReconcileFlowLogWindows(ctx); err != nil {
		return fmt.Errorf("flow-log windows: %w", err)
	}
	// Before any agent starts: they join VPCs across hosts by VNI.
	if err := a.svc.AssignMissingVNIs(ctx); err != nil {
		return fmt.Errorf("VXLAN network identifiers: %w", err)
	}
	// Before any agent starts: they read the Anti-DDoS settings there.
	if err := a.svc.EnsureDDoSConfig(ctx); err != nil {
		return fmt.Errorf("anti-DDoS configuration: %w", err)
	}
	// The key published last time is the previous root key of data
	// directories from before the store recorded it (EnsureAdmin).
	published, _ := ReadCredentials(a.opts.DataDir)
	admin, key, created, err := a.svc.EnsureAdmin(ctx, a.opts.RootAccessKeyID, a.opts.RootAccessKeySecret, published.AccessKeyID)
	if err != nil {
		return err
	}
	if err := a.publishRootKey(admin, key); err != nil {
		return err
	}
	a.log.Info("admin account ready", "account", admin.ID, "access_key_id", key.ID,
		"created", created, "credentials", filepath.Join(a.opts.DataDir, CredentialsFile))

	tlsConf, err := serverTLS(a.opts, a.log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", a.opts.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", a.opts.Listen, err)
	}
	a.ln = ln
	// Used signature nonces outlive a restart where the backend keeps
	// them (bolt); the memory backend keeps nothing.
	var nonces api.NonceStore
	if ns, ok := st.(store.NonceStore); ok {
		nonces = ns
	}
	if a.metrics, err = newMetricsRegistry(); err != nil {
		return err
	}
	apiMetrics, err := api.NewMetrics(a.metrics)
	if err != nil {
		return err
	}
	handler := api.NewServer(api.ServerOptions{
		Router:  a.router,
		Keys:    a.svc.LookupAccessKey,
		Region:  a.opts.Region,
		Logger:  a.log,
		Nonces:  nonces,
		Metrics: apiMetrics,
	})
	a.handler = handler
	if err := handler.Start(ctx); err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/", handler)
	mux.Handle("GET "+MetricsPath, adminOnly(a.svc.LookupAccessKey, a.log, metricsHandler(a.metrics, a.log)))
	// The web console (sessions in memory: a restart logs its users out).
	mux.Handle("/console/", console.New(console.Options{
		Router: a.router,
		Keys:   a.svc.LookupAccessKey,
		Region: a.opts.Region,
		Logger: a.log,
	}))
	// Requests' contexts end when shutdown begins, so that long polls
	// (WaitState of remote agents) return at once instead of holding the
	// graceful shutdown for their whole wait.
	base, cancelBase := context.WithCancel(context.Background())
	a.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return base },
		TLSConfig:         tlsConf, // nil: plain HTTP
	}
	a.srv.RegisterOnShutdown(cancelBase)
	return nil
}

// secureDataDir creates the data directory with mode 0700, or tightens an
// existing one that other users may read or enter: it holds the database
// and the admin's credentials. A directory that is plainly not Palisade's
// own (sticky, like /tmp, or another user's) is left alone, with a warning.
func secureDataDir(dir string, log *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("data dir %s is not a directory", dir)
	}
	perm := fi.Mode().Perm()
	if perm&0o077 == 0 {
		return nil
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if fi.Mode()&os.ModeSticky != 0 || (ok && int(st.Uid) != os.Geteuid()) {
		log.Warn("data directory is open to other users but not Palisade's own (sticky or another user's): mode left as is; use a private directory",
			"data_dir", dir, "mode", fmt.Sprintf("%#o", perm))
		return nil
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("tighten data dir %s to 0700: %w", dir, err)
	}
	log.Warn("data directory was open to other users: mode tightened",
		"data_dir", dir, "from", fmt.Sprintf("%#o", perm), "to", "0700")
	return nil
}

// publishRootKey records the root key and writes it to credentials.json.
func (a *App) publishRootKey(admin model.Account, key model.AccessKey) error {
	if err := writeCredentials(filepath.Join(a.opts.DataDir, CredentialsFile), Credentials{AccessKeyID: key.ID, AccessKeySecret: key.Secret}); err != nil {
		return err
	}
	a.mu.Lock()
	a.admin, a.adminKey = admin, key
	a.mu.Unlock()
	return nil
}

// rootKeyDeleted follows DeleteAccessKey of the root key: without a preset
// root key a new one is made and published at once, so that
// credentials.json always holds a valid key; a preset root key stays
// deleted (the next start refuses it: the environment needs a new pair).
func (a *App) rootKeyDeleted(keyID string) {
	if a.opts.RootAccessKeyID != "" {
		a.log.Warn("the root access key from the environment was deleted; set "+EnvRootKeyID+" and "+EnvRootKeySecret+
			" to a new key pair before the next start (a deleted key is refused)", "access_key_id", keyID)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, key, _, err := a.svc.EnsureAdmin(ctx, "", "", "")
	if err == nil {
		err = a.publishRootKey(admin, key)
	}
	if err != nil {
		a.log.Error("root access key deleted: publishing a new one failed; it is made at the next start", "deleted_access_key_id", keyID, "err", err)
		return
	}
	a.log.Warn("root access key deleted: a new one is in credentials.json", "deleted_access_key_id", keyID, "access_key_id", key.ID)
}

// writeCredentials writes the admin key atomically with mode 0600.
func writeCredentials(path string, c Credentials) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".credentials-*.tmp")
	if err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("write credentials: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("write credentials: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write credentials: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	return nil
}

// ReadCredentials reads <dataDir>/credentials.json.
func ReadCredentials(dataDir string) (Credentials, error) {
	var c Credentials
	b, err := os.ReadFile(filepath.Join(dataDir, CredentialsFile))
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("parse %s: %w", CredentialsFile, err)
	}
	return c, nil
}

// Addr is the address the server listens on (the real port when the
// configured one was 0).
func (a *App) Addr() string { return a.ln.Addr().String() }

// Service returns the service layer (for in-process components and tests).
func (a *App) Service() *service.Service { return a.svc }

// Router returns the API router (tests may register extra routes before Serve).
func (a *App) Router() *api.Router { return a.router }

// Admin returns the admin account and the key written to credentials.json.
func (a *App) Admin() (model.Account, model.AccessKey) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.admin, a.adminKey
}

// Serve serves HTTP until ctx ends, then shuts down gracefully and closes
// the app. It returns nil after a clean shutdown.
func (a *App) Serve(ctx context.Context) error {
	a.log.Info("palisade API listening", "addr", a.Addr(), "tls", a.srv.TLSConfig != nil, "region", a.opts.Region, "backend", a.opts.Backend)
	a.warnCleartext()
	a.startDomains()
	errc := make(chan error, 1)
	go func() { errc <- a.serveListener() }()
	select {
	case err := <-errc:
		a.Close()
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := a.srv.Shutdown(sctx)
	<-errc
	if cerr := a.Close(); err == nil {
		err = cerr
	}
	a.log.Info("palisade API stopped")
	return err
}

// Close stops the HTTP server (without waiting for requests), writes the
// used signature nonces not yet written and closes the store. It is safe
// to call more than once.
func (a *App) Close() error {
	a.closeOnce.Do(func() {
		var errList []error
		if a.srv != nil {
			if err := a.srv.Close(); err != nil {
				errList = append(errList, err)
			}
		}
		// srv.Close only closes listeners it serves; Serve may not have run.
		if a.ln != nil {
			if err := a.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				errList = append(errList, err)
			}
		}
		// After the listener, before the store: the nonces not yet
		// written are written, and requests still running are refused
		// from now on rather than accepted unrecorded.
		// The resolution loop writes to the store: it stops first.
		a.stopDomains()
		if a.handler != nil {
			ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
			err := a.handler.Close(ctx)
			cancel()
			if err != nil {
				errList = append(errList, err)
			}
		}
		if a.svc != nil {
			if err := a.svc.CloseFlowLogs(); err != nil {
				errList = append(errList, fmt.Errorf("close flow logs: %w", err))
			}
		}
		if a.st != nil {
			if err := a.st.Close(); err != nil {
				errList = append(errList, fmt.Errorf("close store: %w", err))
			}
		}
		a.closeErr = errors.Join(errList...)
	})
	return a.closeErr
}

// Run is New followed by Serve.
func Run(ctx context.Context, opts Options) error {
	a, err := New(opts)
	if err != nil {
		return err
	}
	return a.Serve(ctx)
}
