package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/palisade-project/palisade/internal/apiclient"
)

// listPages pages through a Cloudfw Describe action (CurrentPage,
// PageSize 100) and returns every item of the bare array key, plus a
// response holding all of them for JSON output.
func (c *cli) listPages(cmd *cobra.Command, action string, params map[string]string, key string) (map[string]any, []map[string]any, error) {
	last, all, err := c.numberedPages(cmd, apiclient.VersionCloudfw, action, params, "TotalCount", func(resp map[string]any) []any {
		arr, _ := resp[key].([]any)
		return arr
	})
	if err != nil {
		return nil, nil, err
	}
	return mergePages(last, key, all, "PageNo", "PageSize")
}

// numberedPages pages through a Describe action that numbers its pages
// (CurrentPage, PageSize 100) and counts its items in totalKey; items
// reads a page's. It returns the last page and every item.
func (c *cli) numberedPages(cmd *cobra.Command, version, action string, params map[string]string, totalKey string, items func(map[string]any) []any) (map[string]any, []any, error) {
	const pageSize = 100
	var all []any
	var last map[string]any
	for page := 1; page <= 100000; page++ {
		p := map[string]string{"CurrentPage": strconv.Itoa(page), "PageSize": strconv.Itoa(pageSize)}
		for k, v := range params {
			p[k] = v
		}
		resp, err := c.call(cmd, version, action, p)
		if err != nil {
			return nil, nil, err
		}
		last = resp
		arr := items(resp)
		all = append(all, arr...)
		total, terr := strconv.Atoi(str(resp, totalKey))
		if len(arr) < pageSize || (terr == nil && len(all) >= total) {
			break
		}
	}
	return last, all, nil
}

func (c *cli) firewallCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "firewall",
		Short: "Manage the Internet firewall: policies, address books and the per-EIP switch",
		Long: `Manage the Internet firewall of your account (Cloud Firewall API 2017-12-07):
access-control policies on the traffic between the internet and your EIPs,
the address books they name, and the switch that turns the firewall off for
an EIP.

Policies are kept per direction, "in" (from the internet to your EIPs: the
destination is the EIP side) and "out" (from your EIPs to the internet: the
source is), each numbered 1..n. A new connection is judged by the enabled
policies of its direction in order, 1 first: the first that matches decides
(accept allows, drop drops, log allows and counts); none matching allows.
A policy matches a source and a destination (an IPv4 CIDR, or an IP address
book by name; for "out" the destination may also be a domain name, which the
server resolves by DNS every 30 seconds: the policy matches the addresses it
finds), a protocol (ANY, TCP, UDP, ICMP) and, for TCP and UDP, destination
ports (a port, a range 80/88, or a port address book).

The firewall is on for every EIP of the account unless switched off.

"palisade firewall vpc" manages VPC firewalls on peering connections;
"palisade nat firewall" the NAT firewall of each NAT gateway (its outbound
connections, before translation). "palisade firewall logs" shows the
connections that drop and log policies of all three decided.`,
		Example: `  palisade firewall book add --name office --type ip --entries 192.0.2.0/24,198.51.100.7 --description "office ranges"
  palisade firewall policy add --direction in --action accept --proto tcp --source office --source-type group --destination 0.0.0.0/0 --port 22 --order 1 --description "ssh from the office"
  palisade firewall policy add --direction in --action drop --proto tcp --source 0.0.0.0/0 --destination 0.0.0.0/0 --port 22 --description "no other ssh"
  palisade firewall policy list
  palisade firewall switch off 198.18.0.5
  palisade firewall logs --action drop --since 1h`,
	}
	cmd.AddCommand(c.firewallPolicyCommand(), c.firewallBookCommand(), c.firewallSwitchCommand(), c.firewallVpcCommand(), c.firewallLogsCommand())
	return cmd
}

// policyAddr shows a policy's Source or Destination (value) in a list: the
// CIDR block, or "group:NAME" for an address book (typ is its type field).
func policyAddr(value, typ string) func(map[string]any) string {
	return func(m map[string]any) string {
		if str(m, typ) == "group" {
			return "group:" + str(m, value)
		}
		return str(m, value)
	}
}

// policyPorts shows a policy's ports in a list: a port or range,
// "group:NAME" for a port address book, "all" for every port.
func policyPorts(m map[string]any) string {
	if str(m, "DestPortType") == "group" {
		return "group:" + str(m, "DestPortGroup")
	}
	if v := str(m, "DestPort"); v != "0/0" && v != "" {
		return v
	}
	return "all"
}

// policyColumns are the columns of "firewall policy list" (after its
// Direction), "firewall vpc policy list" and "nat firewall list".
var policyColumns = []column{
	field("Order", "Order"), field("Action", "AclAction"), field("Proto", "Proto"),
	{"Source", policyAddr("Source", "SourceType")}, {"Destination", policyAddr("Destination", "DestinationType")}, {"Ports", policyPorts},
	field("Enabled", "Release"), field("HitTimes", "HitTimes"), field("AclUuid", "AclUuid"), field("Description", "Description"),
}

// policyFlags are the rule flags of "firewall policy add", "firewall vpc
// policy add" and "nat firewall add".
type policyFlags struct {
	action, proto, source, sourceType, dest, destType, port, portGroup, order, desc string
}

// register adds the rule flags to cmd; orderHelp explains --order.
func (r *policyFlags) register(cmd *cobra.Command, orderHelp string) {
	f := cmd.Flags()
	f.StringVar(&r.action, "action", "", "accept, drop, or log (allow and count)")
	f.StringVar(&r.proto, "proto", "", "ANY, TCP, UDP or ICMP")
	f.StringVar(&r.source, "source", "", "source: an IPv4 CIDR block, or an IP address book's name with --source-type group")
	f.StringVar(&r.sourceType, "source-type", "net", "net (a CIDR block) or group (an IP address book)")
	f.StringVar(&r.dest, "destination", "", "destination: an IPv4 CIDR block, an IP address book's name with --destination-type group, or a domain name with --destination-type domain")
	f.StringVar(&r.destType, "destination-type", "net", "net (a CIDR block), group (an IP address book) or domain (a DNS name the server resolves: out and NAT-firewall policies only)")
	f.StringVar(&r.port, "port", "", "destination port 80 or range 80/88, tcp and udp only (default: every port)")
	f.StringVar(&r.portGroup, "port-group", "", "a port address book's name instead of --port")
	f.StringVar(&r.order, "order", "-1", orderHelp)
	f.StringVar(&r.desc, "description", "", "description (required)")
	for _, name := range []string{"action", "proto", "source", "destination", "description"} {
		_ = cmd.MarkFlagRequired(name)
	}
	cmd.MarkFlagsMutuallyExclusive("port", "port-group")
	_ = cmd.RegisterFlagCompletionFunc("action", cobra.FixedCompletions([]string{"accept", "drop", "log"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("proto", cobra.FixedCompletions([]string{"ANY", "TCP", "UDP", "ICMP"}, cobra.ShellCompDirectiveNoFileComp))
}

// params are the request parameters of the rule, with extra.
func (r *policyFlags) params(extra map[string]string) map[string]string {
	p := map[string]string{
		"AclAction": r.action, "Proto": r.proto, "Source": r.source, "SourceType": r.sourceType,
		"Destination": r.dest, "DestinationType": r.destType, "NewOrder": r.order, "Description": r.desc, "ApplicationName": "ANY",
	}
	for k, v := range extra {
		p[k] = v
	}
	p = nonEmpty(p)
	if r.portGroup != "" {
		p["DestPortType"], p["DestPortGroup"] = "group", r.portGroup
	} else if r.port != "" {
		p["DestPortType"], p["DestPort"] = "port", r.port
	}
	return p
}

func (c *cli) firewallPolicyCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "policy", Short: "Add, list, move and delete Internet-firewall policies"}

	var direction string
	var disabled bool
	var rule policyFlags
	add := &cobra.Command{
		Use:   "add",
		Short: "Add a policy and print its ID (AclUuid)",
		Long: `Add a policy (AddControlPolicy) and print its ID. --order N inserts it at
position N of its direction (1 is tried first), moving the policies from
there down by one; without --order it goes last. --source and --destination
are IPv4 CIDR blocks (0.0.0.0/0: any address), or with --source-type group /
--destination-type group the name of an IP address book. For --direction out,
--destination-type domain takes a domain name (www.example.com; no wildcard):
the server resolves it by DNS and the policy matches its IPv4 addresses.
Ports are for tcp and udp only: --port 80, --port 80/88 (a range) or
--port-group NAME (a port address book); without either, every port. A
policy identical to the one already at that position adds nothing and prints
that policy's ID.`,
		Example: `  palisade firewall policy add --direction in --action drop --proto tcp --source 203.0.113.0/24 --destination 0.0.0.0/0 --port 3306 --order 1 --description "no MySQL from there"
  palisade firewall policy add --direction out --action log --proto udp --source 0.0.0.0/0 --destination 198.51.100.53 --port 53 --description "count DNS"
  palisade firewall policy add --direction out --action drop --proto tcp --source 0.0.0.0/0 --destination www.example.com --destination-type domain --port 443 --description "not that site"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p := rule.params(map[string]string{"Direction": direction})
			if disabled {
				p["Release"] = "false"
			}
			resp, err := c.call(cmd, apiclient.VersionCloudfw, "AddControlPolicy", p)
			if err != nil {
				return err
			}
			return c.renderID(cmd, resp, "AclUuid")
		},
	}
	add.Flags().StringVar(&direction, "direction", "", "in (from the internet to your EIPs) or out (from your EIPs to the internet)")
	rule.register(add, "position in its direction, 1 first (-1: last)")
	add.Flags().BoolVar(&disabled, "disabled", false, "add it disabled (it keeps its place and matches nothing)")
	_ = add.MarkFlagRequired("direction")
	_ = add.RegisterFlagCompletionFunc("direction", cobra.FixedCompletions([]string{"in", "out"}, cobra.ShellCompDirectiveNoFileComp))

	var listDir string
	list := &cobra.Command{
		Use:     "list",
		Short:   "List the policies, in then out, each in order",
		Example: "  palisade firewall policy list\n  palisade firewall policy list --direction in",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, items, err := c.listPages(cmd, "DescribeControlPolicy", nonEmpty(map[string]string{"Direction": listDir}), "Policys")
			if err != nil {
				return err
			}
			return c.renderList(cmd, resp, items, append([]column{field("Direction", "Direction")}, policyColumns...))
		},
	}
	list.Flags().StringVar(&listDir, "direction", "", "only this direction: in or out")

	var delDir string
	del := &cobra.Command{
		Use:     "delete ACL_UUID",
		Short:   "Delete a policy (the ones after it move up)",
		Example: "  palisade firewall policy delete 2f1c...-... --direction in",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := c.call(cmd, apiclient.VersionCloudfw, "DeleteControlPolicy", map[string]string{"AclUuid": args[0], "Direction": delDir})
			if err != nil {
				return err
			}
			return c.renderDone(cmd, resp)
		},
	}
	del.Flags().StringVar(&delDir, "direction", "", "the policy's direction: in or out (required)")
	_ = del.MarkFlagRequired("direction")

	var moveDir, moveOrder string
	move := &cobra.Command{
		Use:     "move ACL_UUID",
		Short:   "Move a policy to another position of its direction",
		Long:    "Move a policy to position --order (1 first, -1 last) of its direction (ModifyControlPolicyPosition); the policies in between shift by one.",
		Example: "  palisade firewall policy move 2f1c...-... --direction in --order 1",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := c.call(cmd, apiclient.VersionCloudfw, "ModifyControlPolicyPosition",
				map[string]string{"AclUuid": args[0], "Direction": moveDir, "NewOrder": moveOrder})
			if err != nil {
				return err
			}
			return c.renderDone(cmd, resp)
		},
	}
	move.Flags().StringVar(&moveDir, "direction", "", "the policy's direction: in or out (required)")
	move.Flags().StringVar(&moveOrder, "order", "", "new position, 1 first (-1: last) (required)")
	_ = move.MarkFlagRequired("direction")
	_ = move.MarkFlagRequired("order")

	cmd.AddCommand(add, list, del, move)
	return cmd
}

func (c *cli) firewallBookCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "book", Short: "Add, list, update and delete address books"}

	var name, typ, desc string
	var entries []string
	add := &cobra.Command{
		Use:   "add",
		Short: "Add an address book and print its ID (GroupUuid)",
		Long: `Add an address book (AddAddressBook) and print its ID. An ip book holds IPv4
CIDR blocks or addresses, a port book ports (80) and ranges (80/88), at most
2000 entries. Policies name a book by its name, unique in the account.`,
		Example: `  palisade firewall book add --name office --type ip --entries 192.0.2.0/24,198.51.100.7 --description "office ranges"
  palisade firewall book add --name web --type port --entries 80,443,8000/8080 --description "web ports"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := c.call(cmd, apiclient.VersionCloudfw, "AddAddressBook", nonEmpty(map[string]string{
				"GroupName": name, "GroupType": typ, "AddressList": strings.Join(entries, ","), "Description": desc,
			}))
			if err != nil {
				return err
			}
			return c.renderID(cmd, resp, "GroupUuid")
		},
	}
	add.Flags().StringVar(&name, "name", "", "the book's name (required)")
	add.Flags().StringVar(&typ, "type", "", "ip or port (required)")
	add.Flags().StringSliceVar(&entries, "entries", nil, "comma-separated CIDR blocks (ip) or ports and ranges (port) (required)")
	add.Flags().StringVar(&desc, "description", "", "description (required)")
	for _, n := range []string{"name", "type", "entries", "description"} {
		_ = add.MarkFlagRequired(n)
	}
	_ = add.RegisterFlagCompletionFunc("type", cobra.FixedCompletions([]string{"ip", "port"}, cobra.ShellCompDirectiveNoFileComp))

	var listType string
	list := &cobra.Command{
		Use:     "list",
		Short:   "List the address books, oldest first, with how many policies use each",
		Example: "  palisade firewall book list\n  palisade firewall book list --type port",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, items, err := c.listPages(cmd, "DescribeAddressBook", nonEmpty(map[string]string{"GroupType": listType}), "Acls")
			if err != nil {
				return err
			}
			return c.renderList(cmd, resp, items, []column{
				field("GroupUuid", "GroupUuid"), field("Name", "GroupName"), field("Type", "GroupType"),
				joined("Entries", "AddressList"), field("UsedBy", "ReferenceCount"), field("Description", "Description"),
			})
		},
	}
	list.Flags().StringVar(&listType, "type", "", "only books of this type: ip or port")

	var newName, newDesc string
	var newEntries []string
	update := &cobra.Command{
		Use:   "update GROUP_UUID",
		Short: "Rename an address book, or replace its entries or description",
		Long: `Change an address book (ModifyAddressBook): --name renames it, in the
policies that use it too; --entries replaces its entries (its type never
changes).`,
		Example: "  palisade firewall book update 7d3e...-... --entries 192.0.2.0/24,203.0.113.0/24",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p := nonEmpty(map[string]string{"GroupUuid": args[0], "GroupName": newName, "Description": newDesc, "AddressList": strings.Join(newEntries, ",")})
			if len(p) == 1 {
				return fmt.Errorf("nothing to change: give --name, --entries or --description")
			}
			resp, err := c.call(cmd, apiclient.VersionCloudfw, "ModifyAddressBook", p)
			if err != nil {
				return err
			}
			return c.renderDone(cmd, resp)
		},
	}
	update.Flags().StringVar(&newName, "name", "", "new name")
	update.Flags().StringSliceVar(&newEntries, "entries", nil, "new entries, replacing the old ones")
	update.Flags().StringVar(&newDesc, "description", "", "new description")

	del := c.byIDCommand("delete GROUP_UUID", "Delete an address book (no policy may use it)", "  palisade firewall book delete 7d3e...-...", apiclient.VersionCloudfw, "DeleteAddressBook", "GroupUuid")
	cmd.AddCommand(add, list, update, del)
	return cmd
}

func (c *cli) firewallSwitchCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "switch",
		Short: "Turn the Internet firewall off or on for EIPs, and list their status",
		Long: `The Internet firewall is on for every EIP of your account unless switched off
here: traffic to and from a switched-off EIP is not judged by the policies.`,
	}
	set := func(use, action, short string) *cobra.Command {
		return &cobra.Command{
			Use:     use + " EIP_ADDRESS...",
			Short:   short,
			Example: "  palisade firewall switch " + use + " 198.18.0.5 198.18.0.6",
			Args:    cobra.MinimumNArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				p := map[string]string{}
				indexed(p, "IpaddrList", args)
				resp, err := c.call(cmd, apiclient.VersionCloudfw, action, p)
				if err != nil {
					return err
				}
				return c.renderDone(cmd, resp)
			},
		}
	}
	list := &cobra.Command{
		Use:     "list",
		Short:   "List your EIPs with the firewall's status (open: on, closed: off)",
		Example: "  palisade firewall switch list",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, items, err := c.listPages(cmd, "DescribeAssetList", nil, "Assets")
			if err != nil {
				return err
			}
			return c.renderList(cmd, resp, items, []column{
				field("Address", "InternetAddress"), field("AllocationId", "ResourceInstanceId"), field("Type", "ResourceType"),
				field("BoundTo", "BindInstanceId"), field("PrivateIp", "IntranetAddress"), field("Firewall", "ProtectStatus"),
			})
		},
	}
	cmd.AddCommand(
		set("off", "PutDisableFwSwitch", "Turn the firewall off for EIPs of your account"),
		set("on", "PutEnableFwSwitch", "Turn the firewall back on for EIPs of your account"),
		list,
	)
	return cmd
}

// natFirewallCommand is "nat firewall": the policies of the NAT firewall
// of a NAT gateway, named by the gateway as its SNAT and forward entries
// are.
func (c *cli) natFirewallCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "firewall",
		Short: "Add, list, move and delete the NAT firewall policies of a NAT gateway",
		Long: `Manage the NAT firewall of a NAT gateway (Cloud Firewall API 2017-12-07):
access-control policies on the connections your instances open to the
internet through the gateway (its SNAT entries and IP mappings). Every NAT
gateway has one; without policies it lets everything through.

A new outbound connection through the gateway meets its enabled policies in
order, 1 first, with the instance's private address as the source (before
the gateway translates it) and the internet address as the destination: the
first that matches decides (accept allows, drop drops, log allows and
counts); none matching allows. Policies take the same fields as the
Internet firewall's ("palisade firewall policy add") and its address books;
their direction is always out. Connections from the internet to the
gateway's EIPs meet the Internet firewall instead (palisade firewall policy
add --direction in). Deleting the gateway deletes its policies.`,
		Example: `  palisade nat firewall add ngw-xxx --action drop --proto tcp --source 10.0.0.0/16 --destination 0.0.0.0/0 --port 25 --description "no direct mail"
  palisade nat firewall list ngw-xxx
  palisade nat firewall move ngw-xxx 2f1c...-... --order 1
  palisade nat firewall delete ngw-xxx 2f1c...-...`,
	}

	var rule policyFlags
	var disabled bool
	add := &cobra.Command{
		Use:   "add NAT_GATEWAY_ID",
		Short: "Add a policy to a NAT gateway's NAT firewall and print its ID (AclUuid)",
		Long: `Add a policy (CreateNatFirewallControlPolicy, Direction out) at --order N
(1 is tried first; default: last), moving the policies from there down by
one. --source is the private side (an IPv4 CIDR block of the VPC, or with
--source-type group an IP address book), --destination the internet side
(0.0.0.0/0: any address). Ports are for tcp and udp only: --port 80,
--port 80/88 or --port-group NAME; without either, every port. A policy
identical to the one already at that position adds nothing and prints that
policy's ID.`,
		Example: `  palisade nat firewall add ngw-xxx --action drop --proto tcp --source 10.0.0.0/16 --destination 0.0.0.0/0 --port 25 --description "no direct mail"
  palisade nat firewall add ngw-xxx --action accept --proto tcp --source app --source-type group --destination 192.0.2.0/24 --port 443 --order 1 --description "app to the partner API"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p := rule.params(map[string]string{"NatGatewayId": args[0], "Direction": "out"})
			if disabled {
				p["Release"] = "false"
			}
			resp, err := c.call(cmd, apiclient.VersionCloudfw, "CreateNatFirewallControlPolicy", p)
			if err != nil {
				return err
			}
			return c.renderID(cmd, resp, "AclUuid")
		},
	}
	rule.register(add, "position, 1 first (-1: last)")
	add.Flags().BoolVar(&disabled, "disabled", false, "add it disabled (it keeps its place and matches nothing)")

	list := &cobra.Command{
		Use:     "list NAT_GATEWAY_ID",
		Short:   "List the NAT firewall policies of a NAT gateway in order",
		Example: "  palisade nat firewall list ngw-xxx\n  palisade nat firewall list ngw-xxx -o json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, items, err := c.listPages(cmd, "DescribeNatFirewallControlPolicy", map[string]string{"NatGatewayId": args[0], "Direction": "out"}, "Policys")
			if err != nil {
				return err
			}
			return c.renderList(cmd, resp, items, policyColumns)
		},
	}

	var order string
	move := &cobra.Command{
		Use:     "move NAT_GATEWAY_ID ACL_UUID",
		Short:   "Move a policy to another position of its NAT gateway's list",
		Long:    "Move a policy to position --order (1 first, -1 last) of its gateway's NAT firewall (ModifyNatFirewallControlPolicyPosition); the policies in between shift by one.",
		Example: "  palisade nat firewall move ngw-xxx 2f1c...-... --order 1",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := c.call(cmd, apiclient.VersionCloudfw, "ModifyNatFirewallControlPolicyPosition",
				map[string]string{"NatGatewayId": args[0], "AclUuid": args[1], "Direction": "out", "NewOrder": order})
			if err != nil {
				return err
			}
			return c.renderDone(cmd, resp)
		},
	}
	move.Flags().StringVar(&order, "order", "", "new position, 1 first (-1: last) (required)")
	_ = move.MarkFlagRequired("order")

	del := &cobra.Command{
		Use:     "delete NAT_GATEWAY_ID ACL_UUID",
		Short:   "Delete a NAT firewall policy (the ones after it move up)",
		Example: "  palisade nat firewall delete ngw-xxx 2f1c...-...",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := c.call(cmd, apiclient.VersionCloudfw, "DeleteNatFirewallControlPolicy",
				map[string]string{"NatGatewayId": args[0], "AclUuid": args[1], "Direction": "out"})
			if err != nil {
				return err
			}
			return c.renderDone(cmd, resp)
		},
	}

	cmd.AddCommand(add, list, move, del)
	return cmd
}
