package agent_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/agent"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/policy"
)

func nlNS(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("nlfw-%d-%d", os.Getpid(), rand.Uint32())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	return name
}

func nlNft(t *testing.T, ns, script string, args ...string) string {
	t.Helper()
	cmd := exec.Command("nsenter", append([]string{"--net=/run/netns/" + ns, "nft"}, args...)...)
	cmd.Stdin = strings.NewReader(script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("nft %v: %v: %s", args, err, out)
	}
	return string(out)
}

func nlListing(t *testing.T, ns string) string {
	t.Helper()
	return nlNft(t, ns, "", "-s", "list", "table", "inet", policy.TableName) +
		nlNft(t, ns, "", "-s", "list", "table", "inet", policy.GuardTable)
}

func nlProgram(flowlog ...string) *policy.Program {
	w := policy.NewSnapshot([]model.SecurityGroup{{ID: "sg-web", VpcID: "vpc-1", Type: model.GroupTypeBasic,
		InnerAccessPolicy: model.InnerAccept, Rules: []model.Rule{{ID: "sgr-http", Direction: model.Ingress, Protocol: "TCP",
			Policy: model.PolicyAccept, Priority: 1, Ports: model.PortRange{From: 80, To: 80}, PeerCidr: netip.MustParsePrefix("0.0.0.0/0")}}}},
		[]model.ENI{
			{ID: "eni-a", VpcID: "vpc-1", SecurityGroupIDs: []string{"sg-web"}, PrimaryIP: netip.MustParseAddr("10.0.0.1")},
			{ID: "eni-bad", VpcID: "vpc-1", SecurityGroupIDs: []string{"sg-gone"}, PrimaryIP: netip.MustParseAddr("10.0.0.2")},
		})
	p := policy.Compile(w, map[string]string{"eni-a": "pv-a", "eni-bad": "pv-bad"})
	p.FlowLogIfaces = flowlog
	return p
}

// TestNlFirewall loads through the Firewall interface and checks the
// result against NftFirewall's (nft -f), the element-only path, drift
// repair and fail-closed dispatch.
func TestNlFirewall(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("needs nft(8)")
	}
	ctx := context.Background()
	ns, ref := nlNS(t), nlNS(t)
	fw := &agent.NlFirewall{GuardPrefix: "pv"}
	nft := &agent.NftFirewall{GuardPrefix: "pv"}
	same := func(step string, p *policy.Program) {
		t.Helper()
		if err := nft.Load(ctx, ref, p); err != nil {
			t.Fatal(err)
		}
		if got, want := nlListing(t, ns), nlListing(t, ref); got != want {
			t.Fatalf("%s: netlink load differs from nft -f:\n%s\nwant:\n%s", step, got, want)
		}
	}
	load := func(p *policy.Program) {
		t.Helper()
		if err := fw.Load(ctx, ns, p); err != nil {
			t.Fatal(err)
		}
	}
	load(nlProgram())
	same("first load", nlProgram())
	if l := nlListing(t, ns); !strings.Contains(l, `"pv-bad" : drop`) || !strings.Contains(l, `iifname "pv*" drop`) {
		t.Fatalf("not fail closed:\n%s", l)
	}
	load(nlProgram("pv-a")) // element change
	same("flow-log change", nlProgram("pv-a"))

	// Drift: a table deleted, an element added, by hand.
	nlNft(t, ns, "", "delete", "table", "inet", policy.TableName)
	load(nlProgram("pv-a"))
	same("after table deleted", nlProgram("pv-a"))
	nlNft(t, ns, "", "add", "element", "inet", policy.TableName, policy.FlowLogIfaces, `{ "pv-x" }`)
	load(nlProgram("pv-a"))
	same("after element added", nlProgram("pv-a"))

	if err := fw.Load(ctx, "nlfw-missing", nlProgram()); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing namespace: %v", err)
	}
}
