package policy

import (
	"strings"
	"testing"
)

// TestFlowLogIfacesIncremental: turning a flow log on or off for an ENI is
// a change of the covered-interface set's elements only, and every policy
// drop goes through a deny chain that ends in drop.
func TestFlowLogIfacesIncremental(t *testing.T) {
	w, ifaces := goldenWorld()
	off := Compile(w, ifaces)
	on := Compile(w, ifaces)
	on.FlowLogIfaces = []string{"pv-a1", "pv-b1"}
	script, ok := Incremental(off.Render(), on.Render())
	if !ok {
		t.Fatal("turning flow logs on changed the table's structure")
	}
	if !strings.Contains(script, `add element inet palisade flowlog_ifaces { "pv-a1", "pv-b1" }`) {
		t.Errorf("script does not add the covered interfaces:\n%s", script)
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
