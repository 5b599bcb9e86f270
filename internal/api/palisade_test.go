package api_test

import (
	"net/http"
	"testing"

	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/app"
)

func TestAccounts(t *testing.T) {
	env := apitest.Start(t, apitest.WithBackend(app.BackendMemory), apitest.WithRoutes(echoRoutes))
	bob := env.NewAccount(t, "bob")
	alice := env.NewAccount(t, "alice")
	if bob.AccountID == alice.AccountID || len(bob.AccountID) != 16 {
		t.Fatalf("account IDs: bob %q alice %q", bob.AccountID, alice.AccountID)
	}
	if len(bob.AccessKeyID) != 24 || bob.AccessKeyID[:4] != "LTAI" || len(bob.Secret) != 30 {
		t.Errorf("key shape: %q / %d-char secret", bob.AccessKeyID, len(bob.Secret))
	}

	call := func(c apitest.Creds, action string, params map[string]string) (map[string]any, int, string) {
		t.Helper()
		out, err := env.Common(t, c, api.VersionPalisade, action, params)
		if err != nil {
			status, code := apitest.ServerErr(t, err)
			return nil, status, code
		}
		return out, http.StatusOK, ""
	}

	errTests := []struct {
		name   string
		caller apitest.Creds
		action string
		params map[string]string
		status int
		code   string
	}{
		{"non-admin CreateAccount", bob, "CreateAccount", map[string]string{"AccountName": "eve"}, 403, "Forbidden.NotAdmin"},
		{"non-admin DescribeAccounts", bob, "DescribeAccounts", nil, 403, "Forbidden.NotAdmin"},
		{"non-admin key for another account", bob, "CreateAccessKey", map[string]string{"AccountId": alice.AccountID}, 403, "Forbidden.NotAdmin"},
		{"duplicate name", env.Admin, "CreateAccount", map[string]string{"AccountName": "bob"}, 400, "InvalidAccountName.Duplicate"},
		{"bad name", env.Admin, "CreateAccount", map[string]string{"AccountName": "no spaces"}, 400, "InvalidAccountName.Malformed"},
		{"missing name", env.Admin, "CreateAccount", nil, 400, "MissingParameter"},
		{"key for unknown account", env.Admin, "CreateAccessKey", map[string]string{"AccountId": "9999999999999999"}, 404, "InvalidAccountId.NotFound"},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			if _, status, code := call(tt.caller, tt.action, tt.params); status != tt.status || code != tt.code {
				t.Errorf("got %d %s, want %d %s", status, code, tt.status, tt.code)
			}
		})
	}

	out, status, code := call(env.Admin, "DescribeAccounts", nil)
	if status != 200 {
		t.Fatalf("DescribeAccounts: %d %s", status, code)
	}
	list, _ := out["Accounts"].(map[string]any)["Account"].([]any)
	names := map[string]bool{}
	for _, a := range list {
		names[a.(map[string]any)["AccountName"].(string)] = true
	}
	if len(list) != 3 || !names["admin"] || !names["bob"] || !names["alice"] || out["TotalCount"] != float64(3) {
		t.Errorf("DescribeAccounts = %v", out)
	}

	// Bob adds a key for himself; the admin adds one for alice. Both work.
	out, status, code = call(bob, "CreateAccessKey", nil)
	if status != 200 || out["AccountId"] != bob.AccountID {
		t.Fatalf("bob CreateAccessKey: %d %s %v", status, code, out)
	}
	bob2 := apitest.Creds{AccessKeyID: out["AccessKeyId"].(string), Secret: out["AccessKeySecret"].(string), AccountID: bob.AccountID}
	out, status, code = call(env.Admin, "CreateAccessKey", map[string]string{"AccountId": alice.AccountID})
	if status != 200 || out["AccountId"] != alice.AccountID {
		t.Fatalf("admin CreateAccessKey for alice: %d %s %v", status, code, out)
	}
	alice2 := apitest.Creds{AccessKeyID: out["AccessKeyId"].(string), Secret: out["AccessKeySecret"].(string), AccountID: alice.AccountID}
	for _, c := range []apitest.Creds{bob2, alice2} {
		out, err := env.Common(t, c, api.VersionECS, "PalisadeTestEcho", nil)
		if err != nil || out["AccountId"] != c.AccountID {
			t.Errorf("new key of %s: %v %v", c.AccountID, out, err)
		}
	}
}
