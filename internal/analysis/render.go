package analysis

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Text renderings of the results, shared by the CLI and the golden tests.

// WriteReach prints a reach result for people.
func WriteReach(w io.Writer, r *ReachResult) error {
	var b strings.Builder
	q := r.Protocol
	if r.Port != 0 {
		q = fmt.Sprintf("%s port %d (source port %d)", r.Protocol, r.Port, r.SourcePort)
	}
	fmt.Fprintf(&b, "%s -> %s, %s: %s\n", r.From, r.To, q, strings.ToUpper(r.Verdict))
	for _, c := range r.WhatIf {
		fmt.Fprintf(&b, "what-if (not applied): %s\n", c)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	for _, p := range r.Paths {
		verdict := "reachable"
		switch {
		case !p.Forward:
			verdict = "blocked"
		case !p.ReplyPasses:
			verdict = "first packet passes, replies blocked"
		}
		ends := []Endpoint{p.From, p.To}
		to := p.To.String()
		if p.Backend != nil {
			// Through a load balancer to one of its backends, or through
			// a NAT gateway's forward entry to an ENI.
			ends = append(ends, *p.Backend)
			to += " -> " + p.Backend.String()
		}
		fmt.Fprintf(&b, "\n%s -> %s: %s\n", p.From, to, verdict)
		fmt.Fprintf(&b, "  packet: %s\n", p.Packet)
		if p.Translated != "" {
			fmt.Fprintf(&b, "  translated: %s\n", p.Translated)
		}
		path := []string{}
		for _, e := range ends {
			switch e.Kind {
			case "eni":
				path = append(path, fmt.Sprintf("%s [%s, %s]", e.ENI, e.VSwitch, e.VPC))
			case "load-balancer":
				path = append(path, fmt.Sprintf("%s %s [%s, %s]", e.LoadBalancer, e.Address, e.VSwitch, e.VPC))
			case "nat-gateway":
				path = append(path, fmt.Sprintf("%s EIP %s [%s, %s]", e.NatGateway, e.Address, e.VSwitch, e.VPC))
			default:
				path = append(path, e.String())
			}
		}
		fmt.Fprintf(&b, "  path: %s\n", strings.Join(path, " -> "))
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		n := 0
		for _, s := range p.Steps {
			n++
			fmt.Fprintf(tw, "  %d.\t%s\t%s\t%s\t%s\n", n, s.Point, verdictWord(s.Allow), orDash(s.Resource), s.Detail)
		}
		for _, s := range p.Reply {
			n++
			fmt.Fprintf(tw, "  %d.\t%s\t%s\t%s\t%s\n", n, "reply "+strings.TrimPrefix(s.Point, "reply"), verdictWord(s.Allow), orDash(s.Resource), s.Detail)
		}
		tw.Flush()
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func verdictWord(allow bool) string {
	if allow {
		return "allow"
	}
	return "DENY"
}

// WriteMatrix prints the matrix: one block per port, rows are sources,
// columns destinations (numbered; the key lists them).
func WriteMatrix(w io.Writer, m *MatrixResult) error {
	var b strings.Builder
	scope := "VPC " + m.VpcID
	if m.MultiVPC() {
		scope += " and its peered " + strings.Join(m.PeerVpcIDs, ", ")
	}
	fmt.Fprintf(&b, "%s: %d instances, %d reachable (pair, port) cells; source port %d\n", scope, len(m.Instances), m.Reachable, m.SourcePort)
	for _, c := range m.WhatIf {
		fmt.Fprintf(&b, "what-if (not applied): %s\n", c)
	}
	for _, n := range m.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	fmt.Fprintf(&b, "legend: %s\n\n", m.Legend)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	if m.MultiVPC() {
		fmt.Fprintln(tw, "#\tInstance\tName\tVPC\tAddress\tStatus")
	} else {
		fmt.Fprintln(tw, "#\tInstance\tName\tAddress\tStatus")
	}
	for i, in := range m.Instances {
		if m.MultiVPC() {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", i+1, in.Instance, orDash(in.Name), in.VpcID, in.Address, orDash(in.Status))
			continue
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", i+1, in.Instance, orDash(in.Name), in.Address, orDash(in.Status))
	}
	tw.Flush()
	for pi, port := range m.Ports {
		fmt.Fprintf(&b, "\n%s (rows: from, columns: to)\n", port)
		tw := tabwriter.NewWriter(&b, 0, 0, 1, ' ', 0)
		hdr := []string{"from\\to"}
		for i := range m.Instances {
			hdr = append(hdr, fmt.Sprint(i+1))
		}
		fmt.Fprintln(tw, strings.Join(hdr, "\t"))
		for i, row := range m.Rows {
			cells := []string{fmt.Sprint(i + 1)}
			for _, c := range row.Cells[pi] {
				cells = append(cells, string(c))
			}
			fmt.Fprintln(tw, strings.Join(cells, "\t"))
		}
		tw.Flush()
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteAudit prints the findings, most severe first.
func WriteAudit(w io.Writer, r *AuditResult) error {
	var b strings.Builder
	scope := "account"
	if r.VpcID != "" {
		scope = r.VpcID
	}
	fmt.Fprintf(&b, "Audit of %s: %d groups, %d rules, %d ENIs, %d network ACLs checked\n", scope, r.Groups, r.Rules, r.ENIs, r.ACLs)
	for _, c := range r.WhatIf {
		fmt.Fprintf(&b, "what-if (not applied): %s\n", c)
	}
	fmt.Fprintf(&b, "%d findings: %d high, %d medium, %d low\n", len(r.Findings), r.High, r.Medium, r.Low)
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "\n[%s] %s %s", strings.ToUpper(f.Severity), f.Code, f.Resource)
		if f.Rule != "" {
			fmt.Fprintf(&b, " %s", f.Rule)
		}
		fmt.Fprintf(&b, "\n  %s\n  fix: %s\n", f.Message, f.Fix)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
