package memory

import (
	"slices"
	"sort"
	"strings"
)

// chunkMax bounds a chunk of the key index. Chunks keep inserts O(chunk)
// instead of O(keys): a flat sorted slice of 100k keys would memmove
// megabytes per new key and distort the memory baseline.
const chunkMax = 512

// keyIndex is the set of keys in sorted order, as a list of sorted chunks
// (a one-level B+ tree), so that List walks in key order without sorting.
type keyIndex struct {
	chunks [][]string
}

// find locates key: ci is the chunk that holds it or would hold it.
func (x *keyIndex) find(key string) (ci, i int, found bool) {
	ci = sort.Search(len(x.chunks), func(j int) bool {
		c := x.chunks[j]
		return c[len(c)-1] >= key
	})
	if ci == len(x.chunks) {
		return ci, 0, false
	}
	i, found = slices.BinarySearch(x.chunks[ci], key)
	return ci, i, found
}

func (x *keyIndex) insert(key string) {
	ci, i, found := x.find(key)
	if found {
		return
	}
	if ci == len(x.chunks) {
		if ci == 0 {
			x.chunks = append(x.chunks, []string{key})
			return
		}
		ci--
		i = len(x.chunks[ci])
	}
	c := slices.Insert(x.chunks[ci], i, key)
	if len(c) <= chunkMax {
		x.chunks[ci] = c
		return
	}
	// Split; the right half is copied so that later appends to the left
	// half cannot overwrite it through the shared array.
	half := len(c) / 2
	right := slices.Clone(c[half:])
	x.chunks[ci] = c[:half]
	x.chunks = slices.Insert(x.chunks, ci+1, right)
}

func (x *keyIndex) remove(key string) {
	ci, i, found := x.find(key)
	if !found {
		return
	}
	c := slices.Delete(x.chunks[ci], i, i+1)
	if len(c) == 0 {
		x.chunks = slices.Delete(x.chunks, ci, ci+1)
		return
	}
	x.chunks[ci] = c
}

// ascend calls fn for each key with prefix in order until fn returns false.
func (x *keyIndex) ascend(prefix string, fn func(key string) bool) {
	ci, i, _ := x.find(prefix)
	for ; ci < len(x.chunks); ci, i = ci+1, 0 {
		for _, k := range x.chunks[ci][i:] {
			if !strings.HasPrefix(k, prefix) || !fn(k) {
				return
			}
		}
	}
}

func (x *keyIndex) len() int {
	n := 0
	for _, c := range x.chunks {
		n += len(c)
	}
	return n
}
