package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/palisade-project/palisade/internal/apiclient"
)

// versionVpcPeer is the VpcPeer API (VPC peering connections).
const versionVpcPeer = "2022-01-01"

func (c *cli) peeringCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "peering",
		Short: "Connect two VPCs (VPC peering), of your account or of two accounts",
		Long: `Manage VPC peering connections (VpcPeer API 2022-01-01). A connection joins a
VPC of yours to another VPC of the region: of your account (active at once)
or of another account (--accepting-account: waits until that account
accepts it). A connection adds no routes: add route entries on each side
(palisade route add) to send traffic over it.`,
		Example: `  palisade peering create --vpc vpc-aaa --accepting-vpc vpc-bbb --name app-to-db
  palisade peering create --vpc vpc-aaa --accepting-vpc vpc-ccc --accepting-account 1234567890123456
  palisade peering accept pcc-xxx          # as the accepting account
  palisade route add --vpc vpc-aaa --destination 10.2.0.0/16 --peering pcc-xxx`,
	}

	var vpcID, accVpc, accAccount, name, desc string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a peering connection and print its ID",
		Args:  cobra.NoArgs,
		Example: `  palisade peering create --vpc vpc-aaa --accepting-vpc vpc-bbb
  palisade peering create --vpc vpc-aaa --accepting-vpc vpc-ccc --accepting-account 1234567890123456 --name to-partner`,
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := c.call(cmd, versionVpcPeer, "CreateVpcPeerConnection", nonEmpty(map[string]string{
				"VpcId": vpcID, "AcceptingVpcId": accVpc, "AcceptingAliUid": accAccount, "Name": name, "Description": desc,
			}))
			if err != nil {
				return err
			}
			return c.renderID(cmd, resp, "InstanceId")
		},
	}
	f := create.Flags()
	f.StringVar(&vpcID, "vpc", "", "your VPC (required)")
	f.StringVar(&accVpc, "accepting-vpc", "", "the VPC at the other end (required)")
	f.StringVar(&accAccount, "accepting-account", "", "the account of the accepting VPC (default: yours)")
	f.StringVar(&name, "name", "", "name")
	f.StringVar(&desc, "description", "", "description")
	_ = create.MarkFlagRequired("vpc")
	_ = create.MarkFlagRequired("accepting-vpc")

	var listVpc string
	list := &cobra.Command{
		Use:     "list",
		Short:   "List the peering connections your account is an end of",
		Example: "  palisade peering list\n  palisade peering list --vpc vpc-aaa",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, items, err := c.listAllTokens(cmd, versionVpcPeer, "ListVpcPeerConnections", nonEmpty(map[string]string{"VpcId.1": listVpc}), "VpcPeerConnects", 100)
			if err != nil {
				return err
			}
			return c.renderList(cmd, resp, items, []column{
				field("InstanceId", "InstanceId"), field("Status", "Status"), field("Vpc", "Vpc", "VpcId"),
				field("AcceptingVpc", "AcceptingVpc", "VpcId"), field("AcceptingAccount", "AcceptingOwnerUid"), field("Name", "Name"),
			})
		},
	}
	list.Flags().StringVar(&listVpc, "vpc", "", "only the connections of this VPC")

	var force bool
	del := &cobra.Command{
		Use:   "delete PEERING_ID",
		Short: "Delete a peering connection (--force: with the route entries that use it)",
		Example: `  palisade peering delete pcc-xxx
  palisade peering delete pcc-xxx --force`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := c.call(cmd, versionVpcPeer, "DeleteVpcPeerConnection", map[string]string{"InstanceId": args[0], "Force": fmt.Sprint(force)})
			if err != nil {
				return err
			}
			return c.renderDone(cmd, resp)
		},
	}
	del.Flags().BoolVar(&force, "force", false, "also delete the route entries that send traffic over it")

	cmd.AddCommand(create,
		c.byIDCommand("accept PEERING_ID", "Accept a connection waiting for your account", "  palisade peering accept pcc-xxx", versionVpcPeer, "AcceptVpcPeerConnection", "InstanceId"),
		c.byIDCommand("reject PEERING_ID", "Reject a connection waiting for your account", "  palisade peering reject pcc-xxx", versionVpcPeer, "RejectVpcPeerConnection", "InstanceId"),
		list, del)
	return cmd
}

// routeTable returns the route table of a VPC.
func (c *cli) routeTable(cmd *cobra.Command, vpcID string) (string, error) {
	resp, err := c.call(cmd, apiclient.VersionVPC, "DescribeRouteTableList", map[string]string{"VpcId": vpcID})
	if err != nil {
		return "", err
	}
	tables := objects(resp, "RouterTableList", "RouterTableListType")
	if len(tables) != 1 {
		return "", fmt.Errorf("VPC %s has no route table: is it a VPC of your account?", vpcID)
	}
	return str(tables[0], "RouteTableId"), nil
}

func (c *cli) routeCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "route",
		Short: "List, add and delete the route entries of a VPC",
		Long: `Manage the route entries of a VPC's route table (VPC API 2016-04-28). Each VPC
has one route table: a system entry per vSwitch (next hop local) and the
custom entries you add, which send a destination over a VPC peering
connection. A destination is an IPv4 or an IPv6 CIDR block (IPv6 needs IPv6
enabled on the VPC) and may not overlap the VPC's own CIDR blocks.`,
		Example: `  palisade route list --vpc vpc-aaa
  palisade route list --vpc vpc-aaa --ip-version IPv6
  palisade route add --vpc vpc-aaa --destination 10.2.0.0/16 --peering pcc-xxx
  palisade route add --vpc vpc-aaa --destination fd12:3456:789a:bc00::/56 --peering pcc-xxx
  palisade route delete rte-xxx`,
	}

	var listVpc, listTable, listVersion string
	list := &cobra.Command{
		Use:     "list",
		Short:   "List the entries of a VPC's route table",
		Example: "  palisade route list --vpc vpc-aaa",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			table := listTable
			if table == "" {
				var err error
				if table, err = c.routeTable(cmd, listVpc); err != nil {
					return err
				}
			}
			var all []any
			var last map[string]any
			token := ""
			for range 100000 {
				p := map[string]string{"RouteTableId": table, "MaxResult": "100"}
				if token != "" {
					p["NextToken"] = token
				}
				if listVersion != "" {
					p["IpVersion"] = listVersion
				}
				resp, err := c.call(cmd, apiclient.VersionVPC, "DescribeRouteEntryList", p)
				if err != nil {
					return err
				}
				last = resp
				arr, _ := get(resp, "RouteEntrys", "RouteEntry").([]any)
				all = append(all, arr...)
				if token = str(resp, "NextToken"); token == "" {
					break
				}
			}
			// The response with every entry, in the wrapped list.
			resp := map[string]any{}
			for k, v := range last {
				if k != "NextToken" {
					resp[k] = v
				}
			}
			if all == nil {
				all = []any{}
			}
			resp["RouteEntrys"] = map[string]any{"RouteEntry": all}
			items := objects(resp, "RouteEntrys", "RouteEntry")
			return c.renderList(cmd, resp, items, []column{
				field("RouteEntryId", "RouteEntryId"), field("Type", "Type"), field("IpVersion", "IpVersion"), field("Destination", "DestinationCidrBlock"),
				field("NextHopType", "NextHopType"), field("NextHop", "InstanceId"), field("Name", "RouteEntryName"),
			})
		},
	}
	list.Flags().StringVar(&listVpc, "vpc", "", "the VPC")
	list.Flags().StringVar(&listTable, "table", "", "the route table (instead of --vpc)")
	list.Flags().StringVar(&listVersion, "ip-version", "", "list one family only: IPv4 or IPv6")
	list.MarkFlagsOneRequired("vpc", "table")
	list.MarkFlagsMutuallyExclusive("vpc", "table")

	var addVpc, addTable, dst, peering, natGW, name, desc string
	add := &cobra.Command{
		Use:   "add",
		Short: "Send a destination over a peering connection or to a NAT gateway; prints the entry's ID",
		Example: "  palisade route add --vpc vpc-aaa --destination 10.2.0.0/16 --peering pcc-xxx --name to-db\n" +
			"  palisade route add --vpc vpc-aaa --destination 0.0.0.0/0 --nat-gateway ngw-xxx",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			table := addTable
			if table == "" {
				var err error
				if table, err = c.routeTable(cmd, addVpc); err != nil {
					return err
				}
			}
			hopType, hop := "VpcPeer", peering
			if natGW != "" {
				hopType, hop = "NatGateway", natGW
			}
			resp, err := c.call(cmd, apiclient.VersionVPC, "CreateRouteEntry", nonEmpty(map[string]string{
				"RouteTableId": table, "DestinationCidrBlock": dst, "NextHopType": hopType, "NextHopId": hop,
				"RouteEntryName": name, "Description": desc,
			}))
			if err != nil {
				return err
			}
			return c.renderID(cmd, resp, "RouteEntryId")
		},
	}
	f := add.Flags()
	f.StringVar(&addVpc, "vpc", "", "the VPC")
	f.StringVar(&addTable, "table", "", "the route table (instead of --vpc)")
	f.StringVar(&dst, "destination", "", "destination IPv4 or IPv6 CIDR block (required)")
	f.StringVar(&peering, "peering", "", "the peering connection to send it over")
	f.StringVar(&natGW, "nat-gateway", "", "the NAT gateway to send it to (the internet through its SNAT entries)")
	f.StringVar(&name, "name", "", "name")
	f.StringVar(&desc, "description", "", "description")
	add.MarkFlagsOneRequired("vpc", "table")
	add.MarkFlagsMutuallyExclusive("vpc", "table")
	_ = add.MarkFlagRequired("destination")
	add.MarkFlagsOneRequired("peering", "nat-gateway")
	add.MarkFlagsMutuallyExclusive("peering", "nat-gateway")

	cmd.AddCommand(list, add,
		c.byIDCommand("delete ROUTE_ENTRY_ID", "Delete a custom route entry", "  palisade route delete rte-xxx", apiclient.VersionVPC, "DeleteRouteEntry", "RouteEntryId"))
	return cmd
}

func (c *cli) firewallVpcCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "vpc",
		Short: "Manage VPC firewalls on peering connections and their policies",
		Long: `Manage VPC firewalls (Cloud Firewall API 2017-12-07): a VPC firewall guards
the peering connection between one of your VPCs and the VPC at its other
end. While opened, every new connection crossing the peering, either way,
meets its policies in order; the first that matches decides; none matching
allows. Policies take the same fields as the Internet firewall's, without a
direction.`,
		Example: `  palisade firewall vpc create --name app-db --local-vpc vpc-aaa --peer-vpc vpc-bbb
  palisade firewall vpc policy add --firewall vfw-xxx --action drop --proto tcp --source 10.0.0.0/16 --destination 10.2.0.0/16 --port 22 --description "no ssh across"
  palisade firewall vpc switch vfw-xxx closed`,
	}

	var name, local, peer string
	var closed bool
	create := &cobra.Command{
		Use:     "create",
		Short:   "Put a VPC firewall on the peering between two VPCs; prints its ID",
		Example: "  palisade firewall vpc create --name app-db --local-vpc vpc-aaa --peer-vpc vpc-bbb",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			sw := "opened"
			if closed {
				sw = "closed"
			}
			resp, err := c.call(cmd, apiclient.VersionCloudfw, "CreateVpcFirewallConfigure", nonEmpty(map[string]string{
				"VpcFirewallName": name, "LocalVpcId": local, "PeerVpcId": peer, "FirewallSwitch": sw,
			}))
			if err != nil {
				return err
			}
			return c.renderID(cmd, resp, "VpcFirewallId")
		},
	}
	create.Flags().StringVar(&name, "name", "", "name (required)")
	create.Flags().StringVar(&local, "local-vpc", "", "your VPC (required)")
	create.Flags().StringVar(&peer, "peer-vpc", "", "the VPC at the other end of the peering (required)")
	create.Flags().BoolVar(&closed, "closed", false, "create it switched off")
	for _, n := range []string{"name", "local-vpc", "peer-vpc"} {
		_ = create.MarkFlagRequired(n)
	}

	list := &cobra.Command{
		Use:     "list",
		Short:   "List your VPC firewalls",
		Example: "  palisade firewall vpc list",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			last, all, err := c.numberedPages(cmd, apiclient.VersionCloudfw, "DescribeVpcFirewallList", nil, "TotalCount", func(resp map[string]any) []any {
				arr, _ := resp["VpcFirewalls"].([]any)
				return arr
			})
			if err != nil {
				return err
			}
			resp, items, err := mergePages(last, "VpcFirewalls", all)
			if err != nil {
				return err
			}
			return c.renderList(cmd, resp, items, []column{
				field("VpcFirewallId", "VpcFirewallId"), field("Name", "VpcFirewallName"), field("Switch", "FirewallSwitchStatus"),
				field("LocalVpc", "LocalVpc", "VpcId"), field("PeerVpc", "PeerVpc", "VpcId"),
			})
		},
	}

	sw := &cobra.Command{
		Use:       "switch VPC_FIREWALL_ID opened|closed",
		Short:     "Open or close a VPC firewall",
		Example:   "  palisade firewall vpc switch vfw-xxx closed",
		Args:      cobra.ExactArgs(2),
		ValidArgs: []string{"opened", "closed"},
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := c.call(cmd, apiclient.VersionCloudfw, "ModifyVpcFirewallSwitchStatus", map[string]string{"VpcFirewallId": args[0], "FirewallSwitch": args[1]})
			if err != nil {
				return err
			}
			return c.renderDone(cmd, resp)
		},
	}

	cmd.AddCommand(create, list, sw,
		c.byIDCommand("delete VPC_FIREWALL_ID", "Delete a VPC firewall with its policies", "  palisade firewall vpc delete vfw-xxx", apiclient.VersionCloudfw, "DeleteVpcFirewallConfigure", "VpcFirewallIdList.1"),
		c.firewallVpcPolicyCommand())
	return cmd
}

func (c *cli) firewallVpcPolicyCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "policy", Short: "Add, list and delete the policies of a VPC firewall"}

	var fw string
	var rule policyFlags
	add := &cobra.Command{
		Use:   "add",
		Short: "Add a policy to a VPC firewall and print its ID (AclUuid)",
		Long: `Add a policy (CreateVpcFirewallControlPolicy) at --order N (1 is tried first;
default: last). Fields as for "palisade firewall policy add", without a
direction: --source and --destination may be either side of the peering.`,
		Example: `  palisade firewall vpc policy add --firewall vfw-xxx --action drop --proto tcp --source 10.0.0.0/16 --destination 10.2.0.0/16 --port 22 --description "no ssh"`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := c.call(cmd, apiclient.VersionCloudfw, "CreateVpcFirewallControlPolicy", rule.params(map[string]string{"VpcFirewallId": fw}))
			if err != nil {
				return err
			}
			return c.renderID(cmd, resp, "AclUuid")
		},
	}
	add.Flags().StringVar(&fw, "firewall", "", "the VPC firewall (required)")
	rule.register(add, "position, 1 first (-1: last)")
	_ = add.MarkFlagRequired("firewall")

	var listFw string
	list := &cobra.Command{
		Use:     "list",
		Short:   "List the policies of a VPC firewall in order",
		Example: "  palisade firewall vpc policy list --firewall vfw-xxx",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, items, err := c.listPages(cmd, "DescribeVpcFirewallControlPolicy", map[string]string{"VpcFirewallId": listFw}, "Policys")
			if err != nil {
				return err
			}
			return c.renderList(cmd, resp, items, policyColumns)
		},
	}
	list.Flags().StringVar(&listFw, "firewall", "", "the VPC firewall (required)")
	_ = list.MarkFlagRequired("firewall")

	var delFw string
	del := &cobra.Command{
		Use:     "delete ACL_UUID",
		Short:   "Delete a policy (the ones after it move up)",
		Example: "  palisade firewall vpc policy delete 2f1c...-... --firewall vfw-xxx",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := c.call(cmd, apiclient.VersionCloudfw, "DeleteVpcFirewallControlPolicy", map[string]string{"AclUuid": args[0], "VpcFirewallId": delFw})
			if err != nil {
				return err
			}
			return c.renderDone(cmd, resp)
		},
	}
	del.Flags().StringVar(&delFw, "firewall", "", "the VPC firewall (required)")
	_ = del.MarkFlagRequired("firewall")

	cmd.AddCommand(add, list, del)
	return cmd
}
