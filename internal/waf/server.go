package waf

import (
	"net/http"
	"time"
)

// Limits of the WAF's HTTP listeners against malformed and abusive
// clients (slowloris-style trickling, oversized headers, idle
// keep-alives). A request body is bounded by the profile's body limit and
// Options.BodyReadTimeout.
const (
	// ReadHeaderTimeout bounds the time to send the request line and
	// headers: a client trickling them is disconnected.
	ReadHeaderTimeout = 10 * time.Second
	// IdleTimeout closes keep-alive connections without a new request.
	IdleTimeout = 120 * time.Second
	// MaxHeaderBytes caps the request line and headers; larger ones get
	// 431 Request Header Fields Too Large.
	MaxHeaderBytes = 64 << 10
	// DefaultBodyReadTimeout is the default of Options.BodyReadTimeout.
	DefaultBodyReadTimeout = 30 * time.Second
)

// NewServer is the http.Server that serves a protected object with
// Palisade's limits. The caller sets the listener and any TLS or
// connection-context settings.
func NewServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: ReadHeaderTimeout, IdleTimeout: IdleTimeout, MaxHeaderBytes: MaxHeaderBytes}
}
