package cli

import (
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/palisade-project/palisade/internal/apiclient"
)

func (c *cli) eipCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "eip",
		Short: "Manage elastic IP addresses",
		Long: `Allocate, list, associate, unassociate and release elastic IP addresses
(VPC API 2016-04-28). An EIP is a public address of the server's pool
(--public-cidr of "palisade server"/"palisade up"); associated with an
instance or ENI, it is how the internet reaches that instance; associated
with a NAT gateway (ngw-...), it is an address of the gateway's SNAT and
forward entries ("palisade nat").`,
		Example: `  palisade eip allocate --name web
  palisade eip associate eip-xxx i-xxx
  palisade eip associate eip-xxx ngw-xxx
  palisade eip list
  palisade eip unassociate eip-xxx
  palisade eip release eip-xxx`,
	}
	var name, desc, bandwidth, address string
	alloc := &cobra.Command{
		Use:     "allocate",
		Short:   "Allocate an EIP and print its allocation ID and address",
		Example: "  palisade eip allocate --name web --bandwidth 100",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := c.call(cmd, apiclient.VersionVPC, "AllocateEipAddress",
				nonEmpty(map[string]string{"Name": name, "Description": desc, "Bandwidth": bandwidth, "IpAddress": address}))
			if err != nil {
				return err
			}
			return c.render(cmd, resp, func(w io.Writer) error {
				_, err := w.Write([]byte(str(resp, "AllocationId") + " " + str(resp, "EipAddress") + "\n"))
				return err
			})
		},
	}
	alloc.Flags().StringVar(&name, "name", "", "name")
	alloc.Flags().StringVar(&desc, "description", "", "description")
	alloc.Flags().StringVar(&bandwidth, "bandwidth", "", "bandwidth in Mbit/s (recorded)")
	alloc.Flags().StringVar(&address, "address", "", "a specific free address of the pool")

	list := &cobra.Command{
		Use:     "list",
		Short:   "List EIPs",
		Example: "  palisade eip list -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, items, err := c.listAll(cmd, apiclient.VersionVPC, "DescribeEipAddresses", nil, "EipAddresses", "EipAddress")
			if err != nil {
				return err
			}
			return c.renderList(cmd, resp, items, []column{
				field("AllocationId", "AllocationId"), field("Address", "IpAddress"), field("Status", "Status"),
				field("Name", "Name"), field("Instance", "InstanceId"), field("Type", "InstanceType"),
				field("PrivateIp", "PrivateIpAddress"), field("Allocated", "AllocationTime"),
			})
		},
	}
	var privateIP, instanceType string
	assoc := &cobra.Command{
		Use:   "associate ALLOCATION_ID INSTANCE_ENI_OR_NAT_GATEWAY_ID",
		Short: "Associate an EIP with an instance (i-...), an ENI (eni-...) or a NAT gateway (ngw-...)",
		Long: `Associate an available EIP (AssociateEipAddress) with an instance (its
primary ENI's primary address), an ENI (its primary address, or
--private-ip) or an Internet NAT gateway, whose SNAT and forward entries
may then use it. The type follows from the ID's prefix (i-: EcsInstance,
eni-: NetworkInterface, ngw-: Nat) unless --type says it.`,
		Example: "  palisade eip associate eip-xxx i-xxx\n  palisade eip associate eip-xxx eni-xxx --private-ip 10.0.1.20\n" +
			"  palisade eip associate eip-xxx ngw-xxx",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			typ := instanceType
			for _, t := range []string{"EcsInstance", "NetworkInterface", "Nat"} {
				if strings.EqualFold(typ, t) {
					typ = t // the API's spelling; anything else is its to refuse
				}
			}
			switch {
			case typ != "":
			case strings.HasPrefix(args[1], "eni-"):
				typ = "NetworkInterface"
			case strings.HasPrefix(args[1], "ngw-"):
				typ = "Nat"
			default:
				typ = "EcsInstance"
			}
			resp, err := c.call(cmd, apiclient.VersionVPC, "AssociateEipAddress", nonEmpty(map[string]string{
				"AllocationId": args[0], "InstanceId": args[1], "InstanceType": typ, "PrivateIpAddress": privateIP}))
			if err != nil {
				return err
			}
			return c.renderDone(cmd, resp)
		},
	}
	assoc.Flags().StringVar(&privateIP, "private-ip", "", "private IPv4 address of the ENI to map (default: its primary)")
	assoc.Flags().StringVar(&instanceType, "type", "", "EcsInstance, NetworkInterface or Nat (default: from the ID's prefix)")
	simple := func(use, action, short string) *cobra.Command {
		return &cobra.Command{
			Use:     use + " ALLOCATION_ID",
			Short:   short,
			Example: "  palisade eip " + use + " eip-xxx",
			Args:    cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				resp, err := c.call(cmd, apiclient.VersionVPC, action, map[string]string{"AllocationId": args[0]})
				if err != nil {
					return err
				}
				return c.renderDone(cmd, resp)
			},
		}
	}
	cmd.AddCommand(alloc, list, assoc,
		simple("unassociate", "UnassociateEipAddress", "Remove an EIP's association"),
		simple("release", "ReleaseEipAddress", "Release an unassociated EIP back to the pool"))
	return cmd
}
