package kernel_test

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/cloudfw"

	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/app"
)

// TestInternetFirewallSDK drives the Internet firewall through the
// official Cloudfw SDK against real connections from the internet (the
// host) to an instance's EIP: a drop policy on one port, the switch off
// for the EIP, the policy deleted.
func TestInternetFirewallSDK(t *testing.T) {
	requireKernel(t)
	env := apitest.Start(t, apitest.WithBackend(app.BackendMemory), apitest.WithAgent(randTag(t)))
	w := &eipWorld{world: newWorld(t, env)}
	w.vpcID = w.mustVPC("10.9.0.0/16")
	vsw := w.mustVSwitch(w.vpcID, "10.9.1.0/24")
	w.mustGroup("pub", w.vpcID, "normal", "")
	w.authorize("pub", ruleSpec{proto: "tcp", ports: "8080/8081", peer: "0.0.0.0/0", policy: "accept", priority: 1})
	w.run("web", vsw, "10.9.1.11", "pub")
	w.waitRunning()
	id, eip := w.allocate()
	w.associate(id, "web")
	w.waitInUse(id)
	w.settle()
	serveWho(t, w.ids["web"], "web", 8080)
	serveWho(t, w.ids["web"], "web", 8081)
	w.mustReach(netip.AddrPortFrom(eip, 8080), "web").Close()

	fw := env.Cloudfw(t, env.Admin)
	req := cloudfw.CreateAddControlPolicyRequest()
	req.Direction, req.AclAction, req.Proto, req.NewOrder = "in", "drop", "TCP", "1"
	req.Source, req.SourceType, req.Destination, req.DestinationType = "0.0.0.0/0", "net", eip.String()+"/32", "net"
	req.DestPortType, req.DestPort, req.ApplicationName, req.Description = "port", "8080", "ANY", "no 8080 from the internet"
	resp, err := fw.AddControlPolicy(req)
	if err != nil {
		t.Fatalf("AddControlPolicy: %v", err)
	}
	w.settle()
	w.mustNotReach(netip.AddrPortFrom(eip, 8080), "dropped by the Internet firewall")
	w.mustReach(netip.AddrPortFrom(eip, 8081), "web").Close()

	// The kernel counted the dropped connection attempt (its SYN and the
	// SYN's retransmissions) against the policy: HitTimes and HitLastTime.
	before := time.Now().Add(-time.Second).Unix()
	deadline := time.Now().Add(10 * time.Second)
	for {
		dreq := cloudfw.CreateDescribeControlPolicyRequest()
		dreq.Direction, dreq.AclUuid, dreq.CurrentPage, dreq.PageSize = "in", resp.AclUuid, "1", "10"
		dresp, err := fw.DescribeControlPolicy(dreq)
		if err != nil {
			t.Fatalf("DescribeControlPolicy: %v", err)
		}
		if len(dresp.Policys) == 1 && dresp.Policys[0].HitTimes >= 1 {
			if p := dresp.Policys[0]; p.HitLastTime < before-10 || p.HitLastTime > time.Now().Unix()+1 {
				t.Errorf("HitLastTime %d, want about now (%d)", p.HitLastTime, before)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("DescribeControlPolicy: no hit counted for the dropped connection after 10 s: %+v", dresp.Policys)
		}
		time.Sleep(500 * time.Millisecond)
	}

	// The drop policy logged the connection attempt: its traffic log
	// names the policy, the internet client and the EIP's port, and
	// another account sees none of it.
	isDrop := func(m map[string]any) bool {
		return logField(m, "acl_rule_id") == resp.AclUuid && logField(m, "dst_ip") == eip.String() && logField(m, "dst_port") == "8080"
	}
	logs := firewallLogs(t, env, env.Admin, map[string]string{"LogType": "internet_log", "AclUuid": resp.AclUuid}, isDrop)
	for _, m := range logs {
		if !isDrop(m) || logField(m, "rule_result") != "drop" || logField(m, "direction") != "in" || logField(m, "ip_protocol") != "TCP" ||
			logField(m, "log_type") != "internet_log" || logField(m, "src_ip") == "" || logField(m, "start_time") < fmt.Sprint(before-10) || len(logField(m, "start_time")) != len(fmt.Sprint(before)) {
			t.Errorf("traffic log %v, want the drop of a TCP connection from the internet to %v:8080 just now", m, eip)
		}
	}
	// The hits and logs the agent reports are the server's records:
	// writing them starts no reconciliation of the local agent, which
	// would otherwise run back to back while connections keep hitting a
	// policy (each one reporting the hits counted since the last). Two
	// seconds of dropped attempts from 16 dialers, and the reports after
	// them: about the resync's one a second, not hundreds.
	settled := agentReconciles(t, env)
	var dialers sync.WaitGroup
	for range 16 {
		dialers.Go(func() {
			for end := time.Now().Add(2 * time.Second); time.Now().Before(end); {
				if c, err := (&net.Dialer{Timeout: 20 * time.Millisecond}).Dial("tcp4", netip.AddrPortFrom(eip, 8080).String()); err == nil {
					c.Close()
				}
			}
		})
	}
	dialers.Wait()
	time.Sleep(6 * time.Second) // the hits and the logs are reported
	if n := agentReconciles(t, env) - settled; n > 12 {
		t.Errorf("the local agent reconciled %v times in 8 s of traffic hitting a policy, want about one a second (its resync)", n)
	}

	other := env.NewAccount(t, "cfwlog-other")
	if out, err := env.Common(t, other, api.VersionPalisade, "DescribeFirewallLogs", nil); err != nil {
		t.Fatalf("DescribeFirewallLogs of another account: %v", err)
	} else if logs, _ := out["Logs"].([]any); len(logs) != 0 {
		t.Errorf("another account sees traffic logs: %v", logs)
	}

	off := cloudfw.CreatePutDisableFwSwitchRequest()
	off.IpaddrList = &[]string{eip.String()}
	if _, err := fw.PutDisableFwSwitch(off); err != nil {
		t.Fatalf("PutDisableFwSwitch: %v", err)
	}
	w.settle()
	w.mustReach(netip.AddrPortFrom(eip, 8080), "web").Close()
	on := cloudfw.CreatePutEnableFwSwitchRequest()
	on.IpaddrList = &[]string{eip.String()}
	if _, err := fw.PutEnableFwSwitch(on); err != nil {
		t.Fatalf("PutEnableFwSwitch: %v", err)
	}
	w.settle()
	w.mustNotReach(netip.AddrPortFrom(eip, 8080), "dropped again with the switch on")

	del := cloudfw.CreateDeleteControlPolicyRequest()
	del.AclUuid, del.Direction = resp.AclUuid, "in"
	if _, err := fw.DeleteControlPolicy(del); err != nil {
		t.Fatalf("DeleteControlPolicy: %v", err)
	}
	w.settle()
	w.mustReach(netip.AddrPortFrom(eip, 8080), "web").Close()
}
