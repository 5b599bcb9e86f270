package api

import (
	"strings"
	"testing"
)

func TestCodeLabel(t *testing.T) {
	for _, tc := range []struct{ code, want string }{
		{"", "OK"},
		{"InvalidVpcId.NotFound", "InvalidVpcId.NotFound"},
		{"IllegalParam.StartTime", "IllegalParam.StartTime"},
		{"Forbidden.AgentKey", "Forbidden.AgentKey"},
		{strings.Repeat("A", maxCodeLabel+1), "Other"},
		{"Invalid Param\n", "Other"},
		{`x"}`, "Other"},
	} {
		if got := codeLabel(tc.code); got != tc.want {
			t.Errorf("codeLabel(%q) = %q, want %q", tc.code, got, tc.want)
		}
	}
}
