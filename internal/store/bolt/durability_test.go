package bolt_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/store/bolt"
)

// helperEnv names the database the child writer process uses; its presence
// is what turns TestHelperWriter from a no-op into the child.
const helperEnv = "PALISADE_BOLT_HELPER_DB"

const (
	helperWriters = 4  // concurrent writers, so batched commits are covered
	helperAcks    = 60 // the child kills itself after this many acks
)

// TestDurabilityKill9 runs a child that writes concurrently, prints every
// acknowledged write and SIGKILLs itself mid-stream; every acknowledged
// write must be in the reopened database.
func TestDurabilityKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	path := filepath.Join(t.TempDir(), "db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriter$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+path)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("child did not die: %v\nstderr: %s", err, stderr.String())
	}
	if ws, ok := exit.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child exit %v; want SIGKILL\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
	}

	acked := map[string]int64{} // key -> revision the child was told
	var maxRev int64
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 || f[0] != "ack" {
			continue // test framework noise
		}
		rev, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			t.Fatalf("bad line %q", sc.Text())
		}
		acked[f[2]] = rev
		maxRev = max(maxRev, rev)
	}
	if len(acked) < helperAcks {
		t.Fatalf("child acknowledged %d writes; want >= %d\nstderr: %s", len(acked), helperAcks, stderr.String())
	}

	s, err := bolt.Open(path, nil)
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if r := s.Revision(); r < maxRev {
		t.Fatalf("revision after reopen %d < acknowledged %d", r, maxRev)
	}
	err = s.View(context.Background(), func(tx store.ReadTxn) error {
		for k, rev := range acked {
			v, ok, err := tx.Get(k)
			if err != nil {
				return err
			}
			if !ok || string(v) != "v" {
				return fmt.Errorf("acknowledged key %s (revision %d) lost: %q,%v", k, rev, v, ok)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d acknowledged writes survived SIGKILL (max revision %d, stored %d)", len(acked), maxRev, s.Revision())
}

// TestHelperWriter is the child of TestDurabilityKill9; it does nothing
// unless helperEnv is set.
func TestHelperWriter(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		t.Skip("helper process only")
	}
	s, err := bolt.Open(path, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	var (
		mu   sync.Mutex
		acks int
	)
	var wg sync.WaitGroup
	for w := range helperWriters {
		wg.Go(func() {
			for i := 0; ; i++ {
				key := fmt.Sprintf("d/%d/%06d", w, i)
				rev, err := s.Update(context.Background(), func(tx store.Txn) error {
					return tx.Put(key, []byte("v"))
				})
				if err != nil {
					fmt.Fprintln(os.Stderr, "update:", err)
					os.Exit(2)
				}
				mu.Lock()
				// os.Stdout is unbuffered: the line is in the pipe
				// before the next write starts.
				fmt.Fprintf(os.Stdout, "ack %d %s\n", rev, key)
				acks++
				if acks == helperAcks {
					// Die with other writers mid-commit.
					_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}
