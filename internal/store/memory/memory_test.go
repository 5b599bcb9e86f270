package memory_test

import (
	"testing"

	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/store/memory"
	"github.com/palisade-project/palisade/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return memory.NewWithOptions(memory.Options{History: storetest.History})
	})
}
