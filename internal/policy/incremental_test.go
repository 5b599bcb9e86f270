package policy

import (
	"math/rand/v2"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/model"
)

func incrementalWorld(webMembers []string, appRules ...model.Rule) (*Snapshot, map[string]string) {
	groups := []model.SecurityGroup{
		group("sg-web", model.GroupTypeBasic, model.InnerAccept, rl("r1", model.Ingress, "TCP", "80/80", "0.0.0.0/0", "accept", 1)),
		group("sg-app", model.GroupTypeBasic, model.InnerDrop, append([]model.Rule{
			rl("r2", model.Ingress, "TCP", "8080/8080", "sg-web", "accept", 1),
		}, appRules...)...),
	}
	enis := []model.ENI{eni("eni-app", "vpc-1", []string{"sg-app"}, "10.0.0.2")}
	for i, m := range webMembers {
		enis = append(enis, eni("eni-web"+string(rune('a'+i)), "vpc-1", []string{"sg-web"}, m))
	}
	// Only the app ENI is filtered here: web members live on other hosts,
	// so they appear only in member sets.
	return NewSnapshot(groups, enis), map[string]string{"eni-app": "pvapp"}
}

func render(w *Snapshot, ifaces map[string]string) string {
	return renderLimit(w, ifaces, MaxFlatElements)
}

// renderLimit renders with a flattening bound (-1: classes only).
func renderLimit(w *Snapshot, ifaces map[string]string, limit int) string {
	p := compile(w, ifaces, limit)
	p.GuardPrefix = "pv"
	return p.Render()
}

func TestIncremental(t *testing.T) {
	r3 := rl("r3", model.Ingress, "UDP", "53/53", "10.0.0.0/16", "accept", 5)
	type change struct {
		name       string
		webMembers []string
		appRules   []model.Rule
		ifaces     map[string]string
		// want (flat) and wantClasses (fallback): "" with ok false means
		// the structure changed.
		ok, okClasses         bool
		script, scriptClasses string
	}
	tests := []change{
		{name: "unchanged", webMembers: []string{"10.0.0.10"}, appRules: []model.Rule{r3}, ok: true, okClasses: true},
		{name: "member joins", webMembers: []string{"10.0.0.10", "10.0.0.11"}, appRules: []model.Rule{r3},
			ok: true, script: "add element inet palisade f_app_i_p4 { 10.0.0.11 . 6 . 8080 . 0-65535 . 0.0.0.0/0 : goto sg_commit }\n",
			okClasses: true, scriptClasses: "add element inet palisade m4_web { 10.0.0.11 }\n"},
		{name: "member leaves", appRules: []model.Rule{r3},
			ok: true, script: "delete element inet palisade f_app_i_p4 { 10.0.0.10 . 6 . 8080 . 0-65535 . 0.0.0.0/0 : goto sg_commit }\n",
			okClasses: true, scriptClasses: "delete element inet palisade m4_web { 10.0.0.10 }\n"},
		{name: "rule in the same class", webMembers: []string{"10.0.0.10"},
			appRules: []model.Rule{r3, rl("r4", model.Ingress, "UDP", "123/123", "192.168.0.0/24", "accept", 5)},
			ok:       true, script: "add element inet palisade f_app_i_p4 { 192.168.0.0/24 . 17 . 123 . 0-65535 . 0.0.0.0/0 : goto sg_commit }\n",
			okClasses: true, scriptClasses: "add element inet palisade c_app_i_5_a_p4 { 192.168.0.0/24 . 17 . 123 . 0-65535 . 0.0.0.0/0 }\n"},
		// Same verdicts for every packet: the flat is unchanged.
		{name: "rule moved to another priority", webMembers: []string{"10.0.0.10"},
			appRules: []model.Rule{rl("r3", model.Ingress, "UDP", "53/53", "10.0.0.0/16", "accept", 6)}, ok: true},
		{name: "last rule of a class removed", webMembers: []string{"10.0.0.10"},
			ok: true, script: "delete element inet palisade f_app_i_p4 { 10.0.0.0/16 . 17 . 53 . 0-65535 . 0.0.0.0/0 : goto sg_commit }\n"},
		// A drop rule ahead of r3 carves it: elements only.
		{name: "drop rule at a new priority", webMembers: []string{"10.0.0.10"},
			appRules: []model.Rule{r3, rl("r5", model.Ingress, "UDP", "53/53", "10.0.1.0/24", "drop", 2)},
			ok:       true, script: "delete element inet palisade f_app_i_p4 { 10.0.0.0/16 . 17 . 53 . 0-65535 . 0.0.0.0/0 : goto sg_commit }\n" +
				"add element inet palisade f_app_i_p4 { 10.0.0.0/24 . 17 . 53 . 0-65535 . 0.0.0.0/0 : goto sg_commit, 10.0.2.0-10.0.255.255 . 17 . 53 . 0-65535 . 0.0.0.0/0 : goto sg_commit }\n"},
		// A new group set (a web ENI filtered here too): new maps and chains.
		{name: "new group set", webMembers: []string{"10.0.0.10"}, appRules: []model.Rule{r3},
			ifaces: map[string]string{"eni-app": "pvapp", "eni-weba": "pvweb"}},
	}
	base, ifaces := incrementalWorld([]string{"10.0.0.10"}, r3)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, nextIfaces := incrementalWorld(tc.webMembers, tc.appRules...)
			if tc.ifaces != nil {
				nextIfaces = tc.ifaces
			}
			script, ok := Incremental(render(base, ifaces), render(w, nextIfaces))
			script = withoutGeneration(t, script)
			if ok != tc.ok || script != tc.script {
				t.Errorf("flat: Incremental: ok=%v script=%q, want ok=%v %q", ok, script, tc.ok, tc.script)
			}
			script, ok = Incremental(renderLimit(base, ifaces, -1), renderLimit(w, nextIfaces, -1))
			script = withoutGeneration(t, script)
			if ok != tc.okClasses || script != tc.scriptClasses {
				t.Errorf("classes: Incremental: ok=%v script=%q, want ok=%v %q", ok, script, tc.okClasses, tc.scriptClasses)
			}
		})
	}
}

// withoutGeneration returns an incremental script without its changes of
// the verdict-cache generation, after checking they are there exactly when
// something else changes (a change that leaves the generation would let
// flows stamped under the old program skip the new one).
func withoutGeneration(t *testing.T, script string) string {
	t.Helper()
	var rest []string
	gen := 0
	for _, line := range strings.SplitAfter(script, "\n") {
		if strings.Contains(line, " "+GenSet+" {") || strings.Contains(line, " "+GenMap+" {") {
			gen++
			continue
		}
		rest = append(rest, line)
	}
	out := strings.Join(rest, "")
	if want := map[bool]int{true: 0, false: 4}[out == ""]; gen != want {
		t.Errorf("script changes the generation in %d lines, want %d:\n%s", gen, want, script)
	}
	return out
}

// TestIncrementalInKernel loads random programs, then random changes of
// them both incrementally and from scratch, and checks that the kernel
// holds the same table either way.
func TestIncrementalInKernel(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root to make network namespaces (run scripts/test.sh as root)")
	}
	seed := testSeed(t)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	nsInc, nsFull := "pinc"+randSuffix(r), "pful"+randSuffix(r)
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
	for round := range 40 {
		w1 := randWorld(r)
		ifaces := ifacesOf(w1)
		// Flattened, classes only, or mixed.
		limit := []int{MaxFlatElements, -1, r.IntN(12)}[round%3]
		old := renderLimit(w1, ifaces, limit)
		// A small change: membership or one rule of one group.
		groups, enis := snapshotSlices(w1)
		switch gi := r.IntN(len(groups)); r.IntN(3) {
		case 0:
			if len(groups[gi].Rules) > 0 {
				groups[gi].Rules = slices.Delete(slices.Clone(groups[gi].Rules), 0, 1)
			}
		case 1:
			groups[gi].Rules = append(slices.Clone(groups[gi].Rules), randRule(r, "rnew", len(groups)))
		case 2:
			ei := r.IntN(len(enis))
			enis[ei].SecurityGroupIDs = []string{groups[gi].ID}
		}
		next := renderLimit(NewSnapshot(groups, enis), ifaces, limit)
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
	t.Logf("seed %d: %d of 40 changes applied incrementally", seed, incremental)
	if incremental == 0 {
		t.Error("no change was incremental: the test does not exercise Incremental")
	}
}

func randSuffix(r *rand.Rand) string {
	const a = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 8)
	for i := range b {
		b[i] = a[r.IntN(len(a))]
	}
	return string(b)
}

var elementsRe = regexp.MustCompile(`(?s)elements = \{(.*?)\}`)

// listing returns the table as the kernel holds it, with set elements
// sorted (the kernel's order depends on insertion history).
func listing(t *testing.T, ns string) string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", ns, "nft", "list", "table", "inet", TableName).Output()
	if err != nil {
		t.Fatalf("nft list in %s: %v", ns, err)
	}
	return elementsRe.ReplaceAllStringFunc(string(out), func(m string) string {
		body := elementsRe.FindStringSubmatch(m)[1]
		var elems []string
		for _, e := range strings.Split(body, ",") {
			elems = append(elems, strings.Join(strings.Fields(e), " "))
		}
		slices.Sort(elems)
		return "elements = {" + strings.Join(elems, ", ") + "}"
	})
}

// snapshotSlices copies a snapshot's groups and ENIs, sorted by ID.
func snapshotSlices(s *Snapshot) ([]model.SecurityGroup, []model.ENI) {
	var groups []model.SecurityGroup
	for _, g := range s.groups {
		groups = append(groups, *g)
	}
	var enis []model.ENI
	for _, e := range s.enis {
		enis = append(enis, *e)
	}
	slices.SortFunc(groups, func(a, b model.SecurityGroup) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(enis, func(a, b model.ENI) int { return strings.Compare(a.ID, b.ID) })
	return groups, enis
}
