package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/palisade-project/palisade/internal/analysis"
	"github.com/palisade-project/palisade/internal/api"
	"github.com/palisade-project/palisade/internal/apiclient"
)

// OutputCSV is accepted by analyze matrix only.
const OutputCSV = "csv"

// whatIf holds the flags of a proposed change.
type whatIf struct {
	file    string
	adds    []string
	removes []string
}

func (w *whatIf) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&w.file, "what-if", "", "file (YAML or JSON) with proposed changes to assume, not applied: a list of {action: add|remove, group, rule_id, direction, protocol, port, source_port, cidr, peer_group, local_cidr, policy, priority}")
	f.StringArrayVar(&w.adds, "add-rule", nil, "assume this rule added (not applied): GROUP,DIRECTION,PROTOCOL,PORT,PEER[,POLICY[,PRIORITY]], PEER a CIDR or sg-...; repeatable")
	f.StringArrayVar(&w.removes, "remove-rule", nil, "assume this rule removed (not applied): GROUP:RULE_ID; repeatable")
}

// whatIfEntry is one change of a --what-if file.
type whatIfEntry struct {
	Action     string `yaml:"action"`
	Group      string `yaml:"group"`
	RuleID     string `yaml:"rule_id"`
	Direction  string `yaml:"direction"`
	Protocol   string `yaml:"protocol"`
	Port       string `yaml:"port"`
	SourcePort string `yaml:"source_port"`
	Cidr       string `yaml:"cidr"`
	PeerGroup  string `yaml:"peer_group"`
	LocalCidr  string `yaml:"local_cidr"`
	Policy     string `yaml:"policy"`
	Priority   string `yaml:"priority"`
}

func wiPortRange(p string) string {
	if p == "" || strings.Contains(p, "/") {
		return p
	}
	if a, b, ok := strings.Cut(p, "-"); ok && a != "" {
		return a + "/" + b
	}
	return p + "/" + p
}

func (e whatIfEntry) change() api.ChangeJSON {
	c := api.ChangeJSON{Action: e.Action, SecurityGroupId: e.Group, RuleId: e.RuleID, Direction: e.Direction,
		IpProtocol: e.Protocol, PortRange: wiPortRange(e.Port), SourcePortRange: wiPortRange(e.SourcePort),
		PeerGroupId: e.PeerGroup, Policy: e.Policy, Priority: e.Priority}
	if c.PortRange == "" && c.Action == "add" && !strings.EqualFold(e.Protocol, "tcp") && !strings.EqualFold(e.Protocol, "udp") {
		c.PortRange = "-1/-1"
	}
	if strings.Contains(e.Cidr, ":") {
		c.Ipv6PeerCidrIp = e.Cidr
	} else {
		c.PeerCidrIp = e.Cidr
	}
	if strings.Contains(e.LocalCidr, ":") {
		c.Ipv6LocalCidrIp = e.LocalCidr
	} else {
		c.LocalCidrIp = e.LocalCidr
	}
	return c
}

// param returns the Changes parameter ("" when no change is proposed).
func (w *whatIf) param() (string, error) {
	var entries []whatIfEntry
	if w.file != "" {
		b, err := os.ReadFile(w.file)
		if err != nil {
			return "", err
		}
		if err := yaml.Unmarshal(b, &entries); err != nil {
			return "", fmt.Errorf("--what-if %s: want a list of changes: %v", w.file, err)
		}
	}
	for _, a := range w.adds {
		f := strings.Split(a, ",")
		if len(f) < 5 || len(f) > 7 {
			return "", fmt.Errorf("--add-rule %q: want GROUP,DIRECTION,PROTOCOL,PORT,PEER[,POLICY[,PRIORITY]] such as sg-1,ingress,tcp,5432,10.0.0.0/8", a)
		}
		e := whatIfEntry{Action: "add", Group: f[0], Direction: f[1], Protocol: f[2], Port: f[3]}
		if strings.HasPrefix(f[4], "sg-") {
			e.PeerGroup = f[4]
		} else {
			e.Cidr = f[4]
		}
		if f[3] == "" || f[3] == "-1" || f[3] == "all" {
			e.Port = "-1/-1"
		}
		if len(f) > 5 {
			e.Policy = f[5]
		}
		if len(f) > 6 {
			e.Priority = f[6]
		}
		entries = append(entries, e)
	}
	for _, r := range w.removes {
		g, id, ok := strings.Cut(r, ":")
		if !ok || g == "" || id == "" {
			return "", fmt.Errorf("--remove-rule %q: want GROUP:RULE_ID such as sg-1:sgr-1", r)
		}
		entries = append(entries, whatIfEntry{Action: "remove", Group: g, RuleID: id})
	}
	if len(entries) == 0 {
		return "", nil
	}
	cs := make([]api.ChangeJSON, 0, len(entries))
	for _, e := range entries {
		cs = append(cs, e.change())
	}
	b, err := json.Marshal(cs)
	return string(b), err
}

// decode re-reads a generic response into a result type.
func decode(resp map[string]any, v any) error {
	b, err := json.Marshal(resp)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func (c *cli) analyzeCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "analyze",
		Short: "Reachability analysis: can X reach Y, and who reaches whom",
		Long: `Answer reachability questions from the configuration alone (security groups,
network ACLs, VPC isolation, instance state), the way the data plane decides
them, without sending a packet. Every answer names each decision point and the
rule, ACL entry or implicit default that decided it.

--what-if, --add-rule and --remove-rule answer as if a change were applied,
without applying it.`,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if c.output != OutputTable && c.output != OutputJSON && c.output != OutputCSV {
				return fmt.Errorf("invalid --output %q: use table, json or csv", c.output)
			}
			if c.output == OutputCSV && cmd.Name() != "matrix" {
				return fmt.Errorf("--output csv is for analyze matrix only")
			}
			return nil
		},
	}
	var from, to, proto string
	var port, sport int
	var wiReach whatIf
	reach := &cobra.Command{
		Use:   "reach",
		Short: "Can FROM open a flow to TO? Each decision point, in order",
		Long: `Decide whether --from can open a flow to --to, and why: the path (ENI,
vSwitch, VPC) and each decision point in order (the sender's security groups
for egress, the sender vSwitch's network ACL egress entries, the route, the
receiver vSwitch's ACL ingress entries, the receiver's security groups for
ingress), each with the group or ACL, rule or entry, priority and action, or
the implicit default that decided. Network ACLs are stateless, so the reply
is checked too. A TCP connection from the internet to a port the WAF protects
shows the WAF after the route: it inspects each request (by content, which the
analysis cannot see) and the filters after it decide on its own connection to
the instance, from the client's address and port.

FROM and TO are instance IDs, ENI IDs, IP addresses or CIDRs; an address
outside every VPC is the internet, and an EIP of the account stands for its
ENI. An instance or ENI stands for all its addresses, IPv4 and IPv6: as a
destination each address is a path; as a source the instance's own routing
picks the ENI (a destination in one of its ENIs' subnets leaves through that
ENI, everything else and all IPv6 through eth0), shown in an instance-route
step. A pair is REACHABLE when any of its paths is, with a note when only one
family works. Traffic from inside a VPC to an EIP (of any VPC or account,
the sender's own included) is never reachable: the data plane has no EIP
hairpin, so use private addresses between instances.

TO may also be an internal load balancer (lb-... or its address), for clients
of its VPC: the answer shows the listener of the protocol and port (or why the
load balancer drops the packet: no running listener, inactive), then one path
per backend: whether it takes new connections now (weight above 0, health
normal when the listener checks health) and the filters of the translated
connection (the client to the backend's address and backend port), as for the
backend directly. It is REACHABLE when one backend is. ICMP echo is answered
by the load balancer's address itself.`,
		Example: `  palisade analyze reach --from i-web --to i-db --protocol tcp --port 5432
  palisade analyze reach --from 203.0.113.0/24 --to i-web --protocol tcp --port 22
  palisade analyze reach --from i-web --to lb-api --protocol tcp --port 80
  palisade analyze reach --from i-web --to i-db --protocol tcp --port 5432 --add-rule sg-db,ingress,tcp,5432,sg-web`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			changes, err := wiReach.param()
			if err != nil {
				return err
			}
			p := nonEmpty(map[string]string{"From": from, "To": to, "Protocol": proto, "Changes": changes})
			// A port given is sent as given, 0 included: the server
			// refuses what is not 1-65535 (0 is not "no port").
			if cmd.Flags().Changed("port") {
				p["Port"] = strconv.Itoa(port)
			}
			if cmd.Flags().Changed("source-port") {
				p["SourcePort"] = strconv.Itoa(sport)
			}
			resp, err := c.call(cmd, apiclient.VersionPalisade, "AnalyzeReachability", p)
			if err != nil {
				return err
			}
			return c.render(cmd, resp, func(w io.Writer) error {
				var r analysis.ReachResult
				if err := decode(resp, &r); err != nil {
					return err
				}
				return analysis.WriteReach(w, &r)
			})
		},
	}
	reach.Flags().StringVar(&from, "from", "", "source: instance, ENI, IP or CIDR (required)")
	reach.Flags().StringVar(&to, "to", "", "destination: instance, ENI, load balancer (lb-...), IP or CIDR (required)")
	reach.Flags().StringVar(&proto, "protocol", "tcp", "tcp, udp, icmp, icmpv6, gre or a protocol number")
	reach.Flags().IntVar(&port, "port", 0, "destination port, 1-65535 (required for tcp and udp)")
	reach.Flags().IntVar(&sport, "source-port", 0, fmt.Sprintf("source port, 1-65535 (default %d when not given)", analysis.DefaultSourcePort))
	_ = reach.MarkFlagRequired("from")
	_ = reach.MarkFlagRequired("to")
	wiReach.flags(reach)

	var vpc, ports string
	var msport int
	var peers bool
	var wiMatrix whatIf
	matrix := &cobra.Command{
		Use:   "matrix",
		Short: "Who reaches whom: instances x instances x ports of a VPC (and its peers)",
		Long: `Decide, for every ordered pair of instances of the VPC (all their addresses,
IPv4 and IPv6) and every port, whether a flow opens: Y, or 4 / 6 when only
IPv4 / only IPv6 reaches; r when the first packet passes but the replies
are dropped. Table output prints one grid per port; --output csv one line per (from, to, port); --output json the API
response (one string per row and port, one character per destination).

--include-peers adds the instances of every VPC joined to --vpc by an
Activated peering connection, and each instance's VPC to the output. A
cell between two VPCs is what "analyze reach" answers for the pair: the
route entry on the source's side, the route back on the destination's
side (without it: r), the VPC firewall, network ACLs and security groups.
Only VPCs of your own account are included: the instances of another
account's peer VPC are not yours to see (a note names the peering; use
"analyze reach" to an address there for your side of the path). Peers of
peers are not included (peering is not transitive).`,
		Example: `  palisade analyze matrix --vpc vpc-xxx
  palisade analyze matrix --vpc vpc-xxx --ports 22,443,udp:53,icmp --output csv
  palisade analyze matrix --vpc vpc-xxx --include-peers --ports 22,5432`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			changes, err := wiMatrix.param()
			if err != nil {
				return err
			}
			p := nonEmpty(map[string]string{"VpcId": vpc, "Ports": ports, "Changes": changes})
			if cmd.Flags().Changed("source-port") {
				p["SourcePort"] = strconv.Itoa(msport)
			}
			if peers {
				p["IncludePeers"] = "true"
			}
			resp, err := c.call(cmd, apiclient.VersionPalisade, "AnalyzeMatrix", p)
			if err != nil {
				return err
			}
			var m analysis.MatrixResult
			if c.output != OutputJSON {
				if err := decode(resp, &m); err != nil {
					return err
				}
			}
			if c.output == OutputCSV {
				_, err := io.WriteString(cmd.OutOrStdout(), m.CSV())
				return err
			}
			return c.render(cmd, resp, func(w io.Writer) error { return analysis.WriteMatrix(w, &m) })
		},
	}
	matrix.Flags().StringVar(&vpc, "vpc", "", "VPC ID (required)")
	matrix.Flags().StringVar(&ports, "ports", strings.Join([]string{"22", "80", "443", "5432"}, ","), "ports: numbers (TCP), proto:port (udp:53) or a protocol (icmp)")
	matrix.Flags().IntVar(&msport, "source-port", 0, fmt.Sprintf("source port, 1-65535 (default %d when not given)", analysis.DefaultSourcePort))
	matrix.Flags().BoolVar(&peers, "include-peers", false, "also the instances of the VPCs peered with --vpc (Activated peerings, your account's VPCs only)")
	_ = matrix.MarkFlagRequired("vpc")
	wiMatrix.flags(matrix)

	cmd.AddCommand(reach, matrix)
	return cmd
}

func (c *cli) auditCommand() *cobra.Command {
	var vpc, failOn string
	var wi whatIf
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Security audit: exposed ports, dead and shadowed rules, unused groups, quotas",
		Long: `Report findings, most severe first, each with its severity, resource, rule
and a one-line fix: sensitive ports (SSH, RDP, databases, caches, Docker, ...)
open to 0.0.0.0/0 or ::/0; rules that never decide a packet because earlier
rules in pooled order decide all their traffic (shadowed), exact duplicates,
accept rules overridden by drops; rules referencing groups without members;
groups attached to nothing; shadowed network ACL entries; ENIs that accept
nothing; PrivateLink backends that refuse their endpoints' connections; load
balancer listeners whose backends' groups admit no address of the VPC on the
backend port; quotas above 80%.

With --fail-on, the exit code is 2 when a finding of that severity or higher
exists (for CI).`,
		Example: `  palisade audit
  palisade audit --vpc vpc-xxx --fail-on high
  palisade audit --remove-rule sg-web:sgr-ssh-world --fail-on high`,
		Args: cobra.NoArgs,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if c.output != OutputTable && c.output != OutputJSON {
				return fmt.Errorf("invalid --output %q: use table or json", c.output)
			}
			if failOn != "" && analysis.SeverityRank(failOn) == 0 {
				return fmt.Errorf("invalid --fail-on %q: use high, medium or low", failOn)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			changes, err := wi.param()
			if err != nil {
				return err
			}
			resp, err := c.call(cmd, apiclient.VersionPalisade, "AuditSecurity", nonEmpty(map[string]string{"VpcId": vpc, "Changes": changes}))
			if err != nil {
				return err
			}
			var r analysis.AuditResult
			if err := decode(resp, &r); err != nil {
				return err
			}
			if err := c.render(cmd, resp, func(w io.Writer) error { return analysis.WriteAudit(w, &r) }); err != nil {
				return err
			}
			if failOn != "" {
				for _, f := range r.Findings {
					if analysis.SeverityRank(f.Severity) >= analysis.SeverityRank(failOn) {
						return &ExitError{Code: 2}
					}
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&vpc, "vpc", "", "audit this VPC only (default: the whole account)")
	cmd.Flags().StringVar(&failOn, "fail-on", "", "exit with code 2 when a finding of this severity or higher exists: high, medium or low")
	wi.flags(cmd)
	return cmd
}
