package policy

import (
	"fmt"
	"strings"
)

// flatPrefix starts the names of flat verdict maps (see flatName).
const flatPrefix = "f_"

// Incremental returns the nft script that turns the table rendered as
// oldText into the one rendered as newText by adding and deleting set
// elements only, when the two differ in set elements and nothing else
// (same chains, rules, maps and sets). That is the common case of a rule
// added, changed or removed while the ENIs' group sets stay (it changes
// elements of the flat verdict maps; with fallback classes, it must stay
// in an existing (group, direction, priority, action) class), and of a
// membership change (member sets, and the flat elements of references).
// Elements of verdict maps are written with their verdict; a changed
// verdict is a deletion and an addition. nft
// commits a script as one transaction, so the change is atomic; deletions
// come first so that a re-split interval never overlaps its old self.
//
// ok is false when the structure changed: the caller replaces the table.
// An empty script with ok true means the programs are equal.
func Incremental(oldText, newText string) (script string, ok bool) {
	oldSkel, oldSets := splitRendered(oldText)
	newSkel, newSets := splitRendered(newText)
	if oldSkel != newSkel {
		return "", false
	}
	var dels, adds strings.Builder
	for _, name := range newSets.order {
		before, after := oldSets.elems[name], newSets.elems[name]
		gone, added := diffElements(before, after)
		writeElements(&dels, "delete", name, gone)
		writeElements(&adds, "add", name, added)
	}
	return dels.String() + adds.String(), true
}

type renderedSets struct {
	order []string
	elems map[string][]string
}

// splitRendered separates Render's output into its skeleton (everything but
// set elements) and the elements of each set, keyed by set name.
func splitRendered(text string) (string, renderedSets) {
	sets := renderedSets{elems: map[string][]string{}}
	var skel strings.Builder
	lines := strings.Split(text, "\n")
	current := ""
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		name, ok := strings.CutPrefix(line, "\tset ")
		if !ok {
			// The flats' verdict maps too (not the interface maps,
			// whose elements name chains).
			// and the generation map.
			if name, ok = strings.CutPrefix(line, "\tmap "); ok && !strings.HasPrefix(name, flatPrefix) && !strings.HasPrefix(name, GenMap+" ") {
				ok = false
			}
		}
		if ok {
			current = strings.TrimSuffix(name, " {")
			sets.order = append(sets.order, current)
			sets.elems[current] = nil
		}
		if current != "" && line == "\t\telements = {" {
			for i++; i < len(lines) && lines[i] != "\t\t}"; i++ {
				sets.elems[current] = append(sets.elems[current], strings.TrimSuffix(strings.TrimSpace(lines[i]), ","))
			}
			continue
		}
		if line == "\t}" {
			current = ""
		}
		skel.WriteString(line)
		skel.WriteByte('\n')
	}
	return skel.String(), sets
}

func diffElements(before, after []string) (gone, added []string) {
	in := map[string]bool{}
	for _, e := range before {
		in[e] = true
	}
	out := map[string]bool{}
	for _, e := range after {
		out[e] = true
		if !in[e] {
			added = append(added, e)
		}
	}
	for _, e := range before {
		if !out[e] {
			gone = append(gone, e)
		}
	}
	return gone, added
}

func writeElements(b *strings.Builder, verb, set string, elems []string) {
	if len(elems) == 0 {
		return
	}
	fmt.Fprintf(b, "%s element inet %s %s { %s }\n", verb, TableName, set, strings.Join(elems, ", "))
}
