package cli_test

import (
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/apitest"
)

func TestPeeringRouteAndVpcFirewallCommands(t *testing.T) {
	env := apitest.Start(t)
	r := newRunner(t, env)
	a := strings.TrimSpace(r.ok("vpc", "create", "--cidr", "10.0.0.0/16"))
	b := strings.TrimSpace(r.ok("vpc", "create", "--cidr", "10.2.0.0/16"))
	r.ok("vswitch", "create", "--vpc", a, "--cidr", "10.0.1.0/24")

	// Peering.
	pcc := strings.TrimSpace(r.ok("peering", "create", "--vpc", a, "--accepting-vpc", b, "--name", "a-b"))
	if !strings.HasPrefix(pcc, "pcc-") {
		t.Fatalf("peering create printed %q", pcc)
	}
	if e := r.fail("peering", "create", "--vpc", b, "--accepting-vpc", a); !strings.Contains(e, "ResourceAlreadyExist.VpcPeer") {
		t.Errorf("second peering: %s", e)
	}
	if e := r.fail("peering", "accept", pcc); !strings.Contains(e, "IncorrectStatus.VpcPeer") {
		t.Errorf("accept activated: %s", e)
	}
	out := r.ok("peering", "list", "--vpc", b)
	for _, want := range []string{"InstanceId", pcc, "Activated", a, b, "a-b"} {
		if !strings.Contains(out, want) {
			t.Errorf("peering list lacks %q:\n%s", want, out)
		}
	}

	// Routes.
	rte := strings.TrimSpace(r.ok("route", "add", "--vpc", a, "--destination", "10.2.0.0/16", "--peering", pcc, "--name", "to-b"))
	if !strings.HasPrefix(rte, "rte-") {
		t.Fatalf("route add printed %q", rte)
	}
	if e := r.fail("route", "add", "--vpc", a, "--destination", "10.0.9.0/24", "--peering", pcc); !strings.Contains(e, "InvalidCidrBlock.Overlapped") {
		t.Errorf("overlapping route: %s", e)
	}
	out = r.ok("route", "list", "--vpc", a)
	for _, want := range []string{"RouteEntryId", rte, "Custom", "System", "10.0.1.0/24", "local", "VpcPeer", pcc, "to-b"} {
		if !strings.Contains(out, want) {
			t.Errorf("route list lacks %q:\n%s", want, out)
		}
	}
	js := r.okJSON("route", "list", "--vpc", a)
	if list, _ := js["RouteEntrys"].(map[string]any)["RouteEntry"].([]any); len(list) != 2 {
		t.Errorf("route list json: %v", js)
	}
	if e := r.fail("peering", "delete", pcc); !strings.Contains(e, "DependencyViolation.RouteEntry") {
		t.Errorf("delete used peering: %s", e)
	}

	// VPC firewall.
	vfw := strings.TrimSpace(r.ok("firewall", "vpc", "create", "--name", "a-b", "--local-vpc", a, "--peer-vpc", b))
	if !strings.HasPrefix(vfw, "vfw-") {
		t.Fatalf("firewall vpc create printed %q", vfw)
	}
	if out := r.ok("firewall", "vpc", "list"); !strings.Contains(out, vfw) || !strings.Contains(out, "opened") {
		t.Errorf("firewall vpc list:\n%s", out)
	}
	r.ok("firewall", "vpc", "switch", vfw, "closed")
	if out := r.ok("firewall", "vpc", "list"); !strings.Contains(out, "closed") {
		t.Errorf("after switch:\n%s", out)
	}
	if e := r.fail("firewall", "vpc", "switch", vfw, "off"); !strings.Contains(e, "IllegalParam.FirewallSwitch") {
		t.Errorf("bad switch: %s", e)
	}
	pol := strings.TrimSpace(r.ok("firewall", "vpc", "policy", "add", "--firewall", vfw, "--action", "drop", "--proto", "tcp",
		"--source", "10.0.0.0/16", "--destination", "10.2.0.0/16", "--port", "22", "--description", "no ssh"))
	if len(pol) != 36 {
		t.Fatalf("policy add printed %q", pol)
	}
	first := strings.TrimSpace(r.ok("firewall", "vpc", "policy", "add", "--firewall", vfw, "--action", "accept", "--proto", "icmp",
		"--source", "0.0.0.0/0", "--destination", "0.0.0.0/0", "--order", "1", "--description", "ping"))
	if e := r.fail("firewall", "vpc", "policy", "add", "--firewall", vfw, "--action", "accept", "--proto", "icmp",
		"--source", "0.0.0.0/0", "--destination", "0.0.0.0/0", "--port", "80", "--description", "d"); !strings.Contains(e, "IllegalParam.DestPort") {
		t.Errorf("icmp port: %s", e)
	}
	out = r.ok("firewall", "vpc", "policy", "list", "--firewall", vfw)
	if i, j := strings.Index(out, first), strings.Index(out, pol); i < 0 || j < 0 || i > j {
		t.Errorf("policy list order:\n%s", out)
	}
	if !strings.Contains(out, "HitTimes") || !strings.Contains(out, "Ports") {
		t.Errorf("policy list without the policies' hits and ports:\n%s", out)
	}
	r.ok("firewall", "vpc", "policy", "delete", first, "--firewall", vfw)
	if out := r.ok("firewall", "vpc", "policy", "list", "--firewall", vfw); strings.Contains(out, first) {
		t.Errorf("deleted policy listed:\n%s", out)
	}
	if e := r.fail("peering", "delete", pcc, "--force"); !strings.Contains(e, "DependencyViolation.VpcFirewall") {
		t.Errorf("delete guarded peering: %s", e)
	}
	r.ok("firewall", "vpc", "delete", vfw)
	r.ok("route", "delete", rte)
	r.ok("peering", "delete", pcc)
	if out := r.ok("peering", "list"); strings.Contains(out, pcc) {
		t.Errorf("deleted peering listed:\n%s", out)
	}
	for _, args := range [][]string{{"peering", "--help"}, {"route", "--help"}, {"firewall", "vpc", "--help"}, {"firewall", "vpc", "policy", "add", "--help"}} {
		if out := r.ok(args...); !strings.Contains(out, "Usage") {
			t.Errorf("%v: %s", args, out)
		}
	}
}
