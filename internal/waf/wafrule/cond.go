package wafrule

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
)

// Field is the part of a request a condition looks at.
type Field string

const (
	FieldIP     Field = "ip"     // client address
	FieldURL    Field = "url"    // request URI as sent: path and query
	FieldPath   Field = "path"   // decoded and normalized path (NormalizePath)
	FieldQuery  Field = "query"  // raw query; with a key, that argument's values
	FieldHeader Field = "header" // key required: the header's values
	FieldCookie Field = "cookie" // key required: the cookie's value
	FieldMethod Field = "method" // upper case
	FieldBody   Field = "body"   // the inspected part of the request body
)

// Op is a condition's operator.
type Op string

const (
	OpContains Op = "contains"
	OpEquals   Op = "equals"
	OpPrefix   Op = "prefix"
	OpRegex    Op = "regex"
	OpInCIDR   Op = "in-cidr"
)

// Limits of the condition language.
const (
	MaxConditions = 10
	MaxValues     = 50
	MaxValueLen   = 1024
)

// Condition is one test on a request. It matches when any of Values matches
// (values are OR-ed); the conditions of a rule are AND-ed.
type Condition struct {
	Field  Field    `json:"field"`
	Key    string   `json:"key,omitempty"` // header/cookie name, query argument; empty for the others
	Op     Op       `json:"op"`
	Values []string `json:"values"`
}

// String formats c in the syntax ParseConditions reads; values are quoted.
func (c Condition) String() string {
	var b strings.Builder
	b.WriteString(string(c.Field))
	if c.Key != "" {
		b.WriteString(":" + c.Key)
	}
	b.WriteString(" " + string(c.Op) + " ")
	for i, v := range c.Values {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Quote(v))
	}
	return b.String()
}

// FormatConditions joins conditions with " && ".
func FormatConditions(cs []Condition) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = c.String()
	}
	return strings.Join(parts, " && ")
}

// ParseConditions parses "cond && cond ...", where cond is
//
//	field[:key] op value[,value...]
//
// field is ip, url, path, query, header, cookie, method or body (header and
// cookie need a key, query may have one); op is contains, equals, prefix,
// regex or in-cidr (in-cidr only for ip, regex takes one value); a value is
// a bare word (no space, comma, quote or "&&") or a Go-quoted string.
// Example: `path prefix /admin && header:User-Agent contains curl,wget`.
func ParseConditions(s string) ([]Condition, error) {
	p := parser{s: s}
	var out []Condition
	for {
		c, err := p.condition()
		if err != nil {
			return nil, err
		}
		if err := c.Validate(); err != nil {
			return nil, err
		}
		out = append(out, c)
		if len(out) > MaxConditions {
			return nil, fmt.Errorf("more than %d conditions", MaxConditions)
		}
		p.space()
		if p.eof() {
			return out, nil
		}
		if !strings.HasPrefix(p.s[p.i:], "&&") {
			return nil, fmt.Errorf("at offset %d: want && between conditions", p.i)
		}
		p.i += 2
	}
}

type parser struct {
	s string
	i int
}

func (p *parser) eof() bool { return p.i >= len(p.s) }

func (p *parser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n' || p.s[p.i] == '\r') {
		p.i++
	}
}

// word reads up to whitespace.
func (p *parser) word() string {
	p.space()
	start := p.i
	for p.i < len(p.s) && !strings.ContainsRune(" \t\r\n", rune(p.s[p.i])) {
		p.i++
	}
	return p.s[start:p.i]
}

func (p *parser) condition() (Condition, error) {
	var c Condition
	fk := p.word()
	if fk == "" {
		return c, fmt.Errorf("at offset %d: want a condition such as `path prefix /admin`", p.i)
	}
	f, key, _ := strings.Cut(fk, ":")
	c.Field, c.Key = Field(strings.ToLower(f)), key
	op := p.word()
	if op == "" {
		return c, fmt.Errorf("condition on %s: missing operator (contains, equals, prefix, regex, in-cidr)", fk)
	}
	c.Op = Op(strings.ToLower(op))
	p.space()
	for {
		v, err := p.value()
		if err != nil {
			return c, err
		}
		c.Values = append(c.Values, v)
		if p.eof() || p.s[p.i] != ',' {
			break
		}
		p.i++
	}
	if c.Field == FieldMethod {
		for i, v := range c.Values {
			c.Values[i] = strings.ToUpper(v)
		}
	}
	return c, nil
}

func (p *parser) value() (string, error) {
	if p.eof() {
		return "", fmt.Errorf("at offset %d: missing value", p.i)
	}
	if p.s[p.i] == '"' {
		// Find the closing quote, honouring escapes.
		j := p.i + 1
		for j < len(p.s) && p.s[j] != '"' {
			if p.s[j] == '\\' {
				j++
			}
			j++
		}
		if j >= len(p.s) {
			return "", fmt.Errorf("at offset %d: unterminated quoted value", p.i)
		}
		v, err := strconv.Unquote(p.s[p.i : j+1])
		if err != nil {
			return "", fmt.Errorf("at offset %d: bad quoted value: %w", p.i, err)
		}
		p.i = j + 1
		return v, nil
	}
	start := p.i
	for p.i < len(p.s) && !strings.ContainsRune(" \t\r\n,\"", rune(p.s[p.i])) && !strings.HasPrefix(p.s[p.i:], "&&") {
		p.i++
	}
	if p.i == start {
		return "", fmt.Errorf("at offset %d: missing value", p.i)
	}
	return p.s[start:p.i], nil
}

// Validate checks a condition (the parser calls it; so must code that
// builds conditions from JSON).
func (c Condition) Validate() error {
	switch c.Field {
	case FieldHeader, FieldCookie:
		if c.Key == "" {
			return fmt.Errorf("field %s needs a name, as in %s:User-Agent", c.Field, c.Field)
		}
	case FieldQuery:
	case FieldIP, FieldURL, FieldPath, FieldMethod, FieldBody:
		if c.Key != "" {
			return fmt.Errorf("field %s takes no name (got %q)", c.Field, c.Key)
		}
	default:
		return fmt.Errorf("unknown field %q: want ip, url, path, query, header:NAME, cookie:NAME, method or body", c.Field)
	}
	if len(c.Key) > 256 || strings.ContainsAny(c.Key, " \t\r\n\"") {
		return fmt.Errorf("bad name %q", c.Key)
	}
	if len(c.Values) == 0 {
		return errors.New("a condition needs at least one value")
	}
	if len(c.Values) > MaxValues {
		return fmt.Errorf("at most %d values per condition", MaxValues)
	}
	for _, v := range c.Values {
		if len(v) > MaxValueLen {
			return fmt.Errorf("value longer than %d bytes", MaxValueLen)
		}
	}
	switch c.Op {
	case OpContains, OpEquals, OpPrefix:
	case OpRegex:
		if len(c.Values) != 1 {
			return errors.New("regex takes exactly one value")
		}
		if _, err := regexp.Compile(c.Values[0]); err != nil {
			return fmt.Errorf("bad regex: %w", err)
		}
	case OpInCIDR:
		if c.Field != FieldIP {
			return fmt.Errorf("in-cidr applies to ip only, not %s", c.Field)
		}
		for _, v := range c.Values {
			if _, err := ParsePrefix(v); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("unknown operator %q: want contains, equals, prefix, regex or in-cidr", c.Op)
	}
	if c.Field == FieldIP && c.Op == OpEquals {
		for _, v := range c.Values {
			if _, err := netip.ParseAddr(v); err != nil {
				return fmt.Errorf("ip equals %q: not an address", v)
			}
		}
	}
	return nil
}

// ParsePrefix parses a CIDR or a bare address (a /32 or /128). A prefix with
// host bits set is refused.
func ParsePrefix(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not an address or CIDR", s)
		}
		return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR", s)
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("CIDR %s has host bits set (did you mean %s?)", p, p.Masked())
	}
	return p, nil
}

// NormalizePath is the form of a decoded request path that path
// conditions see: backslashes read as slashes, repeated slashes collapsed
// and "." and ".." segments resolved, as origin servers resolve them, so
// that "//admin", "/./admin", "/x/../admin", "/%2fadmin" and "\\admin" all
// read "/admin" (otherwise a rule on the path prefix /admin is bypassed by
// spelling it differently, and a whitelist on /public bypasses every module
// for "/public/../admin"). A trailing slash is kept ("equals /dir/" still
// works); an empty or relative path reads from the root.
func NormalizePath(p string) string {
	if p == "" {
		return "/"
	}
	trailing := strings.HasSuffix(p, "/") || strings.HasSuffix(p, "\\")
	p = strings.ReplaceAll(p, "\\", "/")
	c := path.Clean("/" + p)
	if trailing && c != "/" {
		c += "/"
	}
	return c
}

// Request is what conditions look at. Body is the inspected part of the
// body (at most the body limit); Cookies are parsed on first use.
type Request struct {
	IP      netip.Addr
	Method  string
	URI     string // as sent, e.g. "/a/b?x=1"
	Path    string
	Query   string // raw
	Host    string
	Header  http.Header
	Body    []byte
	cookies []*http.Cookie
	parsed  bool
	args    map[string][]string
}

func (r *Request) cookie(name string) (string, bool) {
	if !r.parsed {
		r.parsed = true
		r.cookies = (&http.Request{Header: r.Header}).Cookies()
	}
	for _, c := range r.cookies {
		if c.Name == name {
			return c.Value, true
		}
	}
	return "", false
}

func (r *Request) arg(name string) []string {
	if r.args == nil {
		r.args = map[string][]string{}
		for _, kv := range strings.Split(r.Query, "&") {
			k, v, _ := strings.Cut(kv, "=")
			if uk, err := url.QueryUnescape(k); err == nil {
				k = uk
			}
			if uv, err := url.QueryUnescape(v); err == nil {
				v = uv
			}
			r.args[k] = append(r.args[k], v)
		}
	}
	return r.args[name]
}

// Matcher is a compiled condition list (AND). Immutable after creation.
type Matcher struct {
	conds []compiled
}

type compiled struct {
	Condition
	re       *regexp.Regexp
	prefixes []netip.Prefix
	addrs    []netip.Addr
}

// Compile validates and compiles conditions. An empty list matches every
// request.
func Compile(cs []Condition) (*Matcher, error) {
	m := &Matcher{conds: make([]compiled, 0, len(cs))}
	for _, c := range cs {
		if err := c.Validate(); err != nil {
			return nil, err
		}
		cc := compiled{Condition: c}
		if c.Field == FieldHeader {
			cc.Key = http.CanonicalHeaderKey(c.Key)
		}
		switch {
		case c.Op == OpRegex:
			cc.re = regexp.MustCompile(c.Values[0])
		case c.Op == OpInCIDR:
			for _, v := range c.Values {
				p, _ := ParsePrefix(v)
				cc.prefixes = append(cc.prefixes, p)
			}
		case c.Field == FieldIP && c.Op == OpEquals:
			for _, v := range c.Values {
				cc.addrs = append(cc.addrs, netip.MustParseAddr(v).Unmap())
			}
		}
		m.conds = append(m.conds, cc)
	}
	return m, nil
}

// NeedsBody reports whether a condition looks at the body.
func (m *Matcher) NeedsBody() bool {
	for i := range m.conds {
		if m.conds[i].Field == FieldBody {
			return true
		}
	}
	return false
}

// Match reports whether every condition matches r.
func (m *Matcher) Match(r *Request) bool {
	for i := range m.conds {
		if !m.conds[i].match(r) {
			return false
		}
	}
	return true
}

func (c *compiled) match(r *Request) bool {
	switch c.Field {
	case FieldIP:
		ip := r.IP.Unmap()
		switch c.Op {
		case OpInCIDR:
			for _, p := range c.prefixes {
				if p.Contains(ip) {
					return true
				}
			}
			return false
		case OpEquals:
			for _, a := range c.addrs {
				if a == ip {
					return true
				}
			}
			return false
		}
		return c.str(ip.String())
	case FieldURL:
		return c.str(r.URI)
	case FieldPath:
		return c.str(r.Path)
	case FieldQuery:
		if c.Key == "" {
			return c.str(r.Query)
		}
		for _, v := range r.arg(c.Key) {
			if c.str(v) {
				return true
			}
		}
		return false
	case FieldHeader:
		for _, v := range r.Header[c.Key] {
			if c.str(v) {
				return true
			}
		}
		if c.Key == "Host" && len(r.Header["Host"]) == 0 {
			return c.str(r.Host)
		}
		return false
	case FieldCookie:
		v, ok := r.cookie(c.Key)
		return ok && c.str(v)
	case FieldMethod:
		return c.str(r.Method)
	case FieldBody:
		if c.re != nil {
			return c.re.Match(r.Body)
		}
		return c.str(string(r.Body))
	}
	return false
}

func (c *compiled) str(s string) bool {
	if c.re != nil {
		return c.re.MatchString(s)
	}
	for _, v := range c.Values {
		switch c.Op {
		case OpContains:
			if strings.Contains(s, v) {
				return true
			}
		case OpEquals:
			if s == v {
				return true
			}
		case OpPrefix:
			if strings.HasPrefix(s, v) {
				return true
			}
		}
	}
	return false
}
