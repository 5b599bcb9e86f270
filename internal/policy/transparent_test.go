package policy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRenderTransparent checks the output-hook chain of a program with WAF
// steering: absent by default; filtering only marked packets, with the
// receivers' ingress ACL and security groups; accepted by nft (with and
// without ACLs).
func TestRenderTransparent(t *testing.T) {
	for _, tc := range []struct {
		name  string
		world func() (*Snapshot, map[string]string)
		acl   bool
	}{{"golden", goldenWorld, false}, {"acl", aclGoldenWorld, true}} {
		w, ifaces := tc.world()
		p := Compile(w, ifaces)
		if strings.Contains(p.Render(), OutputChain) {
			t.Errorf("%s: output chain rendered without Transparent", tc.name)
		}
		p.Transparent = true
		p.GuardPrefix = "pv"
		script := p.Render()
		for _, want := range []string{
			"chain " + OutputChain + " {\n\t\ttype filter hook output priority filter; policy accept;\n\t\tmeta mark & 0x00200000 == 0 accept\n",
			"\t\toifname vmap @" + IngressIfaces + "\n\t\tdrop comment \"not an ENI\"\n",
		} {
			if !strings.Contains(script, want) {
				t.Errorf("%s: rendering lacks %q", tc.name, want)
			}
		}
		if got := strings.Contains(script, "oifname vmap @"+ACLIngressIfaces+"\n\t\tct state established"); got != tc.acl {
			t.Errorf("%s: stateless ACL lookup on the output hook: %v, want %v", tc.name, got, tc.acl)
		}
		if got := strings.Contains(script, "chain "+InputChain+" {"); got != tc.acl {
			t.Errorf("%s: input chain for the answers' egress ACL: %v, want %v", tc.name, got, tc.acl)
		}
		nftCheck(t, tc.name, script)
	}
}

// nftCheck runs nft -c on script in a fresh network namespace when it can.
func nftCheck(t *testing.T, name, script string) {
	t.Helper()
	nft, err := exec.LookPath("nft")
	if err != nil || os.Geteuid() != 0 {
		return
	}
	f := filepath.Join(t.TempDir(), name+".nft")
	if err := os.WriteFile(f, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(nft, "-c", "-f", f)
	if un, err := exec.LookPath("unshare"); err == nil {
		cmd = exec.Command(un, "--net", nft, "-c", "-f", f)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft -c rejects %s: %v\n%s", name, err, out)
	}
}
