package api_test

import (
	"context"
	stderrors "errors"
	"net/http"
	"strings"
	"testing"

	openapiutil "github.com/alibabacloud-go/darabonba-openapi/v2/utils"
	"github.com/alibabacloud-go/tea/dara"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"

	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/app"
	"github.com/palisade-project/palisade/internal/service"
)

// echoRoutes registers a test-only action under the ECS version that
// returns what the handler saw.
func echoRoutes(rt *api.Router, _ *service.Service) {
	rt.Handle(api.VersionECS, "PalisadeTestEcho", func(_ context.Context, r *api.Request) (any, error) {
		return struct {
			AccountId string
			Name      string
			Region    string
		}{r.Account.ID, r.Params.Get("Name"), r.RegionID}, nil
	})
}

func startEcho(t *testing.T) *apitest.Env {
	return apitest.Start(t, apitest.WithBackend(app.BackendMemory), apitest.WithRoutes(echoRoutes))
}

// commonRequest is a V1 SDK CommonRequest for PalisadeTestEcho.
func commonRequest(env *apitest.Env, method string) *requests.CommonRequest {
	req := requests.NewCommonRequest()
	req.Method = method
	req.Scheme = requests.HTTP
	req.Domain = env.Endpoint
	req.Product = "Ecs"
	req.Version = api.VersionECS
	req.ApiName = "PalisadeTestEcho"
	req.QueryParams["Name"] = "web sg*~ é/+"
	return req
}

func v1Client(t *testing.T, region, id, secret string) *sdk.Client {
	cl, err := sdk.NewClientWithAccessKey(region, id, secret)
	if err != nil {
		t.Fatal(err)
	}
	cl.SetNoProxy("127.0.0.1,localhost")
	return cl
}

func TestV1SDKCommonRequest(t *testing.T) {
	env := startEcho(t)
	cl := v1Client(t, apitest.Region, env.Admin.AccessKeyID, env.Admin.Secret)
	for _, method := range []string{requests.GET, requests.POST} {
		resp, err := cl.ProcessCommonRequest(commonRequest(env, method))
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		body := resp.GetHttpContentString()
		if !strings.Contains(body, `"AccountId":"`+env.Admin.AccountID+`"`) || !strings.Contains(body, `"Name":"web sg*~ é/+"`) ||
			!strings.Contains(body, `"RequestId":"`) {
			t.Errorf("%s: body %s", method, body)
		}
	}
}

func TestV1SDKErrors(t *testing.T) {
	env := startEcho(t)
	tests := []struct {
		name          string
		region        string
		id, secret    string
		action        string
		status        int
		code          string
		wantRecommend string
	}{
		{"wrong secret", apitest.Region, env.Admin.AccessKeyID, "wrong", "PalisadeTestEcho", 400, "SignatureDoesNotMatch",
			"InvalidAccessKeySecret"},
		{"unknown key", apitest.Region, "LTAInobodyhere000000000", "x", "PalisadeTestEcho", 404, "InvalidAccessKeyId.NotFound", ""},
		{"unknown action", apitest.Region, env.Admin.AccessKeyID, env.Admin.Secret, "NoSuchThing", 404, "InvalidAction.NotFound", ""},
		{"client in another region", "cn-hangzhou", env.Admin.AccessKeyID, env.Admin.Secret, "PalisadeTestEcho", 400, "InvalidRegionId.NotFound", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := commonRequest(env, requests.POST)
			req.ApiName = tt.action
			_, err := v1Client(t, tt.region, tt.id, tt.secret).ProcessCommonRequest(req)
			status, code := apitest.ServerErr(t, err)
			if status != tt.status || code != tt.code {
				t.Fatalf("got %d %s, want %d %s (%v)", status, code, tt.status, tt.code, err)
			}
			var se *errors.ServerError
			stderrors.As(err, &se)
			if se.RequestId() == "" || se.HostId() == "" || se.Message() == "" {
				t.Errorf("incomplete error: %v", err)
			}
			if tt.wantRecommend != "" && !strings.Contains(se.Recommend(), tt.wantRecommend) {
				t.Errorf("Recommend = %q, want it to mention %s (the SDK compares our string to sign with its own)",
					se.Recommend(), tt.wantRecommend)
			}
		})
	}
}

func v2Params(action string) *openapiutil.Params {
	return &openapiutil.Params{
		Action: dara.String(action), Version: dara.String(api.VersionECS),
		Protocol: dara.String("HTTP"), Pathname: dara.String("/"), Method: dara.String("POST"),
		AuthType: dara.String("AK"), Style: dara.String("RPC"),
		ReqBodyType: dara.String("formData"), BodyType: dara.String("json"),
	}
}

// TestV2SDK drives the server with the V2 SDK, which signs with
// ACS3-HMAC-SHA256 and sends Action/Version only as headers.
func TestV2SDK(t *testing.T) {
	env := startEcho(t)
	bob := env.NewAccount(t, "bob")
	v2 := env.ECSV2(t, bob)
	// CallApi sends only the given query (typed V2 methods add RegionId themselves).
	req := &openapiutil.OpenApiRequest{Query: map[string]*string{
		"Name": dara.String("a b*~é"), "RegionId": dara.String(apitest.Region)}}
	out, err := v2.CallApi(v2Params("PalisadeTestEcho"), req, &dara.RuntimeOptions{})
	if err != nil {
		t.Fatalf("v2 call: %v", err)
	}
	body, _ := out["body"].(map[string]any)
	if body["AccountId"] != bob.AccountID || body["Name"] != "a b*~é" || body["Region"] != apitest.Region {
		t.Errorf("v2 body = %v", body)
	}

	bad := env.ECSV2(t, apitest.Creds{AccessKeyID: bob.AccessKeyID, Secret: "wrong"})
	_, err = bad.CallApi(v2Params("PalisadeTestEcho"), &openapiutil.OpenApiRequest{}, &dara.RuntimeOptions{})
	if status, code := apitest.ServerErr(t, err); status != http.StatusBadRequest || code != "SignatureDoesNotMatch" {
		t.Errorf("v2 wrong secret = %d %s", status, code)
	}
	_, err = v2.CallApi(v2Params("NoSuchThing"), &openapiutil.OpenApiRequest{}, &dara.RuntimeOptions{})
	if status, code := apitest.ServerErr(t, err); status != http.StatusNotFound || code != "InvalidAction.NotFound" {
		t.Errorf("v2 unknown action = %d %s", status, code)
	}
}
