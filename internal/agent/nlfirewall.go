package agent

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/palisade-project/palisade/internal/nftprog"
	"github.com/palisade-project/palisade/internal/policy"
)

// NlFirewall loads security-group programs into the VPC namespaces (named
// after the VPC IDs under /run/netns) over netlink with google/nftables
// (internal/nftprog): the same tables NftFirewall loads with nft(8),
// without the text. A change that only adds or removes set or map
// elements (a rule or a membership change of a group set that exists
// already, an ACL entry list, the flow-log interfaces) is applied as
// element deletions and additions; any other change replaces the program
// table and the guard table. Either way the change is one netlink batch,
// one nftables transaction, so no packet ever sees a half-loaded or empty
// rule set, and a batch the kernel refuses leaves the previous tables in
// place. Established flows live in conntrack, not in the table, so a
// reload does not break them; CutDenied then removes exactly those the new
// policy denies.
//
// Fail closed: with a GuardPrefix, an ENI interface that is not in the
// program's interface maps (its rules are not installed) passes nothing,
// an ENI whose policy could not be built is mapped to drop, and the guard
// table drops ENI traffic the program table did not mark (the table was
// deleted).
type NlFirewall struct {
	// GuardPrefix is the name prefix of ENI interfaces in the VPC
	// namespace; unknown interfaces with it are dropped (fail closed).
	GuardPrefix string
	// NetnsDir is where named namespaces live (default /run/netns).
	NetnsDir string
	// Logger receives drift warnings and load summaries (default
	// slog.Default()).
	Logger *slog.Logger
	// loaded remembers, per VPC, the spec last loaded and, right after,
	// the namespace's nftables generation and the digest of the tables
	// read back, so an unchanged program is not reloaded while a table
	// changed by hand (drift) is replaced whole. The digest is only
	// computed again when the generation moved (something committed).
	// Only the agent's reconciliation goroutine uses it.
	loaded map[string]nlLoaded
}

type nlLoaded struct {
	spec   *nftprog.Spec
	gen    uint32
	digest string
}

func (f *NlFirewall) nsPath(vpcID string) string {
	dir := f.NetnsDir
	if dir == "" {
		dir = "/run/netns"
	}
	return filepath.Join(dir, vpcID)
}

// Load implements Firewall. It fails with an error wrapping
// fs.ErrNotExist when the VPC namespace does not exist.
func (f *NlFirewall) Load(ctx context.Context, vpcID string, p *policy.Program) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ns, err := os.Open(f.nsPath(vpcID))
	if err != nil {
		return fmt.Errorf("namespace of %s: %w", vpcID, err)
	}
	defer ns.Close()
	spec, err := nftprog.Build(p, f.GuardPrefix)
	if err != nil {
		return fmt.Errorf("build nftables objects of %s: %w", vpcID, err)
	}
	if f.loaded == nil {
		f.loaded = map[string]nlLoaded{}
	}
	for id := range f.loaded { // forget VPCs whose namespace is gone
		if _, err := os.Stat(f.nsPath(id)); err != nil {
			delete(f.loaded, id)
		}
	}
	conn, err := nftprog.Dial(int(ns.Fd()))
	if err != nil {
		return fmt.Errorf("nftables in %s: %w", vpcID, err)
	}
	defer conn.Close()
	log := f.Logger
	if log == nil {
		log = slog.Default()
	}
	var old *nftprog.Spec
	if prev, ok := f.loaded[vpcID]; ok {
		// Without drift, an unchanged program is left alone and a change
		// of elements only is applied element by element.
		d, err := prev.digest, error(nil)
		gen, gerr := nftprog.Generation(conn)
		if gerr != nil || gen != prev.gen {
			d, err = nftprog.Digest(conn, spec)
		}
		switch {
		case err != nil:
			log.Warn("read nftables tables back", "vpc", vpcID, "err", err)
		case d != prev.digest:
			log.Warn("nftables tables changed outside palisade: replacing them", "vpc", vpcID)
		case prev.spec.Equal(spec):
			if gerr == nil {
				prev.gen = gen // other tables changed; ours did not
				f.loaded[vpcID] = prev
			}
			return nil
		default:
			old = prev.spec
		}
	}
	start := time.Now()
	mode, err := nftprog.Apply(conn, old, spec)
	if err != nil && old != nil {
		// The kernel refused the element changes (its state is not what
		// was loaded last): replace the tables instead.
		log.Warn("incremental nftables load failed: replacing the tables", "vpc", vpcID, "err", err)
		mode, err = nftprog.Apply(conn, nil, spec)
	}
	if err != nil {
		delete(f.loaded, vpcID)
		return fmt.Errorf("load nftables in %s: %w", vpcID, err)
	}
	gen, err := nftprog.Generation(conn)
	if err != nil {
		delete(f.loaded, vpcID)
		return fmt.Errorf("nftables in %s: %w", vpcID, err)
	}
	d, err := nftprog.Digest(conn, spec)
	if err != nil {
		delete(f.loaded, vpcID)
		return fmt.Errorf("read nftables tables back in %s: %w", vpcID, err)
	}
	f.loaded[vpcID] = nlLoaded{spec: spec, gen: gen, digest: d}
	log.Debug("nftables loaded", "vpc", vpcID, "mode", mode.String(), "elements", spec.Elements(), "took", time.Since(start))
	return nil
}

// CutDenied implements Firewall.
func (f *NlFirewall) CutDenied(_ context.Context, vpcID string, w policy.World) (int, error) {
	fd, err := os.Open(f.nsPath(vpcID))
	if err != nil {
		return 0, fmt.Errorf("open namespace %s: %w", vpcID, err)
	}
	defer fd.Close()
	return CutDeniedFlows(int(fd.Fd()), vpcID, w)
}
