package agent

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/palisade-project/palisade/internal/policy"
)

// NftFirewall loads security-group programs with nft(8) into the VPC
// namespaces (named after the VPC IDs under /run/netns). A change that
// only adds or removes set or map elements (policy.Incremental: a rule or a
// membership change of a group set that exists already, an ACL entry list)
// is applied as element additions and
// deletions; any other change replaces the table: the script deletes and
// recreates "table inet palisade". Either way nft commits the script as one
// transaction, so no packet ever sees a half-loaded or empty rule set. Established flows
// live in conntrack, not in the table, so a reload does not break them;
// CutDenied then removes exactly those the new policy denies.
type NftFirewall struct {
	// GuardPrefix is the name prefix of ENI interfaces in the VPC
	// namespace; unknown interfaces with it are dropped (fail closed).
	GuardPrefix string
	// NetnsDir is where named namespaces live (default /run/netns).
	NetnsDir string
	// loaded remembers, per VPC, the last script loaded and the kernel's
	// listing of the table right after, so an unchanged program is not
	// reloaded while a table changed by hand (drift) is. Only the agent's
	// reconciliation goroutine uses it.
	loaded map[string]loadedTable
}

type loadedTable struct{ script, listing string }

// rendered is the program part of a full-replacement script.
func rendered(script string) string {
	_, text, _ := strings.Cut(script, "delete table inet "+policy.TableName+"\n")
	return text
}

func (f *NftFirewall) nsPath(vpcID string) string {
	dir := f.NetnsDir
	if dir == "" {
		dir = "/run/netns"
	}
	return filepath.Join(dir, vpcID)
}

// Script returns the nft script that atomically replaces the table (and,
// with a GuardPrefix, the guard table first).
func (f *NftFirewall) Script(p *policy.Program) string {
	p.GuardPrefix = f.GuardPrefix
	return f.guardScript() + "table inet " + policy.TableName + " {}\ndelete table inet " + policy.TableName + "\n" + p.Render()
}

// guardScript replaces the guard table: ENI traffic of flows the program
// did not stamp (see policy.GuardMark) is dropped, so a namespace whose
// program table was deleted fails closed until the next load.
func (f *NftFirewall) guardScript() string {
	if f.GuardPrefix == "" {
		return ""
	}
	// The output chain does the same for the WAF's upstream connections
	// (policy.TransparentMark), which the program's output chain marks.
	return fmt.Sprintf("table inet %[1]s {}\ndelete table inet %[1]s\ntable inet %[1]s {\n\tchain forward {\n"+
		"\t\ttype filter hook forward priority filter + 10; policy accept;\n"+
		"\t\tct mark != 0x00000000 accept\n"+
		"\t\tiifname %[3]q drop\n"+
		"\t\toifname %[3]q drop\n\t}\n"+
		"\tchain output {\n\t\ttype filter hook output priority filter + 10; policy accept;\n"+
		"\t\tmeta mark & 0x%08[4]x != 0 meta mark & 0x%08[2]x == 0 drop\n\t}\n}\n",
		policy.GuardTable, policy.GuardMark, f.GuardPrefix+"*", policy.TransparentMark)
}

// Load implements Firewall. It fails with an error wrapping
// fs.ErrNotExist when the VPC namespace does not exist.
func (f *NftFirewall) Load(ctx context.Context, vpcID string, p *policy.Program) error {
	if _, err := os.Stat(f.nsPath(vpcID)); err != nil {
		return fmt.Errorf("namespace of %s: %w", vpcID, err)
	}
	script := f.Script(p)
	if f.loaded == nil {
		f.loaded = map[string]loadedTable{}
	}
	for id := range f.loaded { // forget VPCs whose namespace is gone
		if _, err := os.Stat(f.nsPath(id)); err != nil {
			delete(f.loaded, id)
		}
	}
	load := script
	if prev, ok := f.loaded[vpcID]; ok {
		// Without drift, a change of set or map elements only (rules and
		// memberships of existing group sets, ACL entries) is applied
		// element by element.
		if listing, err := f.listing(ctx, vpcID); err == nil && listing == prev.listing {
			if prev.script == script {
				return nil
			}
			if inc, ok := policy.Incremental(rendered(prev.script), rendered(script)); ok {
				load = inc
			}
		}
	}
	cmd := exec.CommandContext(ctx, "nsenter", "--net="+f.nsPath(vpcID), "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(load)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		delete(f.loaded, vpcID)
		return fmt.Errorf("nft -f in %s: %w: %s", vpcID, err, strings.TrimSpace(out.String()))
	}
	listing, err := f.listing(ctx, vpcID)
	if err != nil {
		return err
	}
	f.loaded[vpcID] = loadedTable{script: script, listing: listing}
	return nil
}

// listing is the kernel's view of the table, and of the guard table when
// there is one (used to detect drift). Stateless (nft -s): the values of
// counters (the flow-log drop counters) are traffic, not drift.
func (f *NftFirewall) listing(ctx context.Context, vpcID string) (string, error) {
	tables := []string{policy.TableName}
	if f.GuardPrefix != "" {
		tables = append(tables, policy.GuardTable)
	}
	var all strings.Builder
	for _, table := range tables {
		cmd := exec.CommandContext(ctx, "nsenter", "--net="+f.nsPath(vpcID), "nft", "-s", "list", "table", "inet", table)
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("nft list table %s in %s: %w", table, vpcID, err)
		}
		all.Write(out)
	}
	return all.String(), nil
}

// CutDenied implements Firewall.
func (f *NftFirewall) CutDenied(_ context.Context, vpcID string, w policy.World) (int, error) {
	fd, err := os.Open(f.nsPath(vpcID))
	if err != nil {
		return 0, fmt.Errorf("open namespace %s: %w", vpcID, err)
	}
	defer fd.Close()
	return CutDeniedFlows(int(fd.Fd()), vpcID, w)
}
