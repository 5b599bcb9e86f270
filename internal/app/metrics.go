package app

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/palisade-project/palisade/internal/agent"
	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/waf"
)

// MetricsPath is where the API listener (and a remote agent's
// --metrics-listen) serves the Prometheus metrics.
const MetricsPath = "/metrics"

// metricsRealm is the realm of the metrics endpoint's Basic challenge.
const metricsRealm = `Basic realm="palisade metrics"`

// newMetricsRegistry returns a registry holding the Go runtime's and the
// process's collectors; the API, agent and WAF add theirs.
func newMetricsRegistry() (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register runtime metrics: %w", err)
		}
	}
	return reg, nil
}

// hostMetrics are the metrics of a host's agent and WAF.
type hostMetrics struct {
	agent *agent.Metrics
	waf   *waf.Metrics
}

func newHostMetrics(reg prometheus.Registerer) (hostMetrics, error) {
	am, err := agent.NewMetrics(reg)
	if err != nil {
		return hostMetrics{}, err
	}
	wm, err := waf.NewMetrics(reg)
	if err != nil {
		return hostMetrics{}, err
	}
	return hostMetrics{agent: am, waf: wm}, nil
}

// metricsHandler serves reg in Prometheus's exposition format.
func metricsHandler(reg *prometheus.Registry, log *slog.Logger) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		Registry: reg, // promhttp_metric_handler_errors_total
		Timeout:  30 * time.Second,
	})
}

// adminOnly lets through requests with HTTP Basic credentials made of the
// access key ID (username) and secret (password) of a full key of an
// admin account, and answers the others: 401 with a Basic challenge
// without credentials or with a wrong pair, 403 with the right pair of a
// key that may not read the metrics (another account's, or an agent key).
// The secret is compared in constant time and never logged.
func adminOnly(keys api.KeyLookup, log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, secret, ok := r.BasicAuth()
		if !ok || id == "" {
			w.Header().Set("WWW-Authenticate", metricsRealm)
			http.Error(w, "metrics: HTTP Basic credentials required: an admin access key ID and its secret", http.StatusUnauthorized)
			return
		}
		refuse := func(status int, why string) {
			log.Warn("metrics request refused", "status", status, "reason", why,
				"access_key_id", api.ClipForLog(id, 64), "client", r.RemoteAddr)
			if status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", metricsRealm)
			}
			http.Error(w, "metrics: "+why, status)
		}
		key, acct, err := keys(r.Context(), id)
		if err != nil {
			if e, ok := errs.As(err); ok && e.Status == http.StatusNotFound {
				refuse(http.StatusUnauthorized, "unknown access key or wrong secret")
				return
			}
			if !errors.Is(err, context.Canceled) {
				log.Error("metrics: look up access key", "access_key_id", api.ClipForLog(id, 64), "err", err)
			}
			http.Error(w, "metrics: internal error", http.StatusInternalServerError)
			return
		}
		if subtle.ConstantTimeCompare([]byte(key.Secret), []byte(secret)) != 1 {
			refuse(http.StatusUnauthorized, "unknown access key or wrong secret")
			return
		}
		if key.AgentZone != "" {
			refuse(http.StatusForbidden, "an agent key cannot read the metrics; use a key of the admin account")
			return
		}
		if !acct.Admin {
			refuse(http.StatusForbidden, "only a key of the admin account can read the metrics")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// ServeWAFMetrics serves the metrics of a standalone WAF (palisade waf
// serve --metrics-listen): the Go runtime's, the process's and the WAF's,
// without authentication on addr (bind it to loopback or a private
// interface). Give the returned metrics to the WAF's runtime; stop ends
// the listener.
func ServeWAFMetrics(addr string, log *slog.Logger) (m *waf.Metrics, bound net.Addr, stop func(), err error) {
	reg, err := newMetricsRegistry()
	if err != nil {
		return nil, nil, nil, err
	}
	if m, err = waf.NewMetrics(reg); err != nil {
		return nil, nil, nil, err
	}
	bound, stop, err = serveMetrics(addr, reg, log)
	if err != nil {
		return nil, nil, nil, err
	}
	return m, bound, stop, nil
}

// serveMetrics serves reg without authentication on addr until stop is
// called (a remote agent's --metrics-listen): the operator binds it to
// loopback or a private interface. It returns once the listener is bound,
// with its address; serving errors are logged.
func serveMetrics(addr string, reg *prometheus.Registry, log *slog.Logger) (bound net.Addr, stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("metrics listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+MetricsPath, metricsHandler(reg, log))
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
	log.Info("metrics listening (no authentication)", "addr", ln.Addr().String(), "path", MetricsPath)
	return ln.Addr(), func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-done
	}, nil
}
