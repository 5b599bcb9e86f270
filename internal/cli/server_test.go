package cli_test

import (
	"strings"
	"testing"
)

// --dns-upstream is checked before anything starts, by server and up, and
// documented in their help.
func TestDNSUpstreamServerFlag(t *testing.T) {
	r := &runner{t: t, vars: map[string]string{}}
	for _, cmd := range []string{"server", "up"} {
		args := []string{cmd, "--data-dir", t.TempDir() + "/d", "--listen", "127.0.0.1:0", "--dns-upstream", "192.0.2.53:53", "--dns-upstream", "resolver"}
		if e := r.fail(args...); !strings.Contains(e, `--dns-upstream "resolver"`) {
			t.Errorf("%v: %s", args, e)
		}
		help := r.ok(cmd, "--help")
		for _, want := range []string{"--dns-upstream stringArray", "/etc/resolv.conf", "DestinationType domain"} {
			if !strings.Contains(help, want) {
				t.Errorf("%s --help lacks %q", cmd, want)
			}
		}
	}
}
