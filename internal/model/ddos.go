package model

import (
	"fmt"
	"net/netip"
	"time"
)

// Anti-DDoS Basic (antiddos-public 2017-05-18) store keys. Every EIP is
// protected by default; nothing needs to be created. All are mirrored to
// agents: each host measures the inbound traffic of its EIPs, scrubs and
// blackholes.
const (
	// PrefixDDoSThreshold + accountID + "/" + public IP -> DDoSThreshold: a
	// scrubbing threshold set by hand (ModifyIpDefenseThreshold). Without
	// one the EIP uses DefaultDDoSThreshold of its bandwidth.
	PrefixDDoSThreshold = "ddosthr/"
	// PrefixDDoSEvent + public IP + "/" + DDoSEvent.Key() -> DDoSEvent,
	// written by the agent that serves the EIP's zone.
	PrefixDDoSEvent = "ddosev/"
	// KeyDDoSConfig -> DDoSConfig: the operator's settings, written by
	// the server at start so that every agent uses the same.
	KeyDDoSConfig = "ddoscfg"
)

// Anti-DDoS event types and statuses (Alibaba spelling).
const (
	// DDoSDefense: traffic scrubbing ("defense"): the inbound traffic of
	// the IP crossed its scrubbing threshold.
	DDoSDefense = "defense"
	// DDoSBlackhole: the inbound traffic crossed the blackhole threshold
	// and everything to the IP is dropped until UnBlackholeAt.
	DDoSBlackhole = "blackhole"
	// DDoSNormal is an IP's status under no open event.
	DDoSNormal = "normal"
)

// DDoSThreshold is a scrubbing threshold set by hand for one public IP.
// Manual thresholds may only be lower than the default ones.
type DDoSThreshold struct {
	AccountID string     `json:"account_id"`
	IP        netip.Addr `json:"ip"`
	Bps       int        `json:"bps"` // Mbit/s
	Pps       int        `json:"pps"` // packets/s
}

// DDoSThresholdKey is the store key of the manual threshold of ip.
func DDoSThresholdKey(accountID string, ip netip.Addr) string {
	return PrefixDDoSThreshold + accountID + "/" + ip.String()
}

// DefaultDDoSThreshold is the scrubbing threshold of an EIP of the given
// bandwidth (Mbit/s), as Alibaba documents it for EIPs: 450 Mbit/s up to
// 300 Mbit/s of bandwidth and 1.5 times the bandwidth above; 100,000
// packets/s up to 100 Mbit/s and 1,000 per Mbit/s above. It is also the
// highest threshold a user may set.
func DefaultDDoSThreshold(bandwidthMbps int) (bps, pps int) {
	bps, pps = 450, 100_000
	if bandwidthMbps > 300 {
		bps = bandwidthMbps * 3 / 2
	}
	if bandwidthMbps > 100 {
		pps = bandwidthMbps * 1000
	}
	return bps, pps
}

// DefaultNatDDoSThreshold is DefaultDDoSThreshold for an EIP associated
// with a NAT gateway, as Alibaba documents it: 800 Mbit/s and 120,000
// packets/s up to 800 Mbit/s of bandwidth, the bandwidth and 150 packets/s
// per Mbit/s above.
func DefaultNatDDoSThreshold(bandwidthMbps int) (bps, pps int) {
	if bandwidthMbps > 800 {
		return bandwidthMbps, bandwidthMbps * 150
	}
	return 800, 120_000
}

// EIPDDoSThreshold is the default threshold of e: that of a NAT gateway's
// EIP or of any other.
func EIPDDoSThreshold(e EIP) (bps, pps int) {
	if e.InstanceType == EIPInstanceNat {
		return DefaultNatDDoSThreshold(e.Bandwidth)
	}
	return DefaultDDoSThreshold(e.Bandwidth)
}

// DDoSConfig is the operator's Anti-DDoS Basic configuration (the cloud's
// per-region policy), the same for every account.
type DDoSConfig struct {
	// BlackholeMbps: inbound traffic to one IP above this blackholes it.
	BlackholeMbps int `json:"blackhole_mbps"`
	// BlackholeSeconds: how long a blackhole lasts after the attack was
	// last seen (Alibaba: 2.5 h by default, 30 min to 24 h).
	BlackholeSeconds int `json:"blackhole_seconds"`
	// QuietSeconds: scrubbing ends after this long under the threshold.
	QuietSeconds int `json:"quiet_seconds"`
	// TimeScale divides both durations (demos and tests only, as the
	// flow-log window scale does; 0 or 1 in production).
	TimeScale int `json:"time_scale,omitempty"`
}

// Blackhole is how long a blackhole lasts, scaled.
func (c DDoSConfig) Blackhole() time.Duration {
	return time.Duration(c.BlackholeSeconds) * time.Second / time.Duration(max(c.TimeScale, 1))
}

// Quiet is the quiet period, scaled.
func (c DDoSConfig) Quiet() time.Duration {
	return time.Duration(c.QuietSeconds) * time.Second / time.Duration(max(c.TimeScale, 1))
}

// DefaultDDoSConfig: Alibaba's ECS figures (5 Gbit/s, 2.5 h); scrubbing
// ends after a minute without attack traffic.
func DefaultDDoSConfig() DDoSConfig {
	return DDoSConfig{BlackholeMbps: 5000, BlackholeSeconds: 9000, QuietSeconds: 60}
}

// Validate checks the operator's values.
func (c DDoSConfig) Validate() error {
	switch {
	case c.BlackholeMbps < 1:
		return fmt.Errorf("anti-DDoS blackhole threshold %d Mbit/s: must be at least 1", c.BlackholeMbps)
	case c.BlackholeSeconds < 1800 || c.BlackholeSeconds > 86400:
		return fmt.Errorf("anti-DDoS blackhole duration %d s: must be 30 min to 24 h", c.BlackholeSeconds)
	case c.QuietSeconds < 1 || c.QuietSeconds > 3600:
		return fmt.Errorf("anti-DDoS quiet period %d s: must be 1 s to 1 h", c.QuietSeconds)
	case c.TimeScale < 0 || c.TimeScale > 3600:
		return fmt.Errorf("anti-DDoS time scale %d: must be 1 to 3600", c.TimeScale)
	}
	return nil
}

// DDoSEvent is one scrubbing or blackhole episode of one public IP,
// recorded by the agent that serves the IP's zone. It is open while End
// is zero.
type DDoSEvent struct {
	IP        netip.Addr `json:"ip"`
	AccountID string     `json:"account_id"` // the EIP's owner (set by the server)
	EipID     string     `json:"eip_id"`
	Type      string     `json:"type"` // DDoSDefense or DDoSBlackhole
	Start     time.Time  `json:"start"`
	End       time.Time  `json:"end,omitzero"`
	// UnBlackholeAt: when a blackhole ends unless the attack goes on
	// (each second of attack traffic pushes it back).
	UnBlackholeAt time.Time `json:"unblackhole_at,omitzero"`
	// LastAttack: the last second in which the traffic was above the
	// scrubbing threshold.
	LastAttack time.Time `json:"last_attack"`
	PeakPps    int64     `json:"peak_pps"`
	PeakBps    int64     `json:"peak_bps"` // bits/s
}

// Open reports whether the event is still going on at now: not ended,
// and for a blackhole not past UnBlackholeAt.
func (e DDoSEvent) Open(now time.Time) bool {
	if !e.End.IsZero() {
		return false
	}
	return e.Type != DDoSBlackhole || now.Before(e.UnBlackholeAt)
}

// Key is the event's store key.
func (e DDoSEvent) Key() string {
	return fmt.Sprintf("%s%s/%s/%020d", PrefixDDoSEvent, e.IP, e.Type, e.Start.UnixNano())
}
