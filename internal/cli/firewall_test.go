package cli_test

import (
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/cli"
)

func TestFirewallCommands(t *testing.T) {
	env := apitest.Start(t)
	r := newRunner(t, env)
	fields := strings.Fields(r.ok("eip", "allocate", "--name", "front"))
	if len(fields) != 2 {
		t.Fatalf("eip allocate printed %q", fields)
	}
	eip := fields[1]

	// Books.
	office := strings.TrimSpace(r.ok("firewall", "book", "add", "--name", "office", "--type", "ip", "--entries", "192.0.2.7/24,198.51.100.7", "--description", "office"))
	if len(office) != 36 || strings.Count(office, "-") != 4 {
		t.Fatalf("book add printed %q", office)
	}
	web := strings.TrimSpace(r.ok("firewall", "book", "add", "--name", "web", "--type", "port", "--entries", "80", "--entries", "8000/8080", "--description", "web ports"))
	if e := r.fail("firewall", "book", "add", "--name", "dns", "--type", "domain", "--entries", "example.com", "--description", "d"); !strings.Contains(e, "OperationUnsupported.GroupType") {
		t.Errorf("domain book: %s", e)
	}
	if e := r.fail("firewall", "book", "add", "--name", "bad", "--type", "ip", "--entries", "10.0.0.0/40", "--description", "d"); !strings.Contains(e, "IllegalParam.AddressList") {
		t.Errorf("bad entry: %s", e)
	}
	out := r.ok("firewall", "book", "list")
	for _, want := range []string{"GroupUuid", office, "office", "192.0.2.0/24,198.51.100.7/32", web, "80,8000/8080", "UsedBy"} {
		if !strings.Contains(out, want) {
			t.Errorf("book list lacks %q:\n%s", want, out)
		}
	}
	if out := r.ok("firewall", "book", "list", "--type", "port"); strings.Contains(out, office) || !strings.Contains(out, web) {
		t.Errorf("book list --type port:\n%s", out)
	}

	// Policies.
	add := func(args ...string) string {
		t.Helper()
		id := strings.TrimSpace(r.ok(append([]string{"firewall", "policy", "add"}, args...)...))
		if len(id) != 36 {
			t.Fatalf("policy add printed %q", id)
		}
		return id
	}
	ssh := add("--direction", "in", "--action", "accept", "--proto", "tcp", "--source", "office", "--source-type", "group",
		"--destination", eip, "--port", "22", "--description", "ssh from the office")
	drop := add("--direction", "in", "--action", "drop", "--proto", "TCP", "--source", "0.0.0.0/0", "--destination", "0.0.0.0/0", "--port", "22", "--description", "no other ssh")
	webp := add("--direction", "in", "--action", "log", "--proto", "tcp", "--source", "0.0.0.0/0", "--destination", eip,
		"--port-group", "web", "--order", "1", "--description", "count web")
	add("--direction", "out", "--action", "drop", "--proto", "ANY", "--source", eip, "--destination", "203.0.113.0/24", "--disabled", "--description", "never there")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--direction", "in", "--action", "accept", "--proto", "icmp", "--source", "0.0.0.0/0", "--destination", "0.0.0.0/0", "--port", "80", "--description", "d"}, "IllegalParam.DestPort"},
		{[]string{"--direction", "in", "--action", "reject", "--proto", "tcp", "--source", "0.0.0.0/0", "--destination", "0.0.0.0/0", "--description", "d"}, "IllegalParam.AclAction"},
		{[]string{"--direction", "in", "--action", "accept", "--proto", "tcp", "--source", "nope", "--source-type", "group", "--destination", "0.0.0.0/0", "--description", "d"}, "ResourceNotFound.AddressBook"},
		{[]string{"--direction", "in", "--action", "accept", "--proto", "tcp", "--source", "0.0.0.0/0", "--destination", "0.0.0.0/0", "--port", "80", "--port-group", "web", "--description", "d"}, "port"},
		{[]string{"--direction", "in", "--action", "accept", "--proto", "tcp", "--source", "0.0.0.0/0", "--destination", "0.0.0.0/0", "--order", "9", "--description", "d"}, "IllegalParam.NewOrder"},
		{[]string{"--direction", "in", "--action", "accept", "--proto", "tcp", "--source", "0.0.0.0/0", "--destination", "0.0.0.0/0"}, "description"},
	} {
		if e := r.fail(append([]string{"firewall", "policy", "add"}, tc.args...)...); !strings.Contains(e, tc.want) {
			t.Errorf("policy add %v: %s", tc.args, e)
		}
	}
	order := func(dir string) []string {
		t.Helper()
		js := r.okJSON("firewall", "policy", "list", "--direction", dir)
		list, _ := js["Policys"].([]any)
		var ids []string
		for i, v := range list {
			p := v.(map[string]any)
			if fmt.Sprint(p["Order"]) != fmt.Sprint(i+1) {
				t.Errorf("%s policy %v has order %v", dir, p["AclUuid"], p["Order"])
			}
			ids = append(ids, p["AclUuid"].(string))
		}
		return ids
	}
	if got := order("in"); fmt.Sprint(got) != fmt.Sprint([]string{webp, ssh, drop}) {
		t.Errorf("in: %v", got)
	}
	out = r.ok("firewall", "policy", "list")
	for _, want := range []string{"Direction", "Order", "HitTimes", "group:office", "group:web", eip + "/32", "22", "drop", "log", "all", "false", "never there", ssh} {
		if !strings.Contains(out, want) {
			t.Errorf("policy list lacks %q:\n%s", want, out)
		}
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 5 || !strings.Contains(lines[1], "count web") || !strings.Contains(lines[4], "out") {
		t.Errorf("policy list order:\n%s", out)
	}
	r.ok("firewall", "policy", "move", drop, "--direction", "in", "--order", "1")
	if got := order("in"); fmt.Sprint(got) != fmt.Sprint([]string{drop, webp, ssh}) {
		t.Errorf("after move: %v", got)
	}
	if e := r.fail("firewall", "policy", "move", drop, "--direction", "out", "--order", "1"); !strings.Contains(e, "ResourceNotFound.ControlPolicy") {
		t.Errorf("move in the wrong direction: %s", e)
	}
	if e := r.fail("firewall", "book", "delete", office); !strings.Contains(e, "DependencyViolation.AddressBook") || !strings.Contains(e, ssh) {
		t.Errorf("delete a book in use: %s", e)
	}
	r.ok("firewall", "book", "update", office, "--name", "hq", "--entries", "192.0.2.0/25")
	if out := r.ok("firewall", "policy", "list", "--direction", "in"); !strings.Contains(out, "group:hq") {
		t.Errorf("rename not in the policies:\n%s", out)
	}
	if e := r.fail("firewall", "book", "update", office); !strings.Contains(e, "nothing to change") {
		t.Errorf("update without flags: %s", e)
	}
	r.ok("firewall", "policy", "delete", drop, "--direction", "in")
	if got := order("in"); fmt.Sprint(got) != fmt.Sprint([]string{webp, ssh}) {
		t.Errorf("after delete: %v", got)
	}

	// Another account sees nothing.
	bobCreds := env.NewAccount(t, "bob")
	bob := newRunner(t, env)
	bob.vars = maps.Clone(r.vars)
	bob.vars[cli.EnvAccessKeyID], bob.vars[cli.EnvAccessSecret] = bobCreds.AccessKeyID, bobCreds.Secret
	if js := bob.okJSON("firewall", "policy", "list"); fmt.Sprint(js["Policys"]) != "[]" {
		t.Errorf("bob's policies: %v", js)
	}
	if e := bob.fail("firewall", "policy", "delete", ssh, "--direction", "in"); !strings.Contains(e, "ResourceNotFound.ControlPolicy") {
		t.Errorf("bob deletes alice's: %s", e)
	}
	if e := bob.fail("firewall", "switch", "off", eip); !strings.Contains(e, "ResourceNotFound.Asset") {
		t.Errorf("bob switches alice's EIP: %s", e)
	}

	// The switch.
	if out := r.ok("firewall", "switch", "list"); !strings.Contains(out, eip) || !strings.Contains(out, "open") {
		t.Errorf("switch list:\n%s", out)
	}
	r.ok("firewall", "switch", "off", eip)
	if out := r.ok("firewall", "switch", "list"); !strings.Contains(out, "closed") {
		t.Errorf("after off:\n%s", out)
	}
	if e := r.fail("firewall", "switch", "off", "198.51.100.1"); !strings.Contains(e, "ResourceNotFound.Asset") {
		t.Errorf("switch a non-EIP: %s", e)
	}
	r.ok("firewall", "switch", "on", eip)
	if out := r.ok("firewall", "switch", "list"); !strings.Contains(out, "open") || strings.Contains(out, "closed") {
		t.Errorf("after on:\n%s", out)
	}
}

// TestFirewallDomainPolicyCommands: "--destination-type domain" adds an
// out policy with a domain destination (listed by its name); the server
// refuses it for "in" and a wildcard, with the code.
func TestFirewallDomainPolicyCommands(t *testing.T) {
	env := apitest.Start(t)
	r := newRunner(t, env)
	id := strings.TrimSpace(r.ok("firewall", "policy", "add", "--direction", "out", "--action", "drop", "--proto", "tcp", "--source", "0.0.0.0/0",
		"--destination", "WWW.Example.com", "--destination-type", "domain", "--port", "443", "--description", "not that site"))
	if len(id) != 36 {
		t.Fatalf("policy add printed %q", id)
	}
	if out := r.ok("firewall", "policy", "list", "--direction", "out"); !strings.Contains(out, "www.example.com") || !strings.Contains(out, id) {
		t.Errorf("policy list:\n%s", out)
	}
	for _, tc := range []struct {
		dir, dest, want string
	}{
		{"in", "www.example.com", "Error: OperationUnsupported.DestinationType: "},
		{"out", "*.example.com", "Error: OperationUnsupported.Destination: "},
		{"out", "not a name", "Error: IllegalParam.Destination: "},
	} {
		if e := r.fail("firewall", "policy", "add", "--direction", tc.dir, "--action", "drop", "--proto", "tcp", "--source", "0.0.0.0/0",
			"--destination", tc.dest, "--destination-type", "domain", "--description", "d"); !strings.Contains(e, tc.want) {
			t.Errorf("policy add %s %s: %s", tc.dir, tc.dest, e)
		}
	}
	if help := r.ok("firewall", "policy", "add", "--help"); !strings.Contains(help, "domain (a DNS name") {
		t.Errorf("help lacks the domain type:\n%s", help)
	}
}
