package policy

import (
	"strings"
	"testing"
)

// TestFlowLogIfacesIncremental: covering more or fewer ENIs of a namespace
// is a change of the covered-interface set's elements only, the first
// and the last included. Every policy drop goes through a deny chain that
// ends in drop.
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
	if _, ok := Incremental(none.Render(), one.Render()); !ok {
		t.Error("covering the first ENI changed the table's structure")
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
