package cli

import (
	"errors"
	"io"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/palisade-project/palisade/internal/apiclient"
)

func (c *cli) vpcCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "vpc",
		Short: "Manage VPCs",
		Long:  "Create, list, show and delete VPCs (VPC API 2016-04-28).",
		Example: `  palisade vpc create --cidr 192.168.0.0/16 --name prod
  palisade vpc list
  palisade vpc show vpc-xxx
  palisade vpc delete vpc-xxx`,
	}
	var cidr, name, desc string
	var ipv6 bool
	create := &cobra.Command{
		Use:     "create",
		Short:   "Create a VPC and print its ID",
		Long:    "Create a VPC (CreateVpc) and print the new VPC ID.",
		Example: "  palisade vpc create --cidr 10.0.0.0/8 --name prod --ipv6",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p := map[string]string{"CidrBlock": cidr, "VpcName": name, "Description": desc}
			if ipv6 {
				p["EnableIpv6"] = "true"
			}
			resp, err := c.call(cmd, apiclient.VersionVPC, "CreateVpc", nonEmpty(p))
			if err != nil {
				return err
			}
			return c.renderID(cmd, resp, "VpcId")
		},
	}
	create.Flags().StringVar(&cidr, "cidr", "", "IPv4 CIDR block (default: chosen by the server)")
	create.Flags().StringVar(&name, "name", "", "VPC name")
	create.Flags().StringVar(&desc, "description", "", "description")
	create.Flags().BoolVar(&ipv6, "ipv6", false, "enable IPv6 (allocate an IPv6 CIDR block)")

	list := &cobra.Command{
		Use:     "list",
		Short:   "List VPCs",
		Long:    "List the caller's VPCs (DescribeVpcs).",
		Example: "  palisade vpc list\n  palisade vpc list -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, items, err := c.listAll(cmd, apiclient.VersionVPC, "DescribeVpcs", nil, "Vpcs", "Vpc")
			if err != nil {
				return err
			}
			return c.renderList(cmd, resp, items, []column{
				field("VpcId", "VpcId"), field("Name", "VpcName"), field("CidrBlock", "CidrBlock"),
				field("Ipv6CidrBlock", "Ipv6CidrBlock"), field("Status", "Status"),
				joined("VSwitches", "VSwitchIds", "VSwitchId"), field("Created", "CreationTime"),
			})
		},
	}
	show := &cobra.Command{
		Use:     "show VPC_ID",
		Short:   "Show a VPC",
		Long:    "Show a VPC's attributes (DescribeVpcAttribute).",
		Example: "  palisade vpc show vpc-xxx",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := c.call(cmd, apiclient.VersionVPC, "DescribeVpcAttribute", map[string]string{"VpcId": args[0]})
			if err != nil {
				return err
			}
			return c.render(cmd, resp, func(w io.Writer) error { return printObject(w, resp) })
		},
	}
	var force bool
	del := &cobra.Command{
		Use:   "delete VPC_ID",
		Short: "Delete a VPC",
		Long: `Delete a VPC (DeleteVpc). It must have no vSwitches, security groups or
network ACLs left, and no flow log on it; with --force (ForceDelete) its
empty vSwitches, groups, ACLs and flow logs go with it (never its instances).`,
		Example: "  palisade vpc delete vpc-xxx\n  palisade vpc delete vpc-xxx --force",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p := map[string]string{"VpcId": args[0]}
			if force {
				p["ForceDelete"] = "true"
			}
			resp, err := c.call(cmd, apiclient.VersionVPC, "DeleteVpc", p)
			if err != nil {
				return err
			}
			return c.renderDone(cmd, resp)
		},
	}
	del.Flags().BoolVar(&force, "force", false, "also delete the VPC's empty vSwitches, groups, ACLs and flow logs (ForceDelete)")
	cmd.AddCommand(create, list, show, del)
	return cmd
}

func (c *cli) vswitchCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "vswitch",
		Aliases: []string{"vsw"},
		Short:   "Manage vSwitches",
		Long:    "Create, list, show and delete vSwitches, the zone-scoped subnets of a VPC (VPC API 2016-04-28).",
		Example: `  palisade vswitch create --vpc vpc-xxx --cidr 192.168.1.0/24 --name web
  palisade vswitch list --vpc vpc-xxx
  palisade vswitch show vsw-xxx
  palisade vswitch delete vsw-xxx`,
	}
	var vpcID, cidr, zone, name string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a vSwitch and print its ID",
		Long: `Create a vSwitch (CreateVSwitch) and print the new vSwitch ID. Without --zone
it goes to the region's first zone (ECS DescribeZones), or "<region>-a".`,
		Example: "  palisade vswitch create --vpc vpc-xxx --cidr 192.168.1.0/24 --zone local-a --name web",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			z := zone
			if z == "" {
				var err error
				if z, err = c.defaultZone(cmd); err != nil {
					return err
				}
			}
			resp, err := c.call(cmd, apiclient.VersionVPC, "CreateVSwitch", nonEmpty(map[string]string{
				"VpcId": vpcID, "CidrBlock": cidr, "ZoneId": z, "VSwitchName": name,
			}))
			if err != nil {
				return err
			}
			return c.renderID(cmd, resp, "VSwitchId")
		},
	}
	create.Flags().StringVar(&vpcID, "vpc", "", "VPC ID (required)")
	create.Flags().StringVar(&cidr, "cidr", "", "IPv4 CIDR block inside the VPC's (required)")
	create.Flags().StringVar(&zone, "zone", "", "zone ID (default: the region's first zone)")
	create.Flags().StringVar(&name, "name", "", "vSwitch name")
	_ = create.MarkFlagRequired("vpc")
	_ = create.MarkFlagRequired("cidr")

	var listVPC string
	list := &cobra.Command{
		Use:     "list",
		Short:   "List vSwitches",
		Long:    "List the caller's vSwitches (DescribeVSwitches), optionally of one VPC.",
		Example: "  palisade vswitch list\n  palisade vswitch list --vpc vpc-xxx",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, items, err := c.listAll(cmd, apiclient.VersionVPC, "DescribeVSwitches",
				nonEmpty(map[string]string{"VpcId": listVPC}), "VSwitches", "VSwitch")
			if err != nil {
				return err
			}
			return c.renderList(cmd, resp, items, []column{
				field("VSwitchId", "VSwitchId"), field("Name", "VSwitchName"), field("VpcId", "VpcId"),
				field("Zone", "ZoneId"), field("CidrBlock", "CidrBlock"), field("AvailableIps", "AvailableIpAddressCount"),
				field("Status", "Status"),
			})
		},
	}
	list.Flags().StringVar(&listVPC, "vpc", "", "only vSwitches of this VPC")
	show := &cobra.Command{
		Use:     "show VSWITCH_ID",
		Short:   "Show a vSwitch",
		Long:    "Show a vSwitch's attributes (DescribeVSwitchAttributes).",
		Example: "  palisade vswitch show vsw-xxx",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := c.call(cmd, apiclient.VersionVPC, "DescribeVSwitchAttributes", map[string]string{"VSwitchId": args[0]})
			if err != nil {
				return err
			}
			return c.render(cmd, resp, func(w io.Writer) error { return printObject(w, resp) })
		},
	}
	del := &cobra.Command{
		Use:     "delete VSWITCH_ID",
		Short:   "Delete a vSwitch",
		Long:    "Delete a vSwitch (DeleteVSwitch). It must have no instances or ENIs left.",
		Example: "  palisade vswitch delete vsw-xxx",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := c.call(cmd, apiclient.VersionVPC, "DeleteVSwitch", map[string]string{"VSwitchId": args[0]})
			if err != nil {
				return err
			}
			return c.renderDone(cmd, resp)
		},
	}
	cmd.AddCommand(create, list, show, del)
	return cmd
}

// defaultZone is the first zone of ECS DescribeZones, or "<region>-a" when
// the server does not answer it (an API error); transport and credential
// errors are returned.
func (c *cli) defaultZone(cmd *cobra.Command) (string, error) {
	resp, err := c.call(cmd, apiclient.VersionECS, "DescribeZones", nil)
	if err != nil {
		var ae *apiclient.APIError
		if errors.As(err, &ae) {
			return c.region + "-a", nil
		}
		return "", err
	}
	if zs := objects(resp, "Zones", "Zone"); len(zs) > 0 && str(zs[0], "ZoneId") != "" {
		return str(zs[0], "ZoneId"), nil
	}
	return c.region + "-a", nil
}

// nonEmpty drops empty values (the SDK never sends them either).
func nonEmpty(p map[string]string) map[string]string {
	for k, v := range p {
		if v == "" {
			delete(p, k)
		}
	}
	return p
}

// indexed adds prefix.1..N for the values.
func indexed(p map[string]string, prefix string, values []string) {
	for i, v := range values {
		p[prefix+"."+strconv.Itoa(i+1)] = v
	}
}
