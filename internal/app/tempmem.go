package app

import (
	"context"
	"errors"
	"sort"
	"strings"
	"sync"

	"github.com/palisade-project/palisade/internal/store"
)

// storeT is the store type the app uses.
type storeT = store.Store

// tempMemStore is a stop-gap in-memory store used until
// internal/store/memory lands. TODO(H2): delete.
type tempMemStore struct {
	mu  sync.RWMutex
	kv  map[string][]byte
	rev int64
}

func newTempMemStore() *tempMemStore { return &tempMemStore{kv: map[string][]byte{}} }

type tempTxn struct {
	s     *tempMemStore
	write map[string][]byte // nil value: delete
}

func (t *tempTxn) Get(key string) ([]byte, bool, error) {
	if v, ok := t.write[key]; ok {
		return v, v != nil, nil
	}
	v, ok := t.s.kv[key]
	return v, ok, nil
}

func (t *tempTxn) List(prefix string, fn func(string, []byte) error) error {
	keys := map[string]bool{}
	for k := range t.s.kv {
		if strings.HasPrefix(k, prefix) {
			keys[k] = true
		}
	}
	for k := range t.write {
		if strings.HasPrefix(k, prefix) {
			keys[k] = true
		}
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		v, ok, _ := t.Get(k)
		if !ok {
			continue
		}
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return nil
}

func (t *tempTxn) Revision() int64 { return t.s.rev }
func (t *tempTxn) Put(key string, value []byte) error {
	t.write[key] = append([]byte{}, value...)
	return nil
}
func (t *tempTxn) Delete(key string) error { t.write[key] = nil; return nil }

func (s *tempMemStore) View(ctx context.Context, fn func(store.ReadTxn) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return fn(&tempTxn{s: s})
}

func (s *tempMemStore) Update(ctx context.Context, fn func(store.Txn) error) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := &tempTxn{s: s, write: map[string][]byte{}}
	if err := fn(t); err != nil {
		return 0, err
	}
	if len(t.write) == 0 {
		return s.rev, nil
	}
	s.rev++
	for k, v := range t.write {
		if v == nil {
			delete(s.kv, k)
		} else {
			s.kv[k] = v
		}
	}
	return s.rev, nil
}

func (s *tempMemStore) Revision() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.rev
}

func (s *tempMemStore) Watch(context.Context, string, int64) (<-chan store.Event, error) {
	return nil, errors.New("tempmem: watch not supported")
}

func (s *tempMemStore) Close() error { return nil }
