// Package e2e holds end-to-end tests that run the real palisade binary.
package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildOnce builds cmd/palisade once per test binary run.
type binary struct {
	once sync.Once
	path string
	err  error
}

func (b *binary) get(t *testing.T) string {
	t.Helper()
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "palisade-e2e-bin-")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, "palisade")
		cmd := exec.Command("go", "build", "-o", b.path, "../../cmd/palisade")
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

var palisadeBinary binary // built lazily; read-only after the first build

// server is a running `palisade server` process.
type server struct {
	cmd     *exec.Cmd
	addr    string
	dataDir string
	done    chan error
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServer runs `palisade server` on a free port with dataDir and waits
// until it accepts connections. The process is killed in t.Cleanup if the
// test did not stop it.
func startServer(t *testing.T, dataDir string, env ...string) *server {
	t.Helper()
	bin := palisadeBinary.get(t)
	addr := freePort(t)
	cmd := exec.Command(bin, "server", "--listen", addr, "--data-dir", dataDir)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, addr: addr, dataDir: dataDir, done: make(chan error, 1)}
	go func() { s.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-s.done
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return s
		}
		select {
		case err := <-s.done:
			s.done <- err
			t.Fatalf("palisade server exited before listening: %v", err)
		case <-ctx.Done():
			t.Fatalf("palisade server did not listen on %s", addr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// kill sends SIGKILL and waits for the process to die.
func (s *server) kill(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err := <-s.done
	s.done <- err
}

// stop sends SIGTERM and returns the exit error (nil for a clean exit).
func (s *server) stop(t *testing.T) error {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.done:
		s.done <- err
		return err
	case <-time.After(15 * time.Second):
		t.Fatal("palisade server did not stop within 15 s of SIGTERM")
		return nil
	}
}
