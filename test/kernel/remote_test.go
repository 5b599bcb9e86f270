package kernel_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"

	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/apiclient"
	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/app"
	"github.com/palisade-project/palisade/internal/dataplane/linux"
	"github.com/palisade-project/palisade/internal/probe"
)

// TestRemoteAgent runs a server without a data plane and, beside it, an agent
// that talks to it only over the API (palisade agent --server --zone) with
// an agent key of its zone: the agent registers its zone, instances
// launched there stay Pending until the agent has put them in the kernel,
// then Running, and security-group changes made through the SDK reach the
// kernel.
func TestRemoteAgent(t *testing.T) {
	requireKernel(t)
	tag := randTag(t)
	env := apitest.Start(t, apitest.WithBackend(app.BackendMemory))
	key, err := env.Common(t, env.Admin, api.VersionPalisade, "CreateAccessKey", map[string]string{"AgentZoneId": "local-b"})
	if err != nil {
		t.Fatal(err)
	}
	client, err := apiclient.New(apiclient.Options{Endpoint: env.Endpoint, AccessKeyID: key["AccessKeyId"].(string), AccessKeySecret: key["AccessKeySecret"].(string), Region: apitest.Region})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.RunAgent(ctx, client, "local-b", tag, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
		if err := linux.New(linux.Config{Tag: tag}).Cleanup(context.Background()); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})

	e, v := env.ECS(t, env.Admin), env.VPC(t, env.Admin)
	// The zone appears once the agent registered it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		z, err := e.DescribeZones(ecs.CreateDescribeZonesRequest())
		if err != nil {
			t.Fatal(err)
		}
		if len(z.Zones.Zone) == 2 && z.Zones.Zone[1].ZoneId == "local-b" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("zone local-b not registered: %+v", z.Zones)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cv := vpc.CreateCreateVpcRequest()
	cv.CidrBlock = "172.20.0.0/16"
	vr, err := v.CreateVpc(cv)
	if err != nil {
		t.Fatal(err)
	}
	cw := vpc.CreateCreateVSwitchRequest()
	cw.VpcId, cw.CidrBlock, cw.ZoneId = vr.VpcId, "172.20.1.0/24", "local-b"
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
	pol := ecs.CreateModifySecurityGroupPolicyRequest()
	pol.SecurityGroupId, pol.InnerAccessPolicy = sr.SecurityGroupId, "Drop"
	if _, err := e.ModifySecurityGroupPolicy(pol); err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for name, ip := range map[string]string{"a": "172.20.1.10", "b": "172.20.1.11"} {
		r := ecs.CreateRunInstancesRequest()
		r.ImageId, r.InstanceType, r.VSwitchId, r.SecurityGroupId, r.PrivateIpAddress = "img", "t", wr.VSwitchId, sr.SecurityGroupId, ip
		rr, err := e.RunInstances(r)
		if err != nil {
			t.Fatal(err)
		}
		ids[name] = rr.InstanceIdSets.InstanceIdSet[0]
		if st := describeStatus(t, e, ids[name]); st != "Pending" && st != "Running" {
			t.Fatalf("new instance in a served zone is %s", st)
		}
	}
	waitStatus(t, e, ids["a"], "Running")
	waitStatus(t, e, ids["b"], "Running")

	bAddr := netip.AddrPortFrom(netip.MustParseAddr("172.20.1.11"), 8080)
	srv, err := probe.Serve(ids["b"], []int{8080}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	if err := probe.TCP(context.Background(), ids["a"], bAddr, time.Second); !probe.IsTimeout(err) {
		t.Fatalf("TCP 8080 before any rule: %v, want a silent drop", err)
	}
	auth := ecs.CreateAuthorizeSecurityGroupRequest()
	auth.SecurityGroupId = sr.SecurityGroupId
	auth.Permissions = &[]ecs.AuthorizeSecurityGroupPermissions{{IpProtocol: "tcp", PortRange: "8080/8080", SourceCidrIp: "172.20.1.10/32"}}
	if _, err := e.AuthorizeSecurityGroup(auth); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(5 * time.Second)
	for {
		err := probe.TCP(context.Background(), ids["a"], bAddr, 300*time.Millisecond)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("TCP 8080 still denied 5 s after AuthorizeSecurityGroup: %v", err)
		}
	}
}

func describeStatus(t *testing.T, c *ecs.Client, id string) string {
	t.Helper()
	r := ecs.CreateDescribeInstancesRequest()
	r.InstanceIds = `["` + id + `"]`
	resp, err := c.DescribeInstances(r)
	if err != nil || len(resp.Instances.Instance) != 1 {
		t.Fatalf("DescribeInstances %s: %v", id, err)
	}
	return resp.Instances.Instance[0].Status
}

func waitStatus(t *testing.T, c *ecs.Client, id, want string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for describeStatus(t, c, id) != want {
		if time.Now().After(deadline) {
			t.Fatalf("instance %s not %s after 15 s (is %s)", id, want, describeStatus(t, c, id))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
