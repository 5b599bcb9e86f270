package cli

import (
	"testing"
	"time"
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
