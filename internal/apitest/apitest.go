// Package apitest starts a real Palisade API server for tests and hands out
// clients of the official Alibaba Cloud SDKs pointed at it.
//
//	env := apitest.Start(t)
//	ecsClient := env.ECS(t, env.Admin)
//	bob := env.NewAccount(t, "bob")
//	_, err := env.VPC(t, bob).DescribeVpcs(vpc.CreateDescribeVpcsRequest())
//	status, code := apitest.ServerErr(t, err)
//
// Clients use region "local" (the server's region: any other RegionId is
// refused) and plain HTTP. Only for tests: it imports package testing.
package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	stderrors "errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	openapiutil "github.com/alibabacloud-go/darabonba-openapi/v2/utils"
	ecsv2 "github.com/alibabacloud-go/ecs-20140526/v7/client"
	slb "github.com/alibabacloud-go/slb-20140515/v4/client"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	antiddos "github.com/aliyun/alibaba-cloud-sdk-go/services/antiddos-public"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/cloudfw"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/privatelink"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpcpeer"

	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/app"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/service"
	"github.com/palisade-project/palisade/internal/store"
)

// Region is the region of the test server and of every client.
const Region = "local"

// noProxy keeps the SDKs from sending loopback traffic to an HTTP(S)_PROXY
// of the environment (ALIBABA_API.md section 8, trap 7).
const noProxy = "127.0.0.1,localhost"

// Creds is an access key pair and its account.
type Creds struct {
	AccessKeyID string
	Secret      string
	AccountID   string
}

// Env is a running server.
type Env struct {
	Endpoint string // "127.0.0.1:port", the SDKs' Domain
	Admin    Creds
	DataDir  string
	App      *app.App
	// Up is the control plane with its local agent when Start was given
	// WithAgent; nil otherwise.
	Up *app.Up
}

type config struct {
	opts     app.Options
	routes   []func(*api.Router, *service.Service)
	agent    bool
	tag      string
	underlay service.UnderlayRequest
}

// WithAgent runs a local agent beside the server (as `palisade up` does):
// the default zone's instances become real namespaces tagged with tag, and
// they are removed from the kernel in t.Cleanup. Needs root.
func WithAgent(tag string) Option { return func(c *config) { c.agent, c.tag = true, tag } }

// Option changes how Start builds the server.
type Option func(*config)

// WithBackend selects app.BackendBolt (default) or app.BackendMemory.
func WithBackend(b string) Option { return func(c *config) { c.opts.Backend = b } }

// WithRootKey presets the admin key pair (as the PALISADE_ROOT_* env vars do).
func WithRootKey(id, secret string) Option {
	return func(c *config) { c.opts.RootAccessKeyID, c.opts.RootAccessKeySecret = id, secret }
}

// WithDataDir uses dir instead of a fresh t.TempDir() (to restart on the same data).
func WithDataDir(dir string) Option { return func(c *config) { c.opts.DataDir = dir } }

// WithQuotas sets the service quotas.
func WithQuotas(q service.Quotas) Option { return func(c *config) { c.opts.Quotas = q } }

// WithRoutes registers extra (test-only) routes before the server starts.
func WithRoutes(fn func(rt *api.Router, svc *service.Service)) Option {
	return func(c *config) { c.routes = append(c.routes, fn) }
}

// WithFlowLogWindowScale divides flow-log capture windows (the server's
// --flowlog-window-scale): 30 makes a 1-minute window 2 s.
func WithFlowLogWindowScale(n int) Option { return func(c *config) { c.opts.FlowLogWindowScale = n } }

// WithDDoS sets the operator's Anti-DDoS configuration (the server's
// --ddos-* flags), e.g. a short blackhole for tests.
func WithDDoS(cfg model.DDoSConfig) Option { return func(c *config) { c.opts.DDoS = cfg } }

// WithListen serves on addr instead of 127.0.0.1:0 (an address other
// namespaces reach, for agents of other "hosts").
func WithListen(addr string) Option { return func(c *config) { c.opts.Listen = addr } }

// WithUnderlay announces the local agent's underlay (`palisade up
// --underlay-addr`); only with WithAgent.
func WithUnderlay(u service.UnderlayRequest) Option { return func(c *config) { c.underlay = u } }

// WithDNSUpstream points the server's resolution of Cloud Firewall
// domains at DNS servers ("host:port", tried in order; the server's
// --dns-upstream), e.g. a test server. Without it the server has none
// (tests do not ask the host's DNS): every lookup fails.
func WithDNSUpstream(servers ...string) Option {
	return func(c *config) { c.opts.DNSUpstream = append([]string{}, servers...) }
}

// WithDomainResolvePeriod sets how often the server looks up every domain
// of the Cloud Firewall policies again (default 30 s). New domains are
// looked up soon after the policy change anyway; Env.ResolveDomains
// looks them all up at once.
func WithDomainResolvePeriod(d time.Duration) Option {
	return func(c *config) { c.opts.DomainResolvePeriod = d }
}

// WithLogger sets the server's logger (default: warnings and errors go to t.Log).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.opts.Logger = l } }

// Start starts a server on 127.0.0.1:0 with its data in t.TempDir(); it
// stops (gracefully, waiting for requests in flight) in t.Cleanup.
func Start(t testing.TB, opts ...Option) *Env {
	t.Helper()
	// No DNS upstream unless WithDNSUpstream: a test never depends on
	// the host's resolver.
	c := &config{opts: app.Options{Listen: "127.0.0.1:0", Region: Region, DNSUpstream: []string{}}}
	for _, o := range opts {
		o(c)
	}
	if c.opts.DataDir == "" {
		c.opts.DataDir = filepath.Join(t.TempDir(), "data")
	}
	if c.opts.Logger == nil {
		c.opts.Logger = slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	var (
		a   *app.App
		up  *app.Up
		err error
	)
	if c.agent {
		up, err = app.NewUp(app.UpOptions{Options: c.opts, Tag: c.tag, Resync: time.Second, Underlay: c.underlay})
		if up != nil {
			a = up.App
		}
	} else {
		a, err = app.New(c.opts)
	}
	if err != nil {
		t.Fatalf("apitest: start server: %v", err)
	}
	for _, fn := range c.routes {
		fn(a.Router(), a.Service())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	if up != nil {
		go func() { done <- up.Run(ctx) }()
	} else {
		go func() { done <- a.Serve(ctx) }()
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("apitest: server shutdown: %v", err)
		}
		if up != nil {
			if err := up.Applier.Cleanup(context.Background()); err != nil {
				t.Errorf("apitest: kernel cleanup: %v", err)
			}
		}
	})
	acct, key := a.Admin()
	return &Env{
		Endpoint: a.Addr(),
		Admin:    Creds{AccessKeyID: key.ID, Secret: key.Secret, AccountID: acct.ID},
		DataDir:  c.opts.DataDir,
		App:      a,
		Up:       up,
	}
}

// tWriter sends log lines to t.Log.
type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// ECS returns a V1 SDK ECS client for c.
func (e *Env) ECS(t testing.TB, c Creds) *ecs.Client {
	t.Helper()
	cl, err := ecs.NewClientWithAccessKey(Region, c.AccessKeyID, c.Secret)
	if err != nil {
		t.Fatalf("apitest: ecs client: %v", err)
	}
	cl.Domain = e.Endpoint
	cl.SetNoProxy(noProxy)
	return cl
}

// VPC returns a V1 SDK VPC client for c.
func (e *Env) VPC(t testing.TB, c Creds) *vpc.Client {
	t.Helper()
	cl, err := vpc.NewClientWithAccessKey(Region, c.AccessKeyID, c.Secret)
	if err != nil {
		t.Fatalf("apitest: vpc client: %v", err)
	}
	cl.Domain = e.Endpoint
	cl.SetNoProxy(noProxy)
	return cl
}

// PrivateLink returns a V1 SDK PrivateLink (Privatelink 2020-04-15) client
// for c.
func (e *Env) PrivateLink(t testing.TB, c Creds) *privatelink.Client {
	t.Helper()
	cl, err := privatelink.NewClientWithAccessKey(Region, c.AccessKeyID, c.Secret)
	if err != nil {
		t.Fatalf("apitest: privatelink client: %v", err)
	}
	cl.Domain = e.Endpoint
	cl.SetNoProxy(noProxy)
	return cl
}

// Cloudfw returns a V1 SDK Cloud Firewall (Cloudfw 2017-12-07) client for
// c. The SDK's cloudfw endpoint is central (one host for every region);
// Domain overrides it like any other, and the client still sends RegionId
// "local", the server's region.
func (e *Env) Cloudfw(t testing.TB, c Creds) *cloudfw.Client {
	t.Helper()
	cl, err := cloudfw.NewClientWithAccessKey(Region, c.AccessKeyID, c.Secret)
	if err != nil {
		t.Fatalf("apitest: cloudfw client: %v", err)
	}
	cl.Domain = e.Endpoint
	cl.SetNoProxy(noProxy)
	return cl
}

// VpcPeer returns a V1 SDK VpcPeer (2022-01-01) client for c. Its
// endpoint is central; Domain overrides it, and it still sends RegionId
// "local".
func (e *Env) VpcPeer(t testing.TB, c Creds) *vpcpeer.Client {
	t.Helper()
	cl, err := vpcpeer.NewClientWithAccessKey(Region, c.AccessKeyID, c.Secret)
	if err != nil {
		t.Fatalf("apitest: vpcpeer client: %v", err)
	}
	cl.Domain = e.Endpoint
	cl.SetNoProxy(noProxy)
	return cl
}

// SyncBuffer is a bytes.Buffer that the goroutines of a server under test
// may write (a log) while the test reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// AntiDDoS returns a V1 SDK Anti-DDoS Basic (antiddos-public 2017-05-18)
// client for c. Its requests carry DdosRegionId besides RegionId: set it
// to Region.
func (e *Env) AntiDDoS(t testing.TB, c Creds) *antiddos.Client {
	t.Helper()
	cl, err := antiddos.NewClientWithAccessKey(Region, c.AccessKeyID, c.Secret)
	if err != nil {
		t.Fatalf("apitest: antiddos client: %v", err)
	}
	cl.Domain = e.Endpoint
	cl.SetNoProxy(noProxy)
	return cl
}

// ECSV2 returns a client of the V2 SDK (github.com/alibabacloud-go/
// ecs-20140526/v7), which signs with ACS3-HMAC-SHA256 and sends Action and
// Version as headers only.
func (e *Env) ECSV2(t testing.TB, c Creds) *ecsv2.Client {
	t.Helper()
	cfg := &openapiutil.Config{}
	cfg.SetAccessKeyId(c.AccessKeyID).
		SetAccessKeySecret(c.Secret).
		SetRegionId(Region).
		SetEndpoint(e.Endpoint).
		SetProtocol("HTTP").
		SetNoProxy(noProxy)
	cl, err := ecsv2.NewClient(cfg)
	if err != nil {
		t.Fatalf("apitest: ecs v2 client: %v", err)
	}
	return cl
}

// SLB returns a client of the Server Load Balancer SDK
// (github.com/alibabacloud-go/slb-20140515/v4), built like ECSV2 (the
// darabonba OpenAPI client: ACS3-HMAC-SHA256, Action and Version as
// headers).
func (e *Env) SLB(t testing.TB, c Creds) *slb.Client {
	t.Helper()
	cfg := &openapiutil.Config{}
	cfg.SetAccessKeyId(c.AccessKeyID).
		SetAccessKeySecret(c.Secret).
		SetRegionId(Region).
		SetEndpoint(e.Endpoint).
		SetProtocol("HTTP").
		SetNoProxy(noProxy)
	cl, err := slb.NewClient(cfg)
	if err != nil {
		t.Fatalf("apitest: slb client: %v", err)
	}
	return cl
}

// Common sends any action with the V1 SDK (POST, signature 1.0) and returns
// the decoded JSON response; errors are the SDK's (see ServerErr).
func (e *Env) Common(t testing.TB, c Creds, version, action string, params map[string]string) (map[string]any, error) {
	t.Helper()
	cl, err := sdk.NewClientWithAccessKey(Region, c.AccessKeyID, c.Secret)
	if err != nil {
		t.Fatalf("apitest: sdk client: %v", err)
	}
	cl.SetNoProxy(noProxy)
	req := requests.NewCommonRequest()
	req.Method = requests.POST
	req.Scheme = requests.HTTP
	req.Domain = e.Endpoint
	req.Product = "Palisade"
	req.Version = version
	req.ApiName = action
	for k, v := range params {
		req.QueryParams[k] = v
	}
	resp, err := cl.ProcessCommonRequest(req)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	if err := json.Unmarshal(resp.GetHttpContentBytes(), &out); err != nil {
		t.Fatalf("apitest: %s response is not a JSON object: %v: %s", action, err, resp.GetHttpContentString())
	}
	return out, nil
}

// NewAccount creates an account through the API (Palisade CreateAccount,
// as the admin) and returns its first key.
func (e *Env) NewAccount(t testing.TB, name string) Creds {
	t.Helper()
	out, err := e.Common(t, e.Admin, api.VersionPalisade, "CreateAccount", map[string]string{"AccountName": name})
	if err != nil {
		t.Fatalf("apitest: CreateAccount %q: %v", name, err)
	}
	str := func(k string) string { s, _ := out[k].(string); return s }
	c := Creds{AccessKeyID: str("AccessKeyId"), Secret: str("AccessKeySecret"), AccountID: str("AccountId")}
	if c.AccessKeyID == "" || c.Secret == "" || c.AccountID == "" {
		t.Fatalf("apitest: CreateAccount %q: incomplete response %v", name, out)
	}
	return c
}

// ServerErr returns the HTTP status and error code of an API error from
// either SDK (*errors.ServerError of the V1 SDK, or the V2 SDK's error). It
// fails the test when err is nil or not a server error.
func ServerErr(t testing.TB, err error) (status int, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("apitest: expected an API error, got success")
	}
	var se *errors.ServerError
	if stderrors.As(err, &se) {
		return se.HttpStatus(), se.ErrorCode()
	}
	if status, code, ok := v2Err(err); ok {
		return status, code
	}
	t.Fatalf("apitest: expected an API error, got %T: %v", err, err)
	return 0, ""
}

// Snapshot returns every key and value in the server's store, so a test
// can check that a refused call changed nothing at all.
func (e *Env) Snapshot(t testing.TB) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := e.App.Service().Store().View(context.Background(), func(tx store.ReadTxn) error {
		return tx.List("", func(k string, v []byte) error {
			out[k] = string(v)
			return nil
		})
	})
	if err != nil {
		t.Fatalf("apitest: snapshot: %v", err)
	}
	return out
}

// PutRecord writes a JSON record straight into the store (fixtures for
// resources whose actions a test does not exercise).
func (e *Env) PutRecord(t testing.TB, key string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("apitest: encode %s: %v", key, err)
	}
	if _, err := e.App.Service().Store().Update(context.Background(), func(tx store.Txn) error {
		return tx.Put(key, b)
	}); err != nil {
		t.Fatalf("apitest: put %s: %v", key, err)
	}
}

// ResolveDomains looks up every domain of the Cloud Firewall policies now
// (with the WithDNSUpstream servers) and records the answers, as the
// server's loop does every 30 s; with WithAgent, Settle after it waits
// for the agent to match the new addresses.
func (e *Env) ResolveDomains(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.App.ResolveFirewallDomains(ctx); err != nil {
		t.Fatalf("apitest: resolve firewall domains: %v", err)
	}
}

// Settle waits until the local agent (WithAgent) has applied the store as
// it is now, at most 10 s.
func (e *Env) Settle(t testing.TB) {
	t.Helper()
	want := e.App.Service().Store().Revision()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case rev := <-e.Up.Agent.Applied():
			if rev >= want {
				return
			}
		case <-timeout:
			t.Fatalf("apitest: agent did not apply revision %d within 10 s", want)
		}
	}
}
