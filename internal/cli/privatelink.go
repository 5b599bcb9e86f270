package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/palisade-project/palisade/internal/apiclient"
)

// listTokens pages through a PrivateLink List action (NextToken,
// MaxResults up to max) and returns every item of the bare array key, plus
// a response holding all of them for JSON output.
func (c *cli) listTokens(cmd *cobra.Command, action string, params map[string]string, key string, max int) (map[string]any, []map[string]any, error) {
	return c.listAllTokens(cmd, apiclient.VersionPrivateLink, action, params, key, max)
}

func (c *cli) privatelinkCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "privatelink",
		Short: "Manage PrivateLink: endpoint services, endpoints and their connections",
		Long: `Publish instances or internal load balancers of a VPC as an endpoint service,
and reach services from other VPCs (of any account the service allows)
through interface endpoints (PrivateLink API 2020-04-15).

A service (epsrv-...) is backed by instances (i-...) of one VPC of your
account, whose running instances of an endpoint's zone share its
connections at random on the same port, or by internal load balancers
(lb-...) of it: a connection to a port of the endpoint goes to the
listener of the zone's load balancer on that port, which picks one of its
backends on the listener's backend port (ports without a running listener
are dropped). Its owner may always use it; other accounts see it only
once added as users. An endpoint (ep-...) has one address in a vSwitch
of the consumer's VPC per zone (a zone of the service's resources), and
1 to 10 security groups of that VPC. Only connections that the consumer
opens toward the endpoint's addresses cross; the service's instances (or
its load balancers' backends) see them coming from a transit address of
100.64.0.0/10, which their security groups must admit. A new endpoint is Disconnected until the service's owner
accepts it ("connection accept"), unless the service auto-accepts.`,
		Example: `  palisade privatelink service create --resource i-web1 --resource i-web2 --description "orders API"
  palisade privatelink service add-user epsrv-xxx 1234567890123456
  palisade privatelink endpoint create --vpc vpc-xxx --service epsrv-xxx --sg sg-xxx --zone local-a:vsw-xxx
  palisade privatelink connection accept epsrv-xxx ep-xxx`,
	}
	cmd.AddCommand(c.plServiceCommand(), c.plEndpointCommand(), c.plConnectionCommand())
	return cmd
}

// plResourceType is the ResourceType of a service resource by its ID: slb
// for a load balancer (lb-...), else ecs (an instance).
func plResourceType(id string) string {
	if strings.HasPrefix(id, "lb-") {
		return "slb"
	}
	return "ecs"
}

func (c *cli) plServiceCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "service", Short: "Create, list, show and delete endpoint services and manage their users"}

	var resources []string
	var resourceType string
	var autoAccept bool
	var desc string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create an endpoint service and print its ID",
		Long: `Create an endpoint service (CreateVpcEndpointService) backed by instances or
by internal load balancers of one VPC of your account, and print its ID.
Each --resource is an instance (i-...) or a load balancer (lb-...), all of
one type (its zone becomes a zone of the service); a service may start
without any (--type says which it will take: ecs, the default, or slb).
Without --auto-accept, every new endpoint waits for "palisade privatelink
connection accept".`,
		Example: "  palisade privatelink service create --resource i-web1 --resource i-web2 --auto-accept --description \"orders API\"\n" +
			"  palisade privatelink service create --resource lb-web --description \"orders API behind a load balancer\"",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			typ := resourceType
			if typ == "" {
				typ = "ecs"
				if len(resources) > 0 {
					typ = plResourceType(resources[0])
				}
			}
			p := nonEmpty(map[string]string{"ServiceResourceType": typ, "ServiceDescription": desc})
			if autoAccept {
				p["AutoAcceptEnabled"] = "true"
			}
			for i, id := range resources {
				k := "Resource." + strconv.Itoa(i+1) + "."
				p[k+"ResourceType"], p[k+"ResourceId"] = plResourceType(id), id
			}
			resp, err := c.call(cmd, apiclient.VersionPrivateLink, "CreateVpcEndpointService", p)
			if err != nil {
				return err
			}
			return c.renderID(cmd, resp, "ServiceId")
		},
	}
	create.Flags().StringSliceVar(&resources, "resource", nil, "instance (i-...) or load balancer (lb-...) backing the service (repeatable)")
	create.Flags().StringVar(&resourceType, "type", "", "ServiceResourceType: ecs (instances) or slb (load balancers); default: the first resource's, else ecs")
	create.Flags().BoolVar(&autoAccept, "auto-accept", false, "connect new endpoints at once (default: they wait for acceptance)")
	create.Flags().StringVar(&desc, "description", "", "description")

	var usable bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List your endpoint services (or, with --usable, those you may connect to)",
		Long: `List your endpoint services (ListVpcEndpointServices); with --usable, the
services your account may create endpoints of: its own and those whose
owners added it as a user (ListVpcEndpointServicesByEndUser).`,
		Example: "  palisade privatelink service list\n  palisade privatelink service list --usable",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			action := "ListVpcEndpointServices"
			if usable {
				action = "ListVpcEndpointServicesByEndUser"
			}
			resp, items, err := c.listTokens(cmd, action, nil, "Services", 100)
			if err != nil {
				return err
			}
			return c.renderList(cmd, resp, items, []column{
				field("ServiceId", "ServiceId"), field("Name", "ServiceName"), field("Domain", "ServiceDomain"),
				joined("Zones", "Zones"), field("AutoAccept", "AutoAcceptEnabled"), field("Status", "ServiceStatus"),
				field("Description", "ServiceDescription"),
			})
		},
	}
	list.Flags().BoolVar(&usable, "usable", false, "list the services you may connect to instead of those you own")

	show := &cobra.Command{
		Use:     "show SERVICE_ID",
		Short:   "Show a service with its resources and users",
		Example: "  palisade privatelink service show epsrv-xxx",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := map[string]string{"ServiceId": args[0]}
			resp, err := c.call(cmd, apiclient.VersionPrivateLink, "GetVpcEndpointServiceAttribute", id)
			if err != nil {
				return err
			}
			res, resources, err := c.listTokens(cmd, "ListVpcEndpointServiceResources", id, "Resources", 50)
			if err != nil {
				return err
			}
			usr, users, err := c.listTokens(cmd, "ListVpcEndpointServiceUsers", id, "Users", 50)
			if err != nil {
				return err
			}
			resp["Resources"], resp["Users"] = res["Resources"], usr["Users"]
			return c.render(cmd, resp, func(w io.Writer) error {
				if err := kv(w, resp, "ServiceId", "ServiceName", "ServiceDomain", "ServiceDescription", "ServiceResourceType", "ServiceStatus", "AutoAcceptEnabled", "CreateTime"); err != nil {
					return err
				}
				fmt.Fprintf(w, "Zones:\t%s\n", strings.Join(strs(resp, "Zones"), ","))
				ids := make([]string, 0, len(users))
				for _, u := range users {
					ids = append(ids, str(u, "UserId"))
				}
				fmt.Fprintf(w, "Users:\t%s\n\n", strings.Join(ids, ","))
				h, r := rowsOf(resources, []column{
					field("Resource", "ResourceId"), field("Type", "ResourceType"), field("Zone", "ZoneId"),
					field("Vpc", "VpcId"), field("VSwitch", "VSwitchId"), field("Ip", "Ip"), field("Endpoints", "RelatedEndpointCount"),
				})
				return table(w, h, r)
			})
		},
	}

	user := func(use, short, action string) *cobra.Command {
		return &cobra.Command{
			Use:     use + " SERVICE_ID ACCOUNT_ID",
			Short:   short,
			Example: "  palisade privatelink service " + use + " epsrv-xxx 1234567890123456",
			Args:    cobra.ExactArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				resp, err := c.call(cmd, apiclient.VersionPrivateLink, action, map[string]string{"ServiceId": args[0], "UserId": args[1]})
				if err != nil {
					return err
				}
				return c.renderDone(cmd, resp)
			},
		}
	}
	del := c.byIDCommand("delete SERVICE_ID", "Delete a service (it must have no endpoints left)", "  palisade privatelink service delete epsrv-xxx", apiclient.VersionPrivateLink, "DeleteVpcEndpointService", "ServiceId")
	cmd.AddCommand(create, list, show,
		user("add-user", "Allow an account to create endpoints of a service", "AddUserToVpcEndpointService"),
		user("remove-user", "Stop an account from creating endpoints of a service (its endpoints stay)", "RemoveUserFromVpcEndpointService"),
		del)
	return cmd
}

// parseZoneFlag reads --zone ZONE:VSWITCH[:IP].
func parseZoneFlag(v string) (zone, vsw, ip string, err error) {
	parts := strings.Split(v, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return "", "", "", fmt.Errorf("invalid --zone %q: use ZONE:VSWITCH or ZONE:VSWITCH:IP, e.g. local-a:vsw-xxx:10.0.1.20", v)
	}
	if len(parts) == 3 {
		ip = parts[2]
	}
	return parts[0], parts[1], ip, nil
}

func (c *cli) plEndpointCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "endpoint", Short: "Create, list, show and delete interface endpoints"}

	var vpcID, svc, name, desc string
	var groups, zones []string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create an interface endpoint and print its ID",
		Long: `Create an interface endpoint (CreateVpcEndpoint) of a service in a VPC of your
account and print its ID. --service is the service's ID (epsrv-...) or
name. Each --zone ZONE:VSWITCH[:IP] gives the endpoint an address in that
vSwitch (the given one, or the next free), in a zone of the service's
resources. The endpoint's addresses are in its security groups (--sg, 1 to
10 groups of the VPC).`,
		Example: "  palisade privatelink endpoint create --vpc vpc-xxx --service epsrv-xxx --sg sg-xxx --zone local-a:vsw-aaa --zone local-b:vsw-bbb:10.0.2.20",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p := nonEmpty(map[string]string{"VpcId": vpcID, "EndpointName": name, "EndpointDescription": desc, "EndpointType": "Interface"})
			if strings.HasPrefix(svc, "epsrv-") {
				p["ServiceId"] = svc
			} else {
				p["ServiceName"] = svc
			}
			indexed(p, "SecurityGroupId", groups)
			for i, z := range zones {
				zone, vsw, ip, err := parseZoneFlag(z)
				if err != nil {
					return err
				}
				k := "Zone." + strconv.Itoa(i+1) + "."
				p[k+"ZoneId"], p[k+"VSwitchId"] = zone, vsw
				if ip != "" {
					p[k+"ip"] = ip
				}
			}
			resp, err := c.call(cmd, apiclient.VersionPrivateLink, "CreateVpcEndpoint", p)
			if err != nil {
				return err
			}
			return c.renderID(cmd, resp, "EndpointId")
		},
	}
	f := create.Flags()
	f.StringVar(&vpcID, "vpc", "", "VPC of the endpoint (required)")
	f.StringVar(&svc, "service", "", "service ID (epsrv-...) or name (required)")
	f.StringSliceVar(&groups, "sg", nil, "security group of the VPC (repeatable, 1 to 10; required)")
	f.StringArrayVar(&zones, "zone", nil, "ZONE:VSWITCH[:IP], one per zone (repeatable; required)")
	f.StringVar(&name, "name", "", "endpoint name")
	f.StringVar(&desc, "description", "", "description")
	for _, n := range []string{"vpc", "service", "sg", "zone"} {
		_ = create.MarkFlagRequired(n)
	}

	list := &cobra.Command{
		Use:     "list",
		Short:   "List your endpoints",
		Example: "  palisade privatelink endpoint list",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, items, err := c.listTokens(cmd, "ListVpcEndpoints", nil, "Endpoints", 100)
			if err != nil {
				return err
			}
			return c.renderList(cmd, resp, items, []column{
				field("EndpointId", "EndpointId"), field("Name", "EndpointName"), field("Vpc", "VpcId"), field("Service", "ServiceId"),
				field("Connection", "ConnectionStatus"), field("Domain", "EndpointDomain"), field("Status", "EndpointStatus"),
			})
		},
	}

	show := &cobra.Command{
		Use:     "show ENDPOINT_ID",
		Short:   "Show an endpoint with its zones, addresses and security groups",
		Example: "  palisade privatelink endpoint show ep-xxx",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := map[string]string{"EndpointId": args[0]}
			resp, err := c.call(cmd, apiclient.VersionPrivateLink, "GetVpcEndpointAttribute", id)
			if err != nil {
				return err
			}
			zr, zoneItems, err := c.listTokens(cmd, "ListVpcEndpointZones", id, "Zones", 50)
			if err != nil {
				return err
			}
			gr, groupItems, err := c.listTokens(cmd, "ListVpcEndpointSecurityGroups", id, "SecurityGroups", 50)
			if err != nil {
				return err
			}
			resp["Zones"], resp["SecurityGroups"] = zr["Zones"], gr["SecurityGroups"]
			return c.render(cmd, resp, func(w io.Writer) error {
				if err := kv(w, resp, "EndpointId", "EndpointName", "EndpointDescription", "VpcId", "ServiceId", "ServiceName",
					"EndpointDomain", "ConnectionStatus", "EndpointStatus", "CreateTime"); err != nil {
					return err
				}
				ids := make([]string, 0, len(groupItems))
				for _, g := range groupItems {
					ids = append(ids, str(g, "SecurityGroupId"))
				}
				fmt.Fprintf(w, "SecurityGroups:\t%s\n\n", strings.Join(ids, ","))
				h, r := rowsOf(zoneItems, []column{
					field("Zone", "ZoneId"), field("VSwitch", "VSwitchId"), field("Address", "EniIp"), field("ENI", "EniId"),
					field("Status", "ZoneStatus"), field("Domain", "ZoneDomain"),
				})
				return table(w, h, r)
			})
		},
	}

	del := c.byIDCommand("delete ENDPOINT_ID", "Delete an endpoint with its network interfaces", "  palisade privatelink endpoint delete ep-xxx", apiclient.VersionPrivateLink, "DeleteVpcEndpoint", "EndpointId")
	cmd.AddCommand(create, list, show, del)
	return cmd
}

func (c *cli) plConnectionCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "connection", Short: "List, accept and reject the endpoints of your services"}

	list := &cobra.Command{
		Use:   "list SERVICE_ID",
		Short: "List the endpoints connected to one of your services",
		Long: `List the endpoints of one of your services (ListVpcEndpointConnections): their
owner, VPC and connection status, and per zone the transit address the
service's instances (or its load balancers' backends) see their
connections come from.`,
		Example: "  palisade privatelink connection list epsrv-xxx",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, items, err := c.listTokens(cmd, "ListVpcEndpointConnections", map[string]string{"ServiceId": args[0]}, "Connections", 100)
			if err != nil {
				return err
			}
			for _, it := range items {
				var zones []string
				for _, z := range objects(it, "Zones") {
					zones = append(zones, str(z, "ZoneId")+"="+str(z, "EniIp"))
				}
				it["TransitAddresses"] = strings.Join(zones, ",")
			}
			return c.renderList(cmd, resp, items, []column{
				field("EndpointId", "EndpointId"), field("Owner", "EndpointOwnerId"), field("Vpc", "EndpointVpcId"),
				field("Status", "ConnectionStatus"), field("Transit", "TransitAddresses"), field("Modified", "ModifiedTime"),
			})
		},
	}
	set := func(use, short, action string) *cobra.Command {
		return &cobra.Command{
			Use:     use + " SERVICE_ID ENDPOINT_ID",
			Short:   short,
			Example: "  palisade privatelink connection " + use + " epsrv-xxx ep-xxx",
			Args:    cobra.ExactArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				resp, err := c.call(cmd, apiclient.VersionPrivateLink, action, map[string]string{"ServiceId": args[0], "EndpointId": args[1]})
				if err != nil {
					return err
				}
				return c.renderDone(cmd, resp)
			},
		}
	}
	cmd.AddCommand(list,
		set("accept", "Accept an endpoint's connection (Connected: it carries traffic)", "EnableVpcEndpointConnection"),
		set("reject", "Disconnect an endpoint (Disconnected: it carries no traffic until accepted)", "DisableVpcEndpointConnection"))
	return cmd
}
