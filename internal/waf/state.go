package waf

import (
	"sync"
	"time"
)

// MaxRateKeys bounds the rate-limit table: when full, expired windows are
// swept, and if it is still full new keys are not tracked (counted as
// fresh) rather than growing memory without bound.
const MaxRateKeys = 100000

// State is the mutable state of the rate limits: counting windows and
// blocks per (object, rule, key). It outlives compiled policies, so a reload
// keeps the counters. Safe for concurrent use; the zero value is not usable,
// call NewState.
type State struct {
	mu   sync.Mutex
	keys map[rateKey]*window
}

type rateKey struct{ object, rule, key string }

type window struct {
	start        time.Time
	count        int
	blockedUntil time.Time
}

// NewState returns empty rate-limit state.
func NewState() *State { return &State{keys: map[rateKey]*window{}} }

// getLocked returns the window of k, creating it; nil when the table is
// full. Must be called with s.mu held.
func (s *State) getLocked(k rateKey, now time.Time) *window {
	w := s.keys[k]
	if w != nil {
		return w
	}
	if len(s.keys) >= MaxRateKeys {
		s.sweepLocked(now)
		if len(s.keys) >= MaxRateKeys {
			return nil
		}
	}
	w = &window{start: now}
	s.keys[k] = w
	return w
}

// sweepLocked drops windows that are neither blocking nor younger than a
// minute. Must be called with s.mu held.
func (s *State) sweepLocked(now time.Time) {
	for k, w := range s.keys {
		if now.After(w.blockedUntil) && now.Sub(w.start) > time.Minute {
			delete(s.keys, k)
		}
	}
}

// Sweep drops idle windows (call now and then; Runtime.Run does).
func (s *State) Sweep(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked(now)
}

// blocked reports whether k is blocked at now.
func (s *State) blocked(k rateKey, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.keys[k]
	return w != nil && now.Before(w.blockedUntil)
}

// hit counts one event for k in rl's window and reports whether k is (now)
// blocked.
func (s *State) hit(k rateKey, rl *RateLimit, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.getLocked(k, now)
	if w == nil {
		return false
	}
	if now.Before(w.blockedUntil) {
		return true
	}
	if now.Sub(w.start) >= rl.Interval {
		w.start, w.count = now, 0
	}
	w.count++
	if w.count > rl.Threshold {
		w.blockedUntil = now.Add(rl.BlockFor)
		w.start, w.count = now, 0
		return true
	}
	return false
}

// Len is the number of tracked keys.
func (s *State) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.keys)
}
