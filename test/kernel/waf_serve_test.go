package kernel_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	nethttp "net/http"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"

	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/app"
	"github.com/palisade-project/palisade/internal/dataplane/linux"
	"github.com/palisade-project/palisade/internal/probe"
	"github.com/palisade-project/palisade/internal/waf"
	"github.com/palisade-project/palisade/internal/waf/wafrule"
)

// TestWAFServeUpstreamFiltered: the standalone WAF ("waf serve") forwards
// to an instance from the VPC router's address on the instance's vSwitch
// (its gateway), and the instance's security groups decide on that
// connection: a rule that admits the gateway lets requests through, and
// once it is revoked they fail at the upstream (the router's own
// connections used to pass no filter at all).
func TestWAFServeUpstreamFiltered(t *testing.T) {
	requireKernel(t)
	tag := randTag(t)
	env := apitest.Start(t, apitest.WithBackend(app.BackendMemory), apitest.WithAgent(tag))
	w := newWorld(t, env)
	vpcID := w.mustVPC("10.12.0.0/16")
	vsw := w.mustVSwitch(vpcID, "10.12.1.0/24")
	w.mustGroup("web", vpcID, "normal", "")
	w.authorize("web", ruleSpec{name: "from-gw", proto: "tcp", ports: "8080/8080", peer: "10.12.1.253/32", policy: "accept", priority: 1})
	w.run("ws1", vsw, "10.12.1.10", "web")
	w.waitRunning()

	// The web server in the instance says whom it sees.
	var ln net.Listener
	if err := probe.InNetns(w.ids["ws1"], func() error {
		var err error
		ln, err = net.Listen("tcp4", ":8080")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	srv := &nethttp.Server{Handler: nethttp.HandlerFunc(func(rw nethttp.ResponseWriter, r *nethttp.Request) {
		io.WriteString(rw, "seen "+r.RemoteAddr)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	out, err := env.Common(t, env.Admin, api.VersionPalisade, "CreateWafProtection", map[string]string{
		"InstanceId": w.ids["ws1"], "Port": "80", "UpstreamAddress": "10.12.1.10:8080", "ListenAddress": "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	id, _ := out["ProtectionId"].(string)
	w.settle() // the agent's program now filters the router's marked connections
	cfgOut, err := env.Common(t, env.Admin, api.VersionPalisade, "DescribeWafConfig", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(cfgOut["Objects"])
	var cfgs []wafrule.ObjectConfig
	if err := json.Unmarshal(b, &cfgs); err != nil || len(cfgs) != 1 {
		t.Fatalf("waf config: %v %s", err, b)
	}
	// As waf serve runs it.
	rt := waf.NewRuntime(waf.SinkFunc(func(waf.Record) {}), slog.Default())
	rt.VPCs.Mark = linux.UpstreamMark
	t.Cleanup(rt.Close)
	if err := rt.VPCs.CheckObject(cfgs[0]); err != nil {
		t.Fatal(err)
	}
	if err := rt.Apply(cfgs); err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("http://%s/", rt.Addr(id))
	client := &nethttp.Client{Timeout: 15 * time.Second}
	get := func() (int, string) {
		t.Helper()
		client.CloseIdleConnections()
		resp, err := client.Get(base)
		if err != nil {
			t.Fatalf("GET %s: %v", base, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	code, seen := get()
	if code != 200 || !strings.HasPrefix(seen, "seen 10.12.1.253:") {
		t.Fatalf("through waf serve with the gateway admitted: %d %q, want 200 from 10.12.1.253", code, seen)
	}

	// A network ACL on the vSwitch admitting nothing of the gateway does
	// not apply to it (an address of the instance's own vSwitch), in the
	// kernel as in the agent's cut: the pooled upstream connection stays
	// (the server sees the same port).
	acl := w.mustACL(vpcID, "wafserve")
	w.setACL(acl, []aclEntry{{"only-docs", "accept", "tcp", "1/65535", "192.0.2.0/24"}}, nil)
	w.associateACL(acl, vsw, true)
	w.settle()
	if code, body := get(); code != 200 || body != seen {
		t.Errorf("through waf serve with an ACL on the vSwitch: %d %q, want 200 on the same upstream connection (%q)", code, body, seen)
	}

	rev := ecs.CreateRevokeSecurityGroupRequest()
	rev.SecurityGroupId, rev.SecurityGroupRuleId = w.sgs["web"], &[]string{w.rule["from-gw"]}
	if _, err := w.ecs.RevokeSecurityGroup(rev); err != nil {
		t.Fatal(err)
	}
	w.settle()
	if code, body := get(); code != nethttp.StatusGatewayTimeout && code != nethttp.StatusBadGateway {
		t.Errorf("through waf serve once no rule admits the gateway: %d %q, want the upstream to fail (502/504)", code, body)
	}
}
