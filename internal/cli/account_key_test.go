package cli_test

import (
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/cli"
)

// palisade account key list|delete: list shows no secret; a deleted key
// stops working; the admin's last key cannot be deleted.
func TestAccountKeyListDelete(t *testing.T) {
	env := apitest.Start(t)
	r := newRunner(t, env)
	bob := r.okJSON("account", "create", "bob")
	bobID, bobKey, bobSecret := bob["AccountId"].(string), bob["AccessKeyId"].(string), bob["AccessKeySecret"].(string)
	second := r.okJSON("account", "key", "create", bobID)
	secondKey := second["AccessKeyId"].(string)

	out := r.ok("account", "key", "list", bobID)
	for _, want := range []string{"AccessKeyId", bobKey, secondKey} {
		if !strings.Contains(out, want) {
			t.Errorf("key list lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, bobSecret) {
		t.Errorf("key list shows a secret:\n%s", out)
	}
	if keys := list(r.okJSON("account", "key", "list", bobID), "AccessKeys", "AccessKey"); len(keys) != 2 {
		t.Errorf("key list -o json: %d keys, want 2", len(keys))
	}
	// The admin's own keys, the root key marked.
	if out := r.ok("account", "key", "list"); !strings.Contains(out, env.Admin.AccessKeyID) || !strings.Contains(out, "true") {
		t.Errorf("admin's key list:\n%s", out)
	}

	if errOut := r.fail("account", "key", "delete", env.Admin.AccessKeyID); !strings.Contains(errOut, "OperationDenied.LastAdminAccessKey") {
		t.Errorf("deleting the admin's last key: %q", errOut)
	}
	if out := r.ok("account", "key", "delete", secondKey); out != "" {
		t.Errorf("key delete printed %q", out)
	}
	// bob's deleted key no longer works; his first one does.
	r.vars[cli.EnvAccessKeyID], r.vars[cli.EnvAccessSecret] = secondKey, second["AccessKeySecret"].(string)
	if errOut := r.fail("account", "key", "list"); !strings.Contains(errOut, "InvalidAccessKeyId.NotFound") {
		t.Errorf("deleted key: %q", errOut)
	}
	r.vars[cli.EnvAccessKeyID], r.vars[cli.EnvAccessSecret] = bobKey, bobSecret
	if out := r.ok("account", "key", "list"); !strings.Contains(out, bobKey) || strings.Contains(out, secondKey) {
		t.Errorf("bob's keys after the deletion:\n%s", out)
	}
}

// palisade account key create --agent-zone: an agent key, listed with its
// zone, which the CLI's other commands cannot use.
func TestAccountAgentKey(t *testing.T) {
	env := apitest.Start(t)
	r := newRunner(t, env)
	key := r.okJSON("account", "key", "create", "--agent-zone", "local-b")
	if key["AgentZoneId"] != "local-b" || key["AccountId"] != env.Admin.AccountID {
		t.Fatalf("agent key: %v", key)
	}
	if out := r.ok("account", "key", "list"); !strings.Contains(out, "AgentZoneId") || !strings.Contains(out, "local-b") {
		t.Errorf("key list:\n%s", out)
	}
	if errOut := r.fail("account", "key", "create", "--agent-zone", "B"); !strings.Contains(errOut, "InvalidZoneId.Malformed") {
		t.Errorf("malformed zone: %q", errOut)
	}
	r.vars[cli.EnvAccessKeyID], r.vars[cli.EnvAccessSecret] = key["AccessKeyId"].(string), key["AccessKeySecret"].(string)
	if errOut := r.fail("vpc", "list"); !strings.Contains(errOut, "Forbidden.AgentKey") {
		t.Errorf("vpc list with the agent key: %q", errOut)
	}
}
