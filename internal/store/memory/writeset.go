package memory

import (
	"slices"
	"strings"
)

// WriteSet buffers the writes of one transaction so they can be applied
// atomically on success and dropped on error. The bolt backend uses it too:
// buffering lets fn Put while a List walk is in progress (bbolt cursors do
// not tolerate that) and yields exactly one event per changed key.
type WriteSet struct {
	m map[string]write
}

type write struct {
	value   []byte
	deleted bool
}

// NewWriteSet returns an empty write set.
func NewWriteSet() *WriteSet { return &WriteSet{m: map[string]write{}} }

// Put buffers a copy of value, so the caller may reuse its slice.
func (w *WriteSet) Put(key string, value []byte) {
	w.m[key] = write{value: append(make([]byte, 0, len(value)), value...)}
}

// Delete buffers a deletion.
func (w *WriteSet) Delete(key string) { w.m[key] = write{deleted: true} }

// Len is the number of buffered keys.
func (w *WriteSet) Len() int { return len(w.m) }

// Lookup reports whether key was written; deleted says the write was a
// deletion.
func (w *WriteSet) Lookup(key string) (value []byte, deleted, ok bool) {
	wr, ok := w.m[key]
	return wr.value, wr.deleted, ok
}

// Each calls fn for every buffered write in key order (deterministic events
// and sequential bbolt inserts).
func (w *WriteSet) Each(fn func(key string, value []byte, deleted bool) error) error {
	for _, k := range w.keys("") {
		wr := w.m[k]
		if err := fn(k, wr.value, wr.deleted); err != nil {
			return err
		}
	}
	return nil
}

func (w *WriteSet) keys(prefix string) []string {
	keys := make([]string, 0, len(w.m))
	for k := range w.m {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// Merge lists the keys with prefix as the transaction sees them: the base
// walk (committed data, in key order) overlaid with the buffered writes.
// base must call its argument for every committed key with the prefix in
// key order and stop when it returns an error.
func (w *WriteSet) Merge(prefix string, base func(emit func(key string, value []byte) error) error, fn func(key string, value []byte) error) error {
	if len(w.m) == 0 {
		return base(fn)
	}
	pending := w.keys(prefix)
	// flush emits buffered puts ordered before limit (all when !bounded).
	flush := func(limit string, bounded bool) error {
		for len(pending) > 0 && (!bounded || pending[0] < limit) {
			k := pending[0]
			pending = pending[1:]
			if wr := w.m[k]; !wr.deleted {
				if err := fn(k, wr.value); err != nil {
					return err
				}
			}
		}
		return nil
	}
	err := base(func(key string, value []byte) error {
		if err := flush(key, true); err != nil {
			return err
		}
		if len(pending) > 0 && pending[0] == key {
			pending = pending[1:]
			wr := w.m[key]
			if wr.deleted {
				return nil
			}
			value = wr.value
		}
		return fn(key, value)
	})
	if err != nil {
		return err
	}
	return flush("", false)
}
