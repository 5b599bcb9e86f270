package api

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"runtime/debug"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
)

// DefaultClockSkew is how far a request's Timestamp (v1) or x-acs-date
// (ACS3) may be from the server's clock, as on the cloud.
const DefaultClockSkew = 15 * time.Minute

// maxBodyBytes bounds the request body (params live in the query; only a
// few actions use a form body).
const maxBodyBytes = 4 << 20

// KeyLookup returns an access key and its account; an unknown key is a
// coded error (InvalidAccessKeyId.NotFound).
type KeyLookup func(ctx context.Context, keyID string) (model.AccessKey, model.Account, error)

// ServerOptions configures a Server.
type ServerOptions struct {
	Router *Router
	Keys   KeyLookup
	// Region is the only RegionId the server accepts. Every SDK call sends
	// the client's region as RegionId, so clients must be created for this
	// region (default "local"); any other RegionId is answered with
	// 400 InvalidRegionId.NotFound.
	Region string
	Logger *slog.Logger     // nil: slog.Default()
	Now    func() time.Time // nil: time.Now
	Skew   time.Duration    // 0: DefaultClockSkew
	// Nonces keeps the used signature nonces across restarts (nil: in
	// memory only, so that after a restart a request can be replayed
	// within its timestamp window). With Nonces, call Start before serving
	// (until then requests are refused) and Close after; see nonce.go.
	Nonces NonceStore
	// NonceFlushInterval is how often new nonces are written to Nonces
	// (0: DefaultNonceFlushInterval). It bounds what a crash loses.
	NonceFlushInterval time.Duration
	// Metrics counts the answered requests (nil: no metrics); see
	// NewMetrics.
	Metrics *Metrics
}

// Server speaks Alibaba Cloud's RPC protocol on "/" (GET and POST): it
// merges query and form parameters, authenticates (signature 1.0 and
// ACS3-HMAC-SHA256), dispatches on (Version, Action) and writes JSON
// responses and errors in the shapes the SDKs decode.
//
// Format=XML is refused with 400 InvalidParameter.Format: Palisade answers
// JSON only, and a JSON body under an XML request would make the SDK fail
// with a confusing parse error instead of a clear one.
type Server struct {
	opts    ServerOptions
	nonces  *nonceCache
	persist *noncePersister // nil without ServerOptions.Nonces
}

// NewServer returns a Server.
func NewServer(opts ServerOptions) *Server {
	if opts.Region == "" {
		opts.Region = "local"
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Skew <= 0 {
		opts.Skew = DefaultClockSkew
	}
	if opts.NonceFlushInterval <= 0 {
		opts.NonceFlushInterval = DefaultNonceFlushInterval
	}
	// A request is accepted while |now - timestamp| <= skew, so a nonce
	// can be replayed up to 2*skew after its first use.
	s := &Server{opts: opts, nonces: newNonceCache(2 * opts.Skew)}
	if opts.Nonces != nil {
		s.nonces.state = nonceLoading
		s.persist = &noncePersister{store: opts.Nonces, cache: s.nonces, interval: opts.NonceFlushInterval,
			now: opts.Now, log: opts.Logger, stop: make(chan struct{}), done: make(chan struct{})}
	}
	return s
}

// call is the state of one request while it is served.
type call struct {
	start   time.Time
	reqID   string
	version string
	action  string
	// routed says that (version, action) is a registered route: only
	// then are they metric labels.
	routed  bool
	account string
	// keyID and client say who asked, for the log (a failed signature
	// has no account): the access key ID as sent, and the peer address.
	keyID, client string
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := &call{start: s.opts.Now(), reqID: newRequestID()}
	defer func() {
		if p := recover(); p != nil {
			s.opts.Logger.Error("api: handler panic", "request_id", c.reqID, "action", c.action,
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			s.writeError(w, r, c, errors.New("panic"))
		}
	}()
	resp, err := s.serve(r, c)
	if err != nil {
		s.writeError(w, r, c, err)
		return
	}
	s.writeOK(w, r, c, resp)
}

// serve does everything but writing the response.
func (s *Server) serve(r *http.Request, c *call) (any, error) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		return nil, errs.New(http.StatusMethodNotAllowed, "UnsupportedHTTPMethod",
			"The HTTP method %s is not supported; use GET or POST.", r.Method)
	}
	if r.URL.Path != "/" && r.URL.Path != "" {
		return nil, actionNotFound()
	}
	query, body, err := readParams(r)
	if err != nil {
		return nil, err
	}
	params, err := mergeParams(query, body)
	if err != nil {
		return nil, err
	}
	c.version = firstNonEmpty(params["Version"], r.Header.Get("x-acs-version"))
	c.action = firstNonEmpty(params["Action"], r.Header.Get("x-acs-action"))
	h, ok := s.opts.Router.Lookup(c.version, c.action)
	if !ok {
		return nil, actionNotFound()
	}
	c.routed = true
	c.client, c.keyID = r.RemoteAddr, params["AccessKeyId"]
	if a, err := ParseACS3Authorization(r.Header.Get("Authorization")); err == nil {
		c.keyID = a.Credential
	}
	key, acct, err := s.authenticate(r, query, body.raw, params)
	if err != nil {
		return nil, err
	}
	c.account = acct.ID
	if key.AgentZone != "" && !s.opts.Router.IsAgentAction(c.version, c.action) {
		return nil, errs.Forbidden("Forbidden.AgentKey",
			"Access key %s is the agent key of zone %s: it signs the agent actions only (%s), not %s. Use a full access key.",
			key.ID, key.AgentZone, strings.Join(s.opts.Router.AgentActions(), ", "), c.action)
	}
	if f := params["Format"]; f != "" && !strings.EqualFold(f, "JSON") {
		return nil, errs.InvalidParam("InvalidParameter.Format",
			"The specified Format %q is not supported: Palisade answers JSON only.", f)
	}
	region := params["RegionId"]
	if region != "" && region != s.opts.Region {
		return nil, errs.InvalidParam("InvalidRegionId.NotFound",
			"The specified RegionId %q does not exist: this endpoint serves region %q only; create the client for that region.",
			region, s.opts.Region)
	}
	return h(r.Context(), &Request{
		RequestID: c.reqID,
		Account:   acct,
		AgentZone: key.AgentZone,
		Version:   c.version,
		Action:    c.action,
		RegionID:  region,
		Params:    params,
	})
}

func actionNotFound() *errs.Error {
	return errs.NotFound("InvalidAction.NotFound", "Specified api is not found, please check your url and method.")
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// formBody is the request body and, when it is a form, its parameters.
type formBody struct {
	raw    []byte
	values url.Values
}

// readParams decodes the query (url.ParseQuery: '+' is a space) and reads
// the body, decoding it when it is a form.
func readParams(r *http.Request) (url.Values, formBody, error) {
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, formBody{}, errs.InvalidParam("InvalidParameter", "The query string is malformed: %v.", err)
	}
	var fb formBody
	if r.Body != nil {
		raw, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
		if err != nil {
			return nil, formBody{}, errs.InvalidParam("InvalidParameter", "The request body could not be read: %v.", err)
		}
		if len(raw) > maxBodyBytes {
			return nil, formBody{}, errs.New(http.StatusRequestEntityTooLarge, "InvalidParameter",
				"The request body is larger than %d bytes.", maxBodyBytes)
		}
		fb.raw = raw
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/x-www-form-urlencoded" && len(fb.raw) > 0 {
		fb.values, err = url.ParseQuery(string(fb.raw))
		if err != nil {
			return nil, formBody{}, errs.InvalidParam("InvalidParameter", "The form body is malformed: %v.", err)
		}
	}
	return query, fb, nil
}

// mergeParams merges query and form. A name given twice is refused: the
// signature covers one value per name, and guessing which one the client
// meant is how signature bypasses start.
func mergeParams(query url.Values, body formBody) (Params, error) {
	p := make(Params, len(query)+len(body.values))
	for _, vals := range []url.Values{query, body.values} {
		for k, v := range vals {
			if _, dup := p[k]; dup || len(v) != 1 {
				return nil, errs.InvalidParameter(k, "the parameter is given more than once")
			}
			p[k] = v[0]
		}
	}
	return p, nil
}

// authenticate verifies the request's signature (ACS3 when an ACS3
// Authorization header is present, else signature 1.0), its timestamp and
// its nonce, and returns the signing key and the caller's account.
func (s *Server) authenticate(r *http.Request, query url.Values, body []byte, params Params) (model.AccessKey, model.Account, error) {
	if auth := r.Header.Get("Authorization"); strings.HasPrefix(auth, "ACS3-") {
		return s.authACS3(r, auth, query, body)
	}
	return s.authV1(r, params)
}

func (s *Server) authV1(r *http.Request, params Params) (model.AccessKey, model.Account, error) {
	keyID, err := params.Required("AccessKeyId")
	if err != nil {
		return model.AccessKey{}, model.Account{}, err
	}
	sig := params["Signature"]
	if sig == "" {
		return model.AccessKey{}, model.Account{}, errs.InvalidParam("IncompleteSignature",
			"The request signature does not conform to Aliyun standards: the Signature parameter is missing.")
	}
	if m := params["SignatureMethod"]; m != SigMethodV1 {
		return model.AccessKey{}, model.Account{}, errs.InvalidParam("IncompleteSignature",
			"The request signature does not conform to Aliyun standards: SignatureMethod must be %s, not %q.", SigMethodV1, m)
	}
	if v := params["SignatureVersion"]; v != "1.0" {
		return model.AccessKey{}, model.Account{}, errs.InvalidParam("IncompleteSignature",
			"The request signature does not conform to Aliyun standards: SignatureVersion must be 1.0, not %q.", v)
	}
	// The action is what the signature must cover: dispatch falls back
	// to the x-acs-action/x-acs-version headers, which V1 does not sign.
	for _, name := range []string{"Action", "Version"} {
		if _, err := params.Required(name); err != nil {
			return model.AccessKey{}, model.Account{}, err
		}
	}
	nonce, err := params.Required("SignatureNonce")
	if err != nil {
		return model.AccessKey{}, model.Account{}, err
	}
	if err := checkNonce("SignatureNonce", nonce); err != nil {
		return model.AccessKey{}, model.Account{}, err
	}
	ts, err := params.Required("Timestamp")
	if err != nil {
		return model.AccessKey{}, model.Account{}, err
	}
	if err := s.checkTime("Timestamp", ts); err != nil {
		return model.AccessKey{}, model.Account{}, err
	}
	key, acct, err := s.opts.Keys(r.Context(), keyID)
	if err != nil {
		return model.AccessKey{}, model.Account{}, err
	}
	sts := StringToSignV1(r.Method, params)
	if !hmac.Equal([]byte(SignV1(key.Secret, sts)), []byte(sig)) {
		// The V1 SDK compares this string with its own to tell a wrong
		// secret from a wrong encoding (ALIBABA_API.md 2.6).
		return model.AccessKey{}, model.Account{}, errs.InvalidParam("SignatureDoesNotMatch",
			"Specified signature is not matched with our calculation. server string to sign is:%s", sts)
	}
	if err := s.nonces.use(keyID+"\x00"+nonce, s.opts.Now()); err != nil {
		return model.AccessKey{}, model.Account{}, err
	}
	return key, acct, nil
}

func (s *Server) authACS3(r *http.Request, header string, query url.Values, body []byte) (model.AccessKey, model.Account, error) {
	a, err := ParseACS3Authorization(header)
	if err != nil {
		return model.AccessKey{}, model.Account{}, errs.InvalidParam("IncompleteSignature",
			"The request signature does not conform to Aliyun standards: the Authorization header is malformed.")
	}
	// These headers carry what the signature protects; an unsigned one
	// could be changed in flight.
	required := []string{"host", "x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256"}
	if query.Get("Action") == "" {
		required = append(required, "x-acs-action")
	}
	if query.Get("Version") == "" {
		required = append(required, "x-acs-version")
	}
	for _, h := range required {
		if v := r.Header.Get(h); v == "" && (h != "host" || r.Host == "") {
			return model.AccessKey{}, model.Account{}, errs.MissingParameter(h)
		}
		if !slices.Contains(a.SignedHeaders, h) {
			return model.AccessKey{}, model.Account{}, errs.InvalidParam("IncompleteSignature",
				"The request signature does not conform to Aliyun standards: header %s must be signed.", h)
		}
	}
	if err := s.checkTime("x-acs-date", r.Header.Get("x-acs-date")); err != nil {
		return model.AccessKey{}, model.Account{}, err
	}
	if err := checkNonce("x-acs-signature-nonce", r.Header.Get("x-acs-signature-nonce")); err != nil {
		return model.AccessKey{}, model.Account{}, err
	}
	payloadHash := r.Header.Get("x-acs-content-sha256")
	if !strings.EqualFold(payloadHash, HashPayload(body)) {
		return model.AccessKey{}, model.Account{}, errs.InvalidParam("SignatureDoesNotMatch",
			"Specified signature is not matched with our calculation: x-acs-content-sha256 does not match the body.")
	}
	key, acct, err := s.opts.Keys(r.Context(), a.Credential)
	if err != nil {
		return model.AccessKey{}, model.Account{}, err
	}
	q := make(map[string]string, len(query))
	for k, v := range query {
		q[k] = v[0] // mergeParams has refused repeated names
	}
	sts := StringToSignACS3(r.Method, r.URL.EscapedPath(), q, r.Host, r.Header, a.SignedHeaders, payloadHash)
	if !hmac.Equal([]byte(SignACS3(key.Secret, sts)), []byte(a.Signature)) {
		return model.AccessKey{}, model.Account{}, errs.InvalidParam("SignatureDoesNotMatch",
			"Specified signature is not matched with our calculation. server string to sign is:%s", sts)
	}
	if err := s.nonces.use(a.Credential+"\x00"+r.Header.Get("x-acs-signature-nonce"), s.opts.Now()); err != nil {
		return model.AccessKey{}, model.Account{}, err
	}
	return key, acct, nil
}

// maxNonceLen bounds a signature nonce: the SDKs send a UUID or 32 hex
// characters, and every nonce is remembered for the replay window, so an
// unbounded one would let any key holder fill the server's memory.
const maxNonceLen = 128

func checkNonce(name, v string) error {
	if len(v) > maxNonceLen {
		return errs.InvalidParameter(name, "it is %d characters long; use at most %d (a UUID, say)", len(v), maxNonceLen)
	}
	return nil
}

// checkTime parses an ISO 8601 UTC time and checks it against the clock.
func (s *Server) checkTime(name, v string) error {
	t, err := time.Parse("2006-01-02T15:04:05Z", v)
	if err != nil {
		if t, err = time.Parse(time.RFC3339, v); err != nil {
			return errs.InvalidParam("InvalidTimeStamp.Format",
				"The specified %s %q is not in the format YYYY-MM-DDThh:mm:ssZ.", name, v)
		}
	}
	if d := s.opts.Now().Sub(t); d > s.opts.Skew || d < -s.opts.Skew {
		return errs.InvalidParam("InvalidTimeStamp.Expired",
			"Specified time stamp or date value is expired: %s %s is more than %s away from the server time.",
			name, v, s.opts.Skew)
	}
	return nil
}

// errorBody is the cloud's error shape; every field must be a JSON string
// (a numeric Code makes the V1 SDK panic).
type errorBody struct {
	RequestId string
	HostId    string
	Code      string
	Message   string
	Recommend string
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, c *call, err error) {
	status, code, b, internal := ErrorResponse(err, c.reqID, r.Host)
	if internal {
		s.opts.Logger.Error("api: internal error", "request_id", c.reqID, "version", c.version,
			"action", c.action, "account", c.account, "err", err)
	}
	s.write(w, c, status, b)
	s.logCall(c, status, code)
}

func (s *Server) writeOK(w http.ResponseWriter, r *http.Request, c *call, resp any) {
	b, err := withRequestID(resp, c.reqID)
	if err != nil {
		s.writeError(w, r, c, fmt.Errorf("encode %s response: %w", c.action, err))
		return
	}
	s.write(w, c, http.StatusOK, b)
	s.logCall(c, http.StatusOK, "")
}

func (s *Server) write(w http.ResponseWriter, c *call, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=utf-8")
	h.Set("x-acs-request-id", c.reqID)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// maxMessage bounds an error message: messages quote the offending
// value, which may be megabytes long.
const maxMessage = 4096

func truncateMessage(m string) string {
	if len(m) <= maxMessage {
		return m
	}
	cut := maxMessage
	for cut > 0 && !utf8.RuneStart(m[cut]) {
		cut--
	}
	return fmt.Sprintf("%s... (message truncated: %d bytes)", m[:cut], len(m))
}

// logCall logs one line per request: never parameters, secrets or
// signatures; the access key ID (an identifier, as cloud audit logs keep
// it) and the client's address, so that a key's misuse can be traced.
func (s *Server) logCall(c *call, status int, code string) {
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	elapsed := s.opts.Now().Sub(c.start)
	s.opts.Metrics.observe(c, code, elapsed)
	s.opts.Logger.Log(context.Background(), level, "api request",
		"request_id", c.reqID, "version", c.version, "action", c.action, "account", c.account,
		"access_key_id", ClipForLog(c.keyID, 64), "client", c.client,
		"status", status, "code", code, "duration", elapsed)
}

// ClipForLog cuts s to at most n bytes of valid UTF-8 (a value from a request in a log
// line).
func ClipForLog(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// withRequestID encodes resp (which must encode as a JSON object, or be
// nil) with "RequestId" added as its first field. Handlers must not set
// RequestId themselves.
func withRequestID(resp any, reqID string) ([]byte, error) {
	idField, _ := json.Marshal(reqID)
	if resp == nil {
		return []byte(`{"RequestId":` + string(idField) + `}`), nil
	}
	b, err := json.Marshal(resp)
	if err != nil {
		return nil, err
	}
	b = bytes.TrimSpace(b)
	if len(b) < 2 || b[0] != '{' {
		return nil, fmt.Errorf("response is not a JSON object: %.40s", b)
	}
	var out bytes.Buffer
	out.Grow(len(b) + len(idField) + 16)
	out.WriteString(`{"RequestId":`)
	out.Write(idField)
	if rest := bytes.TrimSpace(b[1:]); len(rest) > 0 && rest[0] != '}' {
		out.WriteByte(',')
	}
	out.Write(b[1:])
	return out.Bytes(), nil
}

// newRequestID returns an upper-case UUID-shaped random ID, like the cloud's.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := strings.ToUpper(hex.EncodeToString(b[:]))
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
