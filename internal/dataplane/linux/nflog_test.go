package linux

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	nflog "github.com/florianl/go-nflog/v2"
)

// collectNFLog listens on NFLOG group in namespace ns until the test ends;
// the function it returns waits for stragglers and gives the packets
// logged so far, by prefix: the destination of the last (the IPv4
// packet's), as a string.
func collectNFLog(t *testing.T, ns string, group uint16) func() map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join(netnsDir, ns))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	nf, err := nflog.Open(&nflog.Config{NetNS: int(f.Fd()), Group: group, Copymode: nflog.CopyPacket, QThresh: 1, Timeout: 1})
	if err != nil {
		t.Fatalf("nflog in %s: %v", ns, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); nf.Close() })
	var mu sync.Mutex
	got := map[string]string{}
	hook := func(a nflog.Attribute) int {
		if a.Prefix == nil || a.Payload == nil || len(*a.Payload) < 20 {
			return 0
		}
		p := *a.Payload
		mu.Lock()
		got[*a.Prefix] = netip.AddrFrom4([4]byte(p[16:20])).String()
		mu.Unlock()
		return 0
	}
	if err := nf.RegisterWithErrorFunc(ctx, hook, func(error) int { return 0 }); err != nil {
		t.Fatalf("nflog register: %v", err)
	}
	return func() map[string]string {
		time.Sleep(300 * time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		out := make(map[string]string, len(got))
		for k, v := range got {
			out[k] = v
		}
		return out
	}
}
