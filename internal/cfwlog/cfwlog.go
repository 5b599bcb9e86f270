// Package cfwlog captures the Cloud Firewall's traffic log in a VPC
// namespace: the rules of drop and log policies hand the first packet of
// each connection they decide to NFLOG (dataplane.FirewallLogGroup, the
// policy in the prefix, see dataplane.FirewallLogPrefix); a Listener turns
// each message into a model.FirewallTrafficLog and adds it to a Buffer,
// which the agent empties into its sink. Agents fill what the packet
// says; the server adds the account and the policy's firewall.
package cfwlog

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"time"

	nflog "github.com/florianl/go-nflog/v2"
	"github.com/mdlayher/netlink"

	"github.com/palisade-project/palisade/internal/dataplane"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/netnsrun"
)

// Parse reads one logged packet of VPC vpcID: the policy from the NFLOG
// prefix, addresses, protocol and (TCP, UDP) ports from the IPv4 packet
// (the firewalls' policies are IPv4), possibly cut at the snap length.
func Parse(vpcID string, at time.Time, prefix string, pkt []byte) (model.FirewallTrafficLog, bool) {
	id, ok := dataplane.FirewallLogPolicy(prefix)
	if !ok || len(pkt) < 20 || pkt[0]>>4 != 4 {
		return model.FirewallTrafficLog{}, false
	}
	r := model.FirewallTrafficLog{Time: at.UTC(), PolicyID: id, VpcID: vpcID, Proto: pkt[9],
		Src: netip.AddrFrom4([4]byte(pkt[12:16])), Dst: netip.AddrFrom4([4]byte(pkt[16:20]))}
	if hl := int(pkt[0]&0x0f) * 4; (r.Proto == 6 || r.Proto == 17) && hl >= 20 && len(pkt) >= hl+4 {
		r.SrcPort = binary.BigEndian.Uint16(pkt[hl:])
		r.DstPort = binary.BigEndian.Uint16(pkt[hl+2:])
	}
	return r, true
}

// Buffer holds the records captured and not reported yet, at most max;
// beyond, new records are dropped and counted (the policies' hits still
// count every connection).
type Buffer struct {
	mu      sync.Mutex
	recs    []model.FirewallTrafficLog
	max     int
	dropped uint64
}

// NewBuffer returns a buffer of at most max records.
func NewBuffer(max int) *Buffer { return &Buffer{max: max} }

// Add appends records, as many as there is room for.
func (b *Buffer) Add(recs ...model.FirewallTrafficLog) {
	b.mu.Lock()
	defer b.mu.Unlock()
	room := max(b.max-len(b.recs), 0)
	if len(recs) > room {
		b.dropped += uint64(len(recs) - room)
		recs = recs[:room]
	}
	b.recs = append(b.recs, recs...)
}

// Take empties the buffer: its records, oldest first, and how many were
// dropped since the last Take.
func (b *Buffer) Take() ([]model.FirewallTrafficLog, uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	recs, dropped := b.recs, b.dropped
	b.recs, b.dropped = nil, 0
	return recs, dropped
}

// Listener reads the firewall log messages of one VPC namespace.
type Listener struct {
	vpcID  string
	path   string
	ino    uint64
	ns     *os.File
	nf     *nflog.Nflog
	cancel context.CancelFunc
}

// Listen starts reading the firewall log messages of the namespace at
// netnsPath (VPC vpcID) into buf (log: nil for slog's default).
func Listen(vpcID, netnsPath string, buf *Buffer, log *slog.Logger) (*Listener, error) {
	if log == nil {
		log = slog.Default()
	}
	ns, err := os.Open(netnsPath)
	if err != nil {
		return nil, fmt.Errorf("open namespace of %s: %w", vpcID, err)
	}
	l := &Listener{vpcID: vpcID, path: netnsPath, ino: netnsrun.Inode(netnsPath), ns: ns}
	l.nf, err = nflog.Open(&nflog.Config{NetNS: int(ns.Fd()), Group: dataplane.FirewallLogGroup, Copymode: nflog.CopyPacket,
		// Every message at once: a record's time is its packet's.
		QThresh: 1, Timeout: 1})
	if err != nil {
		ns.Close()
		return nil, fmt.Errorf("nflog in %s: %w", vpcID, err)
	}
	if err := l.nf.Con.SetReadBuffer(4 << 20); err != nil {
		log.Debug("firewall log: nflog read buffer", "vpc", vpcID, "err", err)
	}
	var ctx context.Context
	ctx, l.cancel = context.WithCancel(context.Background())
	hook := func(a nflog.Attribute) int {
		if a.Prefix == nil || a.Payload == nil {
			return 0
		}
		at := time.Now()
		if a.Timestamp != nil {
			at = *a.Timestamp
		}
		if r, ok := Parse(vpcID, at, *a.Prefix, *a.Payload); ok {
			buf.Add(r)
		}
		return 0
	}
	errFn := func(err error) int {
		if ctx.Err() != nil {
			return 1
		}
		var op *netlink.OpError
		if !errors.As(err, &op) || !op.Timeout() {
			// ENOBUFS: the kernel dropped messages the agent was too
			// slow for.
			log.Debug("firewall log: nflog receive", "vpc", vpcID, "err", err)
		}
		return 0
	}
	if err := l.nf.RegisterWithErrorFunc(ctx, hook, errFn); err != nil {
		l.Close()
		return nil, fmt.Errorf("nflog register in %s: %w", vpcID, err)
	}
	return l, nil
}

// Stale reports whether the namespace at the listener's path is no longer
// the one it listens in (made anew): the caller closes it and listens
// again.
func (l *Listener) Stale() bool { return netnsrun.Inode(l.path) != l.ino }

// Close stops reading.
func (l *Listener) Close() {
	l.cancel()
	l.nf.Close()
	l.ns.Close()
}
