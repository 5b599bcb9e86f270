package cli_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/apitest"
)

func TestMirrorCommands(t *testing.T) {
	env := apitest.Start(t)
	r := newRunner(t, env)
	vpcID := strings.TrimSpace(r.ok("vpc", "create", "--cidr", "10.0.0.0/16"))
	vsw := strings.TrimSpace(r.ok("vswitch", "create", "--vpc", vpcID, "--cidr", "10.0.1.0/24"))
	sg := strings.TrimSpace(r.ok("sg", "create", "--vpc", vpcID, "--name", "web"))
	eni := func() string { return strings.TrimSpace(r.ok("eni", "create", "--vswitch", vsw, "--sg", sg)) }
	target, src1, src2 := eni(), eni(), eni()

	f := strings.TrimSpace(r.ok("mirror", "filter", "create", "--name", "web", "--description", "https"))
	if !strings.HasPrefix(f, "tmf-") || strings.Contains(f, "\n") {
		t.Fatalf("mirror filter create printed %q", f)
	}
	rule := strings.TrimSpace(r.ok("mirror", "rule", "add", f, "--direction", "ingress", "--priority", "1", "--action", "accept",
		"--protocol", "tcp", "--dest-port", "443/443", "--source-cidr", "192.0.2.0/24"))
	if !strings.HasPrefix(rule, "tmr-") {
		t.Fatalf("mirror rule add printed %q", rule)
	}
	egress := strings.TrimSpace(r.ok("mirror", "rule", "add", f, "--direction", "Egress", "--priority", "1", "--action", "drop", "--protocol", "all"))
	// The same rule again adds nothing and prints the same ID.
	if again := strings.TrimSpace(r.ok("mirror", "rule", "add", f, "--direction", "egress", "--priority", "1", "--action", "drop", "--protocol", "ALL")); again != egress {
		t.Errorf("identical rule: %q, want %q", again, egress)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--direction", "sideways", "--priority", "2", "--action", "accept", "--protocol", "tcp"}, "use ingress or egress"},
		{[]string{"--direction", "ingress", "--priority", "1", "--action", "accept", "--protocol", "udp"}, "DuplicatedParam.Priority"},
		{[]string{"--direction", "ingress", "--priority", "2", "--action", "accept", "--protocol", "icmp", "--dest-port", "1/2"}, "IllegalParam.DestinationPortRange"},
		{[]string{"--direction", "ingress", "--priority", "2", "--action", "mirror", "--protocol", "tcp"}, "IllegalParam.Action"},
		{[]string{"--direction", "ingress", "--action", "accept", "--protocol", "tcp"}, "priority"},
	} {
		if e := r.fail(append([]string{"mirror", "rule", "add", f}, tc.args...)...); !strings.Contains(e, tc.want) {
			t.Errorf("rule add %v: %s", tc.args, e)
		}
	}
	out := r.ok("mirror", "filter", "list")
	for _, want := range []string{"TrafficMirrorFilterId", f, "web", "Created"} {
		if !strings.Contains(out, want) {
			t.Errorf("mirror filter list lacks %q:\n%s", want, out)
		}
	}
	if show := r.ok("mirror", "filter", "show", f); !strings.Contains(show, rule) || !strings.Contains(show, "443/443") || !strings.Contains(show, "192.0.2.0/24") ||
		!strings.Contains(show, egress) || !strings.Contains(show, "egress") {
		t.Errorf("mirror filter show:\n%s", show)
	}
	if e := r.fail("mirror", "filter", "show", "tmf-nope"); !strings.Contains(e, "ResourceNotFound.TrafficMirrorFilter") {
		t.Errorf("show unknown filter: %s", e)
	}

	sess := strings.TrimSpace(r.ok("mirror", "session", "create", "--filter", f, "--target", target, "--priority", "10",
		"--vni", "77", "--packet-length", "256", "--source", src1, "--name", "to-ids"))
	if !strings.HasPrefix(sess, "tms-") {
		t.Fatalf("mirror session create printed %q", sess)
	}
	if e := r.fail("mirror", "session", "create", "--filter", f, "--target", target, "--priority", "10"); !strings.Contains(e, "DuplicatedParam.Priority") {
		t.Errorf("taken priority: %s", e)
	}
	if e := r.fail("mirror", "session", "create", "--filter", f, "--target", target, "--priority", "11", "--source", target); !strings.Contains(e, "OperationDenied.TrafficMirrorSourceIsTarget") {
		t.Errorf("source is target: %s", e)
	}
	sessions := func() map[string]any {
		t.Helper()
		js := r.okJSON("mirror", "session", "list")
		list, _ := js["TrafficMirrorSessions"].([]any)
		if len(list) != 1 {
			t.Fatalf("sessions: %v", js)
		}
		return list[0].(map[string]any)
	}
	if s := sessions(); s["Enabled"] != false || s["VirtualNetworkId"] != float64(77) || s["PacketLength"] != float64(256) || fmt.Sprint(s["TrafficMirrorSourceIds"]) != fmt.Sprint([]any{src1}) {
		t.Errorf("session: %v", s)
	}
	r.ok("mirror", "session", "enable", sess)
	r.ok("mirror", "session", "add-source", sess, src2)
	out = r.ok("mirror", "session", "list")
	for _, want := range []string{sess, "to-ids", target, src1 + "," + src2, "true", "77"} {
		if !strings.Contains(out, want) {
			t.Errorf("mirror session list lacks %q:\n%s", want, out)
		}
	}
	if out := r.ok("mirror", "session", "list", "--source", src2); !strings.Contains(out, sess) {
		t.Errorf("list --source:\n%s", out)
	}
	if out := r.ok("mirror", "session", "list", "--target", src2); strings.Contains(out, sess) {
		t.Errorf("list --target of a source:\n%s", out)
	}
	r.ok("mirror", "session", "remove-source", sess, src1)
	r.ok("mirror", "session", "disable", sess)
	if s := sessions(); s["Enabled"] != false || fmt.Sprint(s["TrafficMirrorSourceIds"]) != fmt.Sprint([]any{src2}) {
		t.Errorf("after disable and remove-source: %v", s)
	}
	if e := r.fail("mirror", "session", "remove-source", sess, src1); !strings.Contains(e, "ResourceNotFound.TrafficMirrorSource") {
		t.Errorf("remove a non-source: %s", e)
	}

	if e := r.fail("mirror", "filter", "delete", f); !strings.Contains(e, "DependencyViolation.TrafficMirrorSession") {
		t.Errorf("delete filter in use: %s", e)
	}
	if e := r.fail("eni", "delete", target); !strings.Contains(e, "DependencyViolation.TrafficMirrorSession") {
		t.Errorf("delete target ENI: %s", e)
	}
	r.ok("mirror", "rule", "delete", f, rule, egress)
	if show := r.ok("mirror", "filter", "show", f); strings.Contains(show, rule) {
		t.Errorf("deleted rule still shown:\n%s", show)
	}
	r.ok("mirror", "session", "delete", sess)
	r.ok("mirror", "filter", "delete", f)
	if out := r.ok("mirror", "filter", "list"); strings.Contains(out, f) {
		t.Errorf("deleted filter still listed:\n%s", out)
	}
	if js := r.okJSON("mirror", "session", "list"); fmt.Sprint(js["TrafficMirrorSessions"]) != "[]" {
		t.Errorf("sessions after delete: %v", js)
	}
}
