package waf

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/palisade-project/palisade/internal/waf/wafrule"
)

// TestWAFServeVPCUpstreamNeverDialledOutside: the runtime reaches the
// upstream of an object with a VPC only inside the VPC's namespace; when
// that namespace is not there, requests fail (502) and the upstream's
// address in this process's own namespace (a listener here) gets nothing.
func TestWAFServeVPCUpstreamNeverDialledOutside(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var hits atomic.Int32
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "root namespace") }),
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				hits.Add(1)
			}
		}}
	go srv.Serve(ln)
	defer srv.Close()

	rt := NewRuntime(nil, nil)
	rt.VPCs = &VPCNamespaces{Dir: t.TempDir()}
	defer rt.Close()
	oc := wafrule.ObjectConfig{ID: "waf-vpc", Listen: "127.0.0.1:0", Upstream: ln.Addr().String(), VPCID: "vpc-gone",
		Profile: wafrule.ProfileConfig{Action: "block", ParanoiaLevel: 1}}
	if err := rt.Apply([]wafrule.ObjectConfig{oc}); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + rt.Addr("waf-vpc").String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("upstream in a VPC whose namespace is missing: %d %q, want 502", resp.StatusCode, b)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the upstream address was dialled %d times outside the VPC's namespace", n)
	}
}

// TestWAFServeCheckObject: waf serve serves an object of a VPC only when
// the VPC's namespace is here and can be entered, and an object without a
// VPC only with a loopback upstream.
func TestWAFServeCheckObject(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "vpc-file"), nil, 0o444); err != nil {
		t.Fatal(err)
	}
	v := &VPCNamespaces{Dir: dir}
	for _, tc := range []struct {
		vpc, upstream string
		want          string // "" to serve
	}{
		{"", "127.0.0.1:80", ""},
		{"", "127.3.4.5:80", ""},
		{"", "[::1]:80", ""},
		{"", "localhost:80", ""},
		{"", "192.168.1.1:80", "has no VPC in the configuration"},
		{"", "", "has no VPC in the configuration"},
		{"vpc-x", "192.168.1.1:80", "upstream 192.168.1.1:80 is in VPC vpc-x, whose namespace is not on this host: run waf serve as root on the host that runs the VPC"},
		{"vpc-x", "127.0.0.1:80", "whose namespace is not on this host"},
		{"vpc-file", "192.168.1.1:80", "whose namespace this process may not enter"},
		{"vpc-../../etc", "192.168.1.1:80", "invalid VPC ID"},
		{"subnet-x", "192.168.1.1:80", "invalid VPC ID"},
	} {
		err := v.CheckObject(wafrule.ObjectConfig{ID: "waf-x", VPCID: tc.vpc, Upstream: tc.upstream})
		if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CheckObject(vpc %q, upstream %q) = %v, want %q", tc.vpc, tc.upstream, err, tc.want)
		}
	}
	if _, err := v.DialContext(t.Context(), "vpc-x", "tcp", "127.0.0.1:1"); !errors.Is(err, ErrNetnsNotOnHost) {
		t.Errorf("dial in a missing namespace: %v", err)
	}
}
