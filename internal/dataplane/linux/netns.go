package linux

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/palisade-project/palisade/internal/netnsrun"
)

// netnsDir is where iproute2 keeps named namespaces; binding ours there
// makes `ip netns exec NAME` work on them.
const netnsDir = "/run/netns"

// nsRef is an open named namespace with a netlink handle inside it.
type nsRef struct {
	name string
	ns   netns.NsHandle
	nl   *netlink.Handle
}

func (r *nsRef) Close() {
	if r.nl != nil {
		r.nl.Close()
	}
	if r.ns.IsOpen() {
		r.ns.Close()
	}
}

// openNS opens the named namespace; fs.ErrNotExist when it does not exist.
func openNS(name string) (*nsRef, error) {
	ns, err := netns.GetFromPath(filepath.Join(netnsDir, name))
	if err != nil {
		return nil, fmt.Errorf("open netns %s: %w", name, err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		return nil, fmt.Errorf("netlink handle in netns %s: %w", name, err)
	}
	return &nsRef{name: name, ns: ns, nl: h}, nil
}

// listNamedNS returns the names under /run/netns.
func listNamedNS() ([]string, error) {
	ents, err := os.ReadDir(netnsDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", netnsDir, err)
	}
	out := make([]string, 0, len(ents))
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out, nil
}

// nsMarker returns the alias of the namespace's loopback, where Palisade
// writes its marker.
func nsMarker(r *nsRef) (string, error) {
	lo, err := r.nl.LinkByName("lo")
	if err != nil {
		return "", fmt.Errorf("netns %s: loopback: %w", r.name, err)
	}
	return lo.Attrs().Alias, nil
}

// onlyLoopback reports whether the namespace holds no link but lo: such a
// namespace can be adopted safely (a crash between creating and marking it
// leaves exactly that).
func onlyLoopback(r *nsRef) (bool, error) {
	links, err := r.nl.LinkList()
	if err != nil {
		return false, fmt.Errorf("netns %s: list links: %w", r.name, err)
	}
	for _, l := range links {
		if l.Attrs().Name != "lo" {
			return false, nil
		}
	}
	return true, nil
}

// markNS brings the loopback up and writes the marker on it.
func markNS(r *nsRef, marker string) error {
	lo, err := r.nl.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("netns %s: loopback: %w", r.name, err)
	}
	if lo.Attrs().Alias != marker {
		if err := r.nl.LinkSetAlias(lo, marker); err != nil {
			return fmt.Errorf("netns %s: mark loopback: %w", r.name, err)
		}
	}
	if lo.Attrs().Flags&unix.IFF_UP == 0 {
		if err := r.nl.LinkSetUp(lo); err != nil {
			return fmt.Errorf("netns %s: loopback up: %w", r.name, err)
		}
	}
	return nil
}

// createNamedNS creates a network namespace bound at /run/netns/NAME the way
// `ip netns add` does, without leaving any goroutine's thread in it.
func createNamedNS(name string) error {
	return netnsrun.OnLockedThread(func() error {
		if err := os.MkdirAll(netnsDir, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", netnsDir, err)
		}
		// Like iproute2: make /run/netns a shared mount point (binding it
		// onto itself first if it is not one), so the bind mounts show up
		// in other mount namespaces. It must be a mount point before the
		// first namespace is bound in it: otherwise a later `ip netns add`
		// binds /run/netns over our mounts, hiding them, and deleting
		// their files fails with EBUSY. Best effort beyond that.
		if err := unix.Mount("", netnsDir, "none", unix.MS_SHARED|unix.MS_REC, ""); errors.Is(err, unix.EINVAL) {
			if unix.Mount(netnsDir, netnsDir, "none", unix.MS_BIND|unix.MS_REC, "") == nil {
				_ = unix.Mount("", netnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
			}
		}
		path := filepath.Join(netnsDir, name)
		f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
		if err != nil {
			return fmt.Errorf("create netns file %s: %w", path, err)
		}
		f.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			os.Remove(path)
			return fmt.Errorf("unshare netns for %s: %w", name, err)
		}
		self := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		if err := unix.Mount(self, path, "none", unix.MS_BIND, ""); err != nil {
			os.Remove(path)
			return fmt.Errorf("bind netns %s: %w", name, err)
		}
		return nil
	})
}

// deleteNamedNS unbinds and removes /run/netns/NAME, like `ip netns del`.
// The namespace disappears once no process remains in it.
func deleteNamedNS(name string) error {
	path := filepath.Join(netnsDir, name)
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount netns %s: %w", name, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove netns %s: %w", name, err)
	}
	return nil
}

// sysctl is one /proc/sys setting: Key uses slashes (net/ipv4/ip_forward).
type sysctl struct {
	Key, Value string
	// Optional settings are skipped with a warning when the file does not
	// exist in the namespace (module not loaded, not per-netns here).
	Optional bool
}

// applySysctls writes the settings inside ns, only those that differ, and
// returns the optional keys that do not exist there. /proc/sys/net follows
// the network namespace of the thread that opens it.
func applySysctls(ns netns.NsHandle, settings []sysctl) (missing []string, err error) {
	err = netnsrun.In(ns, func() error {
		for _, s := range settings {
			path := "/proc/sys/" + s.Key
			cur, err := os.ReadFile(path)
			if errors.Is(err, fs.ErrNotExist) && s.Optional {
				missing = append(missing, s.Key)
				continue
			}
			if err != nil {
				return fmt.Errorf("read sysctl %s: %w", s.Key, err)
			}
			if strings.TrimSpace(string(cur)) == s.Value {
				continue
			}
			if err := os.WriteFile(path, []byte(s.Value), 0o644); err != nil {
				return fmt.Errorf("write sysctl %s=%s: %w", s.Key, s.Value, err)
			}
		}
		return nil
	})
	return missing, err
}

// stoppedAltName is the alternative name the loopback of a stopped
// instance's namespace carries (SetInstancesStopped): the mark lives in
// the kernel with the namespace, so `palisade instance exec` on the host
// can refuse a stopped instance without asking the API server (which may
// be remote, or unreachable), and `ip link show lo` shows it.
const stoppedAltName = "palisade-stopped"

// hasStoppedMark reports whether the namespace's loopback carries the
// stopped mark.
func hasStoppedMark(r *nsRef) (bool, error) {
	lo, err := r.nl.LinkByName("lo")
	if err != nil {
		return false, fmt.Errorf("netns %s: loopback: %w", r.name, err)
	}
	return slices.Contains(lo.Attrs().AltNames, stoppedAltName), nil
}

// setStoppedMark puts the stopped mark on the namespace's loopback, or
// takes it off.
func setStoppedMark(r *nsRef, stopped bool) error {
	lo, err := r.nl.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("netns %s: loopback: %w", r.name, err)
	}
	has := slices.Contains(lo.Attrs().AltNames, stoppedAltName)
	switch {
	case stopped && !has:
		if err := r.nl.LinkAddAltName(lo, stoppedAltName); err != nil {
			return fmt.Errorf("netns %s: mark stopped: %w", r.name, err)
		}
	case !stopped && has:
		if err := r.nl.LinkDelAltName(lo, stoppedAltName); err != nil {
			return fmt.Errorf("netns %s: unmark stopped: %w", r.name, err)
		}
	}
	return nil
}

// InstanceNamespaceHere reports whether the instance's network namespace
// exists on this host (whoever made it).
func InstanceNamespaceHere(instanceID string) bool {
	if validNSName(instanceID, instanceNSPrefix) != nil {
		return false
	}
	_, err := os.Stat(filepath.Join(netnsDir, instanceID))
	return err == nil
}

// InstanceStopped reports whether the namespace of the instance is a
// Palisade namespace that its agent has marked stopped: the instance is
// Stopped and runs nothing (anything started in it is killed at the
// agent's next reconciliation). A name that is not an instance ID, or a
// namespace that does not exist or is not Palisade's, is not stopped (the
// caller's own command then says what is wrong).
func InstanceStopped(instanceID string) (bool, error) {
	if validNSName(instanceID, instanceNSPrefix) != nil {
		return false, nil
	}
	r, err := openNS(instanceID)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer r.Close()
	if marker, err := nsMarker(r); err != nil || !strings.HasPrefix(marker, markerPrefix) {
		return false, err
	}
	return hasStoppedMark(r)
}
