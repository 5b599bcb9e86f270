package linux

import (
	"strings"
	"testing"
)

func TestVethName(t *testing.T) {
	tests := []struct {
		id   string
		want string
	}{
		{"eni-2ze8f7k2l1m0n9b8v7c6", "pv2ze8f7k2l1m0n"},
		{"eni-short", "pvshort"},
		{"eni-abc/def", "pvabcdef"}, // unsafe characters dropped
		{"plainid", "pvplainid"},
	}
	for _, tc := range tests {
		if got := VethName(tc.id); got != tc.want {
			t.Errorf("VethName(%q) = %q, want %q", tc.id, got, tc.want)
		}
		if again := VethName(tc.id); again != VethName(tc.id) {
			t.Errorf("VethName(%q) not deterministic", tc.id)
		}
	}
	for _, id := range []string{"eni-", "", "eni-----", strings.Repeat("x", 100)} {
		n := VethName(id)
		if len(n) > maxIfName || !strings.HasPrefix(n, vethPrefix) || len(n) <= len(vethPrefix) {
			t.Errorf("VethName(%q) = %q: want pv… of at most %d chars", id, n, maxIfName)
		}
	}
}

func TestAssignVethNamesCollision(t *testing.T) {
	// Same first 13 characters after "eni-": the plain names clash.
	a, b, c := "eni-aaaaaaaaaaaaa111", "eni-aaaaaaaaaaaaa222", "eni-bbbbbbbbbbbbb333"
	for _, order := range [][]string{{a, b, c}, {c, b, a}} {
		got := assignVethNames(order)
		if got[a] != VethName(a) {
			t.Errorf("first of a clash keeps its name: got %q want %q", got[a], VethName(a))
		}
		if got[b] == got[a] || got[b] != hashedVethName(b) {
			t.Errorf("second of a clash: got %q, want hashed %q", got[b], hashedVethName(b))
		}
		if got[c] != VethName(c) {
			t.Errorf("no clash: got %q want %q", got[c], VethName(c))
		}
		seen := map[string]bool{}
		for id, n := range got {
			if len(n) > maxIfName || !strings.HasPrefix(n, vethPrefix) || seen[n] {
				t.Errorf("%s -> %q: invalid or duplicate", id, n)
			}
			seen[n] = true
		}
	}
}

func TestInstanceIfName(t *testing.T) {
	if got := InstanceIfName(0); got != "eth0" {
		t.Errorf("InstanceIfName(0) = %q", got)
	}
	if got := InstanceIfName(12); got != "eth12" {
		t.Errorf("InstanceIfName(12) = %q", got)
	}
}

func TestUplinkName(t *testing.T) {
	for _, id := range []string{"vpc-abcdefghijklmnopqrst", "vpc-x", "vpc-", "---", "vpc-ab.cd"} {
		n := UplinkName(id)
		if !strings.HasPrefix(n, uplinkPrefix) || len(n) > maxIfName || len(n) <= len(uplinkPrefix) {
			t.Errorf("UplinkName(%q) = %q", id, n)
		}
		if strings.HasPrefix(n, vethPrefix) || n == uplinkLink {
			t.Errorf("UplinkName(%q) = %q collides with ENI or VPC-side names", id, n)
		}
	}
	if got := UplinkName("vpc-abcdefghijklmnopqrst"); got != "puabcdefghijklm" {
		t.Errorf("UplinkName = %q, want puabcdefghijklm", got)
	}
}
