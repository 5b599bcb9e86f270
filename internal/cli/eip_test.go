package cli_test

import (
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/apitest"
)

func TestEIPCommands(t *testing.T) {
	env := apitest.Start(t)
	r := newRunner(t, env)
	vpcID := strings.TrimSpace(r.ok("vpc", "create", "--cidr", "10.0.0.0/16"))
	vsw := strings.TrimSpace(r.ok("vswitch", "create", "--vpc", vpcID, "--cidr", "10.0.1.0/24"))
	sg := strings.TrimSpace(r.ok("sg", "create", "--vpc", vpcID, "--name", "web"))
	inst := strings.TrimSpace(r.ok("instance", "create", "--vswitch", vsw, "--sg", sg, "--private-ip", "10.0.1.7"))

	fields := strings.Fields(r.ok("eip", "allocate", "--name", "front"))
	if len(fields) != 2 || !strings.HasPrefix(fields[0], "eip-") || !strings.HasPrefix(fields[1], "198.18.") {
		t.Fatalf("eip allocate printed %q", fields)
	}
	id := fields[0]
	r.ok("eip", "associate", id, inst)
	out := r.ok("eip", "list")
	for _, want := range []string{id, fields[1], "InUse", inst, "10.0.1.7", "front"} {
		if !strings.Contains(out, want) {
			t.Errorf("eip list lacks %q:\n%s", want, out)
		}
	}
	if e := r.fail("eip", "release", id); !strings.Contains(e, "IncorrectEipStatus") {
		t.Errorf("release associated: %s", e)
	}
	r.ok("eip", "unassociate", id)
	r.ok("eip", "release", id)
	if out := r.ok("eip", "list"); strings.Contains(out, id) {
		t.Errorf("released EIP still listed:\n%s", out)
	}
}
