package apitest_test

import (
	"context"
	"net/http"
	"testing"

	openapiutil "github.com/alibabacloud-go/darabonba-openapi/v2/utils"
	"github.com/alibabacloud-go/tea/dara"

	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/app"
	"github.com/palisade-project/palisade/internal/service"
)

func TestHarness(t *testing.T) {
	echo := func(rt *api.Router, _ *service.Service) {
		rt.Handle(api.VersionECS, "PalisadeTestWhoAmI", func(_ context.Context, r *api.Request) (any, error) {
			return map[string]string{"AccountId": r.Account.ID}, nil
		})
	}
	env := apitest.Start(t, apitest.WithBackend(app.BackendMemory), apitest.WithRoutes(echo))
	if env.Admin.AccessKeyID == "" || env.Admin.AccountID == "" {
		t.Fatalf("admin creds incomplete: %+v", env.Admin)
	}
	bob := env.NewAccount(t, "bob")
	if bob.AccountID == env.Admin.AccountID {
		t.Fatalf("new account has the admin's ID")
	}

	// V1 SDK, as bob: the handler sees bob's account.
	out, err := env.Common(t, bob, api.VersionECS, "PalisadeTestWhoAmI", nil)
	if err != nil {
		t.Fatalf("whoami: %v", err)
	}
	if out["AccountId"] != bob.AccountID || out["RequestId"] == "" {
		t.Errorf("whoami = %v, want AccountId %s and a RequestId", out, bob.AccountID)
	}

	// A non-admin cannot create accounts.
	_, err = env.Common(t, bob, api.VersionPalisade, "CreateAccount", map[string]string{"AccountName": "eve"})
	if status, code := apitest.ServerErr(t, err); status != http.StatusForbidden || code != "Forbidden.NotAdmin" {
		t.Errorf("bob CreateAccount = %d %s, want 403 Forbidden.NotAdmin", status, code)
	}

	// V2 SDK (ACS3), generic call through the same client the typed methods use.
	v2 := env.ECSV2(t, bob)
	body, err := v2.CallApi(&openapiutil.Params{
		Action: dara.String("PalisadeTestWhoAmI"), Version: dara.String(api.VersionECS),
		Protocol: dara.String("HTTP"), Pathname: dara.String("/"), Method: dara.String("POST"),
		AuthType: dara.String("AK"), Style: dara.String("RPC"),
		ReqBodyType: dara.String("formData"), BodyType: dara.String("json"),
	}, &openapiutil.OpenApiRequest{}, &dara.RuntimeOptions{})
	if err != nil {
		t.Fatalf("v2 whoami: %v", err)
	}
	if b, _ := body["body"].(map[string]any); b["AccountId"] != bob.AccountID {
		t.Errorf("v2 whoami = %v, want AccountId %s", body, bob.AccountID)
	}

	// V2 SDK error path.
	_, err = env.ECSV2(t, apitest.Creds{AccessKeyID: "LTAInope", Secret: "x"}).CallApi(&openapiutil.Params{
		Action: dara.String("PalisadeTestWhoAmI"), Version: dara.String(api.VersionECS),
		Protocol: dara.String("HTTP"), Pathname: dara.String("/"), Method: dara.String("POST"),
		AuthType: dara.String("AK"), Style: dara.String("RPC"),
		ReqBodyType: dara.String("formData"), BodyType: dara.String("json"),
	}, &openapiutil.OpenApiRequest{}, &dara.RuntimeOptions{})
	if status, code := apitest.ServerErr(t, err); status != http.StatusNotFound || code != "InvalidAccessKeyId.NotFound" {
		t.Errorf("unknown key via v2 = %d %s, want 404 InvalidAccessKeyId.NotFound", status, code)
	}
}
