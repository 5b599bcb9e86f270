package app

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// A second holder of one tag's lock is refused with the first's pid; other
// tags are independent; a released lock can be taken again.
func TestLockKernel(t *testing.T) {
	dir := t.TempDir()
	release, err := lockKernel(dir, "-a")
	if err != nil {
		t.Fatal(err)
	}
	_, err = lockKernel(dir, "-a")
	if err == nil || !strings.Contains(err.Error(), "another palisade up") || !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("second lock of one tag: %v, want refused naming pid %d", err, os.Getpid())
	}
	other, err := lockKernel(dir, "-b")
	if err != nil {
		t.Fatalf("lock of another tag: %v", err)
	}
	other()
	release()
	again, err := lockKernel(dir, "-a")
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	again()
	// Released locks leave no file behind (tests take one per tag).
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("files left after release: %v", left)
	}
}
