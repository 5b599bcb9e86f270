package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"
)

type creds struct {
	ID     string `json:"access_key_id"`
	Secret string `json:"access_key_secret"`
}

func readCreds(t *testing.T, dataDir string) creds {
	t.Helper()
	path := filepath.Join(dataDir, "credentials.json")
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("credentials.json mode %v, want 0600", st.Mode().Perm())
	}
	var c creds
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &c); err != nil || c.ID == "" || c.Secret == "" {
		t.Fatalf("credentials.json: %v %+v", err, c)
	}
	return c
}

func ecsClient(t *testing.T, addr string, c creds) *ecs.Client {
	t.Helper()
	cl, err := ecs.NewClientWithAccessKey("local", c.ID, c.Secret)
	if err != nil {
		t.Fatal(err)
	}
	cl.Domain = addr
	cl.SetNoProxy("127.0.0.1,localhost")
	return cl
}

func vpcClient(t *testing.T, addr string, c creds) *vpc.Client {
	t.Helper()
	cl, err := vpc.NewClientWithAccessKey("local", c.ID, c.Secret)
	if err != nil {
		t.Fatal(err)
	}
	cl.Domain = addr
	cl.SetNoProxy("127.0.0.1,localhost")
	return cl
}

func createAccount(t *testing.T, addr string, admin creds, name string) creds {
	t.Helper()
	cl, err := sdk.NewClientWithAccessKey("local", admin.ID, admin.Secret)
	if err != nil {
		t.Fatal(err)
	}
	cl.SetNoProxy("127.0.0.1,localhost")
	req := requests.NewCommonRequest()
	req.Method, req.Scheme, req.Domain = requests.POST, requests.HTTP, addr
	req.Product, req.Version, req.ApiName = "Palisade", "2026-11-01", "CreateAccount"
	req.QueryParams["AccountName"] = name
	resp, err := cl.ProcessCommonRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	var out struct{ AccessKeyId, AccessKeySecret string }
	if err := json.Unmarshal(resp.GetHttpContentBytes(), &out); err != nil {
		t.Fatal(err)
	}
	return creds{ID: out.AccessKeyId, Secret: out.AccessKeySecret}
}

// TestDurabilityAfterSIGKILL: every write acknowledged before a SIGKILL is
// there after a restart on the same data directory.
func TestDurabilityAfterSIGKILL(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	s := startServer(t, dataDir)
	admin := readCreds(t, dataDir)
	bob := createAccount(t, s.addr, admin, "bob")

	v := vpcClient(t, s.addr, bob)
	cv := vpc.CreateCreateVpcRequest()
	cv.CidrBlock = "10.0.0.0/16"
	vpcResp, err := v.CreateVpc(cv)
	if err != nil {
		t.Fatal(err)
	}
	e := ecsClient(t, s.addr, bob)
	sgReq := ecs.CreateCreateSecurityGroupRequest()
	sgReq.VpcId = vpcResp.VpcId
	sgResp, err := e.CreateSecurityGroup(sgReq)
	if err != nil {
		t.Fatal(err)
	}
	auth := ecs.CreateAuthorizeSecurityGroupRequest()
	auth.SecurityGroupId = sgResp.SecurityGroupId
	auth.IpProtocol, auth.PortRange, auth.SourceCidrIp = "tcp", "5432/5432", "10.0.0.0/16"
	if _, err := e.AuthorizeSecurityGroup(auth); err != nil {
		t.Fatal(err)
	}
	s.kill(t) // right after the last acknowledged write

	s2 := startServer(t, dataDir)
	if again := readCreds(t, dataDir); again != admin {
		t.Errorf("admin key changed across restart")
	}
	e2 := ecsClient(t, s2.addr, bob) // bob's key must still authenticate
	attr := ecs.CreateDescribeSecurityGroupAttributeRequest()
	attr.SecurityGroupId = sgResp.SecurityGroupId
	got, err := e2.DescribeSecurityGroupAttribute(attr)
	if err != nil {
		t.Fatalf("after SIGKILL and restart: %v", err)
	}
	if len(got.Permissions.Permission) != 1 || got.Permissions.Permission[0].PortRange != "5432/5432" {
		t.Errorf("rule lost: %+v", got.Permissions.Permission)
	}
	if err := s2.stop(t); err != nil {
		t.Errorf("SIGTERM: exit %v, want a clean exit", err)
	}
}

// TestRootKeyFromEnvironment: PALISADE_ROOT_ACCESS_KEY_* preset the admin key.
func TestRootKeyFromEnvironment(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	want := creds{ID: "LTAIpresetpresetpreset", Secret: "presetsecretpresetsecretpresetse"}
	s := startServer(t, dataDir, "PALISADE_ROOT_ACCESS_KEY_ID="+want.ID, "PALISADE_ROOT_ACCESS_KEY_SECRET="+want.Secret)
	if got := readCreds(t, dataDir); got != want {
		t.Errorf("credentials.json = %+v, want the preset pair", got)
	}
	if _, err := ecsClient(t, s.addr, want).DescribeSecurityGroups(ecs.CreateDescribeSecurityGroupsRequest()); err != nil {
		t.Errorf("preset key does not authenticate: %v", err)
	}
}
