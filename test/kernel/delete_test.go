package kernel_test

import (
	"context"
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"

	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/app"
	"github.com/palisade-project/palisade/internal/dataplane/linux"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
)

// retry calls fn until it succeeds or 10 s pass (deletions whose
// dependants are still going away).
func retry(t *testing.T, what string, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestDeleteLeavesNothing builds a VPC with two vSwitches, two groups and
// two instances through the SDK, deletes all of it again (instances with
// Force), and checks that the agent left nothing in the kernel: no
// namespace of its own, no veth of the ENIs in any namespace, no pv* link
// and no Palisade nftables table in the root namespace.
func TestDeleteLeavesNothing(t *testing.T) {
	requireKernel(t)
	tag := randTag(t)
	env := apitest.Start(t, apitest.WithBackend(app.BackendMemory), apitest.WithAgent(tag))
	w := newWorld(t, env)

	v := w.mustVPC("10.0.0.0/16")
	s1, s2 := w.mustVSwitch(v, "10.0.1.0/24"), w.mustVSwitch(v, "10.0.2.0/24")
	w.mustGroup("g1", v, "normal", "")
	w.mustGroup("g2", v, "normal", "Drop")
	w.authorize("g1", ruleSpec{proto: "tcp", ports: "22/22", peer: "0.0.0.0/0", policy: "accept", priority: 1})
	w.authorize("g2", ruleSpec{proto: "icmp", ports: "-1/-1", peerGroup: "g1", policy: "accept", priority: 1})
	w.run("i1", s1, "10.0.1.10", "g1")
	w.run("i2", s2, "10.0.2.10", "g1", "g2")
	w.waitRunning()
	w.settle()

	// What the agent made, to look for after the deletion.
	owned, err := env.Up.Applier.Namespaces()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{v, w.ids["i1"], w.ids["i2"]}
	slices.Sort(owned)
	slices.Sort(want)
	if !slices.Equal(owned, want) {
		t.Fatalf("namespaces of the agent: %v, want %v", owned, want)
	}
	var veths []string
	err = env.App.Service().Store().View(context.Background(), func(tx store.ReadTxn) error {
		return tx.List(model.PrefixENI, func(_ string, b []byte) error {
			var e model.ENI
			if err := json.Unmarshal(b, &e); err != nil {
				return err
			}
			veths = append(veths, linux.VethName(e.ID))
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(veths) != 2 {
		t.Fatalf("%d ENIs in the store, want 2", len(veths))
	}
	links := nsLinks(t, v)
	for _, name := range veths {
		if !slices.Contains(links, name) {
			t.Fatalf("veth %s not in %s before the deletion: %v", name, v, links)
		}
	}

	// A workload in i1 (what `palisade instance exec` starts): it must
	// not outlive its instance.
	workload := exec.Command("ip", "netns", "exec", w.ids["i1"], "sleep", "600")
	if err := workload.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- workload.Wait() }()
	t.Cleanup(func() { _ = workload.Process.Kill() })

	// Delete everything through the SDK.
	for _, name := range []string{"i1", "i2"} {
		req := ecs.CreateDeleteInstanceRequest()
		req.InstanceId, req.Force = w.ids[name], requests.NewBoolean(true)
		if _, err := w.ecs.DeleteInstance(req); err != nil {
			t.Fatalf("DeleteInstance %s: %v", name, err)
		}
	}
	for _, g := range []string{"g2", "g1"} {
		retry(t, "DeleteSecurityGroup "+g, func() error {
			req := ecs.CreateDeleteSecurityGroupRequest()
			req.SecurityGroupId = w.sgs[g]
			_, err := w.ecs.DeleteSecurityGroup(req)
			return err
		})
	}
	for _, s := range []string{s1, s2} {
		retry(t, "DeleteVSwitch "+s, func() error {
			req := vpc.CreateDeleteVSwitchRequest()
			req.VSwitchId = s
			_, err := w.vpc.DeleteVSwitch(req)
			return err
		})
	}
	retry(t, "DeleteVpc", func() error {
		req := vpc.CreateDeleteVpcRequest()
		req.VpcId = v
		_, err := w.vpc.DeleteVpc(req)
		return err
	})
	began := time.Now()
	w.settle()
	t.Logf("agent applied the deletion %v after the last call", time.Since(began).Round(time.Millisecond))

	select {
	case err := <-exited:
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != -1 {
			t.Errorf("workload of the deleted instance ended with %v, want killed", err)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("workload of the deleted instance still running 5 s after the agent applied the deletion")
	}
	if owned, err := env.Up.Applier.Namespaces(); err != nil || len(owned) > 0 {
		t.Errorf("namespaces with the agent's marker left: %v (%v)", owned, err)
	}
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			left = append(left, f[0])
		}
	}
	for _, id := range want {
		if slices.Contains(left, id) {
			t.Errorf("namespace %s still listed after its resource was deleted", id)
		}
	}
	// The ENIs' veths in no namespace at all (other tests' namespaces may
	// hold pv* links of their own); in the root namespace no pv* at all.
	for _, ns := range append([]string{""}, left...) {
		for _, l := range nsLinks(t, ns) {
			if slices.Contains(veths, l) || (ns == "" && strings.HasPrefix(l, linux.VethPrefix)) {
				t.Errorf("link %s left in namespace %q", l, ns)
			}
		}
	}
	// The root namespace holds one table per Palisade with uplinks (its
	// EIP-hairpin guard, palisade[_<tag>]_uplinks): this run's must be
	// gone with its VPCs, and no other kind may be there.
	for _, tbl := range nftTables(t) {
		if strings.Contains(tbl, "palisade") && (strings.Contains(tbl, tag) || !strings.HasSuffix(tbl, "_uplinks")) {
			t.Errorf("root namespace has a Palisade table: %q", tbl)
		}
	}
}

// nsLinks lists the link names of a namespace ("" is the root namespace).
// A namespace that vanished meanwhile has none.
func nsLinks(t *testing.T, ns string) []string {
	t.Helper()
	args := []string{"-o", "link", "show"}
	if ns != "" {
		args = append([]string{"-n", ns}, args...)
	}
	out, err := exec.Command("ip", args...).Output()
	if err != nil {
		return nil
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
		names = append(names, name)
	}
	return names
}

// nftTables lists the nftables tables of the root namespace.
func nftTables(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("nft", "list", "tables").Output()
	if err != nil {
		t.Fatalf("nft list tables: %v", err)
	}
	var tables []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			tables = append(tables, line)
		}
	}
	return tables
}
