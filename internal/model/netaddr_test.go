package model

import (
	"net/netip"
	"testing"
)

func TestVSwitchAddresses(t *testing.T) {
	tests := []struct {
		cidr, gw, last string
		usable         int
	}{
		{"192.168.1.0/24", "192.168.1.253", "192.168.1.255", 252},
		{"10.0.0.0/16", "10.0.255.253", "10.0.255.255", 65532},
		{"172.16.5.8/29", "172.16.5.13", "172.16.5.15", 4},
	}
	for _, tt := range tests {
		p := netip.MustParsePrefix(tt.cidr)
		if got := VSwitchGateway(p).String(); got != tt.gw {
			t.Errorf("gateway(%s) = %s, want %s", tt.cidr, got, tt.gw)
		}
		if got := LastAddr(p).String(); got != tt.last {
			t.Errorf("last(%s) = %s, want %s", tt.cidr, got, tt.last)
		}
		if got := UsableAddrs(p); got != tt.usable {
			t.Errorf("usable(%s) = %d, want %d", tt.cidr, got, tt.usable)
		}
		if !IsReservedInVSwitch(p, p.Addr()) || !IsReservedInVSwitch(p, netip.MustParseAddr(tt.gw)) {
			t.Errorf("%s: first address and gateway must be reserved", tt.cidr)
		}
		if IsReservedInVSwitch(p, p.Addr().Next()) {
			t.Errorf("%s: second address must be assignable", tt.cidr)
		}
	}
	if got := LastAddr(netip.MustParsePrefix("fd00:1::/64")).String(); got != "fd00:1::ffff:ffff:ffff:ffff" {
		t.Errorf("v6 last = %s", got)
	}
}

func TestEIPDDoSThreshold(t *testing.T) {
	for _, tc := range []struct {
		e        EIP
		bps, pps int
	}{
		{EIP{Bandwidth: 5}, 450, 100_000},
		{EIP{Bandwidth: 400}, 600, 400_000},
		{EIP{Bandwidth: 5, InstanceType: EIPInstanceNat}, 800, 120_000},
		{EIP{Bandwidth: 1000, InstanceType: EIPInstanceNat}, 1000, 150_000},
	} {
		if bps, pps := EIPDDoSThreshold(tc.e); bps != tc.bps || pps != tc.pps {
			t.Errorf("%+v: %d Mbit/s %d pps, want %d %d", tc.e, bps, pps, tc.bps, tc.pps)
		}
	}
}
