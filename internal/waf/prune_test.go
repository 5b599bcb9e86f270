package waf

import (
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	"github.com/corazawaf/coraza/v3"
	ftwtest "github.com/coreruleset/go-ftw/v2/test"

	"github.com/palisade-project/palisade/internal/waf/wafrule"
)

func TestParseCRSDirectives(t *testing.T) {
	const conf = `# a comment
SecRuleEngine On
SecRule TX:DETECTION_PARANOIA_LEVEL "@lt 2" "id:100013,phase:1,pass,nolog,tag:'OWASP_CRS',skipAfter:END-X"
SecRule ARGS "@rx a\"b,c" \
    "id:100100,\
    phase:request,\
    block,\
    msg:'a, b: c',\
    tag:'paranoia-level/2',\
    chain"
    SecRule ARGS "@eq 1" "t:none"
SecAction "id:100200,pass,nolog"
SecMarker "END-X"
SecMarker END-Y
`
	got, err := parseCRSDirectives(conf)
	if err != nil {
		t.Fatal(err)
	}
	want := []crsDirective{
		{id: 100013, phase: 1, variable: "TX:DETECTION_PARANOIA_LEVEL", operator: "@lt 2", skipTo: "END-X", tags: []string{"OWASP_CRS"}},
		{id: 100100, phase: 2, variable: "ARGS", operator: `@rx a"b,c`, tags: []string{"paranoia-level/2"}},
		{phase: 2, variable: "ARGS", operator: "@eq 1", chained: true},
		{id: 100200, phase: 2},
		{marker: "END-X"},
		{marker: "END-Y"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}

	for _, bad := range []string{
		`SecRule ARGS "@rx a`,                       // unterminated quote
		`SecRule ARGS "@rx a" "phase:2,pass"`,       // no id
		`SecRule ARGS "@rx a" "id:x,phase:2"`,       // bad id
		`SecRule ARGS "@rx a" "id:1,phase:9"`,       // bad phase
		`SecRule ARGS`,                              // no operator
		`SecMarker`,                                 // no name
		`SecMarker ""`,                              // empty name
		`SecAction "id:1,pass" "extra"`,             // too many arguments
		`SecRule A "@rx b" "id:1" "x" "y"`,          // too many arguments
		`SecAction "id:1,phase:logging,pass`,        // unterminated
		"SecRule A \"@eq 1\" \"id:1,\\\n phase:0\"", // phase 0
	} {
		if _, err := parseCRSDirectives(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestPrunedInFile(t *testing.T) {
	gate := func(id, k, phase int, marker string) crsDirective {
		return crsDirective{id: id, phase: phase, variable: "TX:DETECTION_PARANOIA_LEVEL", operator: "@lt " + strconv.Itoa(k), skipTo: marker}
	}
	rule := func(id, phase int) crsDirective {
		return crsDirective{id: id, phase: phase, variable: "ARGS", operator: "@rx x"}
	}
	file := []crsDirective{
		gate(11, 1, 1, "END"), gate(12, 1, 2, "END"),
		rule(100, 1), rule(101, 2),
		gate(13, 2, 1, "END"), gate(14, 2, 2, "END"),
		rule(200, 1), {phase: 1, variable: "ARGS", operator: "@eq 1", chained: true}, rule(201, 2),
		{marker: "INNER"}, // a marker that another skip targets stays a boundary for it only
		rule(202, 2),
		gate(15, 3, 1, "END"), gate(16, 3, 2, "END"),
		rule(300, 1), rule(301, 2),
		{marker: "END"},
		rule(900, 2),
		{id: 949053, phase: 1, variable: "TX:BLOCKING_PARANOIA_LEVEL", operator: "@ge 2"},
		{id: 949153, phase: 1, variable: "TX:DETECTION_PARANOIA_LEVEL", operator: "@ge 2"},
		{id: 949052, phase: 1, variable: "TX:BLOCKING_PARANOIA_LEVEL", operator: "@ge 1"},
		{id: 950, phase: 1, variable: "TX:BLOCKING_PARANOIA_LEVEL", operator: "@lt 3"},        // no skip: kept
		{id: 951, phase: 1, variable: "TX:DETECTION_PARANOIA_LEVEL|ARGS", operator: "@ge 9"},  // not only the level: kept
		{id: 952, phase: 1, variable: "TX:DETECTION_PARANOIA_LEVEL", operator: "@ge %{tx.x}"}, // not a constant: kept
	}
	for _, tc := range []struct {
		level int
		want  []int
	}{
		{1, []int{11, 12, 13, 14, 15, 16, 200, 201, 202, 300, 301, 949053, 949153}},
		{2, []int{11, 12, 13, 14, 15, 16, 300, 301}},
		{3, []int{11, 12, 13, 14, 15, 16}},
		{4, []int{11, 12, 13, 14, 15, 16}},
	} {
		got, err := prunedInFile(file, tc.level)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("level %d: got %v, want %v", tc.level, got, tc.want)
		}
	}
	if _, err := prunedInFile([]crsDirective{gate(13, 2, 1, "END"), rule(200, 1)}, 1); err == nil {
		t.Error("a gate without its marker: no error")
	}
}

// The pruned CRS rules agree with the CRS's own paranoia-level tags: every
// pruned rule is a level test or tagged with a level above the profile's,
// and every rule of a higher level is pruned. (Tags are a cross-check of
// the gate analysis, which is what decides.)
func TestParanoiaPrunedMatchesTags(t *testing.T) {
	files, err := fs.Glob(coreruleset.FS, "@owasp_crs/*.conf")
	if err != nil {
		t.Fatal(err)
	}
	var all []crsDirective
	for _, f := range files {
		b, err := fs.ReadFile(coreruleset.FS, f)
		if err != nil {
			t.Fatal(err)
		}
		d, err := parseCRSDirectives(string(b))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		all = append(all, d...)
	}
	ruleLevel := func(d crsDirective) int {
		for _, tag := range d.tags {
			if l, ok := strings.CutPrefix(tag, "paranoia-level/"); ok {
				n, _ := strconv.Atoi(l)
				return n
			}
		}
		return 0
	}
	for level := 1; level <= 4; level++ {
		pruned, err := paranoiaPruned(coreruleset.FS, level)
		if err != nil {
			t.Fatal(err)
		}
		if len(pruned) == 0 {
			t.Fatalf("level %d: nothing pruned", level)
		}
		tests := 0
		for _, d := range all {
			if d.marker != "" || d.chained {
				continue
			}
			_, _, isTest := paranoiaComparison(d)
			l := ruleLevel(d)
			_, isPruned := slices.BinarySearch(pruned, d.id)
			switch {
			case isTest:
				tests += b2i(isPruned)
			case isPruned && l == 0:
				// Untagged helpers inside a higher level's section, such as
				// 921170 (counts parameters for the level-3 rule 921180).
				t.Logf("level %d: untagged rule %d pruned with its section", level, d.id)
			case isPruned && l <= level:
				t.Errorf("level %d: rule %d (paranoia level %d) pruned", level, d.id, l)
			case !isPruned && l > level:
				t.Errorf("level %d: rule %d (paranoia level %d) kept", level, d.id, l)
			}
		}
		t.Logf("level %d: %d rules pruned, %d of them level tests", level, len(pruned), tests)
	}
	// Known rules: 920100 is a level-1 rule, 920200 a level-2 one behind
	// gate 920014.
	pl1, _ := paranoiaPruned(coreruleset.FS, 1)
	pl2, _ := paranoiaPruned(coreruleset.FS, 2)
	for _, c := range []struct {
		ids  []int
		id   int
		want bool
	}{{pl1, 920100, false}, {pl1, 920014, true}, {pl1, 920200, true}, {pl2, 920200, false}, {pl2, 920014, true}, {pl1, 949053, true}, {pl2, 949053, false}} {
		if _, got := slices.BinarySearch(c.ids, c.id); got != c.want {
			t.Errorf("rule %d pruned: %v, want %v", c.id, got, c.want)
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestParanoiaPruningEquivalent runs the requests of the CRS regression
// suite through pruned and unpruned engines at every paranoia level
// (DetectionOnly, responses inspected, so that every phase runs) and
// requires the same matched rules with the same messages (the anomaly
// scores are in the scoring rules' messages), apart from the pruned gates
// themselves. Matched data is not compared: which of several matching
// values a rule reports follows Go's map order, in either engine.
//
// Every tenth request by default; the whole suite (about 4,700 requests
// per level, a minute) with PALISADE_CRS_REGRESSION set, as scripts/test.sh
// does.
func TestParanoiaPruningEquivalent(t *testing.T) {
	inputs := crsTestInputs(t)
	step := 10
	if os.Getenv("PALISADE_CRS_REGRESSION") != "" {
		step = 1
	}
	for level := 1; level <= 4; level++ {
		t.Run("PL"+strconv.Itoa(level), func(t *testing.T) {
			t.Parallel()
			prof := Profile{Action: wafrule.Monitor, ParanoiaLevel: level, BodyLimit: MaxBodyLimit, InspectResponses: true}
			engines := [2]coraza.WAF{}
			for i, prune := range []bool{false, true} {
				dirs, err := directives(prof, crsTestSetup, nil, prune)
				if err != nil {
					t.Fatal(err)
				}
				if engines[i], err = coraza.NewWAF(coraza.NewWAFConfig().WithRootFS(coreruleset.FS).WithDirectives(dirs)); err != nil {
					t.Fatal(err)
				}
			}
			pruned, err := paranoiaPruned(coreruleset.FS, level)
			if err != nil {
				t.Fatal(err)
			}
			matchedAny, differ := 0, 0
			for i := 0; i < len(inputs); i += step {
				in := inputs[i]
				full := in.matches(engines[0], func(id int) bool { _, p := slices.BinarySearch(pruned, id); return p })
				got := in.matches(engines[1], func(int) bool { return false })
				if !slices.Equal(full, got) {
					differ++
					if differ <= 5 {
						t.Errorf("%s: unpruned %v, pruned %v", in.name, full, got)
					}
				}
				if len(full) > 0 {
					matchedAny++
				}
			}
			if differ > 0 {
				t.Errorf("%d requests differ", differ)
			}
			// The corpus is attacks: most must match something, or the
			// comparison says nothing.
			if n := (len(inputs) + step - 1) / step; matchedAny < n/2 {
				t.Errorf("only %d of %d requests matched any rule", matchedAny, n)
			}
		})
	}
}

// crsInput is one request of the CRS regression suite.
type crsInput struct {
	name, method, uri string
	headers           [][2]string
	body              []byte
}

// crsTestInputs reads every stage of the CRS regression suite that is an
// ordinary request (not a raw encoded one).
func crsTestInputs(t *testing.T) []crsInput {
	t.Helper()
	var inputs []crsInput
	for _, ft := range crsTests(t) {
		for _, tc := range ft.Tests {
			for si := range tc.Stages {
				in := ftwtest.NewInput(&tc.Stages[si].Input)
				if in.EncodedRequest != "" {
					continue
				}
				ci := crsInput{name: fmt.Sprintf("%d-%d/%d", ft.RuleId, tc.TestId, si), method: in.GetMethod(), uri: in.GetURI(), body: in.GetData()}
				for _, h := range in.OrderedHeaders {
					ci.headers = append(ci.headers, [2]string{h.Name, h.Value})
				}
				inputs = append(inputs, ci)
			}
		}
	}
	if len(inputs) < 3000 {
		t.Fatalf("only %d CRS test requests", len(inputs))
	}
	return inputs
}

// matches runs the request (and a small HTML answer) through the engine
// and returns its matched rules as "id message", sorted, without those
// skip reports.
func (in crsInput) matches(w coraza.WAF, skip func(int) bool) []string {
	tx := w.NewTransaction()
	defer tx.Close()
	tx.ProcessConnection("203.0.113.9", 40000, "192.0.2.1", 80)
	tx.ProcessURI(in.uri, in.method, "HTTP/1.1")
	for _, h := range in.headers {
		tx.AddRequestHeader(h[0], h[1])
	}
	tx.ProcessRequestHeaders()
	if len(in.body) > 0 {
		_, _, _ = tx.WriteRequestBody(in.body)
	}
	_, _ = tx.ProcessRequestBody()
	tx.AddResponseHeader("Content-Type", "text/html")
	tx.ProcessResponseHeaders(200, "HTTP/1.1")
	_, _, _ = tx.WriteResponseBody([]byte("<html><body>hello</body></html>"))
	_, _ = tx.ProcessResponseBody()
	tx.ProcessLogging()
	var out []string
	for _, mr := range tx.MatchedRules() {
		if id := mr.Rule().ID(); !skip(id) {
			out = append(out, fmt.Sprintf("%d %s", id, mr.Message()))
		}
	}
	slices.Sort(out)
	return out
}

func FuzzParseCRSDirectives(f *testing.F) {
	f.Add("SecRule ARGS \"@rx a\" \"id:1,phase:2,chain\"\n  SecRule ARGS \"@eq 1\"\nSecMarker END\n")
	f.Add("SecRule TX:DETECTION_PARANOIA_LEVEL \"@lt 2\" \"id:2,phase:1,skipAfter:END\"\\\n\nSecMarker \"END\"")
	f.Add("SecAction \"id:3,msg:'a\\',b',phase:logging\"")
	f.Fuzz(func(t *testing.T, text string) {
		dirs, err := parseCRSDirectives(text)
		if err != nil {
			return
		}
		for _, d := range dirs {
			if d.marker == "" && !d.chained && d.id == 0 {
				t.Fatalf("rule without id accepted: %+v", d)
			}
		}
		_, _ = prunedInFile(dirs, 1)
	})
}
