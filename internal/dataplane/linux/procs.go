package linux

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
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
// and hold what they hold.
func killProcessesIn(id nsID) ([]int, error) {
	killed, err := killProcessesInAny(map[nsID]bool{id: true})
	return killed[id], err
}

// killProcessesInAny sends SIGKILL to every process whose network
// namespace is one of ids, except this one, in one pass over /proc, and
// returns their PIDs by namespace. Each process is opened as a pidfd before
// its namespace is read, so a PID reused meanwhile is never signalled.
func killProcessesInAny(ids map[nsID]bool) (map[nsID][]int, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	self := os.Getpid()
	killed := map[nsID][]int{}
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
		if got, err := nsIDOf("/proc/" + e.Name() + "/ns/net"); err == nil && ids[got] {
			if err := unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0); err == nil {
				killed[got] = append(killed[got], pid)
			} else if !errors.Is(err, unix.ESRCH) {
				errs = append(errs, fmt.Errorf("kill process %d: %w", pid, err))
			}
		}
		unix.Close(fd)
	}
	return killed, errors.Join(errs...)
}

// SetInstancesStopped powers the listed instances off (true) or on
// (false). A stopped instance runs nothing, as a stopped VM: every
// process in its namespace is killed, on every call (so also what was
// started in it since the last one), and its loopback carries the stopped
// mark that InstanceStopped reads (`palisade instance exec` refuses such
// an instance). Powering on only takes the mark off: the instance starts
// empty. The namespaces stay, with their links and addresses; one that
// does not exist yet, or is not this Applier's, is skipped. It returns
// the PIDs killed by instance ID and every error joined; it carries on
// past the failure of one instance.
func (a *Applier) SetInstancesStopped(ctx context.Context, instances map[string]bool) (map[string][]int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ids := make([]string, 0, len(instances))
	for id := range instances {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var errs []error
	kill := map[nsID]bool{}
	byNS := map[nsID]string{}
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return nil, errors.Join(append(errs, err)...)
		}
		if err := validNSName(id, instanceNSPrefix); err != nil {
			errs = append(errs, err)
			continue
		}
		stopped := instances[id]
		err := a.powerInstance(id, stopped)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errNotOurs) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("instance %s: %w", id, err))
			if !stopped {
				continue
			}
			// Kill all the same: a stopped instance runs nothing even if
			// its mark could not be written.
		}
		if !stopped {
			continue
		}
		ns, err := nsIDOf(filepath.Join(netnsDir, id))
		if err != nil {
			errs = append(errs, fmt.Errorf("instance %s: %w", id, err))
			continue
		}
		kill[ns], byNS[ns] = true, id
	}
	killedNS, err := killProcessesInAny(kill)
	if err != nil {
		errs = append(errs, err)
	}
	killed := map[string][]int{}
	for ns, pids := range killedNS {
		killed[byNS[ns]] = pids
	}
	return killed, errors.Join(errs...)
}

// errNotOurs: the namespace is not this Applier's.
var errNotOurs = errors.New("namespace not ours")

// powerInstance puts the stopped mark on the instance's namespace or takes
// it off; fs.ErrNotExist when there is no such namespace, errNotOurs when
// it is not this Applier's.
func (a *Applier) powerInstance(id string, stopped bool) error {
	r, err := openNS(id)
	if err != nil {
		return err
	}
	defer r.Close()
	marker, err := nsMarker(r)
	if err != nil {
		return err
	}
	if marker != a.marker {
		return errNotOurs
	}
	return setStoppedMark(r, stopped)
}
