package linux

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/palisade-project/palisade/internal/dataplane"
)

// etcNetnsDir is where `ip netns exec NAME` finds the files it mounts
// over /etc for the namespace's commands (resolv.conf among them).
const etcNetnsDir = "/etc/netns"

// resolvConf is an instance's resolv.conf: the VPC's DNS server, as a
// cloud instance gets from DHCP. The first line says whose it is.
func resolvConf() []byte {
	return fmt.Appendf(nil, "# palisade: the VPC's DNS server\nnameserver %s\noptions timeout:2 attempts:2\n", dataplane.ResolverAddr())
}

// writeResolvConf gives the instance namespace its resolv.conf (commands
// run with `ip netns exec`, and so `palisade instance exec`, read it).
// A file that is not Palisade's is left alone.
func writeResolvConf(ns string) error {
	dir := filepath.Join(etcNetnsDir, ns)
	path := filepath.Join(dir, "resolv.conf")
	want := resolvConf()
	have, err := os.ReadFile(path)
	switch {
	case err == nil && bytes.Equal(have, want):
		return nil
	case err == nil && !bytes.HasPrefix(have, []byte("# palisade:")):
		return nil
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("resolv.conf of %s: %w", ns, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("resolv.conf of %s: %w", ns, err)
	}
	if err := os.WriteFile(path, want, 0o644); err != nil {
		return fmt.Errorf("resolv.conf of %s: %w", ns, err)
	}
	return nil
}

// removeResolvConf removes what writeResolvConf made for ns.
func removeResolvConf(ns string) error {
	dir := filepath.Join(etcNetnsDir, ns)
	path := filepath.Join(dir, "resolv.conf")
	have, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil || !bytes.HasPrefix(have, []byte("# palisade:")) {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	_ = os.Remove(dir) // only if empty: another file there is someone else's
	return nil
}
