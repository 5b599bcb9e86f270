package waf

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	crstests "github.com/corazawaf/coraza-coreruleset/v4/tests"
	"github.com/corazawaf/coraza/v3"
	"github.com/corazawaf/coraza/v3/types"
	"gopkg.in/yaml.v3"

	"github.com/palisade-project/palisade/internal/waf/wafrule"
)

// The OWASP CRS regression tests shipped in coraza-coreruleset (tests/),
// run through Palisade's proxy (raw HTTP over TCP, Go's HTTP server, the
// proxy's Coraza integration) with the CRS test settings (paranoia 4,
// Monitor so that every rule is evaluated). A case passes when every
// expected rule ID matched and no unexpected one did. Response-phase
// tests, encoded/raw requests and expected-error cases are out of scope.
//
// Opt-in (it takes a while): PALISADE_CRS_REGRESSION=1 go test ./internal/waf -run CRSRegression -v

type crsFile struct {
	RuleID int       `yaml:"rule_id"`
	Tests  []crsTest `yaml:"tests"`
}

type crsTest struct {
	TestID int `yaml:"test_id"`
	Stages []struct {
		Input struct {
			Method              *string           `yaml:"method"`
			URI                 *string           `yaml:"uri"`
			Version             *string           `yaml:"version"`
			Headers             map[string]string `yaml:"headers"`
			Data                *string           `yaml:"data"`
			EncodedRequest      string            `yaml:"encoded_request"`
			AutocompleteHeaders *bool             `yaml:"autocomplete_headers"`
		} `yaml:"input"`
		Output struct {
			Log struct {
				ExpectIDs   []int `yaml:"expect_ids"`
				NoExpectIDs []int `yaml:"no_expect_ids"`
			} `yaml:"log"`
			ExpectError bool `yaml:"expect_error"`
		} `yaml:"output"`
	} `yaml:"stages"`
}

const crsTestSetup = `SecAction "id:900005,phase:1,nolog,pass,setvar:tx.crs_validate_utf8_encoding=1,setvar:tx.arg_name_length=100,setvar:tx.arg_length=400,setvar:tx.total_arg_length=64000,setvar:tx.max_num_args=255,setvar:tx.max_file_size=64100,setvar:tx.combined_file_sizes=65535"
`

func TestCRSRegression(t *testing.T) {
	if os.Getenv("PALISADE_CRS_REGRESSION") == "" {
		t.Skip("set PALISADE_CRS_REGRESSION=1 to run the 4,000+ CRS regression cases")
	}
	var mu sync.Mutex
	matched := map[string][]int{} // X-CRS-Case -> rule IDs
	prof := Profile{Action: wafrule.Monitor, ParanoiaLevel: 4, BodyLimit: MaxBodyLimit}
	eng, err := coraza.NewWAF(coraza.NewWAFConfig().WithRootFS(coreruleset.FS).WithDirectives(directives(prof, crsTestSetup)))
	if err != nil {
		t.Fatal(err)
	}
	up := upstream(t)
	u, _ := url.Parse(up.URL)
	px, err := NewProxy(Options{ObjectID: "crs", Upstream: u}, Policy{})
	if err != nil {
		t.Fatal(err)
	}
	// Every rule ID that matched, per case: through a wrapping engine that
	// records the transaction's matched rules.
	rec := &recordingEngine{WAF: eng, onClose: func(caseID string, ids []int) {
		mu.Lock()
		matched[caseID] = ids
		mu.Unlock()
	}}
	px.Publish(&Compiled{objectID: "crs", engine: rec, profile: prof.normalized(), needsBody: true,
		response: BlockResponse{Status: DefaultBlockStatus}})
	front := httptest.NewServer(px)
	defer front.Close()
	addr := strings.TrimPrefix(front.URL, "http://")

	type result struct{ pass, fail, skipped, rejected, positive int }
	var res result
	var failures []string
	err = fs.WalkDir(crstests.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".yaml") || strings.HasPrefix(p, "RESPONSE-") {
			return err
		}
		b, err := fs.ReadFile(crstests.FS, p)
		if err != nil {
			return err
		}
		var f crsFile
		if err := yaml.Unmarshal(b, &f); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		for _, tc := range f.Tests {
			name := fmt.Sprintf("%d-%d", f.RuleID, tc.TestID)
			if len(tc.Stages) != 1 {
				res.skipped++
				continue
			}
			st := tc.Stages[0]
			if st.Input.EncodedRequest != "" || st.Output.ExpectError || (st.Input.Version != nil && *st.Input.Version != "HTTP/1.1" && *st.Input.Version != "HTTP/1.0") ||
				(len(st.Output.Log.ExpectIDs) == 0 && len(st.Output.Log.NoExpectIDs) == 0) {
				res.skipped++
				continue
			}
			status, err := sendRaw(addr, name, st.Input.Method, st.Input.URI, st.Input.Version, st.Input.Headers, st.Input.Data,
				st.Input.AutocompleteHeaders == nil || *st.Input.AutocompleteHeaders)
			mu.Lock()
			ids, ran := matched[name]
			mu.Unlock()
			if err != nil || (!ran && status == http.StatusBadRequest) {
				res.rejected++ // refused by Go's HTTP server before the WAF
				continue
			}
			ok := true
			for _, id := range st.Output.Log.ExpectIDs {
				ok = ok && slices.Contains(ids, id)
			}
			for _, id := range st.Output.Log.NoExpectIDs {
				ok = ok && !slices.Contains(ids, id)
			}
			if ok {
				res.pass++
				if len(st.Output.Log.ExpectIDs) > 0 {
					res.positive++
				}
			} else {
				res.fail++
				failures = append(failures, name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	total := res.pass + res.fail
	t.Logf("CRS regression: %d passed (%d of them detections), %d failed (%.1f%% of %d run); %d refused by Go's HTTP server; %d out of scope",
		res.pass, res.positive, res.fail, 100*float64(res.pass)/float64(max(total, 1)), total, res.rejected, res.skipped)
	sort.Strings(failures)
	if len(failures) > 0 {
		t.Logf("failed: %s", strings.Join(failures[:min(len(failures), 200)], " "))
	}
	if res.positive < 3000 || float64(res.pass) < 0.9*float64(total) {
		t.Errorf("pass rate below 90%%")
	}
}

// recordingEngine wraps a Coraza engine; at transaction close it reports
// the IDs of every matched rule with the request's X-CRS-Case header.
type recordingEngine struct {
	coraza.WAF
	onClose func(caseID string, ids []int)
}

func (r *recordingEngine) NewTransaction() types.Transaction {
	return &recordingTx{Transaction: r.WAF.NewTransaction(), e: r}
}

type recordingTx struct {
	types.Transaction
	e      *recordingEngine
	caseID string
}

func (t *recordingTx) AddRequestHeader(k, v string) {
	if http.CanonicalHeaderKey(k) == "X-Crs-Case" {
		t.caseID = v
	}
	t.Transaction.AddRequestHeader(k, v)
}

func (t *recordingTx) Close() error {
	var ids []int
	for _, mr := range t.Transaction.MatchedRules() {
		ids = append(ids, mr.Rule().ID())
	}
	t.e.onClose(t.caseID, ids)
	return t.Transaction.Close()
}

func sendRaw(addr, caseID string, method, uri, version *string, headers map[string]string, data *string, autocomplete bool) (int, error) {
	m, u, v := "GET", "/", "HTTP/1.1"
	if method != nil {
		m = *method
	}
	if uri != nil {
		u = *uri
	}
	if version != nil {
		v = *version
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s\r\n", m, u, v)
	keys := make([]string, 0, len(headers))
	for k := range headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s: %s\r\n", k, headers[k])
	}
	fmt.Fprintf(&b, "X-CRS-Case: %s\r\n", caseID)
	body := ""
	if data != nil {
		body = *data
	}
	if autocomplete {
		b.WriteString("Connection: close\r\n")
		if body != "" && headers["Content-Length"] == "" {
			fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
		}
	}
	b.WriteString("\r\n")
	b.WriteString(body)
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, b.String()); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
