package policy

import (
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/model"
)

// TestIncrementalACL: a changed entry list of an associated ACL is a change
// of set elements only (its four sets are always rendered); an association
// changes structure.
func TestIncrementalACL(t *testing.T) {
	mk := func(aclB string, ingress ...model.ACLEntry) string {
		w := aclWorld("", aclB, []model.NetworkACL{nacl("nacl-b", ingress, nil)})
		p := Compile(w, map[string]string{"eni-a1": "pva1", "eni-b1": "pvb1"})
		p.GuardPrefix = "pv"
		return p.Render()
	}
	http := ae("nae-1", "http", acc, "tcp", "80/80", "10.0.1.0/24")
	ssh := ae("nae-2", "ssh", acc, "tcp", "22/22", "10.0.1.0/24")
	noSSH := ae("nae-3", "no-ssh", drp, "tcp", "22/22", "10.0.1.12/32")
	base := mk("nacl-b", http)
	for _, tc := range []struct {
		name, next string
		ok         bool
		script     string
	}{
		{"entry added", mk("nacl-b", http, ssh), true, "add element inet palisade acl_b_in_p4 { 10.0.1.0/24 . 6 . 22 }\n"},
		{"all entries removed", mk("nacl-b"), true, "delete element inet palisade acl_b_in_p4 { 10.0.1.0/24 . 6 . 80 }\n"},
		{"drop entry ahead re-splits", mk("nacl-b", noSSH, http, ssh), true,
			"add element inet palisade acl_b_in_p4 { 10.0.1.0-10.0.1.11 . 6 . 22, 10.0.1.13-10.0.1.255 . 6 . 22 }\n"},
		{"unassociated", mk(""), false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			script, ok := Incremental(base, tc.next)
			if ok {
				script = withoutGeneration(t, script)
			}
			if ok != tc.ok || (tc.ok && script != tc.script) {
				t.Errorf("Incremental: ok=%v script=%q, want ok=%v %q", ok, script, tc.ok, tc.script)
			}
		})
	}
}

// TestIncrementalACLInKernel loads random ACL programs, then random entry
// list changes of them both incrementally and from scratch, and checks the
// kernel holds the same table either way.
func TestIncrementalACLInKernel(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root to make network namespaces (run scripts/test.sh as root)")
	}
	seed := testSeed(t)
	r := rand.New(rand.NewPCG(seed, 0x1c1))
	nsInc, nsFull := "painc"+randSuffix(r), "paful"+randSuffix(r)
	for _, ns := range []string{nsInc, nsFull} {
		if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
			t.Fatalf("ip netns add %s: %v %s", ns, err, out)
		}
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	}
	load := func(ns, script string) {
		t.Helper()
		cmd := exec.Command("ip", "netns", "exec", ns, "nft", "-f", "-")
		cmd.Stdin = strings.NewReader(script)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("nft -f in %s: %v\n%s\n--- script ---\n%s", ns, err, out, script)
		}
	}
	replace := func(text string) string {
		return "table inet " + TableName + " {}\ndelete table inet " + TableName + "\n" + text
	}
	incremental := 0
	const rounds = 40
	for round := range rounds {
		s := randACLWorld(r)
		ifaces := map[string]string{}
		for _, e := range s.enis {
			ifaces[e.ID] = "v" + e.ID
		}
		old := render(s.w, ifaces)
		// Change one entry list of one ACL (or the first vSwitch's ACL).
		groups, enis := snapshotSlices(s.w)
		var acls []model.NetworkACL
		for _, id := range sortedKeys(s.w.acls) {
			acls = append(acls, *s.w.acls[id])
		}
		var vsws []model.VSwitch
		for _, id := range sortedKeys(s.w.vswitches) {
			vsws = append(vsws, *s.w.vswitches[id])
		}
		if len(acls) > 0 {
			a := &acls[r.IntN(len(acls))]
			list := &a.Ingress
			if r.IntN(2) == 0 {
				list = &a.Egress
			}
			next := slices.Clone(*list)
			switch r.IntN(3) {
			case 0:
				if len(next) > 0 {
					next = slices.Delete(next, 0, 1)
				}
			case 1:
				next = append([]model.ACLEntry{randACLEntry(r, "nae-new")}, next...)
			default:
				slices.Reverse(next)
			}
			*list = next
		} else if len(vsws) > 0 {
			vsws[0].NetworkAclID = "nacl-gone"
		}
		next := render(NewWorld(groups, enis, vsws, acls), ifaces)
		load(nsInc, replace(old))
		script, ok := Incremental(old, next)
		if ok {
			incremental++
			if script != "" {
				load(nsInc, script)
			}
		} else {
			load(nsInc, replace(next))
		}
		load(nsFull, replace(next))
		if a, b := listing(t, nsInc), listing(t, nsFull); a != b {
			t.Fatalf("seed %d round %d: incremental and full loads differ\n--- incremental ---\n%s\n--- full ---\n%s\n--- script ---\n%s", seed, round, a, b, script)
		}
	}
	t.Logf("seed %d: %d of %d ACL changes applied incrementally", seed, incremental, rounds)
	if incremental == 0 {
		t.Error("no change was incremental")
	}
}

// TestNftScriptIsOneTransaction verifies what Incremental relies on: nft -f
// commits a script of element deletions and additions as one transaction.
// A script that deletes an element and then fails in the kernel on a later
// line (creating an element that exists: the kernel refuses it) must
// leave the element in place (all or nothing), so no packet can see the
// deletions without the additions.
func TestNftScriptIsOneTransaction(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root to make network namespaces (run scripts/test.sh as root)")
	}
	ns := "patx" + randSuffix(rand.New(rand.NewPCG(uint64(os.Getpid()), 5)))
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v %s", ns, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	run := func(script string) error {
		cmd := exec.Command("ip", "netns", "exec", ns, "nft", "-f", "-")
		cmd.Stdin = strings.NewReader(script)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Logf("nft: %s", out)
		}
		return err
	}
	const set = "acl_x_in_p4"
	if err := run("table inet " + TableName + " {\n\tset " + set + " {\n\t\ttype ipv4_addr . inet_proto . inet_service\n\t\tflags interval\n" +
		"\t\telements = { 10.0.0.0/24 . 6 . 80 }\n\t}\n}\n"); err != nil {
		t.Fatal(err)
	}
	bad := "delete element inet " + TableName + " " + set + " { 10.0.0.0/24 . 6 . 80 }\n" +
		"add element inet " + TableName + " " + set + " { 10.0.0.0/24 . 6 . 22 }\n" +
		"create element inet " + TableName + " " + set + " { 10.0.0.0/24 . 6 . 22 }\n"
	if err := run(bad); err == nil {
		t.Fatal("the failing script was accepted")
	}
	l := listing(t, ns)
	if !strings.Contains(l, "10.0.0.0/24 . tcp . 80") || strings.Contains(l, ". 22") {
		t.Fatalf("a failed script changed the set (not one transaction):\n%s", l)
	}
	good := "delete element inet " + TableName + " " + set + " { 10.0.0.0/24 . 6 . 80 }\n" +
		"add element inet " + TableName + " " + set + " { 10.0.0.0/24 . 6 . 22, 10.0.0.0/24 . 6 . 80-81 }\n"
	if err := run(good); err != nil {
		t.Fatal(err)
	}
	if l := listing(t, ns); !strings.Contains(l, "10.0.0.0/24 . tcp . 80-81") || !strings.Contains(l, "10.0.0.0/24 . tcp . 22") {
		t.Fatalf("after delete+add (the new interval overlaps the deleted one):\n%s", l)
	}
}
