package linux

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// nsID identifies a network namespace as `ip netns pids` does: the device
// and inode of its nsfs file.
type nsID struct{ dev, ino uint64 }

func nsIDOf(path string) (nsID, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nsID{}, err
	}
	return nsID{dev: st.Dev, ino: st.Ino}, nil
}

// killProcessesIn sends SIGKILL to every process whose network namespace
// is id, except this one (whose threads enter namespaces to program them),
// and returns their PIDs. A deleted instance runs nothing, as a terminated
// VM; left alone, its processes would keep a namespace without links alive
// and hold what they hold. Each process is opened as a pidfd before its
// namespace is read, so a PID reused meanwhile is never signalled.
func killProcessesIn(id nsID) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	self := os.Getpid()
	var killed []int
	var errs []error
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			continue // gone
		}
		if got, err := nsIDOf("/proc/" + e.Name() + "/ns/net"); err == nil && got == id {
			if err := unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0); err == nil {
				killed = append(killed, pid)
			} else if !errors.Is(err, unix.ESRCH) {
				errs = append(errs, fmt.Errorf("kill process %d: %w", pid, err))
			}
		}
		unix.Close(fd)
	}
	return killed, errors.Join(errs...)
}
