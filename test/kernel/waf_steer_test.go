package kernel_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	mdns "github.com/miekg/dns"
	"github.com/palisade-project/palisade/internal/dataplane"
	"github.com/palisade-project/palisade/internal/model"
	"io"
	"math/big"
	"net"
	nethttp "net/http"
	"net/netip"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/vpc"
	"golang.org/x/sys/unix"

	"github.com/palisade-project/palisade/internal/apiclient"
	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/app"
	"github.com/palisade-project/palisade/internal/dataplane/linux"
	"github.com/palisade-project/palisade/internal/flowlog"
	"github.com/palisade-project/palisade/internal/probe"
	"github.com/palisade-project/palisade/internal/service"
)

// origin is a web server inside an instance namespace that records what
// it saw of each request.
type origin struct {
	srv *nethttp.Server
	mu  sync.Mutex
	got []seen
}

type seen struct {
	path, peer, xff, realIP string
}

func serveOrigin(t testing.TB, ns string, port int) *origin {
	t.Helper()
	o := &origin{}
	var ln net.Listener
	if err := probe.InNetns(ns, func() error {
		var err error
		ln, err = net.Listen("tcp4", fmt.Sprintf(":%d", port))
		return err
	}); err != nil {
		t.Fatalf("origin listen in %s: %v", ns, err)
	}
	o.srv = &nethttp.Server{Handler: nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		o.mu.Lock()
		o.got = append(o.got, seen{path: r.URL.RequestURI(), peer: r.RemoteAddr, xff: r.Header.Get("X-Forwarded-For"), realIP: r.Header.Get("X-Real-IP")})
		o.mu.Unlock()
		if r.URL.Path == "/slow" {
			time.Sleep(1500 * time.Millisecond)
		}
		if r.URL.Path == "/leak" {
			// An application that leaks its source (CRS rule 953120).
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, `<html><body><?php $db = mysqli_connect("db", "app", "s3cret"); ?></body></html>`)
			return
		}
		fmt.Fprintf(w, "origin %s", r.URL.Path)
	}), ReadHeaderTimeout: 5 * time.Second}
	go o.srv.Serve(ln) //nolint:errcheck // ends with Close
	t.Cleanup(func() { o.srv.Close() })
	return o
}

// last returns what the origin saw of the last request for path.
func (o *origin) last(path string) (seen, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := len(o.got) - 1; i >= 0; i-- {
		if o.got[i].path == path {
			return o.got[i], true
		}
	}
	return seen{}, false
}

// get sends one request from the root namespace (the internet) and
// returns the status, the body and the client's local address.
func get(c *nethttp.Client, u string) (int, string, error) {
	resp, err := c.Get(u)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func selfSigned(t *testing.T, host string) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP(host)}}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}))
}

// TestWAFSteering protects an instance's port 80 behind its EIP, end to
// end through the API with `palisade up`'s own agent and WAF: a client on
// the internet (the root namespace) still connects to the EIP; clean
// requests reach the instance from the client's own address with
// X-Forwarded-For and X-Real-IP; attacks get 405 and never reach it; a
// custom rule is in force within a second without dropping a request in
// flight or a kept-alive connection; the instance's security group still
// decides on the client's address; TLS is terminated at the WAF with the
// object's certificate; unprotect restores the direct path; nothing of
// the steering is left after unprotect and after cleanup.
func TestWAFSteering(t *testing.T) {
	requireKernel(t)
	tag := randTag(t)
	var vpcID string
	// Registered before the environment: runs after the agent stopped and
	// the kernel cleanup ran.
	t.Cleanup(func() {
		if vpcID == "" {
			return
		}
		if out, _ := exec.Command("ip", "netns", "list").CombinedOutput(); strings.Contains(string(out), vpcID) {
			t.Errorf("cleanup left the VPC namespace (and its WAF steering): %s", out)
		}
	})
	env := apitest.Start(t, apitest.WithBackend(app.BackendMemory), apitest.WithAgent(tag), apitest.WithFlowLogWindowScale(60/flowWindow))
	w := &eipWorld{world: newWorld(t, env)}
	call := func(action string, p map[string]string) map[string]any {
		t.Helper()
		resp, err := env.Common(t, env.Admin, apiclient.VersionPalisade, action, p)
		if err != nil {
			t.Fatalf("%s: %v", action, err)
		}
		return resp
	}

	vpcID = w.mustVPC("10.9.0.0/16")
	vsw := w.mustVSwitch(vpcID, "10.9.1.0/24")
	w.mustGroup("web", vpcID, "normal", "")
	w.authorize("web", ruleSpec{proto: "tcp", ports: "80/80", peer: "0.0.0.0/0", policy: "accept", priority: 5})
	w.run("web1", vsw, "10.9.1.11", "web")
	w.waitRunning()
	org := serveOrigin(t, w.ids["web1"], 80)
	eipID, eip := w.allocate()
	w.associate(eipID, "web1")
	w.waitInUse(eipID)
	w.settle()
	base := "http://" + eip.String()
	plain := &nethttp.Client{Timeout: 8 * time.Second, Transport: &nethttp.Transport{DisableKeepAlives: true}}

	// Direct path: the instance sees the client's connection itself.
	if code, body, err := get(plain, base+"/direct"); err != nil || code != 200 || body != "origin /direct" {
		t.Fatalf("direct GET: %d %q %v", code, body, err)
	}
	direct, _ := org.last("/direct")
	client, _, _ := strings.Cut(direct.peer, ":")
	if direct.xff != "" {
		t.Errorf("direct path: X-Forwarded-For %q, want none", direct.xff)
	}
	t.Logf("client address %s, EIP %s", client, eip)

	// Protect port 80.
	created := call("CreateWafProtection", map[string]string{"InstanceId": w.ids["web1"], "Port": "80"})
	prot := created["ProtectionId"].(string)
	if created["Status"] != "Active" {
		t.Errorf("CreateWafProtection with an EIP: %v, want Status Active", created)
	}
	listed := call("DescribeWafProtections", map[string]string{"ProtectionId": prot})["Protections"].(map[string]any)["Protection"].([]any)[0].(map[string]any)
	if listed["Status"] != "Active" || listed["EipAddress"] != eip.String() {
		t.Errorf("DescribeWafProtections: %v, want Status Active through %s", listed, eip)
	}
	w.settle()
	out, _ := w.vpcExecNS(vpcID, "nft", "list", "table", "inet", "palisade_nat")
	if !strings.Contains(out, "tproxy") {
		t.Errorf("no tproxy steering in palisade_nat after protect:\n%s", out)
	}
	// The reachability analysis shows the WAF on the path.
	analyze := func(port string) (waf, verdict string) {
		resp := call("AnalyzeReachability", map[string]string{"From": client, "To": w.ids["web1"], "Protocol": "tcp", "Port": port})
		b, _ := json.Marshal(resp)
		var r struct {
			Verdict string
			Paths   []struct {
				Steps []struct{ Point, Resource string }
			}
		}
		if err := json.Unmarshal(b, &r); err != nil || len(r.Paths) == 0 {
			t.Fatalf("AnalyzeReachability: %s (%v)", b, err)
		}
		for _, st := range r.Paths[0].Steps {
			if st.Point == "waf" {
				return st.Resource, r.Verdict
			}
		}
		return "", r.Verdict
	}
	wafOnPath := func() string {
		waf, _ := analyze("80")
		return waf
	}
	if got := wafOnPath(); got != prot {
		t.Errorf("reachability analysis after protect: WAF step %q, want %s", got, prot)
	}

	// Clean requests of one kept-alive client connection reach the origin
	// on one connection from the client's own address and port.
	kept, local := localAddrClient(0)
	for _, path := range []string{"/hello?q=1", "/hello?q=2", "/hello?q=3"} {
		code, body, err := get(kept, base+path)
		if err != nil || code != 200 || body != "origin /hello" {
			t.Fatalf("clean GET %s through the WAF: %d %q %v", path, code, body, err)
		}
		s, ok := org.last(path)
		switch {
		case !ok:
			t.Errorf("clean request %s did not reach the origin", path)
		case s.xff != client || s.realIP != client:
			t.Errorf("origin saw X-Forwarded-For %q, X-Real-IP %q; want the client %s", s.xff, s.realIP, client)
		case s.peer != local():
			t.Errorf("origin saw %s from the TCP peer %s; want the client's connection %s (transparent upstream, one per client connection)", path, s.peer, local())
		}
	}
	kept.CloseIdleConnections()

	for _, attack := range []string{"/?id=" + url.QueryEscape("1' OR 1=1--"), "/?file=" + url.QueryEscape("../../../../etc/passwd")} {
		code, _, err := get(plain, base+attack)
		if err != nil || code != 405 {
			t.Errorf("attack %s: %d %v, want 405", attack, code, err)
		}
		if _, ok := org.last(attack); ok {
			t.Errorf("attack %s reached the origin", attack)
		}
	}

	// The decisions are logged with the client's address (`waf logs`).
	var logs []any
	for deadline := time.Now().Add(4 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		resp := call("DescribeWafLogs", map[string]string{"ProtectionId": prot, "WafAction": "block", "ClientIp": client})
		if l, ok := resp["Logs"].(map[string]any); ok {
			logs, _ = l["Log"].([]any)
		}
		if len(logs) >= 2 {
			break
		}
	}
	if len(logs) < 2 {
		t.Errorf("waf logs: %d block records of client %s, want the 2 attacks", len(logs), client)
	}

	// Hot reload: a kept-alive connection and a request in flight survive
	// a rule change, which is in force for new requests within a second.
	keep := &nethttp.Client{Timeout: 8 * time.Second, Transport: &nethttp.Transport{MaxIdleConnsPerHost: 1}}
	var conns sync.Map
	keep.Transport.(*nethttp.Transport).DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			conns.Store(c.LocalAddr().String(), true)
		}
		return c, err
	}
	if code, _, err := get(keep, base+"/admin"); err != nil || code != 200 {
		t.Fatalf("GET /admin before the rule: %d %v", code, err)
	}
	slow := make(chan error, 1)
	go func() {
		code, body, err := get(plain, base+"/slow")
		if err == nil && (code != 200 || body != "origin /slow") {
			err = fmt.Errorf("%d %q", code, body)
		}
		slow <- err
	}()
	time.Sleep(300 * time.Millisecond)
	call("CreateWafRule", map[string]string{"ProtectionId": prot, "Kind": "custom", "Conditions": "path prefix /admin", "RuleAction": "block"})
	changed := time.Now()
	for {
		code, _, err := get(keep, base+"/admin")
		if err != nil {
			t.Fatalf("GET /admin on the kept-alive connection after the rule: %v", err)
		}
		if code == 405 {
			t.Logf("custom rule in force %v after the API answered", time.Since(changed).Round(time.Millisecond))
			break
		}
		if time.Since(changed) > time.Second {
			t.Fatalf("custom rule not in force 1 s after the API answered (status %d)", code)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := <-slow; err != nil {
		t.Errorf("request in flight during the reload: %v", err)
	}
	n := 0
	conns.Range(func(_, _ any) bool { n++; return true })
	if n != 1 {
		t.Errorf("the kept-alive client needed %d connections across the reload, want 1", n)
	}

	// Drift: the VPC namespace deleted by hand is made anew by the agent
	// (the instance's too: its veth went with the old one), and the WAF's
	// listener follows it there (the old one stays in the old namespace,
	// which lives on as long as a socket does).
	instIno := nsIno(t, w.ids["web1"])
	if out, err := exec.Command("ip", "netns", "del", vpcID).CombinedOutput(); err != nil {
		t.Fatalf("ip netns del %s: %v: %s", vpcID, err, out)
	}
	var driftErr error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if ino := nsIno(t, w.ids["web1"]); ino != 0 && ino != instIno {
			org = serveOrigin(t, w.ids["web1"], 80) // the web server of the new instance namespace
			instIno = ino
		}
		code, body, err := get(plain, base+"/drift")
		if driftErr = err; err == nil && (code != 200 || body != "origin /drift") {
			driftErr = fmt.Errorf("%d %q", code, body)
		}
		if driftErr == nil {
			break
		}
	}
	if driftErr != nil {
		t.Fatalf("protected path after the VPC namespace was deleted by hand: %v", driftErr)
	}
	if s, _ := org.last("/drift"); s.xff != client {
		t.Errorf("after drift repair the origin saw X-Forwarded-For %q, want %s", s.xff, client)
	}
	// The VPC's DNS server follows the new namespace too: it answers for
	// its zone (a name it does not have: an authoritative NXDOMAIN).
	var dnsErr error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if dnsErr = askVPCResolver(w.ids["web1"], "ep-none.epsrv-none.local."+model.PrivateLinkDomain); dnsErr == nil {
			break
		}
	}
	if dnsErr != nil {
		t.Errorf("the VPC's DNS server after the namespace was made anew: %v", dnsErr)
	}

	// The security group applies to the protected path as to the direct
	// one: a drop for the client's address drops its SYN at the edge, so
	// the WAF never accepts the connection (and the WAF's own upstream
	// connection from that address would be dropped too).
	// A flow log on the VPC (drops only) shows the refused SYNs as the
	// instance's REJECT records, from the client to the instance's own
	// address, as it would the direct path's drops.
	flID := w.createFlowLog("VPC", vpcID, "Drop", "waf-"+tag)
	flowRecords := func() []flowlog.Record {
		res, err := env.App.Service().DescribeFlowLogRecords(context.Background(), env.Admin.AccountID, service.FlowRecordQuery{FlowLogID: flID})
		if err != nil {
			t.Fatal(err)
		}
		return res.Records
	}
	for deadline := time.Now().Add(20 * time.Second); len(flowRecords()) == 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the flow log's capture wrote no record within 20 s")
		}
	}
	// A kept-alive connection of the client, open before the drop: as the
	// direct path's established flow is cut, the WAF closes it (and its
	// upstream connection) instead of answering its next request with a
	// 504 once the cut upstream times out.
	live, err := net.Dial("tcp4", eip.String()+":80")
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	liveR := bufio.NewReader(live)
	if _, err := io.WriteString(live, "GET /live HTTP/1.1\r\nHost: "+eip.String()+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = live.SetReadDeadline(time.Now().Add(5 * time.Second))
	if resp, err := nethttp.ReadResponse(liveR, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /live on a kept-alive connection: %v %v", resp, err)
	} else {
		io.Copy(io.Discard, resp.Body) //nolint:errcheck // drained
		resp.Body.Close()
	}
	w.authorize("web", ruleSpec{name: "deny-client", proto: "tcp", ports: "80/80", peer: client + "/32", policy: "drop", priority: 1})
	denied := time.Now()
	_ = live.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := liveR.ReadByte(); err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("the denied client's kept-alive connection: read %v, want it closed by the WAF", err)
	} else {
		t.Logf("the denied client's kept-alive connection closed %v after the API answered", time.Since(denied).Round(time.Millisecond))
	}
	w.settle()
	if err := synDropped(0, eip.String()+":80"); err != nil {
		t.Errorf("new connection from a client the security group denies: %v", err)
	}
	var refused []string
	for deadline := time.Now().Add(10 * time.Second); len(refused) == 0 && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		for _, r := range flowRecords() {
			if r.Action == "REJECT" && r.SrcAddr == client && r.DstAddr == w.addr["web1"].String() && r.DstPort == 80 && r.Protocol == 6 &&
				r.Direction == "in" && r.VMID == w.ids["web1"] && r.TCPFlags&2 != 0 && r.Packets > 0 {
				refused = append(refused, recordLine(r))
			}
		}
	}
	if len(refused) == 0 {
		var all []string
		for _, r := range flowRecords() {
			all = append(all, recordLine(r))
		}
		t.Errorf("no REJECT record of the refused SYN (%s -> %s:80) on the instance's ENI; records:\n%s", client, w.addr["web1"], strings.Join(all, "\n"))
	}
	delReq := vpc.CreateDeleteFlowLogRequest()
	delReq.FlowLogId = flID
	if _, err := w.vpc.DeleteFlowLog(delReq); err != nil {
		t.Fatal(err)
	}
	rev := ecs.CreateRevokeSecurityGroupRequest()
	rev.SecurityGroupId, rev.SecurityGroupRuleId = w.sgs["web"], &[]string{w.rule["deny-client"]}
	if _, err := w.ecs.RevokeSecurityGroup(rev); err != nil {
		t.Fatal(err)
	}
	w.settle()
	plain.CloseIdleConnections()
	if code, _, err := get(plain, base+"/again"); err != nil || code != 200 {
		t.Errorf("GET after revoking the drop: %d %v", code, err)
	}

	// ... and on the client's source port: a drop of one source port stops
	// the protected path from that port only.
	// A port free here (the client binds it), so that a failure below is
	// the WAF's answer, not a local one.
	probeLn, err := net.Listen("tcp4", ":0")
	if err != nil {
		t.Fatal(err)
	}
	deniedPort := probeLn.Addr().(*net.TCPAddr).Port
	probeLn.Close()
	w.authorize("web", ruleSpec{name: "deny-port", proto: "tcp", ports: "80/80", peer: "0.0.0.0/0", sports: fmt.Sprintf("%d/%d", deniedPort, deniedPort), policy: "drop", priority: 1})
	w.settle()
	if err := synDropped(deniedPort, eip.String()+":80"); err != nil {
		t.Errorf("connection from source port %d, which the security group drops: %v", deniedPort, err)
	}
	if code, _, err := get(plain, base+"/other-port"); err != nil || code != 200 {
		t.Errorf("GET from another source port with port %d denied: %d %v", deniedPort, code, err)
	}
	rev.SecurityGroupRuleId = &[]string{w.rule["deny-port"]}
	if _, err := w.ecs.RevokeSecurityGroup(rev); err != nil {
		t.Fatal(err)
	}
	w.settle()

	// Response inspection: the default template lets the leaking answer
	// through; a template that inspects responses replaces it with the
	// block response, and clean answers still pass.
	if code, body, err := get(plain, base+"/leak"); err != nil || code != 200 || !strings.Contains(body, "<?php") {
		t.Errorf("leaking answer without response inspection: %d %q %v, want it passed", code, body, err)
	}
	respTpl := call("CreateWafTemplate", map[string]string{"Name": "responses", "InspectResponses": "true"})["TemplateId"].(string)
	call("ModifyWafProtection", map[string]string{"ProtectionId": prot, "TemplateId": respTpl})
	w.settle()
	var leakErr error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		code, body, err := get(plain, base+"/leak")
		if leakErr = err; err == nil && (code != 405 || strings.Contains(body, "s3cret")) {
			leakErr = fmt.Errorf("%d %q", code, body)
		}
		if leakErr == nil {
			break
		}
	}
	if leakErr != nil {
		t.Errorf("leaking answer with response inspection: %v, want the block response (405)", leakErr)
	}
	if code, body, err := get(plain, base+"/clean-answer"); err != nil || code != 200 || body != "origin /clean-answer" {
		t.Errorf("clean answer with response inspection: %d %q %v", code, body, err)
	}
	call("ModifyWafProtection", map[string]string{"ProtectionId": prot, "TemplateId": ""})
	w.settle()

	// TLS terminated at the WAF with the object's certificate.
	certPEM, keyPEM := selfSigned(t, eip.String())
	call("ModifyWafProtection", map[string]string{"ProtectionId": prot, "TlsCertificate": certPEM, "TlsPrivateKey": keyPEM})
	w.settle()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(certPEM))
	secure := &nethttp.Client{Timeout: 8 * time.Second, Transport: &nethttp.Transport{DisableKeepAlives: true, TLSClientConfig: &tls.Config{RootCAs: pool}}}
	tbase := "https://" + eip.String() + ":80"
	var tlsErr error
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if code, body, err := get(secure, tbase+"/tls"); err == nil && code == 200 && body == "origin /tls" {
			tlsErr = nil
			break
		} else {
			tlsErr = fmt.Errorf("%d %q %v", code, body, err)
		}
	}
	if tlsErr != nil {
		t.Errorf("HTTPS through the WAF: %v", tlsErr)
	} else if s, _ := org.last("/tls"); s.xff != client {
		t.Errorf("HTTPS: origin saw X-Forwarded-For %q, want %s", s.xff, client)
	}
	if code, _, err := get(secure, tbase+"/?id="+url.QueryEscape("1' OR 1=1--")); err != nil || code != 405 {
		t.Errorf("HTTPS attack: %d %v, want 405", code, err)
	}
	// HTTP/2 for clients that offer it, inspected stream by stream.
	h2 := &nethttp.Client{Timeout: 8 * time.Second, Transport: &nethttp.Transport{ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{RootCAs: pool}}}
	for _, tc := range []struct {
		path string
		code int
	}{{"/h2", 200}, {"/?id=" + url.QueryEscape("1' OR 1=1--") + "&h2", 405}} {
		resp, err := h2.Get(tbase + tc.path)
		if err != nil {
			t.Errorf("HTTP/2 GET %s: %v", tc.path, err)
			continue
		}
		io.Copy(io.Discard, resp.Body) //nolint:errcheck // drained
		resp.Body.Close()
		if resp.StatusCode != tc.code || resp.ProtoMajor != 2 {
			t.Errorf("HTTP/2 GET %s: %d over %s, want %d over HTTP/2", tc.path, resp.StatusCode, resp.Proto, tc.code)
		}
	}
	if s, ok := org.last("/h2"); !ok || s.xff != client {
		t.Errorf("HTTP/2: origin saw %+v (found %v), want X-Forwarded-For %s", s, ok, client)
	}
	h2.CloseIdleConnections()

	// A protected port forwarded to another port: TLS on port 443 of the
	// EIP, upstream the instance's port 80. The group admits tcp 80 only,
	// and the WAF's own connection goes to port 80 (from the client), so
	// the client gets through; the analyzer decides at the upstream port
	// as well, and says reachable.
	prot443 := call("CreateWafProtection", map[string]string{"InstanceId": w.ids["web1"], "Port": "443",
		"UpstreamAddress": w.addr["web1"].String() + ":80", "TlsCertificate": certPEM, "TlsPrivateKey": keyPEM})["ProtectionId"].(string)
	w.settle()
	var upErr error
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		code, body, err := get(secure, "https://"+eip.String()+"/upstream-port")
		if upErr = err; err == nil && (code != 200 || body != "origin /upstream-port") {
			upErr = fmt.Errorf("%d %q", code, body)
		}
		if upErr == nil {
			break
		}
	}
	if upErr != nil {
		t.Errorf("HTTPS on port 443 forwarded to port 80: %v", upErr)
	}
	if waf, verdict := analyze("443"); waf != prot443 || verdict != "reachable" {
		t.Errorf("reachability analysis of port 443 forwarded to port 80: WAF step %q, verdict %s; want %s, reachable (as the kernel)", waf, verdict, prot443)
	}
	call("DeleteWafProtection", map[string]string{"ProtectionId": prot443})
	w.settle()

	// Unprotect: the direct path again, attacks included.
	call("DeleteWafProtection", map[string]string{"ProtectionId": prot})
	w.settle()
	if got := wafOnPath(); got != "" {
		t.Errorf("reachability analysis after unprotect: WAF step %q, want none", got)
	}
	attack := "/?id=" + url.QueryEscape("1' OR 1=1--") + "&after=unprotect"
	if code, _, err := get(plain, base+attack); err != nil || code != 200 {
		t.Fatalf("GET after unprotect: %d %v", code, err)
	}
	if s, ok := org.last(attack); !ok || s.xff != "" || !strings.HasPrefix(s.peer, client+":") {
		t.Errorf("after unprotect the origin saw %+v (found %v), want the client directly without X-Forwarded-For", s, ok)
	}
	out, _ = w.vpcExecNS(vpcID, "nft", "list", "table", "inet", "palisade_nat")
	if strings.Contains(out, "tproxy") || strings.Contains(out, "socket") {
		t.Errorf("steering left in palisade_nat after unprotect:\n%s", out)
	}
	if out, _ := w.vpcExecNS(vpcID, "ip", "rule"); strings.Contains(out, "fwmark") {
		t.Errorf("steering ip rule left after unprotect:\n%s", out)
	}
	if out, _ := w.vpcExecNS(vpcID, "ip", "route", "show", "table", "all"); strings.Contains(out, "table 154") {
		t.Errorf("steering route left after unprotect:\n%s", out)
	}
	if out, _ := w.vpcExecNS(vpcID, "nft", "list", "table", "inet", "palisade"); strings.Contains(out, "sg_output") {
		t.Errorf("output chain left after unprotect:\n%s", out)
	}

	// Protected again, and left so: the kernel cleanup (what `palisade up
	// --cleanup` runs) removes the steering with the namespace (checked in
	// the cleanup registered first).
	call("CreateWafProtection", map[string]string{"InstanceId": w.ids["web1"], "Port": "80"})
	w.settle()
	if code, _, err := get(plain, base+attack+"2"); err != nil || code != 405 {
		t.Errorf("attack after protecting again: %d %v, want 405", code, err)
	}
}

// localAddrClient is an HTTP client with one kept-alive connection from
// the root namespace, bound to port (0: any); local returns the address of
// its last connection.
// synDropped connects to addr from local port port (0: any) and returns
// nil when the connection times out unanswered (its SYN dropped), an error
// saying what happened otherwise.
func synDropped(port int, addr string) error {
	d := &net.Dialer{Timeout: 2 * time.Second}
	if port != 0 {
		d.LocalAddr = &net.TCPAddr{Port: port}
	}
	conn, err := d.Dial("tcp4", addr)
	if err == nil {
		conn.Close()
		return fmt.Errorf("connected (%s -> %s), want the SYN dropped", conn.LocalAddr(), conn.RemoteAddr())
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return nil
	}
	return fmt.Errorf("%w, want a timeout (the SYN dropped)", err)
}

func localAddrClient(port int) (c *nethttp.Client, local func() string) {
	var mu sync.Mutex
	var last string
	d := &net.Dialer{}
	if port != 0 {
		d.LocalAddr = &net.TCPAddr{Port: port}
	}
	c = &nethttp.Client{Timeout: 8 * time.Second, Transport: &nethttp.Transport{MaxConnsPerHost: 1,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := d.DialContext(ctx, network, addr)
			if err == nil {
				mu.Lock()
				last = conn.LocalAddr().String()
				mu.Unlock()
			}
			return conn, err
		}}}
	return c, func() string { mu.Lock(); defer mu.Unlock(); return last }
}

// nsIno is the inode of the named namespace (0 when absent).
func nsIno(t *testing.T, name string) uint64 {
	var st unix.Stat_t
	if err := unix.Stat("/run/netns/"+name, &st); err != nil {
		return 0
	}
	return st.Ino
}

// vpcExecNS runs a command in the namespace ns.
func (w *eipWorld) vpcExecNS(ns string, args ...string) (string, error) {
	out, err := exec.Command("nsenter", append([]string{"--net=/run/netns/" + ns}, args...)...).CombinedOutput()
	if err != nil {
		w.t.Logf("%v in %s: %v: %s", args, ns, err, out)
	}
	return string(out), err
}

// TestWAFSteeringRemoteAgent checks the same steering with `palisade
// agent`: the agent mirrors the protected objects over the API and runs
// their WAF itself.
func TestWAFSteeringRemoteAgent(t *testing.T) {
	requireKernel(t)
	tag := randTag(t)
	env := apitest.Start(t, apitest.WithBackend(app.BackendMemory))
	client, err := apiclient.New(apiclient.Options{Endpoint: env.Endpoint, AccessKeyID: env.Admin.AccessKeyID, AccessKeySecret: env.Admin.Secret, Region: apitest.Region})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.RunAgent(ctx, client, "local-b", tag, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent: %v", err)
		}
		if err := linux.New(linux.Config{Tag: tag}).Cleanup(context.Background()); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	w := &eipWorld{world: newWorld(t, env)}
	eventually := func(what string, fn func() error) {
		t.Helper()
		var err error
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if err = fn(); err == nil {
				return
			}
		}
		t.Fatalf("%s: %v", what, err)
	}
	eventually("zone local-b registered", func() error {
		z, err := w.ecs.DescribeZones(ecs.CreateDescribeZonesRequest())
		if err != nil || len(z.Zones.Zone) < 2 {
			return fmt.Errorf("zones %+v, %v", z, err)
		}
		return nil
	})
	vpcID := w.mustVPC("10.10.0.0/16")
	cw := vpc.CreateCreateVSwitchRequest()
	cw.VpcId, cw.CidrBlock, cw.ZoneId = vpcID, "10.10.1.0/24", "local-b"
	vr, err := w.vpc.CreateVSwitch(cw)
	if err != nil {
		t.Fatal(err)
	}
	w.mustGroup("web", vpcID, "normal", "")
	w.authorize("web", ruleSpec{proto: "tcp", ports: "80/80", peer: "0.0.0.0/0", policy: "accept", priority: 5})
	w.run("web1", vr.VSwitchId, "10.10.1.11", "web")
	w.waitRunning()
	org := serveOrigin(t, w.ids["web1"], 80)
	eipID, eip := w.allocate()
	w.associate(eipID, "web1")
	w.waitInUse(eipID)
	base := "http://" + eip.String()
	plain := &nethttp.Client{Timeout: 3 * time.Second, Transport: &nethttp.Transport{DisableKeepAlives: true}}
	attack := "/?id=" + url.QueryEscape("1' OR 1=1--")

	eventually("direct path", func() error {
		if code, _, err := get(plain, base+"/direct"); err != nil || code != 200 {
			return fmt.Errorf("%d %v", code, err)
		}
		return nil
	})
	direct, _ := org.last("/direct")
	clientIP, _, _ := strings.Cut(direct.peer, ":")

	resp, err := env.Common(t, env.Admin, apiclient.VersionPalisade, "CreateWafProtection", map[string]string{"InstanceId": w.ids["web1"], "Port": "80"})
	if err != nil {
		t.Fatal(err)
	}
	prot := resp["ProtectionId"].(string)
	eventually("attack blocked by the agent's WAF", func() error {
		if code, _, err := get(plain, base+attack); err != nil || code != 405 {
			return fmt.Errorf("%d %v", code, err)
		}
		return nil
	})
	if code, _, err := get(plain, base+"/clean"); err != nil || code != 200 {
		t.Fatalf("clean GET: %d %v", code, err)
	}
	if s, ok := org.last("/clean"); !ok || s.xff != clientIP || !strings.HasPrefix(s.peer, clientIP+":") {
		t.Errorf("origin saw %+v (found %v), want peer and X-Forwarded-For %s", s, ok, clientIP)
	}

	if _, err := env.Common(t, env.Admin, apiclient.VersionPalisade, "DeleteWafProtection", map[string]string{"ProtectionId": prot}); err != nil {
		t.Fatal(err)
	}
	eventually("direct path after unprotect", func() error {
		if code, _, err := get(plain, base+attack); err != nil || code != 200 {
			return fmt.Errorf("%d %v", code, err)
		}
		return nil
	})
	if s, _ := org.last(attack); s.xff != "" {
		t.Errorf("after unprotect the origin saw X-Forwarded-For %q", s.xff)
	}
}

// askVPCResolver asks the VPC's DNS server, from instance namespace ns,
// for a name of its zone that does not exist: nil when it answers so.
func askVPCResolver(ns, name string) error {
	return probe.InNetns(ns, func() error {
		c := &mdns.Client{Timeout: time.Second}
		r, _, err := c.Exchange(new(mdns.Msg).SetQuestion(mdns.Fqdn(name), mdns.TypeA), netip.AddrPortFrom(dataplane.ResolverAddr(), 53).String())
		if err != nil {
			return err
		}
		if r.Rcode != mdns.RcodeNameError || !r.Authoritative {
			return fmt.Errorf("answer %v, want an authoritative NXDOMAIN", r)
		}
		return nil
	})
}
