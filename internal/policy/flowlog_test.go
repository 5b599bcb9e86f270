package policy

import (
	"strings"
	"testing"
)

// TestFlowLogIfacesIncremental: covering more or fewer ENIs of a namespace
// that already has a covered ENI is a change of the covered-interface
// set's elements only; the first covered ENI adds the new-flow counting
// chains, the last one removes them. Every policy drop goes through a deny
// chain that ends in drop.
func TestFlowLogIfacesIncremental(t *testing.T) {
	w, ifaces := goldenWorld()
	none := Compile(w, ifaces)
	one := Compile(w, ifaces)
	one.FlowLogIfaces = []string{"pv-a1"}
	on := Compile(w, ifaces)
	on.FlowLogIfaces = []string{"pv-a1", "pv-b1"}
	script, ok := Incremental(one.Render(), on.Render())
	if !ok {
		t.Fatal("covering a second ENI changed the table's structure")
	}
	if !strings.Contains(script, `add element inet palisade flowlog_ifaces { "pv-b1" }`) {
		t.Errorf("script does not add the covered interface:\n%s", script)
	}
	if _, ok := Incremental(none.Render(), one.Render()); ok {
		t.Error("the first covered ENI did not add the counting chains")
	}
	for _, p := range []*Program{none, one} {
		text := p.Render()
		has := strings.Contains(text, "chain "+FlowLogNewChain+" {") && strings.Contains(text, "chain "+FlowLogNewInChain+" {")
		if has != (len(p.FlowLogIfaces) > 0) {
			t.Errorf("with %d covered ENIs, counting chains present: %v", len(p.FlowLogIfaces), has)
		}
	}
	text := on.Render()
	for _, line := range strings.Split(text, "\n") {
		l := strings.TrimSpace(line)
		if strings.HasSuffix(l, " drop") || l == "drop" {
			if strings.Contains(l, "ct state invalid") || strings.Contains(l, `"pv*"`) || strings.Contains(l, "flowlog_over") ||
				strings.Contains(l, "log prefix") || l == "drop" {
				continue
			}
			t.Errorf("a drop outside the deny chains: %q", l)
		}
	}
}
