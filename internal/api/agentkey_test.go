package api_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"

	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/app"
)

// TestAgentAccessKey: an agent key (CreateAccessKey with AgentZoneId) signs
// the agent actions for its own zone and nothing else, so the host of a
// remote agent holds no key that can change resources or act for another
// zone. Only the admin makes agent keys, for its own account.
func TestAgentAccessKey(t *testing.T) {
	env := apitest.Start(t, apitest.WithBackend(app.BackendMemory))
	bob := env.NewAccount(t, "bob")
	call := func(c apitest.Creds, action string, params map[string]string) (map[string]any, int, string) {
		t.Helper()
		return palisadeCall(t, env, c, action, params)
	}

	for _, tc := range []struct {
		name   string
		caller apitest.Creds
		params map[string]string
		status int
		code   string
	}{
		{"not the admin", bob, map[string]string{"AgentZoneId": "local-b"}, 403, "Forbidden.NotAdmin"},
		{"for another account", env.Admin, map[string]string{"AgentZoneId": "local-b", "AccountId": bob.AccountID}, 400, "InvalidParameter"},
		{"malformed zone", env.Admin, map[string]string{"AgentZoneId": "Local B"}, 400, "InvalidZoneId.Malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, status, code := call(tc.caller, "CreateAccessKey", tc.params); status != tc.status || code != tc.code {
				t.Errorf("CreateAccessKey: %d %s, want %d %s", status, code, tc.status, tc.code)
			}
		})
	}
	out, status, code := call(env.Admin, "CreateAccessKey", map[string]string{"AgentZoneId": "local-b"})
	if status != 200 || out["AgentZoneId"] != "local-b" || out["AccountId"] != env.Admin.AccountID {
		t.Fatalf("CreateAccessKey: %d %s %v", status, code, out)
	}
	agent := apitest.Creds{AccessKeyID: out["AccessKeyId"].(string), Secret: out["AccessKeySecret"].(string), AccountID: env.Admin.AccountID}

	// The admin's full key makes another zone with an instance in it.
	if _, status, code := call(env.Admin, "RegisterZone", map[string]string{"ZoneId": "local-c"}); status != 200 {
		t.Fatalf("RegisterZone local-c (admin): %d %s", status, code)
	}
	v, e := env.VPC(t, env.Admin), env.ECS(t, env.Admin)
	cv := vpc.CreateCreateVpcRequest()
	cv.CidrBlock = "172.21.0.0/16"
	vr, err := v.CreateVpc(cv)
	if err != nil {
		t.Fatal(err)
	}
	cw := vpc.CreateCreateVSwitchRequest()
	cw.VpcId, cw.CidrBlock, cw.ZoneId = vr.VpcId, "172.21.1.0/24", "local-c"
	wr, err := v.CreateVSwitch(cw)
	if err != nil {
		t.Fatal(err)
	}
	cs := ecs.CreateCreateSecurityGroupRequest()
	cs.VpcId = vr.VpcId
	sr, err := e.CreateSecurityGroup(cs)
	if err != nil {
		t.Fatal(err)
	}
	ri := ecs.CreateRunInstancesRequest()
	ri.ImageId, ri.InstanceType, ri.VSwitchId, ri.SecurityGroupId = "img", "t", wr.VSwitchId, sr.SecurityGroupId
	rr, err := e.RunInstances(ri)
	if err != nil {
		t.Fatal(err)
	}
	other := rr.InstanceIdSets.InstanceIdSet[0]
	wp, status, code := call(env.Admin, "CreateWafProtection", map[string]string{"InstanceId": other, "Port": "80"})
	if status != 200 {
		t.Fatalf("CreateWafProtection: %d %s", status, code)
	}
	protection, _ := wp["ProtectionId"].(string)
	if protection == "" {
		t.Fatalf("CreateWafProtection: no ProtectionId in %v", wp)
	}

	for _, tc := range []struct {
		name, action string
		params       map[string]string
		status       int
		code         string
	}{
		{"mirror the store", "DescribeState", nil, 200, ""},
		{"wait for a revision", "WaitState", map[string]string{"WaitSeconds": "0"}, 200, ""},
		{"register its zone", "RegisterZone", map[string]string{"ZoneId": "local-b"}, 200, ""},
		{"register another zone", "RegisterZone", map[string]string{"ZoneId": "local-c"}, 403, "Forbidden.AgentZone"},
		{"report another zone's instance", "ReportStatus", map[string]string{"Instance.1.Id": other, "Instance.1.Status": "Running"}, 403, "Forbidden.AgentZone"},
		{"a non-agent action", "DescribeAccessKeys", nil, 403, "Forbidden.AgentKey"},
		{"make keys", "CreateAccessKey", nil, 403, "Forbidden.AgentKey"},
		{"analysis", "AuditSecurity", nil, 403, "Forbidden.AgentKey"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, status, code := call(agent, tc.action, tc.params); status != tc.status || code != tc.code {
				t.Errorf("%s with the agent key: %d %s, want %d %s", tc.action, status, code, tc.status, tc.code)
			}
		})
	}
	// The mirror holds another zone's instance, but not its WAF object
	// (which would carry its TLS key); the admin's full key gets both.
	for _, c := range []struct {
		creds apitest.Creds
		want  bool
	}{{agent, false}, {env.Admin, true}} {
		state, status, code := call(c.creds, "DescribeState", nil)
		if status != 200 {
			t.Fatalf("DescribeState: %d %s", status, code)
		}
		raw, _ := json.Marshal(state)
		if !strings.Contains(string(raw), other) || strings.Contains(string(raw), protection) != c.want {
			t.Errorf("DescribeState with %s: instance %v, WAF object %v (want %v)", c.creds.AccessKeyID,
				strings.Contains(string(raw), other), strings.Contains(string(raw), protection), c.want)
		}
	}
	// Through the SDK too: the cloud's own actions refuse the key.
	if _, err := env.VPC(t, agent).CreateVpc(vpc.CreateCreateVpcRequest()); err == nil {
		t.Error("CreateVpc with the agent key succeeded")
	} else if status, code := apitest.ServerErr(t, err); status != 403 || code != "Forbidden.AgentKey" {
		t.Errorf("CreateVpc with the agent key: %d %s, want 403 Forbidden.AgentKey", status, code)
	}
	if _, err := env.ECS(t, agent).DescribeInstances(ecs.CreateDescribeInstancesRequest()); err == nil {
		t.Error("DescribeInstances with the agent key succeeded")
	}
	// The refused report changed nothing.
	di := ecs.CreateDescribeInstancesRequest()
	di.InstanceIds = `["` + other + `"]`
	dr, err := e.DescribeInstances(di)
	if err != nil {
		t.Fatal(err)
	}
	if len(dr.Instances.Instance) != 1 || dr.Instances.Instance[0].Status == "Running" {
		t.Errorf("the other zone's instance after a refused report: %+v", dr.Instances.Instance)
	}

	// Listed with its zone; it does not count as the admin's last key.
	out, _, _ = call(env.Admin, "DescribeAccessKeys", nil)
	raw, _ := json.Marshal(out)
	if !strings.Contains(string(raw), `"AgentZoneId":"local-b"`) || strings.Contains(string(raw), agent.Secret) {
		t.Errorf("DescribeAccessKeys: %s", raw)
	}
	if _, status, code := call(env.Admin, "DeleteAccessKey", map[string]string{"UserAccessKeyId": env.Admin.AccessKeyID}); status != 403 || code != "OperationDenied.LastAdminAccessKey" {
		t.Errorf("delete the admin's last full key beside an agent key: %d %s", status, code)
	}
	if _, status, code := call(env.Admin, "DeleteAccessKey", map[string]string{"UserAccessKeyId": agent.AccessKeyID}); status != 200 {
		t.Errorf("delete the agent key: %d %s", status, code)
	}
	if _, status, code := call(agent, "DescribeState", nil); status != 404 || code != "InvalidAccessKeyId.NotFound" {
		t.Errorf("deleted agent key: %d %s", status, code)
	}
}

// TestReportStatusLists: ReportStatus refuses a malformed list with the
// parameter to fix, and changes nothing then (it used to skip such
// entries silently).
func TestReportStatusLists(t *testing.T) {
	env := apitest.Start(t, apitest.WithBackend(app.BackendMemory))
	for _, tc := range []struct {
		name   string
		params map[string]string
		code   string
	}{
		{"no status", map[string]string{"Instance.1.Id": "i-x"}, "MissingParameter"},
		{"no id", map[string]string{"NetworkInterface.1.Status": "InUse"}, "MissingParameter"},
		{"unknown field", map[string]string{"Eip.1.Id": "eip-x", "Eip.1.Status": "InUse", "Eip.1.State": "x"}, "InvalidParameter"},
		{"index 0", map[string]string{"Instance.0.Id": "i-x", "Instance.0.Status": "Running"}, "InvalidParameter"},
		{"not an index", map[string]string{"Instance.a.Id": "i-x"}, "InvalidParameter"},
		{"no field", map[string]string{"Instance.1": "i-x"}, "InvalidParameter"},
		{"twice, differently", map[string]string{"Instance.1.Id": "i-x", "Instance.1.Status": "Running", "Instance.2.Id": "i-x", "Instance.2.Status": "Pending"}, "InvalidParameter"},
		{"a status agents do not report", map[string]string{"Instance.1.Id": "i-x", "Instance.1.Status": "Stopped"}, "InvalidParameter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := env.Common(t, env.Admin, api.VersionPalisade, "ReportStatus", tc.params)
			if status, code := apitest.ServerErr(t, err); status != 400 || code != tc.code {
				t.Errorf("got %d %s, want 400 %s", status, code, tc.code)
			}
		})
	}
}
