package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/app"
	"github.com/palisade-project/palisade/internal/remote"
)

// errStopAgent ends app.RunAgent at its first call to the server.
var errStopAgent = errors.New("test: stop at the first call")

// heartbeatRecorder is a remote.Caller that records the first call and
// refuses it, so that app.RunAgent goes no further (no kernel work).
type heartbeatRecorder struct {
	action string
	params map[string]string
}

func (h *heartbeatRecorder) Call(_ context.Context, _, action string, params map[string]string) (map[string]any, error) {
	h.action, h.params = action, maps.Clone(params)
	return nil, errStopAgent
}

// TestAgentUnderlayFlags: "palisade agent --underlay-addr A --underlay-port
// P" hands runAgent an app.WithUnderlay that makes the agent announce A
// and P in its heartbeat (RegisterZone UnderlayAddress, UnderlayPort);
// without --underlay-addr it hands no option and announces none. The
// options are applied by the real app.RunAgent with a client that refuses
// the heartbeat, so nothing touches the kernel.
func TestAgentUnderlayFlags(t *testing.T) {
	saved := runAgent
	t.Cleanup(func() { runAgent = saved })
	vars := map[string]string{EnvAccessKeyID: "AK", EnvAccessSecret: "secret"}
	tag := fmt.Sprintf("ut%d", os.Getpid())

	for _, tc := range []struct {
		name     string
		args     []string
		nopts    int
		want     map[string]string // heartbeat's underlay parameters
		wantExit int
	}{
		{"address and port", []string{"--underlay-addr", "10.0.0.2", "--underlay-port", "4800"}, 1,
			map[string]string{"UnderlayAddress": "10.0.0.2", "UnderlayPort": "4800"}, 0},
		{"address, default port", []string{"--underlay-addr", "2001:db8::2"}, 1,
			map[string]string{"UnderlayAddress": "2001:db8::2", "UnderlayPort": "4798"}, 0},
		{"no underlay", nil, 0, map[string]string{}, 0},
		{"a port without an address", []string{"--underlay-port", "4800"}, -1, nil, 1},
		{"with metrics, no underlay", []string{"--metrics-listen", "127.0.0.1:0"}, 1, map[string]string{}, 0},
		{"port out of range", []string{"--underlay-addr", "10.0.0.2", "--underlay-port", "70000"}, -1, nil, 1},
		{"port 65535 (the relay takes the next)", []string{"--underlay-addr", "10.0.0.2", "--underlay-port", "65535"}, -1, nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			called := false
			var rec heartbeatRecorder
			var runErr error
			runAgent = func(ctx context.Context, _ remote.Caller, zone, _ string, logger *slog.Logger, opts ...app.AgentOption) error {
				called = true
				if zone != "z" {
					t.Errorf("zone %q", zone)
				}
				if len(opts) != tc.nopts {
					t.Errorf("%d agent options, want %d", len(opts), tc.nopts)
				}
				runErr = app.RunAgent(ctx, &rec, zone, tag, logger, opts...)
				if errors.Is(runErr, errStopAgent) {
					return nil
				}
				return runErr
			}
			var stderr bytes.Buffer
			args := append([]string{"agent", "--server", "http://127.0.0.1:1", "--zone", "z"}, tc.args...)
			code := Execute(context.Background(), Env{Stdout: &bytes.Buffer{}, Stderr: &stderr, Getenv: func(k string) string { return vars[k] }}, args)
			if tc.wantExit != 0 {
				if code == 0 || called {
					t.Errorf("exit %d, runAgent called %v; want a flag error", code, called)
				}
				return
			}
			if !called {
				t.Fatalf("runAgent not called (exit %d): %s", code, stderr.String())
			}
			if runErr != nil && !errors.Is(runErr, errStopAgent) {
				if os.Geteuid() != 0 {
					t.Skipf("app.RunAgent needs root for its kernel lock: %v", runErr)
				}
				t.Fatalf("app.RunAgent: %v", runErr)
			}
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			if rec.action != "RegisterZone" || rec.params["ZoneId"] != "z" {
				t.Fatalf("first call %s %v, want RegisterZone of z", rec.action, rec.params)
			}
			got := map[string]string{}
			for k, v := range rec.params {
				if strings.HasPrefix(k, "Underlay") {
					got[k] = v
				}
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("heartbeat underlay %v, want %v", got, tc.want)
			}
		})
	}
}

// Both commands that run an agent document the underlay flags.
func TestUnderlayFlagsHelp(t *testing.T) {
	for _, cmd := range []string{"agent", "up"} {
		t.Run(cmd, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Execute(context.Background(), Env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}, []string{cmd, "--help"})
			if code != 0 {
				t.Fatalf("%s --help: exit %d: %s", cmd, code, errb.String())
			}
			help := out.String() + errb.String()
			for _, want := range []string{"--underlay-addr", "--underlay-port", "4798", "VXLAN"} {
				if !strings.Contains(help, want) {
					t.Errorf("%s --help lacks %q", cmd, want)
				}
			}
		})
	}
}
