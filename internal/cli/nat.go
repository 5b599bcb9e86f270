package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/palisade-project/palisade/internal/apiclient"
)

// natProtocol checks a --protocol flag of a forward entry: tcp, udp or any
// (any case), as the API spells them (TCP, UDP, Any).
func natProtocol(v string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "tcp":
		return "TCP", nil
	case "udp":
		return "UDP", nil
	case "any":
		return "Any", nil
	}
	return "", fmt.Errorf("invalid --protocol %q: use tcp, udp or any (an IP mapping: every port)", v)
}

// natPort is the value of an --external-port or --internal-port flag: the
// port as given (the API checks it), "any" as the API spells it, and Any
// when the flag is left out of an IP mapping (--protocol any).
func natPort(flag, v, proto string) (string, error) {
	v = strings.TrimSpace(v)
	switch {
	case strings.EqualFold(v, "any"):
		return "Any", nil
	case v != "":
		return v, nil
	case proto == "Any":
		return "Any", nil
	}
	return "", fmt.Errorf("--%s is required with --protocol %s: give a port, 1-65535", flag, strings.ToLower(proto))
}

// natVSwitch, natPrivateIP and natZone read a gateway of
// DescribeNatGateways (the SDK's NatGateway: the vSwitch, address and
// zone are in NatGatewayPrivateInfo).
func natVSwitch(g map[string]any) string {
	if v := str(g, "NatGatewayPrivateInfo", "VswitchId"); v != "" {
		return v
	}
	return str(g, "VSwitchId")
}

func natPrivateIP(g map[string]any) string {
	return str(g, "NatGatewayPrivateInfo", "PrivateIpAddress")
}

func natZone(g map[string]any) string {
	if v := str(g, "NatGatewayPrivateInfo", "IzNo"); v != "" {
		return v
	}
	return str(g, "ZoneId")
}

// natEIPs are the EIPs associated with a gateway (IpLists.IpList).
func natEIPs(g map[string]any) []map[string]any { return objects(g, "IpLists", "IpList") }

// natEIPColumn lists a gateway's EIP addresses.
func natEIPColumn(g map[string]any) string {
	var out []string
	for _, ip := range natEIPs(g) {
		out = append(out, str(ip, "IpAddress"))
	}
	return strings.Join(out, ",")
}

// natTable is the gateway's SNAT table (snat) or forward table ID.
func natTable(g map[string]any, snat bool) string {
	if snat {
		if ids := strs(g, "SnatTableIds", "SnatTableId"); len(ids) > 0 {
			return ids[0]
		}
		return ""
	}
	if ids := strs(g, "ForwardTableIds", "ForwardTableId"); len(ids) > 0 {
		return ids[0]
	}
	return ""
}

// natGateway reads one gateway of the caller with DescribeNatGateways.
func (c *cli) natGateway(cmd *cobra.Command, id string) (map[string]any, error) {
	resp, err := c.call(cmd, apiclient.VersionVPC, "DescribeNatGateways", map[string]string{"NatGatewayId": id})
	if err != nil {
		return nil, err
	}
	for _, g := range objects(resp, "NatGateways", "NatGateway") {
		if str(g, "NatGatewayId") == id {
			return g, nil
		}
	}
	return nil, &apiclient.APIError{Code: "InvalidNatGatewayId.NotFound",
		Message: fmt.Sprintf("The specified NAT gateway %q does not exist: \"palisade nat list\" lists yours.", id)}
}

// natTableOf is the SNAT (snat) or forward table of gateway id, with the
// gateway.
func (c *cli) natTableOf(cmd *cobra.Command, id string, snat bool) (string, map[string]any, error) {
	g, err := c.natGateway(cmd, id)
	if err != nil {
		return "", nil, err
	}
	t := natTable(g, snat)
	if t == "" {
		return "", nil, fmt.Errorf("NAT gateway %s has no %s table", id, map[bool]string{true: "SNAT", false: "forward"}[snat])
	}
	return t, g, nil
}

// natAddress is an EIP of gateway g given as its address or its allocation
// ID (eip-...): the address, which the entries take.
func natAddress(g map[string]any, v string) (string, error) {
	v = strings.TrimSpace(v)
	if !strings.HasPrefix(v, "eip-") {
		return v, nil
	}
	for _, ip := range natEIPs(g) {
		if str(ip, "AllocationId") == v {
			return str(ip, "IpAddress"), nil
		}
	}
	gw := str(g, "NatGatewayId")
	return "", fmt.Errorf("EIP %s is not associated with NAT gateway %s: associate it first (palisade eip associate %s %s)", v, gw, v, gw)
}

// natAddresses resolves the --ip values given (blank ones skipped) with
// natAddress.
func natAddresses(g map[string]any, ips []string) ([]string, error) {
	var addrs []string
	for _, ip := range ips {
		if ip = strings.TrimSpace(ip); ip == "" {
			continue
		}
		a, err := natAddress(g, ip)
		if err != nil {
			return nil, err
		}
		addrs = append(addrs, a)
	}
	return addrs, nil
}

var (
	snatColumns = []column{
		field("SnatEntryId", "SnatEntryId"), field("Name", "SnatEntryName"), field("SourceVSwitch", "SourceVSwitchId"),
		field("SourceCIDR", "SourceCIDR"), field("SnatIp", "SnatIp"), field("Status", "Status"),
	}
	forwardColumns = []column{
		field("ForwardEntryId", "ForwardEntryId"), field("Name", "ForwardEntryName"), field("Protocol", "IpProtocol"),
		field("ExternalIp", "ExternalIp"), field("ExternalPort", "ExternalPort"), field("InternalIp", "InternalIp"),
		field("InternalPort", "InternalPort"), field("Status", "Status"),
	}
)

func (c *cli) natCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "nat",
		Short: "Manage Internet NAT gateways: SNAT and forward (DNAT) entries, NAT firewall policies",
		Long: `Create Internet NAT gateways and manage their SNAT and forward entries (VPC
API 2016-04-28, the enhanced NAT gateway).

A NAT gateway (ngw-...) sits in one vSwitch of its VPC, with an address of
it, and translates with the EIPs associated with it ("palisade eip
associate eip-... ngw-..."). Unless --no-default-route, creating it adds a
route 0.0.0.0/0 to it to the VPC's route table (if the table has none).
An SNAT entry gives the instances of a source (a vSwitch, or a CIDR block
of the VPC) one of its EIPs for the connections they open to the
internet; the most specific source wins, and an instance with an EIP of
its own keeps using that EIP. A forward entry sends connections from the
internet to an EIP and port (tcp or udp) on to a private address and
port; with --protocol any it is an IP mapping: every port of the EIP goes
to the private address, whose own connections leave with that EIP.

Entries are named by the gateway: the gateway's SNAT and forward tables
are looked up for you. "palisade nat firewall" manages the policies of the
gateway's NAT firewall (Cloud Firewall), which judge the connections it
translates on their way out.`,
		Example: `  palisade nat create --vpc vpc-xxx --vswitch vsw-xxx --name egress
  palisade eip associate eip-xxx ngw-xxx
  palisade nat snat add ngw-xxx --source vsw-xxx --ip 198.18.0.5
  palisade nat forward add ngw-xxx --external-ip 198.18.0.5 --external-port 8080 --protocol tcp --internal-ip 10.0.1.7 --internal-port 80
  palisade nat firewall add ngw-xxx --action drop --proto tcp --source 10.0.0.0/16 --destination 0.0.0.0/0 --port 25 --description "no direct mail"
  palisade nat show ngw-xxx`,
	}
	cmd.AddCommand(c.natCreateCommand(), c.natListCommand(), c.natShowCommand(), c.natSetCommand(), c.natDeleteCommand(),
		c.natSnatCommand(), c.natForwardCommand(), c.natFirewallCommand())
	return cmd
}

func (c *cli) natCreateCommand() *cobra.Command {
	var vpcID, vsw, name, desc string
	var noICMP, noRoute bool
	create := &cobra.Command{
		Use:   "create",
		Short: "Create an Internet NAT gateway in a vSwitch and print its ID",
		Long: `Create an Internet NAT gateway (CreateNatGateway, NatType Enhanced,
NetworkType internet) in a vSwitch of a VPC and print its ID. It takes the
lowest free address of the vSwitch; its zone is the vSwitch's. It answers
pings to its EIPs unless --no-icmp-reply. Unless --no-default-route, a
route 0.0.0.0/0 to it is added to the VPC's route table when the table has
no 0.0.0.0/0 entry.`,
		Example: "  palisade nat create --vpc vpc-xxx --vswitch vsw-xxx --name egress\n" +
			"  palisade nat create --vpc vpc-xxx --vswitch vsw-xxx --no-default-route --no-icmp-reply",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p := nonEmpty(map[string]string{"VpcId": vpcID, "VSwitchId": vsw, "NatType": "Enhanced", "NetworkType": "internet",
				"Name": name, "Description": desc})
			if noICMP {
				p["IcmpReplyEnabled"] = "false"
			}
			if noRoute {
				p["IsCreateDefaultRoute"] = "false"
			}
			resp, err := c.call(cmd, apiclient.VersionVPC, "CreateNatGateway", p)
			if err != nil {
				return err
			}
			return c.renderID(cmd, resp, "NatGatewayId")
		},
	}
	f := create.Flags()
	f.StringVar(&vpcID, "vpc", "", "VPC the gateway serves (required)")
	f.StringVar(&vsw, "vswitch", "", "vSwitch of the VPC that holds the gateway's address; its zone is the gateway's (required)")
	f.StringVar(&name, "name", "", "gateway name (at most 128 characters)")
	f.StringVar(&desc, "description", "", "description (at most 256 characters)")
	f.BoolVar(&noICMP, "no-icmp-reply", false, "do not answer pings to the gateway's EIPs")
	f.BoolVar(&noRoute, "no-default-route", false, "do not add the route 0.0.0.0/0 to the gateway to the VPC's route table")
	_ = create.MarkFlagRequired("vpc")
	_ = create.MarkFlagRequired("vswitch")
	return create
}

func (c *cli) natListCommand() *cobra.Command {
	var vpcID string
	list := &cobra.Command{
		Use:     "list",
		Short:   "List your NAT gateways with their EIPs",
		Example: "  palisade nat list\n  palisade nat list --vpc vpc-xxx -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, items, err := c.listAll(cmd, apiclient.VersionVPC, "DescribeNatGateways", nonEmpty(map[string]string{"VpcId": vpcID}),
				"NatGateways", "NatGateway")
			if err != nil {
				return err
			}
			return c.renderList(cmd, resp, items, []column{
				field("NatGatewayId", "NatGatewayId"), field("Name", "Name"), field("Vpc", "VpcId"),
				{"VSwitch", natVSwitch}, {"PrivateIp", natPrivateIP}, {"Eips", natEIPColumn},
				field("Status", "Status"), field("Created", "CreationTime"),
			})
		},
	}
	list.Flags().StringVar(&vpcID, "vpc", "", "only the gateways of this VPC")
	return list
}

func (c *cli) natShowCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "show NAT_GATEWAY_ID",
		Short: "Show a NAT gateway with its EIPs, SNAT entries and forward entries",
		Long: `Show a NAT gateway (DescribeNatGateways), its EIPs and how its entries use
them (UsingStatus), its SNAT entries (DescribeSnatTableEntries) and its
forward entries (DescribeForwardTableEntries). With -o json: the gateway
as DescribeNatGateways lists it, with SnatTableEntries and
ForwardTableEntries added.`,
		Example: "  palisade nat show ngw-xxx\n  palisade nat show ngw-xxx -o json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			g, err := c.natGateway(cmd, args[0])
			if err != nil {
				return err
			}
			snatResp, snat, err := c.listAll(cmd, apiclient.VersionVPC, "DescribeSnatTableEntries",
				map[string]string{"SnatTableId": natTable(g, true)}, "SnatTableEntries", "SnatTableEntry")
			if err != nil {
				return err
			}
			fwdResp, fwd, err := c.listAll(cmd, apiclient.VersionVPC, "DescribeForwardTableEntries",
				map[string]string{"ForwardTableId": natTable(g, false)}, "ForwardTableEntries", "ForwardTableEntry")
			if err != nil {
				return err
			}
			g["SnatTableEntries"], g["ForwardTableEntries"] = snatResp["SnatTableEntries"], fwdResp["ForwardTableEntries"]
			return c.render(cmd, g, func(w io.Writer) error {
				info := map[string]any{
					"NatGatewayId": str(g, "NatGatewayId"), "Name": str(g, "Name"), "Description": str(g, "Description"),
					"Status": str(g, "Status"), "VpcId": str(g, "VpcId"), "VSwitchId": natVSwitch(g), "ZoneId": natZone(g),
					"PrivateIpAddress": natPrivateIP(g), "NatType": str(g, "NatType"), "NetworkType": str(g, "NetworkType"),
					"IcmpReplyEnabled": str(g, "IcmpReplyEnabled"), "SnatTableId": natTable(g, true),
					"ForwardTableId": natTable(g, false), "CreationTime": str(g, "CreationTime"),
				}
				if err := kv(w, info, "NatGatewayId", "Name", "Description", "Status", "VpcId", "VSwitchId", "ZoneId",
					"PrivateIpAddress", "NatType", "NetworkType", "IcmpReplyEnabled", "SnatTableId", "ForwardTableId", "CreationTime"); err != nil {
					return err
				}
				for _, part := range []struct {
					title string
					items []map[string]any
					cols  []column
				}{
					{"EIPs", natEIPs(g), []column{field("AllocationId", "AllocationId"), field("Address", "IpAddress"), field("UsingStatus", "UsingStatus")}},
					{"SNAT entries", snat, snatColumns},
					{"Forward entries", fwd, forwardColumns},
				} {
					fmt.Fprintf(w, "\n%s:\n", part.title)
					h, r := rowsOf(part.items, part.cols)
					if err := table(w, h, r); err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
}

func (c *cli) natSetCommand() *cobra.Command {
	var name, desc, icmp string
	set := &cobra.Command{
		Use:   "set NAT_GATEWAY_ID",
		Short: "Rename a NAT gateway, change its description or its answer to pings",
		Long: `Change a NAT gateway (ModifyNatGatewayAttribute); settings not given stay.
--icmp-reply on makes it answer pings to its EIPs, off stops that.`,
		Example: "  palisade nat set ngw-xxx --name egress-2\n  palisade nat set ngw-xxx --icmp-reply off",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p := map[string]string{"NatGatewayId": args[0]}
			fl := cmd.Flags()
			if fl.Changed("name") {
				p["Name"] = name
			}
			if fl.Changed("description") {
				p["Description"] = desc
			}
			if fl.Changed("icmp-reply") {
				switch strings.ToLower(icmp) {
				case "on":
					p["IcmpReplyEnabled"] = "true"
				case "off":
					p["IcmpReplyEnabled"] = "false"
				default:
					return fmt.Errorf("invalid --icmp-reply %q: use on or off", icmp)
				}
			}
			if len(p) == 1 {
				return fmt.Errorf("nothing to change: give --name, --description or --icmp-reply")
			}
			resp, err := c.call(cmd, apiclient.VersionVPC, "ModifyNatGatewayAttribute", p)
			if err != nil {
				return err
			}
			return c.renderDone(cmd, resp)
		},
	}
	set.Flags().StringVar(&name, "name", "", "new name")
	set.Flags().StringVar(&desc, "description", "", "new description")
	set.Flags().StringVar(&icmp, "icmp-reply", "", "on (answer pings to the gateway's EIPs) or off")
	return set
}

func (c *cli) natDeleteCommand() *cobra.Command {
	var force bool
	del := &cobra.Command{
		Use:   "delete NAT_GATEWAY_ID",
		Short: "Delete a NAT gateway (its address goes back to the vSwitch, the routes to it go)",
		Long: `Delete a NAT gateway (DeleteNatGateway) with the route entries whose next
hop it is; its address goes back to its vSwitch. It is refused while the
gateway has SNAT entries, forward entries or EIPs, unless --force: then
its entries are deleted and its EIPs unassociated (they stay allocated)
with it.`,
		Example: "  palisade nat delete ngw-xxx\n  palisade nat delete ngw-xxx --force",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p := map[string]string{"NatGatewayId": args[0]}
			if force {
				p["Force"] = "true"
			}
			resp, err := c.call(cmd, apiclient.VersionVPC, "DeleteNatGateway", p)
			if err != nil {
				return err
			}
			return c.renderDone(cmd, resp)
		},
	}
	del.Flags().BoolVar(&force, "force", false, "delete the gateway's SNAT and forward entries and unassociate its EIPs too")
	return del
}

func (c *cli) natSnatCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "snat",
		Short: "Add, list and delete the SNAT entries of a NAT gateway",
		Long: `Manage the SNAT entries of a NAT gateway's SNAT table. An entry gives the
connections that the instances of its source (a vSwitch of the gateway's
VPC, or a CIDR block inside the VPC) open to the internet one of its
EIPs (EIPs associated with the gateway) as their address. Where sources
overlap, the most specific wins; an instance with an EIP of its own keeps
using that EIP. Only destinations that the VPC routes to the gateway are
translated (the default route, unless the gateway was created without
it).`,
		Example: `  palisade nat snat add ngw-xxx --source vsw-xxx --ip 198.18.0.5
  palisade nat snat add ngw-xxx --source 10.0.2.0/24 --ip eip-aaa,eip-bbb --name batch
  palisade nat snat list ngw-xxx
  palisade nat snat delete ngw-xxx snat-xxx`,
	}

	var source, name string
	var ips []string
	add := &cobra.Command{
		Use:   "add NAT_GATEWAY_ID",
		Short: "Add an SNAT entry and print its ID",
		Long: `Add an SNAT entry (CreateSnatEntry) to the gateway's SNAT table and print
its ID. --source is a vSwitch (vsw-...) of the gateway's VPC or a CIDR
block inside the VPC; a table takes one entry per source. --ip names
1-20 EIPs associated with the gateway, by address or allocation ID
(eip-...); connections are spread over them.`,
		Example: "  palisade nat snat add ngw-xxx --source vsw-xxx --ip 198.18.0.5\n" +
			"  palisade nat snat add ngw-xxx --source 10.0.2.0/24 --ip eip-aaa --ip eip-bbb --name batch",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tableID, g, err := c.natTableOf(cmd, args[0], true)
			if err != nil {
				return err
			}
			addrs, err := natAddresses(g, ips)
			if err != nil {
				return err
			}
			if len(addrs) == 0 {
				return fmt.Errorf("give at least one --ip")
			}
			p := nonEmpty(map[string]string{"SnatTableId": tableID, "SnatIp": strings.Join(addrs, ","), "SnatEntryName": name})
			if source = strings.TrimSpace(source); strings.HasPrefix(source, "vsw-") {
				p["SourceVSwitchId"] = source
			} else {
				p["SourceCIDR"] = source
			}
			resp, err := c.call(cmd, apiclient.VersionVPC, "CreateSnatEntry", p)
			if err != nil {
				return err
			}
			return c.renderID(cmd, resp, "SnatEntryId")
		},
	}
	f := add.Flags()
	f.StringVar(&source, "source", "", "vSwitch (vsw-...) or CIDR block of the VPC whose connections are translated (required)")
	f.StringSliceVar(&ips, "ip", nil, "EIP of the gateway, by address or allocation ID (eip-...); repeatable or comma-separated (required)")
	f.StringVar(&name, "name", "", "entry name")
	_ = add.MarkFlagRequired("source")
	_ = add.MarkFlagRequired("ip")

	list, del := c.natEntryCommands(snatEntries)

	var setIPs []string
	var setName string
	set := &cobra.Command{
		Use:   "set NAT_GATEWAY_ID SNAT_ENTRY_ID",
		Short: "Change an SNAT entry's EIPs or name",
		Long: `Change an SNAT entry (ModifySnatEntry): --ip replaces its EIPs (by address or
allocation ID, associated with the gateway), --name renames it. Flags not
given are left as they are.`,
		Example: "  palisade nat snat set ngw-xxx snat-xxx --ip 198.18.0.6,198.18.0.7\n  palisade nat snat set ngw-xxx snat-xxx --name batch",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("ip") && !cmd.Flags().Changed("name") {
				return fmt.Errorf("give --ip or --name")
			}
			tableID, g, err := c.natTableOf(cmd, args[0], true)
			if err != nil {
				return err
			}
			p := map[string]string{"SnatTableId": tableID, "SnatEntryId": args[1]}
			if cmd.Flags().Changed("ip") {
				addrs, err := natAddresses(g, setIPs)
				if err != nil {
					return err
				}
				if len(addrs) == 0 {
					return fmt.Errorf("--ip names no EIP")
				}
				p["SnatIp"] = strings.Join(addrs, ",")
			}
			if cmd.Flags().Changed("name") {
				p["SnatEntryName"] = setName
			}
			resp, err := c.call(cmd, apiclient.VersionVPC, "ModifySnatEntry", p)
			if err != nil {
				return err
			}
			return c.renderDone(cmd, resp)
		},
	}
	set.Flags().StringSliceVar(&setIPs, "ip", nil, "the entry's EIPs from now on, by address or allocation ID (eip-...); repeatable or comma-separated")
	set.Flags().StringVar(&setName, "name", "", "new entry name")
	cmd.AddCommand(add, list, set, del)
	return cmd
}

func (c *cli) natForwardCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "forward",
		Short: "Add, list and delete the forward (DNAT) entries of a NAT gateway",
		Long: `Manage the forward entries of a NAT gateway's forward table. An entry sends
new connections from the internet to an EIP of the gateway and a port
(tcp or udp) on to a private address of the gateway's VPC and a port;
the instance's security groups must admit them. With --protocol any the
entry is an IP mapping: every port and protocol of the EIP goes to the
private address, and that address's own connections to the internet
leave with the EIP. An EIP and port are forwarded by one entry only, and
an IP-mapped EIP by nothing else (nor is it an SNAT address).`,
		Example: `  palisade nat forward add ngw-xxx --external-ip 198.18.0.5 --external-port 8080 --protocol tcp --internal-ip 10.0.1.7 --internal-port 80
  palisade nat forward add ngw-xxx --external-ip eip-xxx --protocol any --internal-ip 10.0.1.8
  palisade nat forward list ngw-xxx
  palisade nat forward delete ngw-xxx fwd-xxx`,
	}

	var extIP, extPort, proto, intIP, intPort, name string
	add := &cobra.Command{
		Use:   "add NAT_GATEWAY_ID",
		Short: "Add a forward entry and print its ID",
		Long: `Add a forward entry (CreateForwardEntry) to the gateway's forward table and
print its ID. --external-ip is an EIP associated with the gateway, by
address or allocation ID (eip-...); --internal-ip an address in a
vSwitch of the gateway's VPC. With --protocol tcp or udp, --external-port
and --internal-port are one port each, 1-65535; with --protocol any (an
IP mapping) they are any, and may be left out.`,
		Example: "  palisade nat forward add ngw-xxx --external-ip 198.18.0.5 --external-port 8080 --protocol tcp --internal-ip 10.0.1.7 --internal-port 80\n" +
			"  palisade nat forward add ngw-xxx --external-ip eip-xxx --protocol any --internal-ip 10.0.1.8",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := natProtocol(proto)
			if err != nil {
				return err
			}
			ext, err := natPort("external-port", extPort, p)
			if err != nil {
				return err
			}
			in, err := natPort("internal-port", intPort, p)
			if err != nil {
				return err
			}
			tableID, g, err := c.natTableOf(cmd, args[0], false)
			if err != nil {
				return err
			}
			addr, err := natAddress(g, extIP)
			if err != nil {
				return err
			}
			resp, err := c.call(cmd, apiclient.VersionVPC, "CreateForwardEntry", nonEmpty(map[string]string{
				"ForwardTableId": tableID, "ExternalIp": addr, "ExternalPort": ext, "IpProtocol": p,
				"InternalIp": strings.TrimSpace(intIP), "InternalPort": in, "ForwardEntryName": name}))
			if err != nil {
				return err
			}
			return c.renderID(cmd, resp, "ForwardEntryId")
		},
	}
	f := add.Flags()
	f.StringVar(&extIP, "external-ip", "", "EIP of the gateway the internet connects to, by address or allocation ID (eip-...) (required)")
	f.StringVar(&extPort, "external-port", "", "port of the EIP, 1-65535, or any with --protocol any (required with tcp and udp)")
	f.StringVar(&proto, "protocol", "", "tcp, udp or any (an IP mapping: every port and protocol) (required)")
	f.StringVar(&intIP, "internal-ip", "", "private IPv4 address in a vSwitch of the gateway's VPC (required)")
	f.StringVar(&intPort, "internal-port", "", "port of the private address, 1-65535, or any with --protocol any (required with tcp and udp)")
	f.StringVar(&name, "name", "", "entry name")
	for _, n := range []string{"external-ip", "protocol", "internal-ip"} {
		_ = add.MarkFlagRequired(n)
	}

	list, del := c.natEntryCommands(forwardEntries)

	set := &cobra.Command{
		Use:   "set NAT_GATEWAY_ID FORWARD_ENTRY_ID",
		Short: "Change a forward entry",
		Long: `Change a forward entry (ModifyForwardEntry): any of --external-ip,
--external-port, --protocol, --internal-ip, --internal-port and --name;
flags not given are left as they are. The API checks the result as it
checks a new entry.`,
		Example: "  palisade nat forward set ngw-xxx fwd-xxx --external-port 8443 --internal-port 443",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			tableID, g, err := c.natTableOf(cmd, args[0], false)
			if err != nil {
				return err
			}
			p := map[string]string{"ForwardTableId": tableID, "ForwardEntryId": args[1]}
			for flag, param := range map[string]string{"external-port": "ExternalPort", "internal-ip": "InternalIp",
				"internal-port": "InternalPort", "name": "ForwardEntryName"} {
				if cmd.Flags().Changed(flag) {
					v, _ := cmd.Flags().GetString(flag)
					p[param] = strings.TrimSpace(v)
				}
			}
			if cmd.Flags().Changed("protocol") {
				if p["IpProtocol"], err = natProtocol(proto); err != nil {
					return err
				}
			}
			if cmd.Flags().Changed("external-ip") {
				if p["ExternalIp"], err = natAddress(g, extIP); err != nil {
					return err
				}
			}
			if len(p) == 2 {
				return fmt.Errorf("give at least one of --external-ip, --external-port, --protocol, --internal-ip, --internal-port, --name")
			}
			resp, err := c.call(cmd, apiclient.VersionVPC, "ModifyForwardEntry", p)
			if err != nil {
				return err
			}
			return c.renderDone(cmd, resp)
		},
	}
	sf := set.Flags()
	sf.StringVar(&extIP, "external-ip", "", "EIP of the gateway, by address or allocation ID (eip-...)")
	sf.StringVar(&extPort, "external-port", "", "port of the EIP, 1-65535, or any")
	sf.StringVar(&proto, "protocol", "", "tcp, udp or any")
	sf.StringVar(&intIP, "internal-ip", "", "private IPv4 address in a vSwitch of the gateway's VPC")
	sf.StringVar(&intPort, "internal-port", "", "port of the private address, 1-65535, or any")
	sf.StringVar(&name, "name", "", "entry name")
	cmd.AddCommand(add, list, set, del)
	return cmd
}

// natEntryKind is what the list and delete commands of one kind of NAT
// entry need: SNAT entries or forward entries.
type natEntryKind struct {
	snat                bool   // the gateway's SNAT table, else its forward table
	what, cmd, idPrefix string // "SNAT entry", "snat", "snat-"
	tableParam, idParam string // SnatTableId, SnatEntryId
	describe, del       string // the actions
	listKey, itemKey    string // DescribeSnatTableEntries' SnatTableEntries.SnatTableEntry
	columns             []column
}

var (
	snatEntries = natEntryKind{snat: true, what: "SNAT entry", cmd: "snat", idPrefix: "snat-",
		tableParam: "SnatTableId", idParam: "SnatEntryId", describe: "DescribeSnatTableEntries", del: "DeleteSnatEntry",
		listKey: "SnatTableEntries", itemKey: "SnatTableEntry", columns: snatColumns}
	forwardEntries = natEntryKind{what: "forward entry", cmd: "forward", idPrefix: "fwd-",
		tableParam: "ForwardTableId", idParam: "ForwardEntryId", describe: "DescribeForwardTableEntries", del: "DeleteForwardEntry",
		listKey: "ForwardTableEntries", itemKey: "ForwardTableEntry", columns: forwardColumns}
)

// natEntryCommands are the list and delete commands of entries of kind k,
// which find the gateway's table from its ID.
func (c *cli) natEntryCommands(k natEntryKind) (list, del *cobra.Command) {
	list = &cobra.Command{
		Use:     "list NAT_GATEWAY_ID",
		Short:   "List the " + strings.TrimSuffix(k.what, "entry") + "entries of a NAT gateway",
		Example: fmt.Sprintf("  palisade nat %[1]s list ngw-xxx\n  palisade nat %[1]s list ngw-xxx -o json", k.cmd),
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tableID, _, err := c.natTableOf(cmd, args[0], k.snat)
			if err != nil {
				return err
			}
			resp, items, err := c.listAll(cmd, apiclient.VersionVPC, k.describe, map[string]string{k.tableParam: tableID}, k.listKey, k.itemKey)
			if err != nil {
				return err
			}
			return c.renderList(cmd, resp, items, k.columns)
		},
	}
	del = &cobra.Command{
		Use:     "delete NAT_GATEWAY_ID " + strings.ToUpper(strings.ReplaceAll(k.what, " ", "_")) + "_ID",
		Short:   "Delete " + map[bool]string{true: "an ", false: "a "}[k.snat] + k.what,
		Example: fmt.Sprintf("  palisade nat %s delete ngw-xxx %sxxx", k.cmd, k.idPrefix),
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			tableID, _, err := c.natTableOf(cmd, args[0], k.snat)
			if err != nil {
				return err
			}
			resp, err := c.call(cmd, apiclient.VersionVPC, k.del, map[string]string{k.tableParam: tableID, k.idParam: args[1]})
			if err != nil {
				return err
			}
			return c.renderDone(cmd, resp)
		},
	}
	return list, del
}
