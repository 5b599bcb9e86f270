package app

import (
	"fmt"

	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/store/bolt"
	"github.com/palisade-project/palisade/internal/store/memory"
)

// storeT is the store type the app uses.
type storeT = store.Store

// openStore opens the configured backend; path is the bolt database file.
func openStore(backend, path string) (storeT, error) {
	switch backend {
	case BackendMemory:
		return memory.New(), nil
	case BackendBolt:
		st, err := bolt.Open(path, nil)
		if err != nil {
			return nil, fmt.Errorf("open bolt store: %w", err)
		}
		return st, nil
	}
	return nil, fmt.Errorf("unknown store backend %q (want %q or %q)", backend, BackendBolt, BackendMemory)
}
