package api_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"

	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/model"
)

// TestAnalyzeAcrossHostsSDK builds a VPC over two zones with the official
// SDK (local-a and local-b, each served by an agent) and announces the zones' underlays with RegisterZone, as agents do:
// AnalyzeReachability between instances of the two zones is blocked at
// the hosts step until both underlays join, with the reason, and
// AnalyzeMatrix agrees (cells and a note); instances of one zone are
// unaffected.
func TestAnalyzeAcrossHostsSDK(t *testing.T) {
	env := apitest.Start(t)
	bob := env.NewAccount(t, "bob")
	// A second zone, recorded but served by no agent yet.
	env.PutRecord(t, model.PrefixZoneStatus+"local-b", model.ZoneStatus{ZoneID: "local-b", Host: "b", LastSeen: time.Now()})
	e, v := env.ECS(t, bob), env.VPC(t, bob)
	vpcID := createVPC(t, v, "10.0.0.0/16", "spread")
	vswA := createVSwitchIn(t, v, vpcID, "10.0.1.0/24", "local-a")
	vswB := createVSwitchIn(t, v, vpcID, "10.0.2.0/24", "local-b")
	sg := createSG(t, e, vpcID, "app", "")
	auth := ecs.CreateAuthorizeSecurityGroupRequest()
	auth.SecurityGroupId = sg
	auth.Permissions = &[]ecs.AuthorizeSecurityGroupPermissions{{IpProtocol: "tcp", PortRange: "22/22", SourceCidrIp: "10.0.0.0/16"}}
	if _, err := e.AuthorizeSecurityGroup(auth); err != nil {
		t.Fatal(err)
	}
	a1 := runInstance(t, e, vswA, sg, "10.0.1.10")
	a2 := runInstance(t, e, vswA, sg, "10.0.1.11")
	b1 := runInstance(t, e, vswB, sg, "10.0.2.10")

	register := func(zone, addr, port string) {
		t.Helper()
		p := map[string]string{"ZoneId": zone, "UnderlayAddress": addr}
		if port != "" {
			p["UnderlayPort"] = port
		}
		if _, status, code := palisadeCall(t, env, env.Admin, "RegisterZone", p); status != 200 {
			t.Fatalf("RegisterZone %v: %d %s", p, status, code)
		}
	}
	// reach answers from -> to (one path) with its hosts step, if any.
	reach := func(from, to string) (reachable bool, step map[string]any, raw string) {
		t.Helper()
		out, err := env.Common(t, bob, api.VersionPalisade, "AnalyzeReachability", map[string]string{"From": from, "To": to, "Protocol": "tcp", "Port": "22"})
		if err != nil {
			t.Fatalf("AnalyzeReachability %s -> %s: %v", from, to, err)
		}
		b, _ := json.Marshal(out)
		paths := out["Paths"].([]any)
		if len(paths) != 1 {
			t.Fatalf("%s -> %s: %d paths: %s", from, to, len(paths), b)
		}
		for _, s := range paths[0].(map[string]any)["Steps"].([]any) {
			if m := s.(map[string]any); m["Point"] == "hosts" {
				step = m
			}
		}
		return out["Reachable"] == true, step, string(b)
	}
	matrix := func() (cell string, notes string) {
		t.Helper()
		out, err := env.Common(t, bob, api.VersionPalisade, "AnalyzeMatrix", map[string]string{"VpcId": vpcID, "Ports": "22"})
		if err != nil {
			t.Fatalf("AnalyzeMatrix: %v", err)
		}
		var ids []string
		for _, x := range out["Instances"].([]any) {
			ids = append(ids, x.(map[string]any)["Instance"].(string))
		}
		for i, r := range out["Rows"].([]any) {
			row := r.(map[string]any)["Cells"].([]any)[0].(string)
			for j := range ids {
				if ids[i] == a1 && ids[j] == b1 {
					cell = row[j : j+1]
				}
			}
		}
		if n, ok := out["Notes"].([]any); ok {
			notes = fmt.Sprint(n...)
		}
		return cell, notes
	}

	// Without agents (a server alone, analysing policy) there are no hosts
	// to join: the answer is the policy's.
	if ok, step, raw := reach(a1, b1); !ok || step != nil {
		t.Fatalf("no agents: %s -> %s: reachable %v, hosts step %v; want the policy's answer\n%s", a1, b1, ok, step, raw)
	}
	// Both zones served by agents (recent heartbeats), as two hosts'
	// agents would register them: now their underlays decide.
	for _, z := range []string{"local-a", "local-b"} {
		env.PutRecord(t, model.PrefixZoneStatus+z, model.ZoneStatus{ZoneID: z, Host: z, LastSeen: time.Now(), Agent: true})
	}
	for _, c := range []struct {
		name     string
		register func()
		joined   bool
		detail   string
	}{
		{"no underlay", func() {}, false,
			"neither zone local-a's host nor zone local-b's has an underlay address"},
		{"local-a's only", func() { register("local-a", "192.0.2.1", "") }, false,
			"zone local-b's host has no underlay address (--underlay-addr of its palisade agent, or of palisade up): it is not joined to zone local-a's host, so nothing crosses between them"},
		{"local-b on another port", func() { register("local-b", "192.0.2.2", "4799") }, false,
			"zone local-a's host tunnels on UDP port 4798, zone local-b's on 4799"},
		{"local-b over IPv6", func() { register("local-b", "2001:db8::2", "") }, false,
			"zone local-a's host has an IPv4 underlay address, zone local-b's an IPv6 one"},
		{"joined", func() { register("local-b", "192.0.2.2", "") }, true,
			"zone local-a's host and zone local-b's are joined by the underlay"},
	} {
		c.register()
		ok, step, raw := reach(a1, b1)
		if ok != c.joined || step == nil || step["Allow"] != c.joined || step["DecidedBy"] != "underlay" || !strings.Contains(fmt.Sprint(step["Detail"]), c.detail) {
			t.Errorf("%s: %s -> %s: reachable %v, hosts step %v; want reachable %v, %q\n%s", c.name, a1, b1, ok, step, c.joined, c.detail, raw)
		}
		// One zone, one host: no hosts step, reachable.
		if ok, step, raw := reach(a1, a2); !ok || step != nil {
			t.Errorf("%s: %s -> %s (one zone): reachable %v, hosts step %v\n%s", c.name, a1, a2, ok, step, raw)
		}
		cell, notes := matrix()
		if want := map[bool]string{true: "Y", false: "."}[c.joined]; cell != want {
			t.Errorf("%s: matrix %s -> %s: %q, want %q", c.name, a1, b1, cell, want)
		}
		if c.joined != (notes == "") || !c.joined && !strings.Contains(notes, c.detail) {
			t.Errorf("%s: matrix notes %q, want %q", c.name, notes, c.detail)
		}
	}
}
