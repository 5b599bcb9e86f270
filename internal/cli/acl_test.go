package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/apitest"
)

func TestACLCommands(t *testing.T) {
	env := apitest.Start(t)
	r := newRunner(t, env)
	vpcID := strings.TrimSpace(r.ok("vpc", "create", "--cidr", "10.0.0.0/16"))
	vsw := strings.TrimSpace(r.ok("vswitch", "create", "--vpc", vpcID, "--cidr", "10.0.1.0/24"))
	acl := strings.TrimSpace(r.ok("acl", "create", "--vpc", vpcID, "--name", "edge"))
	if !strings.HasPrefix(acl, "nacl-") {
		t.Fatalf("acl create printed %q", acl)
	}

	// Entries from a YAML file: both directions, in order.
	file := filepath.Join(t.TempDir(), "entries.yaml")
	doc := `ingress:
  - {name: ssh-drop, policy: drop, protocol: tcp, port: 22/22, cidr: 10.0.2.0/24}
  - {name: web, policy: accept, protocol: tcp, port: "80", cidr: 0.0.0.0/0}
  - {name: ping, policy: accept, protocol: icmp, cidr: 10.0.0.0/16}
egress:
  - {name: replies, policy: accept, protocol: tcp, port: 1024/65535, cidr: 0.0.0.0/0}
`
	if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	r.ok("acl", "entries", "set", acl, "--file", file)
	a := r.okJSON("acl", "show", acl)["NetworkAclAttribute"].(map[string]any)
	in := list(a, "IngressAclEntries", "IngressAclEntry")
	if len(in) != 3 || in[0]["NetworkAclEntryName"] != "ssh-drop" || in[1]["Port"] != "80/80" || in[2]["Port"] != "-1/-1" {
		t.Errorf("ingress from file: %v", in)
	}
	if out := list(a, "EgressAclEntries", "EgressAclEntry"); len(out) != 1 || out[0]["DestinationCidrIp"] != "0.0.0.0/0" {
		t.Errorf("egress from file: %v", out)
	}

	// Flags replace ingress only; JSON files work too (JSON is YAML).
	r.ok("acl", "entries", "set", acl, "--ingress", "accept,all,-1/-1,10.0.0.0/16,vpc")
	a = r.okJSON("acl", "show", acl)["NetworkAclAttribute"].(map[string]any)
	if in := list(a, "IngressAclEntries", "IngressAclEntry"); len(in) != 1 || in[0]["NetworkAclEntryName"] != "vpc" {
		t.Errorf("ingress from flags: %v", in)
	}
	if out := list(a, "EgressAclEntries", "EgressAclEntry"); len(out) != 1 {
		t.Errorf("egress changed by an ingress-only set: %v", out)
	}
	jsonFile := filepath.Join(t.TempDir(), "e.json")
	if err := os.WriteFile(jsonFile, []byte(`{"egress": []}`), 0o600); err != nil {
		t.Fatal(err)
	}
	r.ok("acl", "entries", "set", acl, "-f", jsonFile)
	a = r.okJSON("acl", "show", acl)["NetworkAclAttribute"].(map[string]any)
	if out := list(a, "EgressAclEntries", "EgressAclEntry"); len(out) != 0 {
		t.Errorf("egress after an empty JSON list: %v", out)
	}

	r.ok("acl", "associate", acl, vsw)
	out := r.ok("acl", "list")
	for _, want := range []string{acl, "edge", vsw} {
		if !strings.Contains(out, want) {
			t.Errorf("acl list lacks %q:\n%s", want, out)
		}
	}
	if show := r.ok("acl", "show", acl); !strings.Contains(show, "ingress") || !strings.Contains(show, vsw) {
		t.Errorf("acl show:\n%s", show)
	}
	if e := r.fail("acl", "delete", acl); !strings.Contains(e, "DependencyViolation") {
		t.Errorf("delete associated: %s", e)
	}
	if e := r.fail("acl", "entries", "set", acl, "--ingress", "accept,icmp,80/80,10.0.0.0/8"); !strings.Contains(e, "IllegalParam.Port") {
		t.Errorf("bad entry: %s", e)
	}
	if e := r.fail("acl", "entries", "set", acl, "--ingress", "accept,tcp"); !strings.Contains(e, "policy,protocol,port,cidr") {
		t.Errorf("malformed flag: %s", e)
	}
	r.ok("acl", "unassociate", acl, vsw)
	r.ok("acl", "delete", acl)
	if out := r.ok("acl", "list"); strings.Contains(out, acl) {
		t.Errorf("deleted ACL still listed:\n%s", out)
	}
}
