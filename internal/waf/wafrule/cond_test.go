package wafrule

import (
	"net/http"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestParseConditions(t *testing.T) {
	good := []struct {
		in   string
		want []Condition
	}{
		{"path prefix /admin", []Condition{{Field: FieldPath, Op: OpPrefix, Values: []string{"/admin"}}}},
		{`header:User-Agent contains curl,"Go http" && method equals post,put`, []Condition{
			{Field: FieldHeader, Key: "User-Agent", Op: OpContains, Values: []string{"curl", "Go http"}},
			{Field: FieldMethod, Op: OpEquals, Values: []string{"POST", "PUT"}}}},
		{"ip in-cidr 10.0.0.0/8,192.0.2.1&&query:id regex ^[0-9]+$", []Condition{
			{Field: FieldIP, Op: OpInCIDR, Values: []string{"10.0.0.0/8", "192.0.2.1"}},
			{Field: FieldQuery, Key: "id", Op: OpRegex, Values: []string{"^[0-9]+$"}}}},
		{`body contains "a\"b"`, []Condition{{Field: FieldBody, Op: OpContains, Values: []string{`a"b`}}}},
		{"COOKIE:sid EQUALS x", []Condition{{Field: FieldCookie, Key: "sid", Op: OpEquals, Values: []string{"x"}}}},
	}
	for _, tc := range good {
		got, err := ParseConditions(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: got %+v, %v; want %+v", tc.in, got, err, tc.want)
			continue
		}
		again, err := ParseConditions(FormatConditions(got))
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Errorf("%q: round trip via %q: %+v %v", tc.in, FormatConditions(got), again, err)
		}
	}
	bad := []string{"", "path", "path prefix", "path like x", "size equals 1", "header contains x", "ip:x equals 1.2.3.4",
		"path in-cidr 10.0.0.0/8", "ip in-cidr 10.0.0.1/8", "ip equals nope", "path regex (", "path regex a,b",
		`path equals "x`, "path equals x &&", "path equals x y", "path equals x & y"}
	for _, in := range bad {
		if cs, err := ParseConditions(in); err == nil {
			t.Errorf("%q parsed as %+v", in, cs)
		}
	}
}

func TestMatch(t *testing.T) {
	h := http.Header{}
	h.Set("Cookie", "sid=abc; role=admin")
	h.Set("X-Token", "t-1")
	r := &Request{IP: netip.MustParseAddr("::ffff:10.1.2.3"), Method: "GET", URI: "/a/b?x=1&id=42", Path: "/a/b", Query: "x=1&id=42", Header: h, Body: []byte("hello")}
	cases := map[string]bool{
		"ip in-cidr 10.0.0.0/8":                true,
		"ip equals 10.1.2.3":                   true,
		"ip in-cidr 192.168.0.0/16":            false,
		"url contains id=4":                    true,
		"path equals /a/b":                     true,
		"path prefix /b":                       false,
		"query:id equals 42":                   true,
		"query:id equals 4":                    false,
		"query contains x=1":                   true,
		"header:x-token equals t-1":            true,
		"header:X-Missing contains a":          false,
		"cookie:role equals admin":             true,
		"cookie:none equals admin":             false,
		"method equals get":                    true,
		"body regex ^hel+o$":                   true,
		"path prefix /a && method equals post": false,
	}
	for s, want := range cases {
		cs, err := ParseConditions(s)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		m, err := Compile(cs)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Match(r); got != want {
			t.Errorf("%q: %v, want %v", s, got, want)
		}
	}
}

// FuzzParseConditions: the parser never panics, everything it accepts
// compiles, and formatting then parsing gives the same conditions.
func FuzzParseConditions(f *testing.F) {
	for _, s := range []string{"path prefix /admin", `header:User-Agent contains curl,"a b" && method equals post`,
		"ip in-cidr 10.0.0.0/8", `body regex "(?i)select.+from"`, "query:id equals 1&&cookie:x prefix y", `url equals "\x00"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cs, err := ParseConditions(s)
		if err != nil {
			return
		}
		if _, err := Compile(cs); err != nil {
			t.Fatalf("%q parsed but does not compile: %v", s, err)
		}
		again, err := ParseConditions(FormatConditions(cs))
		if err != nil || !reflect.DeepEqual(again, cs) {
			t.Fatalf("%q: round trip %q gave %+v, %v", s, FormatConditions(cs), again, err)
		}
	})
}

func TestNormalizePath(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "/"}, {"/", "/"}, {"/admin", "/admin"}, {"//admin", "/admin"}, {"/./admin", "/admin"},
		{"/x/../admin", "/admin"}, {"/../../admin", "/admin"}, {"admin", "/admin"}, {"\\admin", "/admin"},
		{"/public\\..\\admin", "/admin"}, {"/dir/", "/dir/"}, {"/dir//", "/dir/"}, {"/dir/.", "/dir"},
		{"/a/b/../../", "/"}, {"/a%2Fb", "/a%2Fb"}, {"/caf\u00e9/", "/caf\u00e9/"},
	} {
		if got := NormalizePath(tc.in); got != tc.want {
			t.Errorf("NormalizePath(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzNormalizePath: the result is rooted, has no empty, "." or ".."
// segment and no backslash, and normalizing it again changes nothing.
func FuzzNormalizePath(f *testing.F) {
	for _, s := range []string{"", "/", "//a", "/./a/../b/", "\\a\\..\\b", "a//b/./c/.."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		n := NormalizePath(p)
		if !strings.HasPrefix(n, "/") || strings.Contains(n, "\\") || NormalizePath(n) != n {
			t.Fatalf("NormalizePath(%q) = %q", p, n)
		}
		for _, seg := range strings.Split(strings.TrimSuffix(n[1:], "/"), "/") {
			if n != "/" && (seg == "" || seg == "." || seg == "..") {
				t.Fatalf("NormalizePath(%q) = %q has segment %q", p, n, seg)
			}
		}
	})
}
