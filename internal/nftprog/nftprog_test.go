package nftprog_test

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"

	"github.com/palisade-project/palisade/internal/agent"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/nftprog"
	"github.com/palisade-project/palisade/internal/policy"
)

const guard = "pv"

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, nftables)")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("needs nft(8)")
	}
}

// newNS creates a named namespace removed when the test ends.
func newNS(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("nftprog-%d-%d", os.Getpid(), rand.Uint32())
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

func nftIn(t *testing.T, ns, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("nsenter", append([]string{"--net=/run/netns/" + ns, "nft"}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("nft %v: %w: %s", args, err, errb.String())
	}
	return out.String(), nil
}

// listing is what `nft -s list table` shows of both tables.
func listing(t *testing.T, ns string) string {
	t.Helper()
	var all strings.Builder
	for _, table := range []string{policy.TableName, policy.GuardTable} {
		out, err := nftIn(t, ns, "", "-s", "list", "table", "inet", table)
		if err != nil {
			all.WriteString("missing " + table + "\n")
			continue
		}
		all.WriteString(out)
	}
	return all.String()
}

func conn(t *testing.T, ns string) *nftprog.Conn {
	t.Helper()
	f, err := os.Open("/run/netns/" + ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	c, err := nftprog.Dial(int(f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// loadText loads the program the way NftFirewall does (nft -f).
func loadText(t *testing.T, ns string, p *policy.Program) {
	t.Helper()
	q := *p
	fw := &agent.NftFirewall{GuardPrefix: guard}
	if _, err := nftIn(t, ns, fw.Script(&q), "-f", "-"); err != nil {
		t.Fatal(err)
	}
}

func build(t *testing.T, p *policy.Program) *nftprog.Spec {
	t.Helper()
	s, err := nftprog.Build(p, guard)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func apply(t *testing.T, ns string, old, new *nftprog.Spec) nftprog.Mode {
	t.Helper()
	m, err := nftprog.Apply(conn(t, ns), old, new)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	return m
}

// requireSame compares the listings of the namespaces line by line.
func requireSame(t *testing.T, what, want, got string) {
	t.Helper()
	if want == got {
		return
	}
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			lo := max(0, i-5)
			t.Fatalf("%s: listings differ at line %d:\nnft -f:  %q\nnetlink: %q\ncontext (nft -f):\n%s", what, i+1, w, g, strings.Join(wl[lo:min(len(wl), i+5)], "\n"))
		}
	}
}

// sortElements sorts the elements of every `elements = { ... }` block of a
// listing and puts each on a line of its own.
func sortElements(listing string) string {
	var out []string
	lines := strings.Split(listing, "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		head, rest, ok := strings.Cut(l, "elements = { ")
		if !ok {
			out = append(out, l)
			continue
		}
		block := rest
		for !strings.HasSuffix(strings.TrimSpace(block), "}") && i+1 < len(lines) {
			i++
			block += " " + strings.TrimSpace(lines[i])
		}
		block = strings.TrimSuffix(strings.TrimSpace(block), "}")
		var elems []string
		for _, e := range strings.Split(block, ",") {
			elems = append(elems, strings.TrimSpace(e))
		}
		slices.Sort(elems)
		out = append(out, head+"elements = {")
		for _, e := range elems {
			out = append(out, "\t"+e)
		}
		out = append(out, "}")
	}
	return strings.Join(out, "\n")
}

func equivalent(t *testing.T, what string, p *policy.Program) {
	t.Helper()
	a, b := newNS(t), newNS(t)
	loadText(t, a, p)
	apply(t, b, nil, build(t, p))
	requireSame(t, what, listing(t, a), listing(t, b))
}

func TestGoldenEquivalence(t *testing.T) {
	needRoot(t)
	w, ifaces := goldenWorld()
	aw, aifaces := aclGoldenWorld()
	for _, c := range []struct {
		name string
		p    *policy.Program
	}{
		{"program", policy.Compile(w, ifaces)},
		{"program_classes", policy.CompileLimit(w, ifaces, -1)},
		{"program_acl", policy.Compile(aw, aifaces)},
	} {
		t.Run(c.name, func(t *testing.T) {
			equivalent(t, c.name, c.p)
			// Flow logs on, WAF steering on.
			q := *c.p
			q.FlowLogIfaces = []string{"pv-a1", "pv-web1"}
			q.Transparent = true
			equivalent(t, c.name+"+flowlog+transparent", &q)
		})
	}
}

var seedFlag = flag.Uint64("seed", 0, "seed of the random programs (0: from the clock)")

// testSeed returns the seed of a random test and logs how to replay it.
func testSeed(t *testing.T) uint64 {
	t.Helper()
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay with -seed %d)", seed, seed)
	return seed
}

func TestRandomEquivalence(t *testing.T) {
	needRoot(t)
	seed := testSeed(t)
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range 25 {
		p := randProgram(r)
		equivalent(t, fmt.Sprintf("random %d (seed %d)", i, seed), p)
	}
}

// TestIncremental applies random changes of worlds through netlink on top
// of each other and compares every result with a full nft -f load.
func TestIncremental(t *testing.T) {
	needRoot(t)
	seed := testSeed(t)
	r := rand.New(rand.NewPCG(seed, 2))
	inc := 0
	for round := range 6 {
		ns := newNS(t)
		spec := randWorldSpec(r)
		p := spec.compile()
		cur := build(t, p)
		apply(t, ns, nil, cur)
		for step := range 8 {
			spec.mutate(r)
			p := spec.compile()
			next := build(t, p)
			m := apply(t, ns, cur, next)
			if m == nftprog.Incremental {
				inc++
			}
			if m == nftprog.Unchanged && !cur.Equal(next) {
				t.Fatalf("round %d step %d: unchanged but specs differ", round, step)
			}
			ref := newNS(t)
			loadText(t, ref, p)
			// Element order in a listing is insertion order for some set
			// types: compare the elements as sets.
			requireSame(t, fmt.Sprintf("round %d step %d (%s, seed %d)", round, step, m, seed), sortElements(listing(t, ref)), sortElements(listing(t, ns)))
			cur = next
		}
	}
	if inc == 0 {
		t.Errorf("no change was incremental")
	}
	t.Logf("%d incremental changes", inc)
}

// TestFailingBatchAppliesNothing: a batch the kernel refuses (a broken
// element) leaves the loaded table as it was, incremental or full.
func TestFailingBatchAppliesNothing(t *testing.T) {
	needRoot(t)
	w, ifaces := goldenWorld()
	p := policy.Compile(w, ifaces)
	ns := newNS(t)
	good := build(t, p)
	apply(t, ns, nil, good)
	before := listing(t, ns)

	// Same skeleton, one more element of a wrong length: incremental.
	broken := build(t, p)
	for _, s := range broken.Tables[len(broken.Tables)-1].Sets {
		if strings.HasPrefix(s.Set.Name, "m4_") {
			s.Elems = append(s.Elems,
				nftables.SetElement{Key: netip.MustParseAddr("10.9.9.9").AsSlice()},
				nftables.SetElement{Key: []byte{1, 2, 3}})
			break
		}
	}
	c := conn(t, ns) // one connection: usable after a refused batch
	if _, err := nftprog.Apply(c, good, broken); err == nil {
		t.Fatal("incremental batch with a broken element succeeded")
	} else {
		t.Logf("refused: %v", err)
	}
	requireSame(t, "after failed incremental", before, listing(t, ns))
	if _, err := nftprog.Apply(c, nil, broken); err == nil {
		t.Fatal("full batch with a broken element succeeded")
	}
	requireSame(t, "after failed full load", before, listing(t, ns))
	// The same connection loads a good change.
	next := build(t, policy.CompileLimit(w, ifaces, -1))
	if _, err := nftprog.Apply(c, good, next); err != nil {
		t.Fatalf("load after refused batches: %v", err)
	}
	ref := newNS(t)
	apply(t, ref, nil, next)
	requireSame(t, "after good load", listing(t, ref), listing(t, ns))
}

// TestLargeBatch loads 100 ENIs with 1,000 rules each (a group per ENI, so
// 100 flats) in one batch.
func TestLargeBatch(t *testing.T) {
	needRoot(t)
	if testing.Short() {
		t.Skip("large")
	}
	r := rand.New(rand.NewPCG(7, 7))
	p := largeProgram(r, 100, 1000)
	ns := newNS(t)
	start := time.Now()
	spec := build(t, p)
	built := time.Since(start)
	apply(t, ns, nil, spec)
	t.Logf("%d elements: build %v, full load %v", spec.Elements(), built, time.Since(start)-built)
	// Once more on top of itself (replacing a large table), then an
	// element change (a second covered ENI: the first one adds chains).
	p.FlowLogIfaces = []string{"pv-l1"}
	spec = build(t, p)
	start = time.Now()
	apply(t, ns, nil, spec)
	t.Logf("replace: %v", time.Since(start))
	p.FlowLogIfaces = []string{"pv-l0", "pv-l1"}
	next := build(t, p)
	start = time.Now()
	if m := apply(t, ns, spec, next); m != nftprog.Incremental {
		t.Errorf("flow-log change was %s", m)
	}
	t.Logf("incremental: %v", time.Since(start))
	start = time.Now()
	if _, err := nftprog.Digest(conn(t, ns), next); err != nil {
		t.Fatal(err)
	}
	t.Logf("digest: %v", time.Since(start))
	start = time.Now()
	listing(t, ns)
	t.Logf("nft -s list: %v", time.Since(start))
	out, err := nftIn(t, ns, "", "list", "set", "inet", policy.TableName, policy.FlowLogIfaces)
	if err != nil || !strings.Contains(out, `"pv-l0"`) {
		t.Fatalf("flow-log set: %v %s", err, out)
	}
}

func largeProgram(r *rand.Rand, nENI, nRules int) *policy.Program {
	var groups []model.SecurityGroup
	var enis []model.ENI
	ifaces := map[string]string{}
	for i := range nENI {
		g := model.SecurityGroup{ID: fmt.Sprintf("sg-l%d", i), VpcID: "vpc-1", Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerAccept}
		for j := range nRules {
			proto := []string{"TCP", "UDP"}[r.IntN(2)]
			port := 1 + r.IntN(60000)
			cidr := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(r.IntN(256)), byte(r.IntN(256)), 0}), 24)
			g.Rules = append(g.Rules, model.Rule{ID: fmt.Sprintf("sgr-%d-%d", i, j), Direction: model.Ingress, Protocol: proto,
				Policy: model.PolicyAccept, Priority: 1 + r.IntN(100), Ports: model.PortRange{From: port, To: port}, PeerCidr: cidr})
		}
		groups = append(groups, g)
		id := fmt.Sprintf("eni-l%d", i)
		enis = append(enis, model.ENI{ID: id, VpcID: "vpc-1", SecurityGroupIDs: []string{g.ID},
			PrimaryIP: netip.AddrFrom4([4]byte{172, 16, byte(i / 256), byte(i % 256)})})
		ifaces[id] = fmt.Sprintf("pv-l%d", i)
	}
	return policy.Compile(policy.NewSnapshot(groups, enis), ifaces)
}

// TestDigestDetectsDrift: the digest is stable while nothing changes and
// changes with a hand-made change of an element, a rule or a table.
func TestDigestDetectsDrift(t *testing.T) {
	needRoot(t)
	w, ifaces := aclGoldenWorld()
	p := policy.Compile(w, ifaces)
	ns := newNS(t)
	spec := build(t, p)
	apply(t, ns, nil, spec)
	digest := func() string {
		t.Helper()
		d, err := nftprog.Digest(conn(t, ns), spec)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	gen := func() uint32 {
		t.Helper()
		g, err := nftprog.Generation(conn(t, ns))
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	g0 := gen()
	d0 := digest()
	if d := digest(); d != d0 {
		t.Fatal("digest of an unchanged table changed")
	}
	if g := gen(); g != g0 {
		t.Fatalf("generation changed by reading: %d -> %d", g0, g)
	}
	// Traffic-free reload of the same spec gives the same digest.
	apply(t, ns, nil, spec)
	if d := digest(); d != d0 {
		t.Fatal("digest changed by reloading the same spec")
	}
	for _, change := range []string{
		"add element inet palisade m4_open { 10.9.9.9 }",
		"delete element inet palisade m4_open { 10.9.9.9 }\nflush chain inet palisade fl_sg_in",
		"delete table inet palisade_guard",
	} {
		if _, err := nftIn(t, ns, change, "-f", "-"); err != nil {
			t.Fatal(err)
		}
		if g := gen(); g == g0 {
			t.Errorf("generation unchanged after %q", change)
		} else {
			g0 = g
		}
		d := digest()
		if d == d0 {
			t.Errorf("digest unchanged after %q", change)
		}
		d0 = d
	}
}

// TestCountersSurviveReplace: a full replacement of the table keeps the
// named counters' totals (capture reads them as running totals: a reset
// would hide what was counted since its last read).
func TestCountersSurviveReplace(t *testing.T) {
	needRoot(t)
	w, ifaces := goldenWorld()
	p := policy.Compile(w, ifaces)
	p.FlowLogIfaces = []string{"pv-a1"}
	ns := newNS(t)
	first := build(t, p)
	apply(t, ns, nil, first)
	// Local pings, counted in the logged counter by a chain added by hand
	// (the program counts only logged drops there).
	for _, args := range [][]string{{"ip", "link", "set", "lo", "up"},
		{"nft", "add chain inet " + policy.TableName + " probe { type filter hook output priority 0; }"},
		{"nft", "add rule inet " + policy.TableName + " probe counter name " + policy.FlowLogLoggedCounter},
		{"ping", "-c", "3", "-i", "0.2", "-W", "1", "127.0.0.1"}} {
		if out, err := exec.Command("nsenter", append([]string{"--net=/run/netns/" + ns}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v: %s", args, err, out)
		}
	}
	count := func() string {
		t.Helper()
		out, err := nftIn(t, ns, "", "list", "counter", "inet", policy.TableName, policy.FlowLogLoggedCounter)
		if err != nil {
			t.Fatal(err)
		}
		i := strings.Index(out, "packets ")
		if i < 0 {
			t.Fatalf("no counter:\n%s", out)
		}
		return strings.Fields(out[i:])[1]
	}
	before := count()
	if before == "0" {
		t.Fatal("the pings were not counted")
	}
	p.FlowLogIfaces = append(p.FlowLogIfaces, "pv-b1")
	p.Transparent = !p.Transparent // a structural change
	if m := apply(t, ns, first, build(t, p)); m != nftprog.Full {
		t.Fatalf("change was %s, want a full replacement", m)
	}
	if after := count(); after != before {
		t.Errorf("logged counter after a full replacement: %s, want %s", after, before)
	}
}
