package waf

import (
	"bytes"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/corazawaf/coraza/v3/experimental/plugins"
	"github.com/corazawaf/coraza/v3/experimental/plugins/plugintypes"
	re2 "github.com/wasilibs/go-re2"
	"rsc.io/binaryregexp"
)

// The CRS spends most of its time in @rx. Go's regexp runs the large CRS
// alternations as an NFA at roughly 0.5 µs per input byte and per rule, so a
// 1 KiB form field cost about 10 ms over the PL1 rules. RE2's DFA (compiled
// to WebAssembly and run by wazero, pure Go, no cgo) scans long inputs
// 5-10x faster but costs a fixed ~1-2 µs per call, which loses on the short
// values that make up most of a request (headers, query arguments). The @rx
// operator registered here therefore matches values shorter than
// rxLongInput with Go's regexp and longer ones with RE2; both implement the
// same RE2 syntax and semantics, so the verdict does not depend on the
// length (the CRS regression suite runs through this operator). Before
// either, three sound prefilters skip inputs that cannot match: shorter
// than the expression's minimum match, containing none of the bytes of
// which every match contains one (when none of them is a letter, digit or
// space: ordinary text then skips the expression), or none of the
// literals every match must contain (TestRxOperatorAgrees checks against
// regexp).
//
// Coraza's operator registry is process-wide: registering in init makes
// every engine of the process use this operator, which is what we want.
func init() { plugins.RegisterOperator("rx", newRx) }

// rxLongInput is the input length from which RE2 is used.
const rxLongInput = 128

type rxOp struct {
	short  *regexp.Regexp
	long   *re2.Regexp // nil: short handles every length
	minLen int         // no shorter input can match
	// lits: every match contains one of these (lowercase when fold: to
	// be found case-insensitively); nil: no such set.
	lits [][]byte
	fold bool
	bufs *sync.Pool // lowercase copies for mayMatch
	// need: every match contains one of these ASCII bytes, none of them
	// a letter, digit or space (so that plain text skips the expression);
	// nil: no such set.
	need *byteSet
}

type rxBinary struct{ re *binaryregexp.Regexp }

func newRx(o plugintypes.OperatorOptions) (plugintypes.Operator, error) {
	// Coraza's default: dot matches newline, ^ and $ match at line ends.
	expr := "(?sm)" + o.Arguments
	if matchesArbitraryBytes(expr) {
		v, err := memoize(o.Memoizer, "palisade-binrx:"+o.Arguments, func() (any, error) { return binaryregexp.Compile(o.Arguments) })
		if err != nil {
			return nil, err
		}
		return &rxBinary{v.(*binaryregexp.Regexp)}, nil
	}
	v, err := memoize(o.Memoizer, "palisade-rx:"+expr, func() (any, error) {
		short, err := regexp.Compile(expr)
		if err != nil {
			return nil, err
		}
		op := &rxOp{short: short}
		if re, err := syntax.Parse(expr, syntax.Perl); err == nil {
			re = re.Simplify()
			op.minLen = minMatchLen(re)
			if set, ok := requiredBytes(re); ok && set.selective() {
				op.need = &set
			}
			if lits, fold, ok := requiredLiterals(re); ok && minStringLen(lits) >= 3 {
				for _, l := range lits {
					if fold {
						l = strings.ToLower(l)
					}
					op.lits = append(op.lits, []byte(l))
				}
				op.fold = fold
				op.bufs = &sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}
			}
		}
		if long, err := re2.Compile(expr); err == nil {
			op.long = long
		}
		return op, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*rxOp), nil
}

func memoize(m plugintypes.Memoizer, key string, fn func() (any, error)) (any, error) {
	if m == nil {
		return fn()
	}
	return m.Do(key, fn)
}

func (o *rxOp) Evaluate(tx plugintypes.TransactionState, v string) bool {
	if len(v) < o.minLen || !o.mayContain(v) || !o.mayMatch(v) {
		return false
	}
	if o.long == nil || len(v) < rxLongInput {
		if !tx.Capturing() {
			return o.short.MatchString(v)
		}
		m := o.short.FindStringSubmatchIndex(v)
		if m == nil {
			return false
		}
		for i := 0; i < len(m)/2 && i < 9; i++ {
			if m[2*i] >= 0 {
				tx.CaptureField(i, v[m[2*i]:m[2*i+1]])
			} else {
				tx.CaptureField(i, "")
			}
		}
		return true
	}
	if !tx.Capturing() {
		return o.long.MatchString(v)
	}
	return capture(tx, o.long.FindStringSubmatch(v))
}

func (o *rxBinary) Evaluate(tx plugintypes.TransactionState, v string) bool {
	if !tx.Capturing() {
		return o.re.MatchString(v)
	}
	return capture(tx, o.re.FindStringSubmatch(v))
}

// mayMatch is false when v contains none of the required literals, so
// the expression cannot match. The literals are ASCII; case-insensitive
// ones are looked for in an ASCII-lowercased copy. An input with
// non-ASCII bytes always may match (Unicode folding: "ſ" matches (?i)s,
// "K" (Kelvin) k; the literals leave non-ASCII class members out).
func (o *rxOp) mayMatch(v string) bool {
	if o.lits == nil {
		return true
	}
	for i := 0; i < len(v); i++ {
		if v[i] >= utf8.RuneSelf {
			return true
		}
	}
	if !o.fold {
		for _, l := range o.lits {
			if strings.Contains(v, string(l)) {
				return true
			}
		}
		return false
	}
	bp := o.bufs.Get().(*[]byte)
	defer o.bufs.Put(bp)
	buf := (*bp)[:0]
	for i := 0; i < len(v); i++ {
		c := v[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf = append(buf, c)
	}
	*bp = buf
	for _, l := range o.lits {
		if bytes.Contains(buf, l) {
			return true
		}
	}
	return false
}

// byteSet is a set of ASCII bytes.
type byteSet [2]uint64

func (s *byteSet) add(c rune) {
	if c >= 0 && c < utf8.RuneSelf {
		s[c>>6] |= 1 << (c & 63)
	}
}

func (s *byteSet) has(c byte) bool { return s[c>>6]&(1<<(c&63)) != 0 }

func (s *byteSet) union(o byteSet) { s[0], s[1] = s[0]|o[0], s[1]|o[1] }

// selective reports whether the set leaves out letters, digits and space,
// the bytes of ordinary text.
func (s *byteSet) selective() bool {
	for c := byte(0); c < utf8.RuneSelf; c++ {
		if s.has(c) && (c == ' ' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return s[0]|s[1] != 0
}

// cost ranks sets for a concatenation: fewer ordinary-text bytes first,
// then fewer bytes.
func (s *byteSet) cost() int {
	n := 0
	for c := byte(0); c < utf8.RuneSelf; c++ {
		if s.has(c) {
			n++
			if c == ' ' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' {
				n += 1000
			}
		}
	}
	return n
}

// mayContain is false when v, all ASCII, has no byte of the required set.
// An input with non-ASCII bytes always may match (see mayMatch: class
// members and folds outside ASCII are not in the set).
func (o *rxOp) mayContain(v string) bool {
	if o.need == nil {
		return true
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c >= utf8.RuneSelf || o.need.has(c) {
			return true
		}
	}
	return false
}

// requiredBytes returns a set of ASCII bytes of which every match of re
// contains at least one, or ok false when it cannot tell. A match may also
// contain the byte through a non-ASCII fold or class member; mayContain
// lets every non-ASCII input through for that.
func requiredBytes(re *syntax.Regexp) (set byteSet, ok bool) {
	switch re.Op {
	case syntax.OpLiteral:
		// Each rune is required; the cheapest one for ordinary text.
		best, found := byteSet{}, false
		for _, r := range re.Rune {
			if r >= utf8.RuneSelf {
				continue
			}
			var s byteSet
			s.add(r)
			if re.Flags&syntax.FoldCase != 0 {
				s.add(unicode.SimpleFold(r))
				for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
					s.add(f)
				}
			}
			if !found || s.cost() < best.cost() {
				best, found = s, true
			}
		}
		return best, found
	case syntax.OpCharClass:
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for r := re.Rune[i]; r <= re.Rune[i+1] && r < utf8.RuneSelf; r++ {
				set.add(r)
			}
		}
		return set, set[0]|set[1] != 0
	case syntax.OpCapture, syntax.OpPlus:
		return requiredBytes(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min < 1 {
			return set, false
		}
		return requiredBytes(re.Sub[0])
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			if s, k := requiredBytes(sub); k && (!ok || s.cost() < set.cost()) {
				set, ok = s, true
			}
		}
		return set, ok
	case syntax.OpAlternate:
		for _, sub := range re.Sub {
			s, k := requiredBytes(sub)
			if !k {
				return byteSet{}, false
			}
			set.union(s)
		}
		return set, true
	default: // any char, empty, anchors, star, quest, no match
		return set, false
	}
}

// requiredLiterals returns literals of which every match of re contains
// at least one (case-insensitively when fold), or ok false when it cannot
// tell. Literals with non-ASCII runes are not used (Unicode folding).
func requiredLiterals(re *syntax.Regexp) (lits []string, fold bool, ok bool) {
	switch re.Op {
	case syntax.OpCapture, syntax.OpPlus:
		return requiredLiterals(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min < 1 {
			return nil, false, false
		}
		return requiredLiterals(re.Sub[0])
	case syntax.OpConcat:
		// Any one part's set will do; consecutive parts with exact sets
		// combine (prefix-factored alternations such as a(?:cap|fs)).
		better := func(l []string, f bool) {
			if len(l) > 0 && (!ok || minStringLen(l) > minStringLen(lits) || (minStringLen(l) == minStringLen(lits) && len(l) < len(lits))) {
				lits, fold, ok = l, f, true
			}
		}
		var run []string
		runFold, inRun := false, false
		for _, s := range re.Sub {
			if e, f, k := exactLiterals(s); k {
				if !inRun {
					run, runFold, inRun = e, f, true
				} else if run, k = crossProduct(run, e, runFold || f); k {
					runFold = runFold || f
				} else {
					inRun = false
				}
				if inRun {
					better(run, runFold)
					continue
				}
			}
			inRun = false
			if l, f, k := requiredLiterals(s); k {
				better(l, f)
			}
		}
		return lits, fold, ok
	case syntax.OpAlternate:
		// Every branch must have a set; a match contains one of the union.
		for _, s := range re.Sub {
			l, f, k := requiredLiterals(s)
			if !k || len(lits)+len(l) > 64 {
				return nil, false, false
			}
			lits, fold = append(lits, l...), fold || f
		}
		return foldAll(lits, fold), fold, true
	default:
		if e, f, k := exactLiterals(re); k && minStringLen(e) > 0 {
			return e, f, true
		}
		return nil, false, false
	}
}

// exactLiterals returns the strings re matches when they are few and
// ASCII (lowercased when fold: to be compared case-insensitively).
func exactLiterals(re *syntax.Regexp) (lits []string, fold bool, ok bool) {
	switch re.Op {
	case syntax.OpEmptyMatch:
		return []string{""}, false, true
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			if r >= utf8.RuneSelf {
				return nil, false, false
			}
		}
		fold = re.Flags&syntax.FoldCase != 0
		return foldAll([]string{string(re.Rune)}, fold), fold, true
	case syntax.OpCharClass:
		// Only the ASCII members: mayMatch lets every non-ASCII input
		// through, so (?i)s's "ſ" need not be looked for.
		for i := 0; i < len(re.Rune); i += 2 {
			for r := re.Rune[i]; r <= min(re.Rune[i+1], utf8.RuneSelf-1); r++ {
				if lits = append(lits, string(r)); len(lits) > 4 {
					return nil, false, false
				}
			}
		}
		if len(lits) == 0 {
			return nil, false, false
		}
		// [Ss] is how (?i)s often comes out: compare case-insensitively.
		return foldAll(lits, true), true, true
	case syntax.OpCapture:
		return exactLiterals(re.Sub[0])
	case syntax.OpQuest:
		l, f, k := exactLiterals(re.Sub[0])
		if !k {
			return nil, false, false
		}
		return append(l, ""), f, true
	case syntax.OpConcat:
		lits = []string{""}
		for _, s := range re.Sub {
			l, f, k := exactLiterals(s)
			if !k {
				return nil, false, false
			}
			if lits, k = crossProduct(lits, l, fold || f); !k {
				return nil, false, false
			}
			fold = fold || f
		}
		return lits, fold, true
	case syntax.OpAlternate:
		for _, s := range re.Sub {
			l, f, k := exactLiterals(s)
			if !k || len(lits)+len(l) > 64 {
				return nil, false, false
			}
			lits, fold = append(lits, l...), fold || f
		}
		return foldAll(lits, fold), fold, true
	default:
		return nil, false, false
	}
}

// crossProduct concatenates every a with every b (at most 64 results).
func crossProduct(a, b []string, fold bool) ([]string, bool) {
	if len(a)*len(b) > 64 {
		return nil, false
	}
	out := make([]string, 0, len(a)*len(b))
	for _, x := range a {
		for _, y := range b {
			out = append(out, x+y)
		}
	}
	return foldAll(out, fold), true
}

// foldAll lowercases ss when fold (ASCII only: the literals are ASCII)
// and drops duplicates.
func foldAll(ss []string, fold bool) []string {
	if !fold {
		return ss
	}
	for i, s := range ss {
		ss[i] = strings.ToLower(s)
	}
	slices.Sort(ss)
	return slices.Compact(ss)
}

func minStringLen(ss []string) int {
	n := -1
	for _, s := range ss {
		if n < 0 || len(s) < n {
			n = len(s)
		}
	}
	return max(n, 0)
}

// minMatchLen is a lower bound of the length in bytes of any input re
// matches (each rune counts one byte, its shortest encoding).
func minMatchLen(re *syntax.Regexp) int {
	switch re.Op {
	case syntax.OpLiteral:
		return len(re.Rune)
	case syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return 1
	case syntax.OpCapture, syntax.OpPlus:
		return minMatchLen(re.Sub[0])
	case syntax.OpRepeat:
		return re.Min * minMatchLen(re.Sub[0])
	case syntax.OpConcat:
		n := 0
		for _, s := range re.Sub {
			n += minMatchLen(s)
		}
		return n
	case syntax.OpAlternate:
		n := -1
		for _, s := range re.Sub {
			if m := minMatchLen(s); n < 0 || m < n {
				n = m
			}
		}
		return max(n, 0)
	default: // empty, anchors, word boundaries, star, quest, no match
		return 0
	}
}

// capture stores up to 9 groups (TX.0-TX.8) as Coraza's own @rx does.
func capture(tx plugintypes.TransactionState, m []string) bool {
	if m == nil {
		return false
	}
	for i, c := range m {
		if i == 9 {
			break
		}
		tx.CaptureField(i, c)
	}
	return true
}

// matchesArbitraryBytes reports whether expr has \xNN or \x{NN} escapes
// that, taken as single bytes, do not form valid UTF-8: CRS means bytes
// there (rule 941310's \x{bc}), so the expression must match bytes, not
// runes, as Coraza's own @rx does.
func matchesArbitraryBytes(expr string) bool {
	decoded := make([]byte, 0, len(expr))
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		if c != '\\' || i+3 >= len(expr) || expr[i+1] != 'x' {
			decoded = append(decoded, c)
			continue
		}
		hex, width := expr[i+2:i+4], 4
		if expr[i+2] == '{' {
			end := strings.IndexByte(expr[i:], '}')
			if end < 0 {
				decoded = append(decoded, c)
				continue
			}
			hex, width = expr[i+3:i+end], end+1
		}
		v, err := strconv.ParseUint(hex, 16, 8)
		if err != nil {
			decoded = append(decoded, c)
			continue
		}
		decoded = append(decoded, byte(v))
		i += width - 1
	}
	return !utf8.Valid(decoded)
}
