package app

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A refused second "up" (the host's kernel lock is held) fails before it
// opens the store or writes credentials.json: the data directory is not
// touched. A started Up holds the lock until Close.
func TestNewUpLocksFirst(t *testing.T) {
	old := kernelLockDir
	kernelLockDir = t.TempDir()
	t.Cleanup(func() { kernelLockDir = old })
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	const tag = "-uplocktest"
	opts := func(dataDir string) UpOptions {
		return UpOptions{Options: Options{Listen: "127.0.0.1:0", DataDir: dataDir, Backend: BackendMemory, Logger: quiet}, Tag: tag}
	}
	dataDir := func(name string) string { return filepath.Join(t.TempDir(), name) }

	release, err := lockKernel(kernelLockDir, tag)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		prepare func(dir string) // an existing data directory, or none
	}{
		{"no data dir yet", func(string) {}},
		{"existing data dir", func(dir string) {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := dataDir("data")
			tc.prepare(dir)
			before, _ := os.ReadDir(dir)
			u, err := NewUp(opts(dir))
			if err == nil {
				u.Close()
				t.Fatal("NewUp succeeded under another holder of the kernel lock")
			}
			if !strings.Contains(err.Error(), "another palisade up") {
				t.Errorf("error %v, want the lock's", err)
			}
			after, _ := os.ReadDir(dir)
			if len(after) != len(before) {
				t.Errorf("data dir touched by a refused up: %v", after)
			}
		})
	}
	release()

	u, err := NewUp(opts(dataDir("first")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewUp(opts(dataDir("second"))); err == nil || !strings.Contains(err.Error(), "another palisade up") {
		t.Errorf("second NewUp while the first holds the lock: %v", err)
	}
	if err := u.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := lockKernel(kernelLockDir, tag)
	if err != nil {
		t.Fatalf("lock after Close: %v", err)
	}
	again()
}
