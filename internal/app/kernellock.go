package app

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// kernelLockDir holds the host-wide locks of Palisade's kernel objects (a
// variable for tests).
var kernelLockDir = "/run/palisade"

// lockKernel takes the host-wide lock (a file in dir, kernelLockDir) of
// the kernel objects marked with tag, held until release. Two processes reconciling the same objects
// delete each other's namespaces (each sees the other's as not in its
// desired state), killing the workloads inside: a second "palisade up" or
// "palisade agent" on the host, whatever its data directory, is refused
// instead, and so is a cleanup while one runs. The lock is an flock, so it
// goes with the process however it ends.
func lockKernel(dir, tag string) (release func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("kernel lock: %w", err)
	}
	path := filepath.Join(dir, "kernel"+tag+".lock")
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("kernel lock: %w", err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			holder, _ := os.ReadFile(path)
			f.Close()
			if errors.Is(err, unix.EWOULDBLOCK) {
				return nil, fmt.Errorf("another palisade up or palisade agent (pid %s) manages this host's namespaces and nftables tables: stop it first (%s)",
					strings.TrimSpace(string(holder)), path)
			}
			return nil, fmt.Errorf("kernel lock %s: %w", path, err)
		}
		// The holder before us removes the file as it releases: a lock
		// taken on a file no longer at path is no lock; take it anew.
		var held, now unix.Stat_t
		if unix.Fstat(int(f.Fd()), &held) != nil || unix.Stat(path, &now) != nil || held.Ino != now.Ino {
			f.Close()
			continue
		}
		if err := f.Truncate(0); err == nil {
			_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
		}
		return func() {
			os.Remove(path) // while still held: nobody else can be holding it
			f.Close()
		}, nil
	}
}
