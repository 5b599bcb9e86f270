package waf

import (
	"io/fs"
	"regexp"
	"regexp/syntax"
	"strings"
	"testing"
	"unicode/utf8"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	"github.com/corazawaf/coraza/v3/experimental/plugins/plugintypes"
)

// crsRegexes are the @rx arguments of the CRS request rules.
func crsRegexes(t *testing.T) []string {
	var out []string
	err := fs.WalkDir(coreruleset.FS, "@owasp_crs", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.Contains(p, "REQUEST-9") || !strings.HasSuffix(p, ".conf") {
			return err
		}
		b, err := fs.ReadFile(coreruleset.FS, p)
		if err != nil {
			return err
		}
		for _, line := range strings.Split(strings.ReplaceAll(string(b), "\\\n", ""), "\n") {
			_, rest, ok := strings.Cut(line, `"@rx `)
			if !ok {
				continue
			}
			if j := strings.Index(rest, `" `); j > 0 {
				out = append(out, strings.ReplaceAll(rest[:j], `\"`, `"`))
			}
		}
		return nil
	})
	if err != nil || len(out) < 200 {
		t.Fatalf("CRS regexes: %d, %v", len(out), err)
	}
	return out
}

type captureTx struct {
	plugintypes.TransactionState
	fields []string
}

func (c *captureTx) Capturing() bool              { return false }
func (c *captureTx) CaptureField(i int, v string) { c.fields = append(c.fields, v) }

// The @rx operator (Go regexp or RE2 by length, with the length and
// literal prefilters) agrees with Go's regexp on every CRS request
// expression, for attack strings, their case and Unicode-folding
// variants (ſ for s, K for k), and long inputs that go to RE2.
func TestRxOperatorAgrees(t *testing.T) {
	inputs := []string{
		"1' OR '1'='1", "1 UNION SELECT password FROM users--", "<script>alert(1)</script>", "../../etc/passwd",
		";cat /etc/passwd", "$(id)", "javascript:alert(1)", "<?php system($_GET['c']); ?>", "${jndi:ldap://x/a}",
		"SLEEP(5)", "benchmark(1000000,md5(1))", "onerror=alert(1)", "<img src=x onerror=alert(1)>", "/bin/bash -c id",
		"eval(base64_decode('x'))", "document.cookie", "cmd.exe /c dir", "<!ENTITY xxe SYSTEM \"file:///\">",
		"select * from information_schema.tables", "; DROP TABLE users", "java.lang.Runtime.getRuntime().exec", "plain words",
	}
	var all []string
	for _, s := range inputs {
		all = append(all, s, strings.ToUpper(s), strings.ReplaceAll(strings.ReplaceAll(s, "s", "ſ"), "k", "\u212a"),
			strings.Repeat("padding text ", 20)+s+strings.Repeat(" more text", 20))
	}
	for _, expr := range crsRegexes(t) {
		want, err := regexp.Compile("(?sm)" + expr)
		if err != nil || matchesArbitraryBytes("(?sm)"+expr) {
			continue
		}
		op, err := newRx(plugintypes.OperatorOptions{Arguments: expr})
		if err != nil {
			t.Fatalf("%.60s: %v", expr, err)
		}
		for _, in := range all {
			if got := op.Evaluate(&captureTx{}, in); got != want.MatchString(in) {
				t.Errorf("%.60s on %.40q: operator %v, regexp %v", expr, in, got, !got)
			}
		}
	}
}

func TestRequiredLiterals(t *testing.T) {
	for expr, want := range map[string]string{
		`(?i)a(?:cap|f[ps]|ttachment)x`: "acapx afpx afsx attachmentx",
		`foo\d+bar`:                     "foo",
		`(?i)select|union`:              "select union",
		`a.b`:                           "",
	} {
		op, err := newRx(plugintypes.OperatorOptions{Arguments: expr})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, l := range op.(*rxOp).lits {
			got = append(got, string(l))
		}
		if strings.Join(got, " ") != want {
			t.Errorf("%s: literals %q, want %q", expr, got, want)
		}
	}
}

func TestRequiredBytes(t *testing.T) {
	for expr, want := range map[string]string{
		`<script`:           "<",
		`(?i)on\w+\s*=`:     "=",
		`['"]\s*or`:         `"'`,
		`a(?:\(|;)b`:        "(;",
		`(?:<|%3c)x`:        "%<", // a literal needs its cheapest byte
		`[<>]|\$\{`:         "$<>",
		`x*`:                "",
		`(?i)select\s+from`: "",
	} {
		re, err := syntax.Parse("(?sm)"+expr, syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		set, ok := requiredBytes(re.Simplify())
		got := ""
		if ok && set.selective() {
			for c := byte(0); c < utf8.RuneSelf; c++ {
				if set.has(c) {
					got += string(rune(c))
				}
			}
		}
		if got != want {
			t.Errorf("%s: required bytes %q, want %q", expr, got, want)
		}
	}
}

// TestRequiredBytesSound: every match of every CRS request expression on
// the attack samples contains a byte of the expression's required set (or
// a non-ASCII byte, which mayContain lets through).
func TestRequiredBytesSound(t *testing.T) {
	samples := []string{
		"1' OR '1'='1", "<script>alert(1)</script>", "../../etc/passwd", ";cat /etc/passwd", "$(id)", "${jndi:ldap://x/a}",
		"<?php system($_GET['c']); ?>", "onerror=alert(1)", "eval(base64_decode('x'))", "cmd.exe /c dir", "; DROP TABLE users",
		"<!ENTITY xxe SYSTEM \"file:///\">", "java.lang.Runtime.getRuntime().exec", "a|b&c`d`", "{{7*7}}", "%0d%0aSet-Cookie:",
	}
	withSet := 0
	for _, expr := range crsRegexes(t) {
		re, err := syntax.Parse("(?sm)"+expr, syntax.Perl)
		if err != nil {
			continue
		}
		set, ok := requiredBytes(re.Simplify())
		if !ok || !set.selective() {
			continue
		}
		withSet++
		std := regexp.MustCompile("(?sm)" + expr)
		for _, s := range samples {
			for _, m := range std.FindAllString(strings.ToUpper(s)+" "+s, -1) {
				found := false
				for i := 0; i < len(m); i++ {
					if m[i] >= utf8.RuneSelf || set.has(m[i]) {
						found = true
						break
					}
				}
				if !found && m != "" {
					t.Errorf("%.60s matched %q, which has no required byte", expr, m)
				}
			}
		}
	}
	t.Logf("%d CRS request expressions have a selective required-byte set", withSet)
}
