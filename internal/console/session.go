package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"sync"
	"time"
)

// session is one logged-in browser. The store keys it by the SHA-256 of
// its token: the token itself lives only in the browser's cookie.
type session struct {
	accountID string
	keyID     string
	// secretHash is the SHA-256 of the key's secret at login: a key whose
	// secret changed since (a replaced preset root key) ends the session.
	secretHash [sha256.Size]byte
	csrf       string
	created    time.Time
	lastSeen   time.Time
}

// sessions holds the sessions in memory (a restart ends them all).
type sessions struct {
	mu    sync.Mutex // guards byID
	byID  map[[sha256.Size]byte]*session
	idle  time.Duration
	abs   time.Duration
	limit int
}

func newSessions(idle, abs time.Duration, limit int) *sessions {
	return &sessions{byID: map[[sha256.Size]byte]*session{}, idle: idle, abs: abs, limit: limit}
}

// randomToken returns n random bytes, base64url-encoded.
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand since Go 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashToken(tok string) [sha256.Size]byte { return sha256.Sum256([]byte(tok)) }

// expiredLocked reports whether s has expired at now; must be called with
// ss.mu held.
func (ss *sessions) expiredLocked(s *session, now time.Time) bool {
	return now.Sub(s.lastSeen) >= ss.idle || now.Sub(s.created) >= ss.abs
}

// create starts a session and returns its token (for the cookie) and the
// session. When the store is full it drops the expired sessions, then the
// least recently used one.
func (ss *sessions) create(accountID, keyID string, secretHash [sha256.Size]byte, now time.Time) (string, session) {
	tok := randomToken(32)
	s := &session{accountID: accountID, keyID: keyID, secretHash: secretHash, csrf: randomToken(32), created: now, lastSeen: now}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if len(ss.byID) >= ss.limit {
		for h, old := range ss.byID {
			if ss.expiredLocked(old, now) {
				delete(ss.byID, h)
			}
		}
	}
	for len(ss.byID) >= ss.limit {
		var oldest [sha256.Size]byte
		var at time.Time
		first := true
		for h, old := range ss.byID {
			if first || old.lastSeen.Before(at) {
				oldest, at, first = h, old.lastSeen, false
			}
		}
		delete(ss.byID, oldest)
	}
	ss.byID[hashToken(tok)] = s
	return tok, *s
}

// get returns the session of tok and marks it used; an expired session is
// removed.
func (ss *sessions) get(tok string, now time.Time) (session, bool) {
	if tok == "" {
		return session{}, false
	}
	h := hashToken(tok)
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s, ok := ss.byID[h]
	if !ok {
		return session{}, false
	}
	if ss.expiredLocked(s, now) {
		delete(ss.byID, h)
		return session{}, false
	}
	s.lastSeen = now
	return *s, true
}

// end removes the session of tok.
func (ss *sessions) end(tok string) {
	h := hashToken(tok)
	ss.mu.Lock()
	delete(ss.byID, h)
	ss.mu.Unlock()
}

// endKey removes every session opened with the access key keyID.
func (ss *sessions) endKey(keyID string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for h, s := range ss.byID {
		if s.keyID == keyID {
			delete(ss.byID, h)
		}
	}
}

// csrfOK compares a CSRF header with the session's token in constant time.
func csrfOK(s session, header string) bool {
	return header != "" && subtle.ConstantTimeCompare([]byte(s.csrf), []byte(header)) == 1
}

// throttle counts failed logins per client IP in fixed one-minute windows.
type throttle struct {
	mu      sync.Mutex // guards fails
	fails   map[string]*failWindow
	max     int // failures allowed per window
	window  time.Duration
	entries int // bound on the number of IPs remembered
}

type failWindow struct {
	start time.Time
	n     int
}

func newThrottle(max int, window time.Duration, entries int) *throttle {
	return &throttle{fails: map[string]*failWindow{}, max: max, window: window, entries: entries}
}

// blocked reports whether ip has used up its failures in the current window.
func (t *throttle) blocked(ip string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	f, ok := t.fails[ip]
	if !ok {
		return false
	}
	if now.Sub(f.start) >= t.window {
		delete(t.fails, ip)
		return false
	}
	return f.n >= t.max
}

// fail records a failed login of ip.
func (t *throttle) fail(ip string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f, ok := t.fails[ip]
	if ok && now.Sub(f.start) >= t.window {
		ok = false
	}
	if !ok {
		if len(t.fails) >= t.entries {
			for k, old := range t.fails {
				if now.Sub(old.start) >= t.window {
					delete(t.fails, k)
				}
			}
			if len(t.fails) >= t.entries {
				// Under a spray from many addresses, forget one at
				// random rather than grow without bound.
				for k := range t.fails {
					delete(t.fails, k)
					break
				}
			}
		}
		f = &failWindow{start: now}
		t.fails[ip] = f
	}
	f.n++
}
