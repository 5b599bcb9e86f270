package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/palisade-project/palisade/internal/apiclient"
)

func (c *cli) sgCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "sg",
		Aliases: []string{"security-group"},
		Short:   "Manage security groups and their rules",
		Long: `Create, list, show and delete security groups, set their internal access
policy and add or remove rules (ECS API 2014-05-26).`,
		Example: `  palisade sg create --vpc vpc-xxx --name web
  palisade sg rule add sg-xxx --direction ingress --protocol tcp --port 443 --cidr 0.0.0.0/0
  palisade sg rule add sg-xxx --protocol tcp --port 5432 --group sg-yyy --policy accept --priority 10
  palisade sg show sg-xxx
  palisade sg rule remove sg-xxx sgr-aaa sgr-bbb
  palisade sg policy sg-xxx drop
  palisade sg delete sg-xxx`,
	}

	var vpcID, name, desc, typ string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a security group and print its ID",
		Long: `Create a security group in a VPC (CreateSecurityGroup) and print its ID.
A normal group lets its members talk to each other (policy Accept); an
enterprise group does not (policy Drop).`,
		Example: "  palisade sg create --vpc vpc-xxx --name web --type enterprise",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := c.call(cmd, apiclient.VersionECS, "CreateSecurityGroup", nonEmpty(map[string]string{
				"VpcId": vpcID, "SecurityGroupName": name, "Description": desc, "SecurityGroupType": typ,
			}))
			if err != nil {
				return err
			}
			return c.renderID(cmd, resp, "SecurityGroupId")
		},
	}
	create.Flags().StringVar(&vpcID, "vpc", "", "VPC ID (required)")
	create.Flags().StringVar(&name, "name", "", "group name")
	create.Flags().StringVar(&desc, "description", "", "description")
	create.Flags().StringVar(&typ, "type", "normal", "group type: normal or enterprise")
	_ = create.MarkFlagRequired("vpc")
	_ = create.RegisterFlagCompletionFunc("type", cobra.FixedCompletions([]string{"normal", "enterprise"}, cobra.ShellCompDirectiveNoFileComp))

	var listVPC string
	list := &cobra.Command{
		Use:     "list",
		Short:   "List security groups",
		Long:    "List the caller's security groups (DescribeSecurityGroups), optionally of one VPC.",
		Example: "  palisade sg list\n  palisade sg list --vpc vpc-xxx -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, items, err := c.listAll(cmd, apiclient.VersionECS, "DescribeSecurityGroups",
				nonEmpty(map[string]string{"VpcId": listVPC}), "SecurityGroups", "SecurityGroup")
			if err != nil {
				return err
			}
			return c.renderList(cmd, resp, items, []column{
				field("SecurityGroupId", "SecurityGroupId"), field("Name", "SecurityGroupName"),
				field("Type", "SecurityGroupType"), field("VpcId", "VpcId"), field("Rules", "RuleCount"),
				field("Description", "Description"), field("Created", "CreationTime"),
			})
		},
	}
	list.Flags().StringVar(&listVPC, "vpc", "", "only groups of this VPC")

	show := &cobra.Command{
		Use:     "show SG_ID",
		Short:   "Show a security group and its rules",
		Long:    "Show a security group's attributes and rules (DescribeSecurityGroupAttribute).",
		Example: "  palisade sg show sg-xxx",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := c.call(cmd, apiclient.VersionECS, "DescribeSecurityGroupAttribute", map[string]string{"SecurityGroupId": args[0]})
			if err != nil {
				return err
			}
			return c.render(cmd, resp, func(w io.Writer) error {
				if err := kv(w, resp, "SecurityGroupId", "SecurityGroupName", "Description", "VpcId", "InnerAccessPolicy"); err != nil {
					return err
				}
				fmt.Fprintln(w)
				h, r := rowsOf(objects(resp, "Permissions", "Permission"), ruleColumns)
				return table(w, h, r)
			})
		},
	}

	del := &cobra.Command{
		Use:     "delete SG_ID",
		Short:   "Delete a security group",
		Long:    "Delete a security group (DeleteSecurityGroup). It must have no members and not be referenced by another group's rules.",
		Example: "  palisade sg delete sg-xxx",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := c.call(cmd, apiclient.VersionECS, "DeleteSecurityGroup", map[string]string{"SecurityGroupId": args[0]})
			if err != nil {
				return err
			}
			return c.renderDone(cmd, resp)
		},
	}

	policy := &cobra.Command{
		Use:   "policy SG_ID accept|drop",
		Short: "Set whether members of a group may talk to each other",
		Long: `Set a group's internal access policy (ModifySecurityGroupPolicy): accept lets
its members reach each other without rules, drop makes rules decide.
Enterprise groups are always drop.`,
		Example:   "  palisade sg policy sg-xxx drop",
		Args:      cobra.ExactArgs(2),
		ValidArgs: []string{"accept", "drop"},
		RunE: func(cmd *cobra.Command, args []string) error {
			var pol string
			switch strings.ToLower(args[1]) {
			case "accept":
				pol = "Accept"
			case "drop":
				pol = "Drop"
			default:
				return fmt.Errorf("invalid policy %q: use accept or drop", args[1])
			}
			resp, err := c.call(cmd, apiclient.VersionECS, "ModifySecurityGroupPolicy", map[string]string{
				"SecurityGroupId": args[0], "InnerAccessPolicy": pol,
			})
			if err != nil {
				return err
			}
			return c.renderDone(cmd, resp)
		},
	}

	cmd.AddCommand(create, list, show, del, policy, c.sgRuleCommand())
	return cmd
}

var ruleColumns = []column{
	field("RuleId", "SecurityGroupRuleId"),
	field("Direction", "Direction"),
	field("Policy", "Policy"),
	field("Priority", "Priority"),
	field("Protocol", "IpProtocol"),
	field("Ports", "PortRange"),
	{"SrcPorts", func(m map[string]any) string {
		// Shown only when it narrows: a rule's source ports decide too.
		if p := str(m, "SourcePortRange"); p != "" && p != "-1/-1" && p != "1/65535" {
			return p
		}
		return ""
	}},
	{"Peer", rulePeer},
	{"Local", ruleLocal},
	field("Description", "Description"),
}

// ruleLocal is the rule's own side when it narrows it (a quintuple rule):
// the local address of an ingress rule (DestCidrIp), the source of an
// egress rule (SourceCidrIp); empty: every address of the group's members.
func ruleLocal(m map[string]any) string {
	keys := []string{"DestCidrIp", "Ipv6DestCidrIp"}
	if strings.EqualFold(str(m, "Direction"), "egress") {
		keys = []string{"SourceCidrIp", "Ipv6SourceCidrIp"}
	}
	for _, k := range keys {
		if v := str(m, k); v != "" {
			return v
		}
	}
	return ""
}

// rulePeer is the other side of a rule: the source of an ingress rule, the
// destination of an egress rule.
func rulePeer(m map[string]any) string {
	keys := []string{"SourceCidrIp", "Ipv6SourceCidrIp", "SourceGroupId", "SourcePrefixListId"}
	if strings.EqualFold(str(m, "Direction"), "egress") {
		keys = []string{"DestCidrIp", "Ipv6DestCidrIp", "DestGroupId", "DestPrefixListId"}
	}
	for _, k := range keys {
		if v := str(m, k); v != "" {
			return v
		}
	}
	return ""
}

func (c *cli) sgRuleCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rule",
		Short: "Add or remove security group rules",
		Example: `  palisade sg rule add sg-xxx --protocol tcp --port 22 --cidr 10.0.0.0/8
  palisade sg rule remove sg-xxx sgr-aaa`,
	}

	var dir, proto, port, srcPort, cidr, local, group, pol, prio, desc string
	add := &cobra.Command{
		Use:   "add SG_ID",
		Short: "Add a rule to a security group",
		Long: `Add one rule (AuthorizeSecurityGroup for ingress, AuthorizeSecurityGroupEgress
for egress). The peer is --cidr (IPv4 or IPv6) or --group: the source of an
ingress rule, the destination of an egress rule. --port is "80" or "80/90"
("80-90" also works) and is required for tcp and udp; other protocols
(icmp, icmpv6, gre, all) use -1/-1. --source-port narrows a tcp or udp
rule to the peer's source ports (default any), --local to some of the
members' own addresses (default all; shown as Local). Priority is 1 (first)
to 100.`,
		Example: `  palisade sg rule add sg-xxx --protocol tcp --port 80 --cidr 0.0.0.0/0
  palisade sg rule add sg-xxx --direction egress --protocol all --cidr ::/0 --policy drop --priority 100
  palisade sg rule add sg-xxx --protocol udp --port 53 --group sg-yyy --description dns`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d := strings.ToLower(dir)
			if d != "ingress" && d != "egress" {
				return fmt.Errorf("invalid --direction %q: use ingress or egress", dir)
			}
			if (cidr == "") == (group == "") {
				return fmt.Errorf("give exactly one of --cidr and --group")
			}
			ports, err := portRange(proto, port)
			if err != nil {
				return err
			}
			if srcPort != "" {
				if pr := strings.ToLower(proto); pr != "tcp" && pr != "udp" {
					return fmt.Errorf("--source-port is for tcp and udp rules, not %s", proto)
				}
				if srcPort, err = portRange(proto, srcPort); err != nil {
					return fmt.Errorf("--source-port: %w", err)
				}
			}
			p := map[string]string{
				"SecurityGroupId":               args[0],
				"Permissions.1.SourcePortRange": srcPort,
				"Permissions.1.IpProtocol":      proto,
				"Permissions.1.PortRange":       ports,
				"Permissions.1.Policy":          strings.ToLower(pol),
				"Permissions.1.Priority":        prio,
				"Permissions.1.Description":     desc,
			}
			action := "AuthorizeSecurityGroup"
			cidrKey, groupKey := "SourceCidrIp", "SourceGroupId"
			if d == "egress" {
				action = "AuthorizeSecurityGroupEgress"
				cidrKey, groupKey = "DestCidrIp", "DestGroupId"
			}
			if strings.Contains(cidr, ":") {
				cidrKey = "Ipv6" + cidrKey
			}
			p["Permissions.1."+cidrKey] = cidr
			p["Permissions.1."+groupKey] = group
			if local != "" {
				// The rule's own side: which of the members' addresses an
				// ingress rule admits to, an egress rule sends from.
				localKey := "DestCidrIp"
				if d == "egress" {
					localKey = "SourceCidrIp"
				}
				if strings.Contains(local, ":") {
					localKey = "Ipv6" + localKey
				}
				p["Permissions.1."+localKey] = local
			}
			resp, err := c.call(cmd, apiclient.VersionECS, action, nonEmpty(p))
			if err != nil {
				return err
			}
			return c.renderDone(cmd, resp)
		},
	}
	f := add.Flags()
	f.StringVar(&dir, "direction", "ingress", "ingress or egress")
	f.StringVar(&proto, "protocol", "tcp", "tcp, udp, icmp, icmpv6, gre or all")
	f.StringVar(&port, "port", "", `port or range: "80", "80/90" (tcp/udp only)`)
	f.StringVar(&srcPort, "source-port", "", `the peer's source port or range, "1024/65535" (tcp/udp only; default any)`)
	f.StringVar(&cidr, "cidr", "", "peer IPv4 or IPv6 CIDR")
	f.StringVar(&group, "group", "", "peer security group ID")
	f.StringVar(&local, "local", "", "narrow the rule to these addresses of the group's members: the destination of an ingress rule, the source of an egress rule (default all)")
	f.StringVar(&pol, "policy", "accept", "accept or drop")
	f.StringVar(&prio, "priority", "", "priority 1-100 (default 1)")
	f.StringVar(&desc, "description", "", "description")
	_ = add.RegisterFlagCompletionFunc("direction", cobra.FixedCompletions([]string{"ingress", "egress"}, cobra.ShellCompDirectiveNoFileComp))
	_ = add.RegisterFlagCompletionFunc("protocol", cobra.FixedCompletions([]string{"tcp", "udp", "icmp", "icmpv6", "gre", "all"}, cobra.ShellCompDirectiveNoFileComp))
	_ = add.RegisterFlagCompletionFunc("policy", cobra.FixedCompletions([]string{"accept", "drop"}, cobra.ShellCompDirectiveNoFileComp))

	var rmDir string
	remove := &cobra.Command{
		Use:   "remove SG_ID RULE_ID...",
		Short: "Remove rules from a security group",
		Long: `Remove rules by ID (RevokeSecurityGroup / RevokeSecurityGroupEgress with
SecurityGroupRuleId.N). Each rule's direction is looked up with
DescribeSecurityGroupAttribute unless --direction is given.`,
		Example: "  palisade sg rule remove sg-xxx sgr-aaa sgr-bbb",
		Args:    cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			sg, ids := args[0], args[1:]
			byDir := map[string][]string{}
			switch strings.ToLower(rmDir) {
			case "ingress", "egress":
				byDir[strings.ToLower(rmDir)] = ids
			case "":
				attr, err := c.call(cmd, apiclient.VersionECS, "DescribeSecurityGroupAttribute", map[string]string{"SecurityGroupId": sg})
				if err != nil {
					return err
				}
				dirOf := map[string]string{}
				for _, p := range objects(attr, "Permissions", "Permission") {
					dirOf[str(p, "SecurityGroupRuleId")] = strings.ToLower(str(p, "Direction"))
				}
				for _, id := range ids {
					d := dirOf[id]
					if d != "egress" {
						d = "ingress" // unknown IDs: let the server report them
					}
					byDir[d] = append(byDir[d], id)
				}
			default:
				return fmt.Errorf("invalid --direction %q: use ingress or egress", rmDir)
			}
			var last map[string]any
			for _, d := range []string{"ingress", "egress"} {
				if len(byDir[d]) == 0 {
					continue
				}
				action := "RevokeSecurityGroup"
				if d == "egress" {
					action = "RevokeSecurityGroupEgress"
				}
				p := map[string]string{"SecurityGroupId": sg}
				indexed(p, "SecurityGroupRuleId", byDir[d])
				resp, err := c.call(cmd, apiclient.VersionECS, action, p)
				if err != nil {
					return err
				}
				last = resp
			}
			return c.renderDone(cmd, last)
		},
	}
	remove.Flags().StringVar(&rmDir, "direction", "", "ingress or egress (default: looked up per rule)")
	cmd.AddCommand(add, remove)
	return cmd
}

// portRange turns the --port flag into the API's PortRange.
func portRange(proto, port string) (string, error) {
	p := strings.ToLower(strings.TrimSpace(proto))
	hasPorts := p == "tcp" || p == "udp"
	port = strings.TrimSpace(port)
	if port == "" {
		if hasPorts {
			return "", fmt.Errorf("--port is required for %s", p)
		}
		return "-1/-1", nil
	}
	if strings.Contains(port, "/") {
		return port, nil
	}
	if a, b, ok := strings.Cut(port, "-"); ok && a != "" {
		return a + "/" + b, nil
	}
	return port + "/" + port, nil
}
