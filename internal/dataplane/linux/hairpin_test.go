package linux

import (
	"os/exec"
	"strings"
	"testing"
)

// TestHairpinTable: the root namespace's table drops forwarding between
// exactly the Applier's uplinks; it is created, kept when nothing changed,
// repaired when changed by hand, updated element by element, and removed
// with the last uplink, and another Applier's table is never touched. The
// test runs against a scratch namespace standing for the root.
func TestHairpinTable(t *testing.T) {
	needRoot(t)
	ns, root, nft := scratchNS(t, "pal-hp-")
	a := New(Config{Tag: "hp"})
	table := a.hairpinTable()
	if table != "palisade_hp_uplinks" {
		t.Fatalf("table name %q", table)
	}
	// Another deployment's table, which must survive everything below.
	if out, err := exec.Command("ip", "netns", "exec", ns, "nft", "add table inet palisade_other_uplinks").CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	sync := func(uplinks ...string) {
		t.Helper()
		if err := a.syncHairpinTable(root, uplinks); err != nil {
			t.Fatal(err)
		}
	}
	elements := func() string {
		t.Helper()
		out := nft("list", "set", "inet", table, hairpinSet)
		_, els, _ := strings.Cut(out, "elements = {")
		els, _, _ = strings.Cut(els, "}")
		return strings.Join(strings.Fields(els), "")
	}

	sync("pua", "pub")
	if got := elements(); got != `"pua","pub"` {
		t.Errorf("elements %s", got)
	}
	rules := nft("list", "chain", "inet", table, hairpinChain)
	for _, want := range []string{"hook forward priority filter; policy accept;", `iifname @uplinks oifname @uplinks drop comment "palisade-uplinks-v1"`} {
		if !strings.Contains(rules, want) {
			t.Errorf("chain lacks %q:\n%s", want, rules)
		}
	}
	before := nft("-a", "list", "table", "inet", table)
	sync("pub", "pua")
	if after := nft("-a", "list", "table", "inet", table); after != before {
		t.Errorf("an unchanged sync changed the table:\n%s\n%s", before, after)
	}
	nft("delete", "element", "inet", table, hairpinSet, `{ "pua" }`)
	sync("pua", "pub")
	if got := elements(); got != `"pua","pub"` {
		t.Errorf("element deleted by hand not repaired: %s", got)
	}
	nft("flush", "chain", "inet", table, hairpinChain)
	sync("pua", "pub")
	if !strings.Contains(nft("list", "chain", "inet", table, hairpinChain), "drop") {
		t.Error("rule deleted by hand not repaired")
	}
	nft("delete", "table", "inet", table)
	sync("pua", "pub", "puc")
	if got := elements(); got != `"pua","pub","puc"` {
		t.Errorf("table deleted by hand not repaired: %s", got)
	}
	sync("pub", "pud")
	if got := elements(); got != `"pub","pud"` {
		t.Errorf("after a change: %s", got)
	}
	sync()
	tables := nft("list", "tables")
	if strings.Contains(tables, table) {
		t.Errorf("table kept without uplinks:\n%s", tables)
	}
	if !strings.Contains(tables, "palisade_other_uplinks") {
		t.Errorf("another Applier's table was removed:\n%s", tables)
	}
	sync() // nothing to remove: no error
}

// scratchNS makes a namespace named prefix plus random hex for a test
// (deleted when it ends) and returns its name, an open reference and a
// runner of nft inside it that fails the test on error.
func scratchNS(t *testing.T, prefix string) (string, *nsRef, func(args ...string) string) {
	t.Helper()
	ns := prefix + randHex(t, 3)
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	ref, err := openNS(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ref.Close)
	nft := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("ip", append([]string{"netns", "exec", ns, "nft"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("nft %v: %v: %s", args, err, out)
		}
		return string(out)
	}
	return ns, ref, nft
}
