package waf

import (
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Paranoia pruning. The CRS decides at run time, on every request, which
// rules a paranoia level runs: each rule file holds "gates" such as
//
//	SecRule TX:DETECTION_PARANOIA_LEVEL "@lt 2" "id:920013,phase:1,...,skipAfter:END-REQUEST-920-..."
//
// that skip the file's higher-level rules of their phase, and the scoring
// files add the scores of each level with rules such as
// `SecRule TX:BLOCKING_PARANOIA_LEVEL "@ge 3"`. A profile's paranoia level is
// fixed when its engine is compiled (Palisade sets the blocking level,
// the CRS derives the detection level from it, and nothing else writes
// either), so these tests have the same answer for every request: the
// interpreter evaluated some 200 of them per request, and walked past
// hundreds of rules that can never run. Pruning removes, at compile time,
// exactly what can never have an effect:
//
//   - a gate that never fires (@lt K with K <= level);
//   - a gate that always fires (@lt K with K > level), together with every
//     rule of its phase between it and its marker, which it always skips;
//   - a level test that never matches (@ge K with K > level).
//
// Markers stay, so every other skipAfter finds its target as before.
// TestParanoiaPruningEquivalent compares pruned and unpruned engines.

// paranoiaTest matches a rule whose only variable is one of the CRS's
// paranoia levels and whose operator compares it with a constant.
var paranoiaTest = regexp.MustCompile(`^TX:(DETECTION|BLOCKING)_PARANOIA_LEVEL$`)

// crsDirective is one rule head or marker of a CRS file.
type crsDirective struct {
	marker   string // SecMarker name; the rest is empty then
	id       int
	phase    int
	variable string   // SecRule's variables
	operator string   // SecRule's operator
	skipTo   string   // skipAfter target
	tags     []string // tag actions
	chained  bool     // a chain member, not a head (no id)
}

// paranoiaPruned returns the IDs of the CRS rules (in crs, the embedded
// rule files under @owasp_crs) that can never have an effect at paranoia
// level, in ascending order.
func paranoiaPruned(crs fs.FS, level int) ([]int, error) {
	files, err := fs.Glob(crs, "@owasp_crs/*.conf")
	if err != nil {
		return nil, fmt.Errorf("list CRS files: %w", err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no CRS rule files")
	}
	var pruned []int
	for _, name := range files {
		data, err := fs.ReadFile(crs, name)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", name, err)
		}
		dirs, err := parseCRSDirectives(string(data))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path.Base(name), err)
		}
		ids, err := prunedInFile(dirs, level)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path.Base(name), err)
		}
		pruned = append(pruned, ids...)
	}
	slices.Sort(pruned)
	return pruned, nil
}

// prunedInFile applies the pruning rules to one file's directives.
func prunedInFile(dirs []crsDirective, level int) ([]int, error) {
	type skip struct {
		phase  int
		marker string
	}
	var active []skip // gates that always fire, until their markers
	var pruned []int
	for _, d := range dirs {
		if d.marker != "" {
			active = slices.DeleteFunc(active, func(s skip) bool { return s.marker == d.marker })
			continue
		}
		if d.chained {
			continue // goes with its head
		}
		if slices.ContainsFunc(active, func(s skip) bool { return s.phase == d.phase }) {
			pruned = append(pruned, d.id)
			continue
		}
		k, op, ok := paranoiaComparison(d)
		if !ok {
			continue
		}
		switch {
		case op == "@lt" && d.skipTo != "" && d.variable == "TX:DETECTION_PARANOIA_LEVEL":
			pruned = append(pruned, d.id)
			if k > level {
				active = append(active, skip{phase: d.phase, marker: d.skipTo})
			}
		case op == "@ge" && d.skipTo == "" && k > level:
			pruned = append(pruned, d.id)
		}
	}
	if len(active) > 0 {
		// A gate whose marker is missing skips into the following files:
		// not what the CRS does, and not something to prune blindly.
		return nil, fmt.Errorf("paranoia gate skips to marker %q, which the file lacks", active[0].marker)
	}
	return pruned, nil
}

// paranoiaComparison reads "@lt K" or "@ge K" on a paranoia level.
func paranoiaComparison(d crsDirective) (int, string, bool) {
	if !paranoiaTest.MatchString(d.variable) {
		return 0, "", false
	}
	op, arg, ok := strings.Cut(d.operator, " ")
	if !ok || (op != "@lt" && op != "@ge") {
		return 0, "", false
	}
	k, err := strconv.Atoi(arg)
	if err != nil {
		return 0, "", false
	}
	return k, op, true
}

// parseCRSDirectives reads the rule heads, chain members and markers of a
// SecLang file, as far as pruning needs them.
func parseCRSDirectives(text string) ([]crsDirective, error) {
	var dirs []crsDirective
	chain := false // the previous rule asked for a chain member
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		for strings.HasSuffix(line, "\\") && i+1 < len(lines) {
			i++
			line = strings.TrimSuffix(line, "\\") + strings.TrimSpace(lines[i])
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		args, err := seclangArgs(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		var d crsDirective
		var actions string
		switch args[0] {
		case "SecMarker":
			if len(args) != 2 || args[1] == "" {
				return nil, fmt.Errorf("line %d: SecMarker wants one name", i+1)
			}
			dirs = append(dirs, crsDirective{marker: args[1]})
			continue
		case "SecRule":
			if len(args) < 3 || len(args) > 4 {
				return nil, fmt.Errorf("line %d: SecRule wants 2 or 3 arguments", i+1)
			}
			d.variable, d.operator = args[1], args[2]
			if len(args) == 4 {
				actions = args[3]
			}
		case "SecAction":
			if len(args) != 2 {
				return nil, fmt.Errorf("line %d: SecAction wants one argument", i+1)
			}
			actions = args[1]
		default:
			continue // configuration directives
		}
		d.chained = chain
		chain = false
		d.phase = 2 // SecLang's default phase
		for _, a := range splitActions(actions) {
			key, val, _ := strings.Cut(a, ":")
			val = strings.Trim(val, "'")
			switch key {
			case "id":
				if d.id, err = strconv.Atoi(val); err != nil {
					return nil, fmt.Errorf("line %d: id %q", i+1, val)
				}
			case "phase":
				if d.phase, err = seclangPhase(val); err != nil {
					return nil, fmt.Errorf("line %d: %w", i+1, err)
				}
			case "skipAfter":
				d.skipTo = val
			case "tag":
				d.tags = append(d.tags, val)
			case "chain":
				chain = true
			}
		}
		if !d.chained && d.id == 0 {
			return nil, fmt.Errorf("line %d: rule without an id", i+1)
		}
		dirs = append(dirs, d)
	}
	return dirs, nil
}

// seclangPhase reads a phase number or name.
func seclangPhase(v string) (int, error) {
	switch v {
	case "request":
		return 2, nil
	case "response":
		return 4, nil
	case "logging":
		return 5, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 5 {
		return 0, fmt.Errorf("phase %q", v)
	}
	return n, nil
}

// seclangArgs splits a directive into its words; a double-quoted word may
// hold spaces and backslash-escaped quotes.
func seclangArgs(line string) ([]string, error) {
	var args []string
	for i := 0; i < len(line); {
		switch {
		case line[i] == ' ' || line[i] == '\t':
			i++
		case line[i] == '"':
			var b strings.Builder
			j := i + 1
			for ; j < len(line) && line[j] != '"'; j++ {
				if line[j] == '\\' && j+1 < len(line) && line[j+1] == '"' {
					j++
				}
				b.WriteByte(line[j])
			}
			if j == len(line) {
				return nil, fmt.Errorf("unterminated quote")
			}
			args = append(args, b.String())
			i = j + 1
		default:
			j := i
			for j < len(line) && line[j] != ' ' && line[j] != '\t' {
				j++
			}
			args = append(args, line[i:j])
			i = j
		}
	}
	if len(args) == 0 {
		return nil, fmt.Errorf("empty directive")
	}
	return args, nil
}

// splitActions splits an action list at the commas outside single quotes.
func splitActions(s string) []string {
	var out []string
	quoted := false
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '\'':
			quoted = !quoted
		case ',':
			if !quoted {
				out = append(out, strings.TrimSpace(s[start:i]))
				start = i + 1
			}
		}
	}
	return append(out, strings.TrimSpace(s[start:]))
}
