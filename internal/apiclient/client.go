// Package apiclient calls Palisade's RPC API (ECS, VPC, PrivateLink,
// Cloudfw, Anti-DDoS, SLB and Palisade's own actions) with the official Alibaba Cloud Go SDK's CommonRequest, so the
// CLI signs and sends requests exactly as any SDK user does.
//
//	c, err := apiclient.New(apiclient.Options{Endpoint: "127.0.0.1:8787", AccessKeyID: id, AccessKeySecret: secret})
//	out, err := c.Call(ctx, apiclient.VersionECS, "DescribeSecurityGroups", nil)
//	var ae *apiclient.APIError
//	if errors.As(err, &ae) { fmt.Println(ae.Code) }
package apiclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	stderrors "errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
)

// API versions (the server dispatches on Version and Action).
const (
	VersionECS         = "2014-05-26"
	VersionVPC         = "2016-04-28"
	VersionPrivateLink = "2020-04-15" // product Privatelink (PrivateLink)
	VersionCloudfw     = "2017-12-07" // product Cloudfw (Cloud Firewall)
	VersionAntiDDoS    = "2017-05-18" // product antiddos-public (Anti-DDoS Basic)
	VersionSLB         = "2014-05-15" // product Slb (Server Load Balancer, classic: CLB)
	VersionPalisade    = "2026-11-01"
)

// DefaultRegion is the region of a Palisade server unless started with another.
const DefaultRegion = "local"

// Options configures a Client.
type Options struct {
	// Endpoint is "host:port" (plain HTTP) or "http://host:port" /
	// "https://host:port".
	Endpoint        string
	AccessKeyID     string
	AccessKeySecret string
	Region          string // empty: DefaultRegion
	// CAFile is a PEM file of the certificates that an https endpoint's
	// certificate must chain to (a private CA, or a self-signed server
	// certificate itself), instead of the system's roots; empty: the
	// system's roots. It is refused with a plain-HTTP endpoint. The
	// server's certificate is always verified, name included.
	CAFile string
	// Timeout bounds each request (connect + read); zero: 30s.
	Timeout time.Duration
}

// Client sends RPC requests to one Palisade endpoint. It is safe for
// concurrent use: the SDK's client is not (each request rewrites its
// timeouts), so every request in flight has an SDK client of its own, kept
// in a small pool for reuse of connections.
type Client struct {
	opts   Options
	scheme string // requests.HTTP or requests.HTTPS
	domain string // host:port
	// tls is the client TLS configuration of https endpoints; each SDK
	// client gets a clone (the SDK writes to it on every request).
	tls *tls.Config

	mu   sync.Mutex
	idle []*sdk.Client
}

// APIError is an error answered by the server (a non-2xx response).
type APIError struct {
	Code       string
	Message    string
	RequestID  string
	HTTPStatus int
}

func (e *APIError) Error() string {
	if e.Code == "" {
		return e.Message
	}
	return e.Code + ": " + e.Message
}

// ParseEndpoint splits an endpoint into the SDK's scheme ("HTTP" or
// "HTTPS") and domain (host:port). A bare host:port means plain HTTP; a
// missing port is 80 for http and 443 for https.
func ParseEndpoint(endpoint string) (scheme, domain string, err error) {
	ep := strings.TrimSpace(endpoint)
	if ep == "" {
		return "", "", fmt.Errorf("empty endpoint")
	}
	scheme = requests.HTTP
	if strings.Contains(ep, "://") {
		u, err := url.Parse(ep)
		if err != nil {
			return "", "", fmt.Errorf("invalid endpoint %q: %v", endpoint, err)
		}
		switch strings.ToLower(u.Scheme) {
		case "http":
		case "https":
			scheme = requests.HTTPS
		default:
			return "", "", fmt.Errorf("invalid endpoint %q: scheme must be http or https", endpoint)
		}
		if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.User != nil {
			return "", "", fmt.Errorf("invalid endpoint %q: only scheme://host:port is allowed", endpoint)
		}
		ep = u.Host
	}
	if ep == "" || strings.ContainsAny(ep, "/?#@ ") {
		return "", "", fmt.Errorf("invalid endpoint %q: want host:port or http(s)://host:port", endpoint)
	}
	host, port, err := net.SplitHostPort(ep)
	if err != nil {
		// No port: use the scheme's default.
		host, port = strings.Trim(ep, "[]"), "80"
		if scheme == requests.HTTPS {
			port = "443"
		}
	}
	if host == "" {
		return "", "", fmt.Errorf("invalid endpoint %q: empty host", endpoint)
	}
	return scheme, net.JoinHostPort(host, port), nil
}

// New returns a client; it does not contact the server.
func New(opts Options) (*Client, error) {
	scheme, domain, err := ParseEndpoint(opts.Endpoint)
	if err != nil {
		return nil, err
	}
	if opts.AccessKeyID == "" || opts.AccessKeySecret == "" {
		return nil, fmt.Errorf("missing access key id or secret")
	}
	if opts.Region == "" {
		opts.Region = DefaultRegion
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	c := &Client{opts: opts, scheme: scheme, domain: domain}
	if opts.CAFile != "" && scheme != requests.HTTPS {
		return nil, fmt.Errorf("a CA certificate (%s) is given but endpoint %q is plain HTTP: use https://", opts.CAFile, opts.Endpoint)
	}
	if scheme == requests.HTTPS {
		c.tls = &tls.Config{MinVersion: tls.VersionTLS12}
		if opts.CAFile != "" {
			pool, err := loadCAFile(opts.CAFile)
			if err != nil {
				return nil, err
			}
			c.tls.RootCAs = pool
		}
	}
	first, err := c.newSDK()
	if err != nil {
		return nil, err
	}
	c.idle = append(c.idle, first)
	return c, nil
}

func (c *Client) newSDK() (*sdk.Client, error) {
	s, err := sdk.NewClientWithAccessKey(c.opts.Region, c.opts.AccessKeyID, c.opts.AccessKeySecret)
	if err != nil {
		return nil, fmt.Errorf("create SDK client: %w", err)
	}
	s.SetConnectTimeout(c.opts.Timeout)
	s.SetReadTimeout(c.opts.Timeout)
	// Never send loopback traffic through an HTTP(S)_PROXY of the environment.
	s.SetNoProxy("127.0.0.1,localhost,::1")
	if c.tls != nil {
		// A transport of its own: the SDK sets its dialer's timeouts and
		// InsecureSkipVerify (false: no request asks otherwise) on each
		// request, and keeps TLSClientConfig's roots.
		s.SetTransport(&http.Transport{
			TLSClientConfig:     c.tls.Clone(),
			TLSHandshakeTimeout: c.opts.Timeout,
			IdleConnTimeout:     90 * time.Second,
			MaxIdleConnsPerHost: 2,
		})
	}
	return s, nil
}

// loadCAFile reads a PEM file of one or more certificates into a pool.
func loadCAFile(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("CA certificate %s: no PEM certificate in it", path)
	}
	return pool, nil
}

// take returns an idle SDK client or a new one; put gives it back.
func (c *Client) take() (*sdk.Client, error) {
	c.mu.Lock()
	if n := len(c.idle); n > 0 {
		s := c.idle[n-1]
		c.idle = c.idle[:n-1]
		c.mu.Unlock()
		return s, nil
	}
	c.mu.Unlock()
	return c.newSDK()
}

func (c *Client) put(s *sdk.Client) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.idle) < 8 {
		c.idle = append(c.idle, s)
	}
}

// Domain is the endpoint's host:port.
func (c *Client) Domain() string { return c.domain }

// Scheme is "HTTP" or "HTTPS".
func (c *Client) Scheme() string { return c.scheme }

func product(version string) string {
	switch version {
	case VersionECS:
		return "Ecs"
	case VersionVPC:
		return "Vpc"
	case VersionPrivateLink:
		return "Privatelink"
	case VersionCloudfw:
		return "Cloudfw"
	case VersionAntiDDoS:
		return "antiddos-public"
	case VersionSLB:
		return "Slb"
	default:
		return "Palisade"
	}
}

// Call sends action (POST, parameters in the form body, signature 1.0)
// and returns the decoded JSON response. Numbers are json.Number. A server
// error is an *APIError; transport errors are returned wrapped.
func (c *Client) Call(ctx context.Context, version, action string, params map[string]string) (map[string]any, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	req := requests.NewCommonRequest()
	req.Method = requests.POST
	req.Scheme = c.scheme
	req.Domain = c.domain
	req.Product = product(version)
	req.Version = version
	req.ApiName = action
	// In the body, not the URL: parameters such as a TLS private key must
	// not end up in the access logs of proxies in front of the API, and a
	// large one (a certificate, a WAF rule list) fits.
	for k, v := range params {
		req.FormParams[k] = v
	}

	type result struct {
		body []byte
		err  error
	}
	s, err := c.take()
	if err != nil {
		return nil, err
	}
	done := make(chan result, 1)
	go func() {
		// The SDK client returns to the pool only when its request is over,
		// even if the caller gave up waiting.
		defer c.put(s)
		resp, err := s.ProcessCommonRequest(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		done <- result{body: resp.GetHttpContentBytes()}
	}()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if r.err != nil {
		var se *sdkerrors.ServerError
		if stderrors.As(r.err, &se) {
			return nil, &APIError{Code: se.ErrorCode(), Message: se.Message(), RequestID: se.RequestId(), HTTPStatus: se.HttpStatus()}
		}
		var ue *url.Error
		if stderrors.As(r.err, &ue) {
			// Not the URL: its query holds the request's signature and
			// nonce, and says nothing the user needs.
			return nil, fmt.Errorf("%s: cannot reach Palisade at %s: %w (is the server running? --endpoint / PALISADE_ENDPOINT)", action, c.domain, ue.Err)
		}
		return nil, fmt.Errorf("%s: %w", action, r.err)
	}
	out := map[string]any{}
	if len(bytes.TrimSpace(r.body)) == 0 {
		return out, nil
	}
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("%s: response is not a JSON object: %v", action, err)
	}
	return out, nil
}
