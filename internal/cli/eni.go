package cli

import (
	"github.com/spf13/cobra"

	"github.com/palisade-project/palisade/internal/apiclient"
)

func (c *cli) eniCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "eni",
		Short: "Manage elastic network interfaces",
		Long: `Create, list, show and delete ENIs, attach them to and detach them from
instances, and add them to or remove them from security groups (ECS API
2014-05-26).`,
		Example: `  palisade eni create --vswitch vsw-xxx --sg sg-xxx --ip 192.168.1.50
  palisade eni attach eni-xxx --instance i-xxx
  palisade eni join eni-xxx --sg sg-yyy
  palisade eni list --instance i-xxx`,
	}

	var vsw, ip, name string
	var sgs []string
	create := &cobra.Command{
		Use:     "create",
		Short:   "Create an ENI and print its ID",
		Long:    "Create an ENI in a vSwitch and security groups (CreateNetworkInterface) and print its ID.",
		Example: "  palisade eni create --vswitch vsw-xxx --sg sg-a --sg sg-b --ip 192.168.1.50 --name db",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p := nonEmpty(map[string]string{"VSwitchId": vsw, "PrimaryIpAddress": ip, "NetworkInterfaceName": name})
			indexed(p, "SecurityGroupIds", sgs)
			resp, err := c.call(cmd, apiclient.VersionECS, "CreateNetworkInterface", p)
			if err != nil {
				return err
			}
			return c.renderID(cmd, resp, "NetworkInterfaceId")
		},
	}
	create.Flags().StringVar(&vsw, "vswitch", "", "vSwitch ID (required)")
	create.Flags().StringSliceVar(&sgs, "sg", nil, "security group ID (repeatable, at least one)")
	create.Flags().StringVar(&ip, "ip", "", "primary private IPv4 address (default: allocated)")
	create.Flags().StringVar(&name, "name", "", "ENI name")
	_ = create.MarkFlagRequired("vswitch")
	_ = create.MarkFlagRequired("sg")

	var listInstance string
	list := &cobra.Command{
		Use:     "list",
		Short:   "List ENIs",
		Long:    "List the caller's ENIs (DescribeNetworkInterfaces), optionally of one instance.",
		Example: "  palisade eni list\n  palisade eni list --instance i-xxx",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, items, err := c.listAll(cmd, apiclient.VersionECS, "DescribeNetworkInterfaces",
				nonEmpty(map[string]string{"InstanceId": listInstance}), "NetworkInterfaceSets", "NetworkInterfaceSet")
			if err != nil {
				return err
			}
			return c.renderList(cmd, resp, items, eniColumns)
		},
	}
	list.Flags().StringVar(&listInstance, "instance", "", "only ENIs attached to this instance")

	show := &cobra.Command{
		Use:     "show ENI_ID",
		Short:   "Show an ENI",
		Long:    "Show an ENI (DescribeNetworkInterfaces with NetworkInterfaceId.1=ENI_ID).",
		Example: "  palisade eni show eni-xxx",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := c.call(cmd, apiclient.VersionECS, "DescribeNetworkInterfaces", map[string]string{"NetworkInterfaceId.1": args[0]})
			if err != nil {
				return err
			}
			items := objects(resp, "NetworkInterfaceSets", "NetworkInterfaceSet")
			if len(items) == 0 {
				return &apiclient.APIError{Code: "InvalidEniId.NotFound", Message: "The specified network interface " + args[0] + " does not exist."}
			}
			if c.output == OutputJSON {
				return writeJSON(cmd.OutOrStdout(), items[0])
			}
			return printObject(cmd.OutOrStdout(), items[0])
		},
	}

	simple := func(use, short, long, example, action string, extra func(args []string) map[string]string) *cobra.Command {
		return &cobra.Command{
			Use: use, Short: short, Long: long, Example: example,
			Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				resp, err := c.call(cmd, apiclient.VersionECS, action, extra(args))
				if err != nil {
					return err
				}
				return c.renderDone(cmd, resp)
			},
		}
	}
	del := simple("delete ENI_ID", "Delete an ENI", "Delete a detached ENI (DeleteNetworkInterface).",
		"  palisade eni delete eni-xxx", "DeleteNetworkInterface",
		func(args []string) map[string]string { return map[string]string{"NetworkInterfaceId": args[0]} })

	var instance, sg string
	withInstance := func(args []string) map[string]string {
		return map[string]string{"NetworkInterfaceId": args[0], "InstanceId": instance}
	}
	withSG := func(args []string) map[string]string {
		return map[string]string{"NetworkInterfaceId": args[0], "SecurityGroupId": sg}
	}
	attach := simple("attach ENI_ID --instance INSTANCE_ID", "Attach an ENI to an instance",
		"Attach an ENI to an instance in the same zone (AttachNetworkInterface).",
		"  palisade eni attach eni-xxx --instance i-xxx", "AttachNetworkInterface", withInstance)
	detach := simple("detach ENI_ID --instance INSTANCE_ID", "Detach an ENI from an instance",
		"Detach a secondary ENI from its instance (DetachNetworkInterface).",
		"  palisade eni detach eni-xxx --instance i-xxx", "DetachNetworkInterface", withInstance)
	join := simple("join ENI_ID --sg SG_ID", "Add an ENI to a security group",
		"Add an ENI to a security group of its VPC (JoinSecurityGroup).",
		"  palisade eni join eni-xxx --sg sg-xxx", "JoinSecurityGroup", withSG)
	leave := simple("leave ENI_ID --sg SG_ID", "Remove an ENI from a security group",
		"Remove an ENI from a security group (LeaveSecurityGroup); it must stay in at least one.",
		"  palisade eni leave eni-xxx --sg sg-xxx", "LeaveSecurityGroup", withSG)
	for _, sub := range []*cobra.Command{attach, detach} {
		sub.Flags().StringVar(&instance, "instance", "", "instance ID (required)")
		_ = sub.MarkFlagRequired("instance")
	}
	for _, sub := range []*cobra.Command{join, leave} {
		sub.Flags().StringVar(&sg, "sg", "", "security group ID (required)")
		_ = sub.MarkFlagRequired("sg")
	}

	cmd.AddCommand(create, list, show, del, attach, detach, join, leave)
	return cmd
}

var eniColumns = []column{
	field("NetworkInterfaceId", "NetworkInterfaceId"), field("Name", "NetworkInterfaceName"),
	field("Status", "Status"), field("Type", "Type"), field("InstanceId", "InstanceId"),
	field("VSwitchId", "VSwitchId"), field("PrivateIp", "PrivateIpAddress"),
	joined("SecurityGroups", "SecurityGroupIds", "SecurityGroupId"),
}
