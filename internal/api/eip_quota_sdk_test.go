package api_test

import (
	"testing"

	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/app"
	"github.com/palisade-project/palisade/internal/service"
)

// Over the wire: an account past its EIP quota gets 400 QuotaExceeded.Eip
// while another account still allocates; a VPC over the public pool is
// 400 InvalidCidrBlock.Malformed.
func TestEIPQuotaAndPoolCidrSDK(t *testing.T) {
	q := service.DefaultQuotas()
	q.EipsPerAccount = 1
	env := apitest.Start(t, apitest.WithBackend(app.BackendMemory), apitest.WithQuotas(q))
	alice, bob := env.NewAccount(t, "alice"), env.NewAccount(t, "bob")
	for _, tc := range []struct {
		name   string
		caller apitest.Creds
		action string
		params map[string]string
		status int
		code   string
	}{
		{"alice's first", alice, "AllocateEipAddress", nil, 200, ""},
		{"alice past her quota", alice, "AllocateEipAddress", nil, 400, "QuotaExceeded.Eip"},
		{"bob is not affected", bob, "AllocateEipAddress", nil, 200, ""},
		{"vpc over the pool", bob, "CreateVpc", map[string]string{"CidrBlock": service.DefaultPublicCIDR.String()}, 400, "InvalidCidrBlock.Malformed"},
		{"vpc beside the pool", bob, "CreateVpc", map[string]string{"CidrBlock": "10.0.0.0/16"}, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := env.Common(t, tc.caller, api.VersionVPC, tc.action, tc.params)
			status, code := 200, ""
			if err != nil {
				status, code = apitest.ServerErr(t, err)
			}
			if status != tc.status || code != tc.code {
				t.Errorf("got %d %s, want %d %s", status, code, tc.status, tc.code)
			}
		})
	}
}
