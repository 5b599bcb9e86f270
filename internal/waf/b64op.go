package waf

import (
	"encoding/base64"
	"net/url"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/corazawaf/coraza/v3/experimental/plugins"
	"github.com/corazawaf/coraza/v3/experimental/plugins/plugintypes"
	libinjection "github.com/corazawaf/libinjection-go"
)

// base64OperatorName is the operator of rule 99100 (rules.go): it matches
// when the value is Base64 (standard or URL-safe, padded or not, 16+
// characters; a leading "/" is ignored so that a path can be one value)
// whose decoding is printable text in which libinjection finds SQL
// injection or XSS, or one of Palisade's attack patterns matches. Opaque
// tokens (session IDs, keys, hashes) decode to binary and are left alone.
const base64OperatorName = "palisadeBase64Attack"

// Registered once for the process, like rx.go's operator.
func init() { plugins.RegisterOperator(base64OperatorName, newBase64Op) }

type base64Op struct{ pattern *regexp.Regexp }

func newBase64Op(o plugintypes.OperatorOptions) (plugintypes.Operator, error) {
	v, err := memoize(o.Memoizer, "palisade-b64:"+palisadePattern(), func() (any, error) {
		return regexp.Compile("(?sm)" + palisadePattern())
	})
	if err != nil {
		return nil, err
	}
	return &base64Op{pattern: v.(*regexp.Regexp)}, nil
}

func (o *base64Op) Evaluate(tx plugintypes.TransactionState, v string) bool {
	text, ok := decodeBase64Text(strings.TrimPrefix(v, "/"))
	if !ok {
		return false
	}
	candidates := []string{text}
	if strings.ContainsRune(text, '%') {
		if u, err := url.QueryUnescape(text); err == nil && u != text {
			candidates = append(candidates, u)
		}
	}
	for _, s := range candidates {
		sqli, _ := libinjection.IsSQLi(s)
		if sqli || libinjection.IsXSS(s) || o.pattern.MatchString(s) {
			if tx.Capturing() {
				tx.CaptureField(0, s)
			}
			return true
		}
	}
	return false
}

// decodeBase64Text decodes s when it is entirely Base64 of at least 16
// characters and the result is printable UTF-8 text.
func decodeBase64Text(s string) (string, bool) {
	if len(s) < 16 {
		return "", false
	}
	urlSafe := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/':
		case c == '-' || c == '_':
			urlSafe = true
		case c == '=' && i >= len(s)-2:
		default:
			return "", false
		}
	}
	enc := base64.RawStdEncoding
	if urlSafe {
		enc = base64.RawURLEncoding
	}
	b, err := enc.DecodeString(strings.TrimRight(s, "="))
	if err != nil || !utf8.Valid(b) {
		return "", false
	}
	for _, r := range string(b) {
		if r != '\t' && r != '\n' && r != '\r' && !unicode.IsPrint(r) {
			return "", false
		}
	}
	return string(b), true
}
