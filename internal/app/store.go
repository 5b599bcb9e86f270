package app

import (
	"fmt"
)

// openStore opens the configured backend.
func openStore(backend, path string) (storeT, error) {
	switch backend {
	case BackendMemory:
		return newTempMemStore(), nil
	case BackendBolt:
		// TODO(H2): switch to internal/store/bolt when it lands; until then
		// the bolt backend falls back to memory (nothing persists).
		return newTempMemStore(), nil
	}
	return nil, fmt.Errorf("unknown store backend %q (want %q or %q)", backend, BackendBolt, BackendMemory)
}
