package cli_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/cli"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/netnsrun"
)

// syncBuffer is a buffer the command under test writes while the test
// reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// countingListener accepts connections on addr and counts them.
func countingListener(t *testing.T, addr string, body string) (net.Listener, *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	return ln, serveCounting(t, ln, body)
}

func serveCounting(t *testing.T, ln net.Listener, body string) *atomic.Int32 {
	var n atomic.Int32
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) }),
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				n.Add(1)
			}
		}}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return &n
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func startServe(t *testing.T, r *runner, stderr io.Writer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		done <- cli.Execute(ctx, r.cliEnv(io.Discard, stderr), []string{"waf", "serve", "--interval", "50ms"})
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("waf serve exit %d", code)
		}
	})
}

func httpGet(url string) (int, string) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestWAFServeVPCNotOnHost: an object whose instance is in a VPC whose
// network namespace is not on this host is not served, with one warning,
// and its upstream address is never dialled from this host's own
// namespace (where a listener stands on it). An object without a VPC and
// a loopback upstream (the test fixtures' escape hatch) is served directly.
func TestWAFServeVPCNotOnHost(t *testing.T) {
	vpc := "vpc-absent" + randHex(6)
	if _, err := os.Stat("/run/netns/" + vpc); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("namespace %s: %v", vpc, err)
	}
	env := apitest.Start(t)
	r := newRunner(t, env)
	acct := env.Admin.AccountID
	env.PutRecord(t, model.PrefixInstance+"i-vpc", model.Instance{ID: "i-vpc", AccountID: acct, VpcID: vpc, PrimaryENIID: "eni-vpc", Status: model.InstanceRunning})
	env.PutRecord(t, model.PrefixENI+"eni-vpc", model.ENI{ID: "eni-vpc", AccountID: acct, InstanceID: "i-vpc", PrimaryIP: netip.MustParseAddr("127.0.0.1")})
	env.PutRecord(t, model.PrefixInstance+"i-lo", model.Instance{ID: "i-lo", AccountID: acct, PrimaryENIID: "eni-lo", Status: model.InstanceRunning})
	env.PutRecord(t, model.PrefixENI+"eni-lo", model.ENI{ID: "eni-lo", AccountID: acct, InstanceID: "i-lo", PrimaryIP: netip.MustParseAddr("127.0.0.1")})

	// The VPC object's upstream address, in the root namespace: what a
	// dial from outside the VPC would reach.
	decoy, hits := countingListener(t, "127.0.0.1:0", "decoy")
	listenVPC := freeAddr(t)
	objVPC := strings.TrimSpace(r.ok("waf", "protect", "--instance", "i-vpc", "--port", "80", "--upstream", decoy.Addr().String(), "--listen", listenVPC))
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "origin") }))
	defer origin.Close()
	listenLo := freeAddr(t)
	r.ok("waf", "protect", "--instance", "i-lo", "--port", "80", "--upstream", strings.TrimPrefix(origin.URL, "http://"), "--listen", listenLo)

	var stderr syncBuffer
	startServe(t, r, &stderr)
	for i := 0; ; i++ {
		if s, _ := httpGet("http://" + listenLo + "/"); s == 200 {
			break
		}
		if i > 200 {
			t.Fatalf("waf serve did not serve the object without a VPC: %s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	for range 5 {
		if s, body := httpGet("http://" + listenVPC + "/"); s != 0 {
			t.Errorf("object of a VPC not on this host answered %d %q", s, body)
		}
		time.Sleep(60 * time.Millisecond) // a few polls
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the VPC's upstream address was dialled %d times from the root namespace", n)
	}
	want := "upstream " + decoy.Addr().String() + " is in VPC " + vpc + ", whose namespace is not on this host: run waf serve as root on the host that runs the VPC"
	for i := 0; !strings.Contains(stderr.String(), want); i++ {
		if i > 100 {
			t.Fatalf("no warning %q:\n%s", want, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := strings.Count(stderr.String(), want); n != 1 {
		t.Errorf("warning given %d times, want once:\n%s", n, stderr.String())
	}
	if !strings.Contains(stderr.String(), objVPC) {
		t.Errorf("warning does not name the object %s:\n%s", objVPC, stderr.String())
	}
}

// TestWAFServeVPCNamespace (root): the upstream of an object in a VPC is
// reached inside the VPC's network namespace (a scratch one here), on an
// address the root namespace has too (a decoy on a dummy link or the
// loopback), which gets nothing. Before the namespace exists the object is
// not served; once it appears, it is.
func TestWAFServeVPCNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2")
	}
	ipCmd := func(args ...string) error {
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			return errors.New("ip " + strings.Join(args, " ") + ": " + strings.TrimSpace(string(out)))
		}
		return nil
	}
	suffix := randHex(3)
	vpc := "vpc-wafsrv" + suffix
	b := make([]byte, 1)
	rand.Read(b)
	addr := netip.AddrFrom4([4]byte{198, 18, b[0], 1})

	// The decoy: the VPC's address in the root namespace, on a dummy link
	// (or, without the dummy driver, the loopback).
	dev := "pwafd" + suffix
	if err := ipCmd("link", "add", dev, "type", "dummy"); err == nil {
		t.Cleanup(func() {
			if err := ipCmd("link", "del", dev); err != nil {
				t.Error(err)
			}
		})
		if err := ipCmd("link", "set", dev, "up"); err != nil {
			t.Fatal(err)
		}
	} else {
		t.Logf("%v: decoy on the loopback", err)
		dev = "lo"
	}
	if err := ipCmd("addr", "add", addr.String()+"/32", "dev", dev); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ipCmd("addr", "del", addr.String()+"/32", "dev", dev); err != nil && dev == "lo" {
			t.Error(err)
		}
	})
	decoy, decoyHits := countingListener(t, addr.String()+":0", "decoy")
	upstream := decoy.Addr().String()
	if s, body := httpGet("http://" + upstream + "/"); s != 200 || body != "decoy" || decoyHits.Load() != 1 {
		t.Fatalf("decoy in the root namespace: %d %q", s, body)
	}
	decoyHits.Store(0)

	env := apitest.Start(t)
	r := newRunner(t, env)
	acct := env.Admin.AccountID
	env.PutRecord(t, model.PrefixInstance+"i-web", model.Instance{ID: "i-web", AccountID: acct, VpcID: vpc, PrimaryENIID: "eni-web", Status: model.InstanceRunning})
	env.PutRecord(t, model.PrefixENI+"eni-web", model.ENI{ID: "eni-web", AccountID: acct, InstanceID: "i-web", PrimaryIP: addr})
	listen := freeAddr(t)
	r.ok("waf", "protect", "--instance", "i-web", "--port", "80", "--upstream", upstream, "--listen", listen)

	// No namespace yet: not served, nothing dialled.
	var stderr syncBuffer
	startServe(t, r, &stderr)
	for i := 0; !strings.Contains(stderr.String(), "whose namespace is not on this host"); i++ {
		if i > 200 {
			t.Errorf("no warning before the namespace exists:\n%s", stderr.String())
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s, body := httpGet("http://" + listen + "/"); s != 0 {
		t.Errorf("served before the VPC's namespace exists: %d %q", s, body)
	}

	// The VPC's namespace, with the instance's address and a server on
	// the upstream's port.
	if err := ipCmd("netns", "add", vpc); err != nil {
		t.Fatalf("cannot create a network namespace: %v", err)
	}
	t.Cleanup(func() {
		if err := ipCmd("netns", "del", vpc); err != nil {
			t.Error(err)
		}
	})
	for _, c := range [][]string{
		{"-n", vpc, "link", "set", "lo", "up"},
		{"-n", vpc, "addr", "add", addr.String() + "/32", "dev", "lo"},
	} {
		if err := ipCmd(c...); err != nil {
			t.Fatal(err)
		}
	}
	ns, err := netns.GetFromPath("/run/netns/" + vpc)
	if err != nil {
		t.Fatal(err)
	}
	var inside net.Listener
	err = netnsrun.In(ns, func() error {
		var err error
		inside, err = net.Listen("tcp4", upstream)
		return err
	})
	ns.Close()
	if err != nil {
		t.Fatal(err)
	}
	insideHits := serveCounting(t, inside, "inside")

	var s int
	var body string
	for i := 0; ; i++ {
		// 502: served before the server in the namespace listened.
		if s, body = httpGet("http://" + listen + "/"); s != 0 && s != http.StatusBadGateway {
			break
		}
		if i > 200 {
			t.Fatalf("not served once the VPC's namespace exists:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s != 200 || body != "inside" {
		t.Errorf("through waf serve: %d %q, want 200 \"inside\" (the VPC's namespace)\n%s", s, body, stderr.String())
	}
	if s, _ := httpGet("http://" + listen + "/?file=../../../../etc/passwd"); s != 405 {
		t.Errorf("attack through the VPC object: %d, want 405", s)
	}
	if n := decoyHits.Load(); n != 0 {
		t.Errorf("the decoy in the root namespace got %d connections", n)
	}
	if insideHits.Load() == 0 {
		t.Error("the server in the VPC's namespace got no connection")
	}
}
