package policy

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/policy/policytest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// goldenWorld is policytest.Golden as a snapshot.
func goldenWorld() (*Snapshot, map[string]string) {
	g := policytest.Golden()
	return NewSnapshot(g.Groups, g.ENIs), g.Ifaces
}

// TestRenderGolden pins the rendering of the golden world twice: as
// compiled (every group set flattened into verdict maps) and with the
// flattening bound at -1 (every group set falls back to class chains).
func TestRenderGolden(t *testing.T) {
	w, ifaces := goldenWorld()
	for _, c := range []struct {
		file  string
		limit int
	}{{"program.golden", MaxFlatElements}, {"program_classes.golden", -1}} {
		got := compile(w, ifaces, c.limit).Render()
		if again := compile(w, ifaces, c.limit).Render(); again != got {
			t.Fatal("Render is not deterministic")
		}
		path := filepath.Join("testdata", c.file)
		if *update {
			if err := os.MkdirAll("testdata", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("read golden (run with -update to create): %v", err)
		}
		if got != string(want) {
			t.Fatalf("rendered program differs from %s (run with -update if intended):\n%s", path, lineDiff(string(want), got))
		}
	}
}

// TestCompileShape checks facts of the golden program that a golden diff
// would not explain: the pooled order and the fail-closed ENIs.
func TestCompileShape(t *testing.T) {
	w, ifaces := goldenWorld()
	p := compile(w, ifaces, -1)
	byID := map[string]ENIProgram{}
	for _, e := range p.ENIs {
		byID[e.ENIID] = e
	}
	web2 := byID["eni-web2"]
	want := []string{"c_web_i_1_d", "c_admin_i_1_d", "c_web_i_1_a", "c_admin_i_5_a", "c_web_i_50_a", "c_web_i_100_a"}
	if strings.Join(web2.Ingress.Classes, " ") != strings.Join(want, " ") {
		t.Errorf("eni-web2 ingress classes %v, want %v", web2.Ingress.Classes, want)
	}
	if web2.Ingress.DefaultAllow || !web2.Egress.DefaultAllow || strings.Join(web2.Ingress.IntraGroups, " ") != "sg-web" {
		t.Errorf("eni-web2 chains: %+v", web2)
	}
	if adv := byID["eni-adv"]; adv.Ingress.DefaultAllow || adv.Egress.DefaultAllow {
		t.Errorf("advanced ENI must default to drop both ways: %+v", adv)
	}
	for _, id := range []string{"eni-none", "eni-bad"} {
		if byID[id].Failed == "" {
			t.Errorf("%s should fail closed", id)
		}
	}
	// The two overlapping SSH rules of class c_web_i_1_a become disjoint
	// elements whose union is both rules.
	for _, c := range p.Classes {
		if c.Name == "c_web_i_1_a" && (len(c.Ports4) < 2 || len(c.Refs) != 1) {
			t.Errorf("c_web_i_1_a: %+v", c)
		}
	}
	checkDisjoint(t, p)

	// Flattened: one flat per group set and direction, shared.
	f := Compile(w, ifaces)
	if len(f.Classes) != 0 {
		t.Errorf("flattened program has classes: %v", f.Classes[0].Name)
	}
	var names []string
	for _, x := range f.Flats {
		names = append(names, x.Name+"="+strings.Join(x.GroupIDs, ","))
	}
	wantFlats := "f_369914e5bd0c_i=sg-admin,sg-web f_369914e5bd0c_o=sg-admin,sg-web f_adv_i=sg-adv f_adv_o=sg-adv f_web_i=sg-web f_web_o=sg-web"
	if strings.Join(names, " ") != wantFlats {
		t.Errorf("flats %v, want %v", names, wantFlats)
	}
	byID = map[string]ENIProgram{}
	for _, e := range f.ENIs {
		byID[e.ENIID] = e
	}
	if e := byID["eni-web2"]; e.Ingress.Flat != "f_369914e5bd0c_i" || len(e.Ingress.Classes) != 0 || strings.Join(e.Ingress.IntraGroups, " ") != "sg-web" {
		t.Errorf("eni-web2 flattened chains: %+v", e)
	}
	// Only intra-group sets remain: references are expanded.
	if len(f.MemberSets) != 1 || f.MemberSets[0].GroupID != "sg-web" {
		t.Errorf("member sets %+v, want sg-web only", f.MemberSets)
	}
	checkDisjoint(t, f)
}

// TestFlattenPrecedence checks first-match resolution on a small case:
// a drop at priority 1 carves an accept at priority 2; an accept at
// priority 3 under the accept adds nothing; elements whose verdict is the
// default (ingress: drop) are left out, but still carve later rules.
func TestFlattenPrecedence(t *testing.T) {
	w := NewSnapshot([]model.SecurityGroup{group("sg-x", basic, "Drop",
		rl("r1", in, "TCP", "22/22", "10.1.0.0/16", drp, 1),
		rl("r2", in, "TCP", "20/25", "10.0.0.0/8", acc, 2),
		rl("r3", in, "TCP", "22/22", "10.2.0.0/16", acc, 3),
		rl("r4", out, "UDP", "53/53", "0.0.0.0/0", drp, 1),
		rl("r5", out, "ALL", "", "10.0.0.0/8", acc, 1),
	)}, []model.ENI{eni("eni-x", "vpc-1", []string{"sg-x"}, "10.9.9.9")})
	p := Compile(w, map[string]string{"eni-x": "pv-x"})
	if len(p.Flats) != 2 {
		t.Fatalf("flats: %d", len(p.Flats))
	}
	str := func(es []FlatElement) string {
		var out []string
		for _, e := range es {
			v := "accept"
			if e.Drop {
				v = "drop"
			}
			out = append(out, addrRange(e.Peer)+" "+rng(e.Proto)+" "+rng(e.DPort)+" "+v)
		}
		return strings.Join(out, "|")
	}
	in, out := p.Flats[0], p.Flats[1]
	if got, want := str(in.Ports4), "10.0.0.0/16 6 20-25 accept|10.1.0.0/16 6 20-21 accept|10.1.0.0/16 6 23-25 accept|10.2.0.0-10.255.255.255 6 20-25 accept"; got != want {
		t.Errorf("ingress: %s, want %s", got, want)
	}
	// Egress defaults to accept: the drop stays, the accept goes, and
	// the ALL rule is in both key spaces (TCP/UDP packets meet it in the
	// ports map).
	if got, want := str(out.Ports4), "0.0.0.0/0 17 53 drop"; got != want {
		t.Errorf("egress ports: %s, want %s", got, want)
	}
	if len(out.Any4) != 0 {
		t.Errorf("egress any: %s", str(out.Any4))
	}
	for _, c := range []struct {
		dir   Direction
		pk    Packet
		allow bool
	}{
		{Ingress, pkt(IPProtoTCP, "10.1.2.3", "10.9.9.9", 5, 22), false},
		{Ingress, pkt(IPProtoTCP, "10.1.2.3", "10.9.9.9", 5, 21), true},
		{Ingress, pkt(IPProtoTCP, "10.2.2.3", "10.9.9.9", 5, 22), true},
		{Ingress, pkt(IPProtoTCP, "11.2.2.3", "10.9.9.9", 5, 22), false},
		{Egress, pkt(IPProtoUDP, "10.9.9.9", "10.1.1.1", 5, 53), false},
		{Egress, pkt(IPProtoUDP, "10.9.9.9", "10.1.1.1", 5, 54), true},
		{Egress, pkt(IPProtoICMP, "10.9.9.9", "8.8.8.8", 0, 0), true},
	} {
		if got, ev := runProgram(t, p, w, "eni-x", c.dir, c.pk), EvaluateENI(w, "eni-x", c.dir, c.pk); got != c.allow || ev.Allow != c.allow {
			t.Errorf("%s %+v: program %v, evaluator %v, want %v", c.dir, c.pk, got, ev, c.allow)
		}
	}
}

// TestFlatFallback: a group set whose flattening exceeds the bound gets
// class chains, the others keep their flats, in one program.
func TestFlatFallback(t *testing.T) {
	var rules []model.Rule
	for i := range 8 {
		rules = append(rules, rl(fmt.Sprintf("r%d", i), in, "TCP", fmt.Sprintf("%d/%d", 100+i, 100+i), "10.0.0.0/8", acc, 1+i))
	}
	w := NewSnapshot([]model.SecurityGroup{
		group("sg-big", basic, "Drop", rules...),
		group("sg-small", basic, "Drop", rl("s1", in, "TCP", "80/80", "0.0.0.0/0", acc, 1)),
	}, []model.ENI{
		eni("eni-b", "vpc-1", []string{"sg-big"}, "10.9.9.1"),
		eni("eni-s", "vpc-1", []string{"sg-small"}, "10.9.9.2"),
	})
	p := compile(w, map[string]string{"eni-b": "pv-b", "eni-s": "pv-s"}, 4)
	var flats []string
	for _, f := range p.Flats {
		flats = append(flats, f.Name)
	}
	if strings.Join(flats, " ") != "f_big_o f_small_i f_small_o" {
		t.Errorf("flats %v", flats)
	}
	if len(p.Classes) != 8 || p.ENIs[0].Ingress.Flat != "" || len(p.ENIs[0].Ingress.Classes) != 8 || p.ENIs[0].Egress.Flat != "f_big_o" {
		t.Errorf("fallback: %d classes, eni-b %+v", len(p.Classes), p.ENIs[0])
	}
	for port := uint16(99); port < 110; port++ {
		pk := pkt(IPProtoTCP, "10.1.2.3", "10.9.9.1", 5, port)
		if got, want := runProgram(t, p, w, "eni-b", Ingress, pk), EvaluateENI(w, "eni-b", Ingress, pk).Allow; got != want {
			t.Errorf("port %d: program %v, evaluator %v", port, got, want)
		}
	}
}

// TestNftAccepts asks nft itself, in check mode (nothing is applied), to
// parse the golden program and random ones; the kernel validates the sets,
// which is what catches overlapping interval elements. It runs in a fresh
// network namespace when unshare is available, so tables of the host cannot
// interfere.
func TestNftAccepts(t *testing.T) {
	nft, err := exec.LookPath("nft")
	if err != nil {
		t.Skip("nft not installed")
	}
	if os.Geteuid() != 0 {
		t.Skip("nft -c needs root")
	}
	check := func(name, script string) {
		t.Helper()
		f := filepath.Join(t.TempDir(), name+".nft")
		if err := os.WriteFile(f, []byte(script), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(nft, "-c", "-f", f)
		if un, err := exec.LookPath("unshare"); err == nil {
			cmd = exec.Command(un, "--net", nft, "-c", "-f", f)
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("nft -c rejects %s: %v\n%s\n--- script ---\n%s", name, err, out, script)
		}
	}
	w, ifaces := goldenWorld()
	check("golden", Compile(w, ifaces).Render())
	check("empty", Compile(w, nil).Render())
	check("classes", compile(w, ifaces, -1).Render())
	seed := testSeed(t)
	r := rand.New(rand.NewPCG(seed, 3))
	n := 10
	if testing.Short() {
		n = 2
	}
	for i := range n {
		w := randWorld(r)
		check("random"+string(rune('a'+i)), Compile(w, ifacesOf(w)).Render())
		check("mixed"+string(rune('a'+i)), compile(w, ifacesOf(w), r.IntN(12)).Render())
	}
}

// TestRenderOverlapSplit shows the splitting on the smallest case nft
// rejects when loaded naively: r2 lies inside r3 and vanishes, r1
// overlaps r3 and keeps only its part outside r3.
func TestRenderOverlapSplit(t *testing.T) {
	w := NewSnapshot([]model.SecurityGroup{group("sg-x", basic, "Drop",
		rl("r1", in, "TCP", "20/25", "10.1.0.0/16", acc, 1),
		rl("r2", in, "TCP", "22/22", "10.0.0.0/8", acc, 1),
		rl("r3", in, "TCP", "22/30", "10.0.0.0/8", acc, 1),
	)}, []model.ENI{eni("eni-x", "vpc-1", []string{"sg-x"}, "10.9.9.9")})
	p := compile(w, map[string]string{"eni-x": "pv-x"}, -1)
	var got []string
	for _, e := range p.Classes[0].Ports4 {
		got = append(got, addrRange(e.Peer)+" "+rng(e.DPort))
	}
	want := []string{"10.0.0.0/8 22-30", "10.1.0.0/16 20-21"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("elements %q, want %q", got, want)
	}
	for _, pt := range []struct {
		src   string
		port  uint16
		allow bool
	}{{"10.1.2.3", 20, true}, {"10.2.0.1", 20, false}, {"10.2.0.1", 30, true}, {"10.1.0.1", 31, false}} {
		pk := pkt(IPProtoTCP, pt.src, "10.9.9.9", 5, pt.port)
		if got := runProgram(t, p, w, "eni-x", Ingress, pk); got != pt.allow || EvaluateENI(w, "eni-x", Ingress, pk).Allow != pt.allow {
			t.Errorf("%s:%d: program %v, want %v", pt.src, pt.port, got, pt.allow)
		}
	}
}

// lineDiff returns the first differing lines of two texts.
func lineDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b bytes.Buffer
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			b.WriteString("line " + strconv.Itoa(i+1) + ":\n- " + w + "\n+ " + g + "\n")
			if b.Len() > 2000 {
				break
			}
		}
	}
	return b.String()
}
