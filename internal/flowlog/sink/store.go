// Package sink holds where flow-log records go once the server has them:
// the embedded record store the API queries (bbolt file or memory), the
// file sink (JSON lines with the Alibaba field names, or AWS version-2 text
// lines) and the IPFIX (RFC 7011) exporter. Pure Go: it imports no kernel
// package, no service and no store package of the control plane.
package sink

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/palisade-project/palisade/internal/flowlog"
)

// DBFile is the record store's file in the data directory (separate from
// the control plane's database: records are many, short-lived and never
// mirrored to agents).
const DBFile = "flowlogs.db"

// MaxWindow is the longest capture window (10 minutes): a record's Start
// is at most this long before its End, which bounds the scan of a query.
const MaxWindow = 600

// pruneEvery is how often Append also enforces the retention.
const pruneEvery = time.Minute

// Query selects records of one account. Zero fields match everything.
type Query struct {
	AccountID string // required: accounts only ever see their own records
	FlowLogID string
	ENIID     string
	VpcID     string
	// Since and Until (Unix seconds, inclusive) select records whose window
	// [Start, End] overlaps them. Until 0 means no upper bound.
	Since, Until int64
	Action       string       // ACCEPT or REJECT
	Src, Dst     netip.Prefix // address or network of srcaddr / dstaddr
	Port         int          // srcport or dstport
	// Limit caps the result (0: no cap); records come oldest first.
	Limit int
}

// Match reports whether r satisfies q (the account included).
func (q Query) Match(r *flowlog.Record) bool {
	if r.AccountID != q.AccountID || (q.FlowLogID != "" && r.FlowLogID != q.FlowLogID) ||
		(q.ENIID != "" && r.ENIID != q.ENIID) || (q.VpcID != "" && r.VpcID != q.VpcID) ||
		(q.Action != "" && r.Action != q.Action) || r.End < q.Since || (q.Until > 0 && r.Start > q.Until) ||
		(q.Port != 0 && r.SrcPort != q.Port && r.DstPort != q.Port) {
		return false
	}
	return prefixHas(q.Src, r.SrcAddr) && prefixHas(q.Dst, r.DstAddr)
}

func prefixHas(p netip.Prefix, addr string) bool {
	if !p.IsValid() {
		return true
	}
	a, err := netip.ParseAddr(addr)
	return err == nil && p.Contains(a.Unmap())
}

// RecordStore is the embedded sink: it keeps every record of every flow
// log for the retention period and answers queries by account and time.
type RecordStore interface {
	// Append stores records; each must carry its AccountID.
	Append(ctx context.Context, recs []flowlog.Record) error
	// Query returns the matching records, oldest (by Start) first.
	Query(ctx context.Context, q Query) ([]flowlog.Record, error)
	// Prune deletes the records whose window ended before cutoff (Unix
	// seconds) and returns how many it deleted.
	Prune(ctx context.Context, cutoff int64) (int, error)
	Close() error
}

// Retention configures the periodic pruning that Append performs.
type Retention struct {
	Keep time.Duration    // 0: keep forever
	Now  func() time.Time // nil: time.Now
}

func (r Retention) cutoff() (int64, bool) {
	if r.Keep <= 0 {
		return 0, false
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	return now().Add(-r.Keep).Unix(), true
}

// ---------------------------------------------------------------------------
// bbolt

var bucketRecords = []byte("records")

// BoltStore is the record store in a bbolt file. Keys are
// account-id NUL start(8 bytes, big endian) seq(8 bytes): one account's
// records are contiguous and sorted by window start, so a query by account
// and time range is one cursor seek and a short scan.
type BoltStore struct {
	db  *bolt.DB
	ret Retention

	mu        sync.Mutex // guards lastPrune
	lastPrune time.Time
}

// OpenBolt opens (creating it with mode 0600) the record store at path.
func OpenBolt(path string, ret Retention) (*BoltStore, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open flow-log store %s: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketRecords)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("init flow-log store: %w", err)
	}
	return &BoltStore{db: db, ret: ret}, nil
}

func recordKey(account string, start int64, seq uint64) []byte {
	k := make([]byte, 0, len(account)+17)
	k = append(k, account...)
	k = append(k, 0)
	k = binary.BigEndian.AppendUint64(k, uint64(max(start, 0)))
	return binary.BigEndian.AppendUint64(k, seq)
}

// Append implements RecordStore.
func (s *BoltStore) Append(ctx context.Context, recs []flowlog.Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(recs) > 0 {
		err := s.db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketRecords)
			for i := range recs {
				r := &recs[i]
				if r.AccountID == "" {
					return fmt.Errorf("flow-log record %d has no account-id", i)
				}
				seq, err := b.NextSequence()
				if err != nil {
					return err
				}
				v, err := json.Marshal(r)
				if err != nil {
					return err
				}
				if err := b.Put(recordKey(r.AccountID, r.Start, seq), v); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("append flow-log records: %w", err)
		}
	}
	return s.maybePrune(ctx)
}

func (s *BoltStore) maybePrune(ctx context.Context) error {
	cut, ok := s.ret.cutoff()
	if !ok {
		return nil
	}
	s.mu.Lock()
	due := time.Since(s.lastPrune) >= pruneEvery
	if due {
		s.lastPrune = time.Now()
	}
	s.mu.Unlock()
	if !due {
		return nil
	}
	_, err := s.Prune(ctx, cut)
	return err
}

// Query implements RecordStore.
func (s *BoltStore) Query(ctx context.Context, q Query) ([]flowlog.Record, error) {
	if q.AccountID == "" {
		return nil, errors.New("flow-log query without account")
	}
	var out []flowlog.Record
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketRecords).Cursor()
		prefix := append([]byte(q.AccountID), 0)
		from := recordKey(q.AccountID, q.Since-MaxWindow, 0)
		n := 0
		for k, v := c.Seek(from); k != nil && len(k) == len(prefix)+16 && string(k[:len(prefix)]) == string(prefix); k, v = c.Next() {
			if n++; n%4096 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			start := int64(binary.BigEndian.Uint64(k[len(prefix):]))
			if q.Until > 0 && start > q.Until {
				break
			}
			var r flowlog.Record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode flow-log record: %w", err)
			}
			r.Seq = binary.BigEndian.Uint64(k[len(prefix)+8:])
			if q.Match(&r) {
				out = append(out, r)
				if q.Limit > 0 && len(out) >= q.Limit {
					break
				}
			}
		}
		return nil
	})
	return out, err
}

// Prune implements RecordStore.
func (s *BoltStore) Prune(ctx context.Context, cutoff int64) (int, error) {
	deleted := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketRecords).Cursor()
		k, v := c.First()
		for k != nil {
			if err := ctx.Err(); err != nil {
				return err
			}
			if len(k) < 17 {
				k, v = c.Next()
				continue
			}
			acct := k[:len(k)-17]
			start := int64(binary.BigEndian.Uint64(k[len(k)-16:]))
			// Records of one account are sorted by start; those starting
			// more than a window before the cutoff have surely ended.
			if start >= cutoff {
				// Skip to the next account.
				k, v = c.Seek(append(append([]byte(nil), acct...), 1))
				continue
			}
			var r flowlog.Record
			if err := json.Unmarshal(v, &r); err == nil && r.End >= cutoff {
				k, v = c.Next()
				continue
			}
			cur := append([]byte(nil), k...)
			if err := c.Delete(); err != nil {
				return err
			}
			deleted++
			// A cursor's position after Delete is unreliable: seek again.
			k, v = c.Seek(cur)
		}
		return nil
	})
	if err != nil {
		return deleted, fmt.Errorf("prune flow-log records: %w", err)
	}
	return deleted, nil
}

// Close implements RecordStore.
func (s *BoltStore) Close() error { return s.db.Close() }

// ---------------------------------------------------------------------------
// memory

// MemoryStore is the record store of a server without persistence (the
// memory backend): same semantics, nothing survives a restart.
type MemoryStore struct {
	ret Retention

	mu        sync.Mutex // guards the fields below
	byAccount map[string][]flowlog.Record
	lastPrune time.Time
	seq       uint64 // the last record's Seq (arrival order, as bolt's)
}

// NewMemory returns an empty in-memory record store.
func NewMemory(ret Retention) *MemoryStore {
	return &MemoryStore{ret: ret, byAccount: map[string][]flowlog.Record{}}
}

// Append implements RecordStore.
func (s *MemoryStore) Append(ctx context.Context, recs []flowlog.Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for i := range recs {
		if recs[i].AccountID == "" {
			return fmt.Errorf("append flow-log records: record %d has no account-id", i)
		}
	}
	s.mu.Lock()
	for _, r := range recs {
		s.seq++
		r.Seq = s.seq
		l := s.byAccount[r.AccountID]
		// Keep each account sorted by Start (stable: equal starts keep
		// arrival order), as the bolt keys do.
		i := len(l)
		for i > 0 && l[i-1].Start > r.Start {
			i--
		}
		s.byAccount[r.AccountID] = slices.Insert(l, i, r)
	}
	due := time.Since(s.lastPrune) >= pruneEvery
	if due {
		s.lastPrune = time.Now()
	}
	s.mu.Unlock()
	if cut, ok := s.ret.cutoff(); ok && due {
		_, err := s.Prune(ctx, cut)
		return err
	}
	return nil
}

// Query implements RecordStore.
func (s *MemoryStore) Query(_ context.Context, q Query) ([]flowlog.Record, error) {
	if q.AccountID == "" {
		return nil, errors.New("flow-log query without account")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []flowlog.Record
	for i := range s.byAccount[q.AccountID] {
		r := &s.byAccount[q.AccountID][i]
		if q.Until > 0 && r.Start > q.Until {
			break
		}
		if q.Match(r) {
			out = append(out, *r)
			if q.Limit > 0 && len(out) >= q.Limit {
				break
			}
		}
	}
	return out, nil
}

// Prune implements RecordStore.
func (s *MemoryStore) Prune(_ context.Context, cutoff int64) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for acct, l := range s.byAccount {
		keep := l[:0]
		for _, r := range l {
			if r.End < cutoff {
				n++
				continue
			}
			keep = append(keep, r)
		}
		if len(keep) == 0 {
			delete(s.byAccount, acct)
		} else {
			s.byAccount[acct] = keep
		}
	}
	return n, nil
}

// Close implements RecordStore.
func (s *MemoryStore) Close() error { return nil }

var (
	_ RecordStore = (*BoltStore)(nil)
	_ RecordStore = (*MemoryStore)(nil)
)
