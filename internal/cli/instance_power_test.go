package cli_test

import (
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/apitest"
)

// TestInstanceStopStart: `instance stop` and `instance start` call
// StopInstance and StartInstance; stopping a stopped instance or starting
// a running one fails with IncorrectInstanceStatus naming the status, and
// --dry-run checks the state first.
func TestInstanceStopStart(t *testing.T) {
	env := apitest.Start(t)
	r := newRunner(t, env)
	vpcID := strings.TrimSpace(r.ok("vpc", "create", "--cidr", "192.168.0.0/16"))
	vsw := strings.TrimSpace(r.ok("vswitch", "create", "--vpc", vpcID, "--cidr", "192.168.1.0/24"))
	sg := strings.TrimSpace(r.ok("sg", "create", "--vpc", vpcID, "--name", "web"))
	inst := strings.TrimSpace(r.ok("instance", "create", "--vswitch", vsw, "--sg", sg, "--name", "web1"))

	steps := []struct {
		args    []string
		errWant string // "" = success
		status  string // afterwards
	}{
		{[]string{"start", inst}, "IncorrectInstanceStatus", "Running"},
		{[]string{"stop", inst, "--dry-run"}, "DryRunOperation", "Running"},
		{[]string{"stop", inst}, "", "Stopped"},
		{[]string{"stop", inst}, "is Stopped", "Stopped"},
		{[]string{"stop", inst, "--dry-run"}, "IncorrectInstanceStatus", "Stopped"},
		{[]string{"start", inst}, "", "Running"},
		{[]string{"stop", "i-nothere"}, "InvalidInstanceId.NotFound", "Running"},
	}
	for _, st := range steps {
		args := append([]string{"instance"}, st.args...)
		if st.errWant == "" {
			r.ok(args...)
		} else if errOut := r.fail(args...); !strings.Contains(errOut, st.errWant) {
			t.Errorf("palisade %s: stderr %q, want %q", strings.Join(args, " "), errOut, st.errWant)
		}
		if got := r.okJSON("instance", "show", inst)["Status"]; got != st.status {
			t.Errorf("after palisade %s: status %v, want %s", strings.Join(args, " "), got, st.status)
		}
	}
}
