package bolt_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/store/bolt"
	"github.com/palisade-project/palisade/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := bolt.Open(filepath.Join(t.TempDir(), "db"), &bolt.Options{History: storetest.History})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	s, err := bolt.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v; want 0600", fi.Mode().Perm())
	}
}
