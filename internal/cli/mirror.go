package cli

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/palisade-project/palisade/internal/apiclient"
)

// listAllTokens pages through a NextToken/MaxResults List action whose
// items are the bare array key, and returns every item, plus a response
// holding all of them (the last page's fields with the full list, no
// NextToken) for JSON output.
func (c *cli) listAllTokens(cmd *cobra.Command, version, action string, params map[string]string, key string, pageSize int) (map[string]any, []map[string]any, error) {
	var all []any
	var last map[string]any
	token := ""
	for range 100000 {
		p := map[string]string{"MaxResults": strconv.Itoa(pageSize)}
		for k, v := range params {
			p[k] = v
		}
		if token != "" {
			p["NextToken"] = token
		}
		resp, err := c.call(cmd, version, action, p)
		if err != nil {
			return nil, nil, err
		}
		last = resp
		arr, _ := resp[key].([]any)
		all = append(all, arr...)
		if token = str(resp, "NextToken"); token == "" {
			break
		}
	}
	return mergePages(last, key, all, "NextToken", "MaxResults", "Count")
}

// byIDCommand is a command that calls action with its one argument as
// param (a delete) and says it is done.
func (c *cli) byIDCommand(use, short, example, version, action, param string) *cobra.Command {
	return &cobra.Command{
		Use: use, Short: short, Example: example, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := c.call(cmd, version, action, map[string]string{param: args[0]})
			if err != nil {
				return err
			}
			return c.renderDone(cmd, resp)
		},
	}
}

// mergePages is the response of a paged listing for JSON output: the last
// page's fields, its paging fields left out, with every item under key.
func mergePages(last map[string]any, key string, all []any, paging ...string) (map[string]any, []map[string]any, error) {
	if all == nil {
		all = []any{}
	}
	out := map[string]any{}
	for k, v := range last {
		if !slices.Contains(paging, k) {
			out[k] = v
		}
	}
	out[key] = all
	return out, objects(out, key), nil
}

func (c *cli) mirrorCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "mirror",
		Short: "Manage traffic mirroring: filters, their rules and sessions",
		Long: `Create, list and delete traffic-mirror filters and their rules, and
sessions that mirror the traffic of source ENIs to a target ENI (VPC API
2016-04-28).

A filter has up to 10 ingress rules (traffic the source ENI receives) and 10
egress rules (traffic it sends), each with a priority 1-10 (smaller first),
accept (mirror) or drop (do not mirror), a protocol (ALL, ICMP, TCP, UDP),
optional source and destination CIDR blocks and, for TCP and UDP, port
ranges. The first rule that matches decides; a packet no rule matches is not
mirrored.

A session copies what its filter accepts from its source ENIs to its target
ENI in VXLAN (UDP 4789, the session's VNI), cut to its packet length
(default 1500 bytes). Sources and target are ENIs of one VPC, in any of its zones
(copies cross hosts joined by the underlay), or of two VPCs joined by an activated
peering (copies flow while the source's VPC routes the target's address over it);
an ENI is the source of at most 3 sessions, and a packet is mirrored once: by the session
of smallest priority (1-32766, unique per account) whose filter accepts it.
Sessions are created disabled unless --enable is given.`,
		Example: `  palisade mirror filter create --name web
  palisade mirror rule add tmf-xxx --direction ingress --priority 1 --action accept --protocol tcp --dest-port 443/443
  palisade mirror session create --filter tmf-xxx --target eni-ids --priority 10 --source eni-web --enable
  palisade mirror session list`,
	}
	cmd.AddCommand(c.mirrorFilterCommand(), c.mirrorRuleCommand(), c.mirrorSessionCommand())
	return cmd
}

func (c *cli) mirrorFilterCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "filter", Short: "Create, list, show and delete traffic-mirror filters"}

	var name, desc string
	create := &cobra.Command{
		Use:     "create",
		Short:   "Create a filter (without rules) and print its ID",
		Long:    "Create a traffic-mirror filter (CreateTrafficMirrorFilter) and print its ID; add rules with \"palisade mirror rule add\".",
		Example: "  palisade mirror filter create --name web --description \"HTTPS to the IDS\"",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := c.call(cmd, apiclient.VersionVPC, "CreateTrafficMirrorFilter",
				nonEmpty(map[string]string{"TrafficMirrorFilterName": name, "TrafficMirrorFilterDescription": desc}))
			if err != nil {
				return err
			}
			return c.renderID(cmd, resp, "TrafficMirrorFilterId")
		},
	}
	create.Flags().StringVar(&name, "name", "", "filter name")
	create.Flags().StringVar(&desc, "description", "", "description")

	list := &cobra.Command{
		Use:     "list",
		Short:   "List traffic-mirror filters",
		Example: "  palisade mirror filter list",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, items, err := c.listAllTokens(cmd, apiclient.VersionVPC, "ListTrafficMirrorFilters", nil, "TrafficMirrorFilters", 100)
			if err != nil {
				return err
			}
			for _, it := range items {
				it["IngressCount"] = strconv.Itoa(len(objects(it, "IngressRules")))
				it["EgressCount"] = strconv.Itoa(len(objects(it, "EgressRules")))
			}
			return c.renderList(cmd, resp, items, []column{
				field("TrafficMirrorFilterId", "TrafficMirrorFilterId"), field("Name", "TrafficMirrorFilterName"),
				field("Ingress", "IngressCount"), field("Egress", "EgressCount"), field("Status", "TrafficMirrorFilterStatus"),
				field("Created", "CreationTime"),
			})
		},
	}

	show := &cobra.Command{
		Use:     "show FILTER_ID",
		Short:   "Show a filter with its rules in priority order",
		Example: "  palisade mirror filter show tmf-xxx",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := c.call(cmd, apiclient.VersionVPC, "ListTrafficMirrorFilters", map[string]string{"TrafficMirrorFilterIds.1": args[0]})
			if err != nil {
				return err
			}
			items := objects(resp, "TrafficMirrorFilters")
			if len(items) == 0 {
				return &apiclient.APIError{Code: "ResourceNotFound.TrafficMirrorFilter", Message: fmt.Sprintf("The specified TrafficMirrorFilterId %q does not exist.", args[0])}
			}
			f := items[0]
			return c.render(cmd, f, func(w io.Writer) error {
				if err := kv(w, f, "TrafficMirrorFilterId", "TrafficMirrorFilterName", "TrafficMirrorFilterDescription", "TrafficMirrorFilterStatus", "CreationTime"); err != nil {
					return err
				}
				var rows [][]string
				for _, r := range append(objects(f, "IngressRules"), objects(f, "EgressRules")...) {
					rows = append(rows, []string{str(r, "TrafficDirection"), str(r, "Priority"), str(r, "Action"), str(r, "Protocol"),
						str(r, "SourceCidrBlock"), str(r, "SourcePortRange"), str(r, "DestinationCidrBlock"), str(r, "DestinationPortRange"),
						str(r, "TrafficMirrorFilterRuleId")})
				}
				fmt.Fprintln(w)
				return table(w, []string{"Direction", "Priority", "Action", "Protocol", "Source", "SourcePorts", "Destination", "DestPorts", "RuleId"}, rows)
			})
		},
	}

	del := c.byIDCommand("delete FILTER_ID", "Delete a filter (no session may use it)", "  palisade mirror filter delete tmf-xxx", apiclient.VersionVPC, "DeleteTrafficMirrorFilter", "TrafficMirrorFilterId")
	cmd.AddCommand(create, list, show, del)
	return cmd
}

func (c *cli) mirrorRuleCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "rule", Short: "Add and delete the rules of a traffic-mirror filter"}

	var direction, priority, action, protocol, srcCidr, dstCidr, srcPort, dstPort string
	add := &cobra.Command{
		Use:   "add FILTER_ID",
		Short: "Add a rule to a filter and print its ID",
		Long: `Add a rule to a filter (CreateTrafficMirrorFilterRules) and print its ID.
--direction ingress matches the traffic a source ENI receives, egress what
it sends. Priorities (1-10) are unique per direction. Without --source-cidr
or --dest-cidr the rule matches any address; port ranges are start/end (a
single port as 443/443) and exist for tcp and udp only. A rule identical to
one the filter has adds nothing and prints that rule's ID.`,
		Example: `  palisade mirror rule add tmf-xxx --direction ingress --priority 1 --action accept --protocol tcp --dest-port 443/443
  palisade mirror rule add tmf-xxx --direction egress --priority 2 --action drop --protocol all --dest-cidr 10.0.0.0/8`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			list := ""
			switch strings.ToLower(direction) {
			case "ingress":
				list = "IngressRules"
			case "egress":
				list = "EgressRules"
			default:
				return fmt.Errorf("invalid --direction %q: use ingress or egress", direction)
			}
			k := list + ".1."
			p := nonEmpty(map[string]string{
				"TrafficMirrorFilterId": args[0], k + "Priority": priority, k + "Action": action, k + "Protocol": protocol,
				k + "SourceCidrBlock": srcCidr, k + "DestinationCidrBlock": dstCidr, k + "SourcePortRange": srcPort, k + "DestinationPortRange": dstPort,
			})
			resp, err := c.call(cmd, apiclient.VersionVPC, "CreateTrafficMirrorFilterRules", p)
			if err != nil {
				return err
			}
			return c.render(cmd, resp, func(w io.Writer) error {
				ids := objects(resp, list)
				if len(ids) == 0 {
					return fmt.Errorf("the server returned no rule ID")
				}
				_, err := fmt.Fprintln(w, str(ids[0], "InstanceId"))
				return err
			})
		},
	}
	f := add.Flags()
	f.StringVar(&direction, "direction", "", "ingress (received by the source) or egress (sent by it)")
	f.StringVar(&priority, "priority", "", "priority 1-10, unique in its direction (smaller first)")
	f.StringVar(&action, "action", "", "accept (mirror) or drop (do not mirror)")
	f.StringVar(&protocol, "protocol", "", "all, icmp, tcp or udp")
	f.StringVar(&srcCidr, "source-cidr", "", "source CIDR block (default: any)")
	f.StringVar(&dstCidr, "dest-cidr", "", "destination CIDR block (default: any)")
	f.StringVar(&srcPort, "source-port", "", "source port range start/end, tcp and udp only (default: all)")
	f.StringVar(&dstPort, "dest-port", "", "destination port range start/end, tcp and udp only (default: all)")
	for _, name := range []string{"direction", "priority", "action", "protocol"} {
		_ = add.MarkFlagRequired(name)
	}
	_ = add.RegisterFlagCompletionFunc("direction", cobra.FixedCompletions([]string{"ingress", "egress"}, cobra.ShellCompDirectiveNoFileComp))
	_ = add.RegisterFlagCompletionFunc("action", cobra.FixedCompletions([]string{"accept", "drop"}, cobra.ShellCompDirectiveNoFileComp))
	_ = add.RegisterFlagCompletionFunc("protocol", cobra.FixedCompletions([]string{"all", "icmp", "tcp", "udp"}, cobra.ShellCompDirectiveNoFileComp))

	del := &cobra.Command{
		Use:     "delete FILTER_ID RULE_ID...",
		Short:   "Delete rules of a filter",
		Example: "  palisade mirror rule delete tmf-xxx tmr-xxx",
		Args:    cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			p := map[string]string{"TrafficMirrorFilterId": args[0]}
			indexed(p, "TrafficMirrorFilterRuleIds", args[1:])
			resp, err := c.call(cmd, apiclient.VersionVPC, "DeleteTrafficMirrorFilterRules", p)
			if err != nil {
				return err
			}
			return c.renderDone(cmd, resp)
		},
	}
	cmd.AddCommand(add, del)
	return cmd
}

func (c *cli) mirrorSessionCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "session", Short: "Manage traffic-mirror sessions and their sources"}

	var filter, target, name, desc string
	var priority, vni, packetLen int
	var sources []string
	var enable bool
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a session and print its ID",
		Long: `Create a traffic-mirror session (CreateTrafficMirrorSession) and print its
ID. The target and the sources are ENIs of one VPC (in any of its zones) or of
two peered VPCs; the session starts
disabled unless --enable is given. Without --vni a random VNI is chosen.`,
		Example: "  palisade mirror session create --filter tmf-xxx --target eni-ids --priority 10 --source eni-web1 --source eni-web2 --enable --name web-to-ids",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p := nonEmpty(map[string]string{
				"TrafficMirrorFilterId": filter, "TrafficMirrorTargetId": target, "TrafficMirrorTargetType": "NetworkInterface",
				"Priority": strconv.Itoa(priority), "TrafficMirrorSessionName": name, "TrafficMirrorSessionDescription": desc,
			})
			if cmd.Flags().Changed("vni") {
				p["VirtualNetworkId"] = strconv.Itoa(vni)
			}
			if cmd.Flags().Changed("packet-length") {
				p["PacketLength"] = strconv.Itoa(packetLen)
			}
			if enable {
				p["Enabled"] = "true"
			}
			indexed(p, "TrafficMirrorSourceIds", sources)
			resp, err := c.call(cmd, apiclient.VersionVPC, "CreateTrafficMirrorSession", p)
			if err != nil {
				return err
			}
			return c.renderID(cmd, resp, "TrafficMirrorSessionId")
		},
	}
	f := create.Flags()
	f.StringVar(&filter, "filter", "", "filter ID (required)")
	f.StringVar(&target, "target", "", "target ENI ID (required)")
	f.IntVar(&priority, "priority", 0, "priority 1-32766, unique in the account (required; smaller first)")
	f.IntVar(&vni, "vni", 0, "VXLAN network identifier 0-16777215 (default: random)")
	f.IntVar(&packetLen, "packet-length", 1500, "bytes of each packet mirrored, 64-9600")
	f.StringSliceVar(&sources, "source", nil, "source ENI ID (repeatable)")
	f.BoolVar(&enable, "enable", false, "start mirroring at once (default: created disabled)")
	f.StringVar(&name, "name", "", "session name")
	f.StringVar(&desc, "description", "", "description")
	for _, n := range []string{"filter", "target", "priority"} {
		_ = create.MarkFlagRequired(n)
	}

	list := &cobra.Command{
		Use:     "list",
		Short:   "List traffic-mirror sessions",
		Example: "  palisade mirror session list\n  palisade mirror session list --source eni-xxx",
		Args:    cobra.NoArgs,
	}
	var listSource, listTarget, listFilter string
	list.RunE = func(cmd *cobra.Command, args []string) error {
		resp, items, err := c.listAllTokens(cmd, apiclient.VersionVPC, "ListTrafficMirrorSessions",
			nonEmpty(map[string]string{"TrafficMirrorSourceId": listSource, "TrafficMirrorTargetId": listTarget, "TrafficMirrorFilterId": listFilter}),
			"TrafficMirrorSessions", 100)
		if err != nil {
			return err
		}
		return c.renderList(cmd, resp, items, []column{
			field("TrafficMirrorSessionId", "TrafficMirrorSessionId"), field("Name", "TrafficMirrorSessionName"),
			field("Priority", "Priority"), field("Filter", "TrafficMirrorFilterId"), field("Target", "TrafficMirrorTargetId"),
			joined("Sources", "TrafficMirrorSourceIds"), field("VNI", "VirtualNetworkId"), field("PacketLength", "PacketLength"),
			field("Enabled", "Enabled"), field("Status", "TrafficMirrorSessionStatus"),
		})
	}
	list.Flags().StringVar(&listSource, "source", "", "only sessions with this source ENI")
	list.Flags().StringVar(&listTarget, "target", "", "only sessions with this target ENI")
	list.Flags().StringVar(&listFilter, "filter", "", "only sessions with this filter")

	toggle := func(use, short, value string) *cobra.Command {
		return &cobra.Command{
			Use:     use + " SESSION_ID",
			Short:   short,
			Example: "  palisade mirror session " + use + " tms-xxx",
			Args:    cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				resp, err := c.call(cmd, apiclient.VersionVPC, "UpdateTrafficMirrorSessionAttribute",
					map[string]string{"TrafficMirrorSessionId": args[0], "Enabled": value})
				if err != nil {
					return err
				}
				return c.renderDone(cmd, resp)
			},
		}
	}
	sources2 := func(use, short, action string) *cobra.Command {
		return &cobra.Command{
			Use:     use + " SESSION_ID ENI_ID...",
			Short:   short,
			Example: "  palisade mirror session " + use + " tms-xxx eni-aaa eni-bbb",
			Args:    cobra.MinimumNArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				p := map[string]string{"TrafficMirrorSessionId": args[0]}
				indexed(p, "TrafficMirrorSourceIds", args[1:])
				resp, err := c.call(cmd, apiclient.VersionVPC, action, p)
				if err != nil {
					return err
				}
				return c.renderDone(cmd, resp)
			},
		}
	}
	del := c.byIDCommand("delete SESSION_ID", "Delete a session", "  palisade mirror session delete tms-xxx", apiclient.VersionVPC, "DeleteTrafficMirrorSession", "TrafficMirrorSessionId")
	cmd.AddCommand(create, list,
		toggle("enable", "Start mirroring a session's traffic", "true"),
		toggle("disable", "Stop mirroring a session's traffic (the session stays)", "false"),
		sources2("add-source", "Add source ENIs to a session (one it has already is left as it is)", "AddSourcesToTrafficMirrorSession"),
		sources2("remove-source", "Remove source ENIs from a session", "RemoveSourcesFromTrafficMirrorSession"),
		del)
	return cmd
}
