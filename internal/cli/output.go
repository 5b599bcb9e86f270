package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// Helpers to read the generic JSON maps of responses.

// get walks m along path; nil when a step is missing.
func get(m map[string]any, path ...string) any {
	var cur any = m
	for _, k := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[k]
	}
	return cur
}

// str is the value at path as text ("" when missing or not a scalar).
func str(m map[string]any, path ...string) string {
	return scalar(get(m, path...))
}

func scalar(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	default:
		return ""
	}
}

// objects is the list of objects at path (a classic wrapped list, e.g.
// "Vpcs", "Vpc").
func objects(m map[string]any, path ...string) []map[string]any {
	arr, _ := get(m, path...).([]any)
	out := make([]map[string]any, 0, len(arr))
	for _, v := range arr {
		if o, ok := v.(map[string]any); ok {
			out = append(out, o)
		}
	}
	return out
}

// strs is the list of scalars at path, e.g. "SecurityGroupIds", "SecurityGroupId".
func strs(m map[string]any, path ...string) []string {
	arr, _ := get(m, path...).([]any)
	out := make([]string, 0, len(arr))
	for _, v := range arr {
		out = append(out, scalar(v))
	}
	return out
}

// writeJSON prints v indented, with <, > and & as themselves ("a -> b",
// not "a -\u003e b": this JSON is read by people and jq, not embedded in
// HTML).
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table prints rows under headers, aligned; empty cells print as "-".
func table(w io.Writer, headers []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(headers, "\t"))
	for _, r := range rows {
		cells := make([]string, len(r))
		for i, s := range r {
			if s == "" {
				s = "-"
			}
			cells[i] = s
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// column is one column of a list table: a header and how to read the cell.
type column struct {
	header string
	value  func(map[string]any) string
}

func field(header string, path ...string) column {
	return column{header, func(m map[string]any) string { return str(m, path...) }}
}

func joined(header string, path ...string) column {
	return column{header, func(m map[string]any) string { return strings.Join(strs(m, path...), ",") }}
}

func rowsOf(items []map[string]any, cols []column) (headers []string, rows [][]string) {
	for _, c := range cols {
		headers = append(headers, c.header)
	}
	for _, it := range items {
		r := make([]string, len(cols))
		for i, c := range cols {
			r[i] = c.value(it)
		}
		rows = append(rows, r)
	}
	return headers, rows
}

// printObject prints the fields of a resource as "Key: value" lines,
// sorted, with nested objects flattened ("RouteTable.RouteTableId"),
// classic wrapped scalar lists joined ("VSwitchIds: vsw-1,vsw-2") and
// lists of objects indexed ("Tags[0].Key"). RequestId is left out.
func printObject(w io.Writer, m map[string]any) error {
	var lines [][2]string
	flatten("", m, &lines)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, l := range lines {
		fmt.Fprintf(tw, "%s:\t%s\n", l[0], l[1])
	}
	return tw.Flush()
}

func flatten(prefix string, v any, out *[][2]string) {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			if prefix == "" && k == "RequestId" {
				continue
			}
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			name := k
			if prefix != "" {
				name = prefix + "." + k
			}
			val := x[k]
			// Classic wrapper {"VSwitchId": [...]}: collapse onto the outer name.
			if inner, ok := val.(map[string]any); ok && len(inner) == 1 {
				for _, iv := range inner {
					if arr, ok := iv.([]any); ok {
						val = arr
					}
				}
			}
			flatten(name, val, out)
		}
	case []any:
		allScalar := true
		for _, e := range x {
			if _, ok := e.(map[string]any); ok {
				allScalar = false
			}
			if _, ok := e.([]any); ok {
				allScalar = false
			}
		}
		if allScalar {
			parts := make([]string, len(x))
			for i, e := range x {
				parts[i] = scalar(e)
			}
			*out = append(*out, [2]string{prefix, strings.Join(parts, ",")})
			return
		}
		for i, e := range x {
			flatten(fmt.Sprintf("%s[%d]", prefix, i), e, out)
		}
	default:
		*out = append(*out, [2]string{prefix, scalar(x)})
	}
}

// render prints resp as JSON (--output json) or with the table function.
func (c *cli) render(cmd *cobra.Command, resp map[string]any, tableFn func(w io.Writer) error) error {
	if c.output == OutputJSON {
		return writeJSON(cmd.OutOrStdout(), resp)
	}
	return tableFn(cmd.OutOrStdout())
}

// renderList prints the items of a list response as a table, or the
// response as JSON.
func (c *cli) renderList(cmd *cobra.Command, resp map[string]any, items []map[string]any, cols []column) error {
	return c.render(cmd, resp, func(w io.Writer) error {
		h, r := rowsOf(items, cols)
		return table(w, h, r)
	})
}

// renderID prints the ID of a created resource (or the response as JSON).
func (c *cli) renderID(cmd *cobra.Command, resp map[string]any, key string) error {
	return c.render(cmd, resp, func(w io.Writer) error {
		_, err := fmt.Fprintln(w, str(resp, key))
		return err
	})
}

// renderDone prints nothing in table mode (only RequestId came back) and
// the response in JSON mode.
func (c *cli) renderDone(cmd *cobra.Command, resp map[string]any) error {
	return c.render(cmd, resp, func(io.Writer) error { return nil })
}

// listAll pages through a PageNumber/PageSize Describe action and returns
// every item of the wrapped list wrapper.item, plus a response holding all
// of them (the last page's fields with the full list) for JSON output.
func (c *cli) listAll(cmd *cobra.Command, version, action string, params map[string]string, wrapper, item string) (map[string]any, []map[string]any, error) {
	const pageSize = 50
	var all []any
	var last map[string]any
	for page := 1; page <= 100000; page++ {
		p := map[string]string{"PageNumber": strconv.Itoa(page), "PageSize": strconv.Itoa(pageSize)}
		for k, v := range params {
			p[k] = v
		}
		resp, err := c.call(cmd, version, action, p)
		if err != nil {
			return nil, nil, err
		}
		last = resp
		arr, _ := get(resp, wrapper, item).([]any)
		all = append(all, arr...)
		total, terr := strconv.Atoi(str(resp, "TotalCount"))
		if len(arr) < pageSize || (terr == nil && len(all) >= total) {
			break
		}
	}
	if all == nil {
		all = []any{}
	}
	out := map[string]any{}
	for k, v := range last {
		out[k] = v
	}
	delete(out, "PageNumber")
	delete(out, "PageSize")
	out[wrapper] = map[string]any{item: all}
	return out, objects(out, wrapper, item), nil
}

// runProgram runs argv with os/exec and returns its exit code.
func runProgram(_ context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	// Not CommandContext: a terminal's ^C reaches the program itself (same
	// process group); Main only keeps it from killing palisade first.
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	cmd.Env = os.Environ()
	err := cmd.Run()
	if err == nil {
		return 0, nil
	}
	if ee, ok := err.(*exec.ExitError); ok {
		if code := ee.ExitCode(); code >= 0 {
			return code, nil
		}
		return 1, nil // killed by a signal
	}
	return 1, err
}

// kv prints the given top-level fields of resp as aligned "Key: value" lines.
func kv(w io.Writer, resp map[string]any, keys ...string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, k := range keys {
		fmt.Fprintf(tw, "%s:\t%s\n", k, str(resp, k))
	}
	return tw.Flush()
}
