package cli

import (
	"slices"
	"strings"
	"testing"
)

func TestDNSUpstreamFlag(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want []string
		err  string
	}{
		{nil, nil, ""},
		{[]string{"192.0.2.53:53", "[2001:db8::53]:5353", "dns.internal:53"}, []string{"192.0.2.53:53", "[2001:db8::53]:5353", "dns.internal:53"}, ""},
		{[]string{" 192.0.2.53 ", "2001:db8::53", "[2001:db8::54]"}, []string{"192.0.2.53:53", "[2001:db8::53]:53", "[2001:db8::54]:53"}, ""},
		{[]string{"dns.internal"}, nil, "HOST:PORT"},
		{[]string{"192.0.2.53:0"}, nil, "HOST:PORT"},
		{[]string{"192.0.2.53:65536"}, nil, "HOST:PORT"},
		{[]string{":53"}, nil, "HOST:PORT"},
		{[]string{"192.0.2.53:dns"}, nil, "HOST:PORT"},
	} {
		f := dnsUpstreamFlag{values: tc.in}
		got, err := f.servers()
		if tc.err == "" && (err != nil || !slices.Equal(got, tc.want)) || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("--dns-upstream %q: %q, %v", tc.in, got, err)
		}
	}
}
