// Package netnsrun runs code on an OS thread inside a network namespace:
// sockets, links and routes belong to the namespace of the thread that
// makes them.
package netnsrun

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// OnLockedThread runs fn on a dedicated OS thread and puts the thread back
// into its original network namespace afterwards. If that fails the thread
// stays locked, so the runtime kills it when the goroutine ends instead of
// reusing a thread in the wrong namespace.
func OnLockedThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("get current netns: %w", err)
			return
		}
		defer orig.Close()
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("restore netns: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// In runs fn with the calling OS thread inside ns.
func In(ns netns.NsHandle, fn func() error) error {
	return OnLockedThread(func() error {
		if err := netns.Set(ns); err != nil {
			return fmt.Errorf("enter netns: %w", err)
		}
		return fn()
	})
}

// Inode identifies the namespace bound at path (0 when there is none): a
// namespace deleted and made anew under the same name has another, so
// sockets opened in the old one can be told stale.
func Inode(path string) uint64 {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0
	}
	return st.Ino
}
