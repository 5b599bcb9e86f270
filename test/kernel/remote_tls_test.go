package kernel_test

import (
	"context"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/apiclient"
	"github.com/palisade-project/palisade/internal/app"
	"github.com/palisade-project/palisade/internal/app/tlstest"
	"github.com/palisade-project/palisade/internal/dataplane/linux"
)

// TestRemoteAgentTLS is TestRemoteAgent's path over https: a server with a
// self-signed certificate, an agent whose client trusts it (--ca-cert):
// the zone registers, the mirror (DescribeState, WaitState) follows, and
// an instance launched in the zone is put in the kernel and reported
// Running.
func TestRemoteAgentTLS(t *testing.T) {
	requireKernel(t)
	tag := randTag(t)
	srv := tlstest.Start(t, nil)
	client, err := apiclient.New(apiclient.Options{Endpoint: srv.Endpoint, AccessKeyID: srv.AccessKeyID, AccessKeySecret: srv.AccessKeySecret,
		CAFile: srv.Pair.CertFile})
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

	call := func(version, action string, params map[string]string) map[string]any {
		t.Helper()
		out, err := client.Call(context.Background(), version, action, params)
		if err != nil {
			t.Fatalf("%s: %v", action, err)
		}
		return out
	}
	deadline := time.Now().Add(10 * time.Second)
	for !hasZone(call(apiclient.VersionECS, "DescribeZones", nil), "local-b") {
		if time.Now().After(deadline) {
			t.Fatal("zone local-b not registered over https")
		}
		time.Sleep(50 * time.Millisecond)
	}
	vpcID := call(apiclient.VersionVPC, "CreateVpc", map[string]string{"CidrBlock": "172.21.0.0/16"})["VpcId"].(string)
	vswID := call(apiclient.VersionVPC, "CreateVSwitch", map[string]string{"VpcId": vpcID, "CidrBlock": "172.21.1.0/24", "ZoneId": "local-b"})["VSwitchId"].(string)
	sgID := call(apiclient.VersionECS, "CreateSecurityGroup", map[string]string{"VpcId": vpcID})["SecurityGroupId"].(string)
	run := call(apiclient.VersionECS, "RunInstances", map[string]string{"ImageId": "img", "InstanceType": "t", "VSwitchId": vswID,
		"SecurityGroupId": sgID, "PrivateIpAddress": "172.21.1.10"})
	id := run["InstanceIdSets"].(map[string]any)["InstanceIdSet"].([]any)[0].(string)

	deadline = time.Now().Add(15 * time.Second)
	for {
		out := call(apiclient.VersionECS, "DescribeInstances", map[string]string{"InstanceIds": `["` + id + `"]`})
		inst := out["Instances"].(map[string]any)["Instance"].([]any)[0].(map[string]any)
		if inst["Status"] == "Running" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance %s not Running after 15 s over https (is %v)", id, inst["Status"])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func hasZone(out map[string]any, zone string) bool {
	zs, _ := out["Zones"].(map[string]any)
	list, _ := zs["Zone"].([]any)
	for _, z := range list {
		if m, _ := z.(map[string]any); m["ZoneId"] == zone {
			return true
		}
	}
	return false
}
