package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/app"
)

// DeleteAccessKey revokes a key at once (the next request with it fails);
// DescribeAccessKeys never shows a secret; the admin's last key stays.
func TestDeleteAccessKeyHTTP(t *testing.T) {
	env := apitest.Start(t, apitest.WithBackend(app.BackendMemory))
	bob := env.NewAccount(t, "bob")
	alice := env.NewAccount(t, "alice")
	call := func(c apitest.Creds, action string, params map[string]string) (map[string]any, int, string) {
		t.Helper()
		out, err := env.Common(t, c, api.VersionPalisade, action, params)
		if err != nil {
			status, code := apitest.ServerErr(t, err)
			return nil, status, code
		}
		return out, http.StatusOK, ""
	}
	newKey := func(c apitest.Creds, account string) apitest.Creds {
		t.Helper()
		out, status, code := call(c, "CreateAccessKey", map[string]string{"AccountId": account})
		if status != 200 {
			t.Fatalf("CreateAccessKey: %d %s", status, code)
		}
		return apitest.Creds{AccessKeyID: out["AccessKeyId"].(string), Secret: out["AccessKeySecret"].(string), AccountID: account}
	}
	bob2 := newKey(bob, bob.AccountID)

	for _, tc := range []struct {
		name   string
		caller apitest.Creds
		params map[string]string
		status int
		code   string
	}{
		{"missing id", bob, nil, 400, "MissingParameter"},
		{"another account's key", alice, map[string]string{"UserAccessKeyId": bob2.AccessKeyID}, 404, "InvalidUserAccessKeyId.NotFound"},
		{"the admin's key by a non-admin", bob, map[string]string{"UserAccessKeyId": env.Admin.AccessKeyID}, 404, "InvalidUserAccessKeyId.NotFound"},
		{"the admin's last key", env.Admin, map[string]string{"UserAccessKeyId": env.Admin.AccessKeyID}, 403, "OperationDenied.LastAdminAccessKey"},
		{"unknown key", env.Admin, map[string]string{"UserAccessKeyId": "LTAInosuchkey0000000000"}, 404, "InvalidUserAccessKeyId.NotFound"},
		{"own key", bob, map[string]string{"UserAccessKeyId": bob2.AccessKeyID}, 200, ""},
		{"admin deletes alice's key", env.Admin, map[string]string{"UserAccessKeyId": alice.AccessKeyID}, 200, ""},
		{"a deleted key is gone", env.Admin, map[string]string{"UserAccessKeyId": alice.AccessKeyID}, 404, "InvalidUserAccessKeyId.NotFound"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, status, code := call(tc.caller, "DeleteAccessKey", tc.params); status != tc.status || code != tc.code {
				t.Errorf("got %d %s, want %d %s", status, code, tc.status, tc.code)
			}
		})
	}
	// Deleted keys stop working at once; the others keep working.
	for _, c := range []apitest.Creds{bob2, alice} {
		if _, status, code := call(c, "DescribeAccessKeys", nil); status != 404 || code != "InvalidAccessKeyId.NotFound" {
			t.Errorf("deleted key %s: %d %s, want 404 InvalidAccessKeyId.NotFound", c.AccessKeyID, status, code)
		}
	}
	out, status, code := call(bob, "DescribeAccessKeys", nil)
	if status != 200 {
		t.Fatalf("DescribeAccessKeys: %d %s", status, code)
	}
	raw, _ := json.Marshal(out)
	if strings.Contains(string(raw), bob.Secret) || strings.Contains(string(raw), "Secret") {
		t.Errorf("DescribeAccessKeys shows a secret: %s", raw)
	}
	keys, _ := out["AccessKeys"].(map[string]any)["AccessKey"].([]any)
	if len(keys) != 1 || keys[0].(map[string]any)["AccessKeyId"] != bob.AccessKeyID {
		t.Errorf("bob's keys: %s", raw)
	}
	if _, status, code := call(bob, "DescribeAccessKeys", map[string]string{"AccountId": env.Admin.AccountID}); status != 403 || code != "Forbidden.NotAdmin" {
		t.Errorf("bob lists the admin's keys: %d %s", status, code)
	}
	// The admin's root key may go once the admin has another key.
	admin2 := newKey(env.Admin, env.Admin.AccountID)
	out, _, _ = call(env.Admin, "DescribeAccessKeys", nil)
	raw, _ = json.Marshal(out)
	if !strings.Contains(string(raw), `"Root":true`) {
		t.Errorf("the root key is not marked: %s", raw)
	}
	if _, status, code := call(admin2, "DeleteAccessKey", map[string]string{"UserAccessKeyId": env.Admin.AccessKeyID}); status != 200 {
		t.Fatalf("delete the root key: %d %s", status, code)
	}
	if _, status, _ := call(env.Admin, "DescribeAccounts", nil); status != 404 {
		t.Errorf("deleted root key: %d, want 404", status)
	}
}
