package cli

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/waf/wafrule"
)

func TestWholeSeconds(t *testing.T) {
	for _, tc := range []struct {
		d      time.Duration
		zeroOK bool
		want   string // "" for an error
	}{
		{0, true, "0"}, {0, false, ""}, {time.Millisecond, true, ""}, {-time.Hour, true, ""},
		{time.Second, false, "1"}, {1500 * time.Millisecond, true, "2"}, {time.Hour, true, "3600"},
	} {
		got, err := wholeSeconds("--ttl", tc.d, tc.zeroOK)
		if (err != nil) != (tc.want == "") || got != tc.want {
			t.Errorf("wholeSeconds(%v, %v) = %q, %v; want %q", tc.d, tc.zeroOK, got, err, tc.want)
		}
	}
}

// TestServeKeys: waf serve takes TLS keys from --tls-key ID=FILE (the API
// never returns them), gives each TLS object its own, and leaves out a TLS
// object without one, warning once.
func TestServeKeys(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "a.key")
	if err := os.WriteFile(keyFile, []byte("KEY-A"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]string{{"waf-a"}, {"=" + keyFile}, {"waf-a="}, {"waf-a=" + filepath.Join(dir, "none")}, {"waf-a=" + keyFile, "waf-a=" + keyFile}} {
		if _, err := readServeKeys(bad); err == nil {
			t.Errorf("readServeKeys(%q): no error", bad)
		}
	}
	keys, err := readServeKeys([]string{"waf-a=" + keyFile})
	if err != nil || keys["waf-a"] != "KEY-A" {
		t.Fatalf("readServeKeys: %v %v", keys, err)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	warned := map[string]bool{}
	cfgs := func() []wafrule.ObjectConfig {
		return []wafrule.ObjectConfig{{ID: "waf-a", TLSCert: "CERT-A"}, {ID: "waf-b", TLSCert: "CERT-B"}, {ID: "waf-c"}}
	}
	for range 2 {
		got := withServeKeys(cfgs(), keys, warned, log)
		if len(got) != 2 || got[0].ID != "waf-a" || got[0].TLSKey != "KEY-A" || got[1].ID != "waf-c" || got[1].TLSKey != "" {
			t.Errorf("withServeKeys: %+v", got)
		}
	}
	if n := strings.Count(logs.String(), "waf-b"); n != 1 {
		t.Errorf("warnings for waf-b: %d, want 1:\n%s", n, logs.String())
	}
}
