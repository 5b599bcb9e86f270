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
// namespaces (named after the VPC IDs under /run/netns). Each load
// replaces the table in one nftables transaction: the script deletes and
// recreates "table inet palisade", and nft commits a script atomically, so
// no packet ever sees a half-loaded or empty rule set. Established flows
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

func (f *NftFirewall) nsPath(vpcID string) string {
	dir := f.NetnsDir
	if dir == "" {
		dir = "/run/netns"
	}
	return filepath.Join(dir, vpcID)
}

// Script returns the nft script that atomically replaces the table.
func (f *NftFirewall) Script(p *policy.Program) string {
	p.GuardPrefix = f.GuardPrefix
	return "table inet " + policy.TableName + " {}\ndelete table inet " + policy.TableName + "\n" + p.Render()
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
	if prev, ok := f.loaded[vpcID]; ok && prev.script == script {
		if listing, err := f.listing(ctx, vpcID); err == nil && listing == prev.listing {
			return nil
		}
	}
	cmd := exec.CommandContext(ctx, "nsenter", "--net="+f.nsPath(vpcID), "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
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

// listing is the kernel's view of the table (used to detect drift).
func (f *NftFirewall) listing(ctx context.Context, vpcID string) (string, error) {
	cmd := exec.CommandContext(ctx, "nsenter", "--net="+f.nsPath(vpcID), "nft", "list", "table", "inet", policy.TableName)
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("nft list table in %s: %w", vpcID, err)
	}
	return string(out), nil
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
