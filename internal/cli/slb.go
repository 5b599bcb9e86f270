package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/palisade-project/palisade/internal/apiclient"
)

// lbProtocol checks a --protocol flag: tcp, udp or, when optional, empty.
func lbProtocol(v string, optional bool) (string, error) {
	switch p := strings.ToLower(v); {
	case p == "tcp" || p == "udp":
		return p, nil
	case p == "" && optional:
		return "", nil
	}
	return "", fmt.Errorf("invalid --protocol %q: use tcp or udp", v)
}

func (c *cli) slbCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "slb",
		Short: "Manage internal load balancers: listeners, backend servers and health",
		Long: `Create internal-facing load balancers and manage their TCP and UDP listeners
and backend servers (Server Load Balancer API 2014-05-15, the classic load
balancer).

A load balancer (lb-...) has one address of a vSwitch (--address, or the
lowest free one). A listener is a protocol and port (a TCP and a UDP
listener may share a port; --protocol then says which); it is created
stopped. A running listener spreads new connections over the backend
servers of weight above 0 (that pass its health check, unless it is off),
at random in proportion to their weights (wrr, the default) or in turn
(rr), to its backend port, keeping the client's address: the backends'
security groups must admit the clients on that port. Backend servers are
instances of the load balancer's VPC and zone, weight 0-100 (default 100).`,
		Example: `  palisade slb create --vswitch vsw-xxx --name web
  palisade slb listener add lb-xxx --protocol tcp --port 80 --backend-port 8080
  palisade slb backend add lb-xxx --server i-web1,i-web2
  palisade slb listener start lb-xxx --port 80
  palisade slb health lb-xxx`,
	}
	cmd.AddCommand(c.slbCreateCommand(), c.slbListCommand(), c.slbShowCommand(),
		c.byIDCommand("delete LOAD_BALANCER_ID", "Delete a load balancer with its listeners (its address goes back to the vSwitch)",
			"  palisade slb delete lb-xxx", apiclient.VersionSLB, "DeleteLoadBalancer", "LoadBalancerId"),
		c.slbListenerCommand(), c.slbBackendCommand(), c.slbHealthCommand())
	return cmd
}

func (c *cli) slbCreateCommand() *cobra.Command {
	var vsw, address, name string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create an internal load balancer in a vSwitch and print its ID",
		Long: `Create an internal-facing load balancer (CreateLoadBalancer, AddressType
intranet) and print its ID. Its address is --address, a free address of the
vSwitch, or else the lowest free one; its zone is the vSwitch's.`,
		Example: "  palisade slb create --vswitch vsw-xxx --address 10.0.1.100 --name web",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := c.call(cmd, apiclient.VersionSLB, "CreateLoadBalancer", nonEmpty(map[string]string{
				"AddressType": "intranet", "VSwitchId": vsw, "Address": address, "LoadBalancerName": name}))
			if err != nil {
				return err
			}
			return c.renderID(cmd, resp, "LoadBalancerId")
		},
	}
	f := create.Flags()
	f.StringVar(&vsw, "vswitch", "", "vSwitch of the load balancer's address (required)")
	f.StringVar(&address, "address", "", "a free IPv4 address of the vSwitch (default: the lowest free one)")
	f.StringVar(&name, "name", "", "load balancer name")
	_ = create.MarkFlagRequired("vswitch")
	return create
}

func (c *cli) slbListCommand() *cobra.Command {
	var vpcID string
	list := &cobra.Command{
		Use:     "list",
		Short:   "List your load balancers",
		Example: "  palisade slb list\n  palisade slb list --vpc vpc-xxx -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, items, err := c.listAll(cmd, apiclient.VersionSLB, "DescribeLoadBalancers", nonEmpty(map[string]string{"VpcId": vpcID}),
				"LoadBalancers", "LoadBalancer")
			if err != nil {
				return err
			}
			return c.renderList(cmd, resp, items, []column{
				field("LoadBalancerId", "LoadBalancerId"), field("Name", "LoadBalancerName"), field("Address", "Address"),
				field("Vpc", "VpcId"), field("VSwitch", "VSwitchId"), field("Zone", "MasterZoneId"),
				field("Status", "LoadBalancerStatus"), field("Created", "CreateTime"),
			})
		},
	}
	list.Flags().StringVar(&vpcID, "vpc", "", "only the load balancers of this VPC")
	return list
}

// listenerConfig is the health-check settings of a listener as
// DescribeLoadBalancerListeners lists it (TCPListenerConfig or
// UDPListenerConfig).
func listenerConfig(l map[string]any) map[string]any {
	for _, k := range []string{"TCPListenerConfig", "UDPListenerConfig"} {
		if m, ok := l[k].(map[string]any); ok {
			return m
		}
	}
	return map[string]any{}
}

func (c *cli) slbShowCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "show LOAD_BALANCER_ID",
		Short:   "Show a load balancer with its listeners and backend servers",
		Example: "  palisade slb show lb-xxx\n  palisade slb show lb-xxx -o json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := c.call(cmd, apiclient.VersionSLB, "DescribeLoadBalancerAttribute", map[string]string{"LoadBalancerId": args[0]})
			if err != nil {
				return err
			}
			lr, listeners, err := c.listAllTokens(cmd, apiclient.VersionSLB, "DescribeLoadBalancerListeners",
				map[string]string{"LoadBalancerId.1": args[0]}, "Listeners", 100)
			if err != nil {
				return err
			}
			resp["Listeners"] = lr["Listeners"]
			return c.render(cmd, resp, func(w io.Writer) error {
				if err := kv(w, resp, "LoadBalancerId", "LoadBalancerName", "LoadBalancerStatus", "Address", "AddressType",
					"VpcId", "VSwitchId", "MasterZoneId", "DeleteProtection", "CreateTime"); err != nil {
					return err
				}
				fmt.Fprintln(w)
				h, r := rowsOf(listeners, []column{
					field("Protocol", "ListenerProtocol"), field("Port", "ListenerPort"), field("BackendPort", "BackendServerPort"),
					field("Scheduler", "Scheduler"), field("Status", "Status"),
					{"HealthCheck", func(m map[string]any) string { return str(listenerConfig(m), "HealthCheck") }},
					{"Interval", func(m map[string]any) string { return str(listenerConfig(m), "HealthCheckInterval") }},
					field("Description", "Description"),
				})
				if err := table(w, h, r); err != nil {
					return err
				}
				fmt.Fprintln(w)
				h, r = rowsOf(objects(resp, "BackendServers", "BackendServer"), []column{
					field("Server", "ServerId"), field("Ip", "ServerIp"), field("Weight", "Weight"), field("Type", "Type"),
					field("Description", "Description"),
				})
				return table(w, h, r)
			})
		},
	}
}

func (c *cli) slbListenerCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "listener", Short: "Add, start, stop and delete the TCP and UDP listeners of a load balancer"}

	var protocol, scheduler, healthCheck, desc string
	var port, backendPort, interval, timeout, healthy, unhealthy, checkPort int
	add := &cobra.Command{
		Use:   "add LOAD_BALANCER_ID",
		Short: "Add a listener (created stopped: start it with \"listener start\")",
		Long: `Add a TCP or UDP listener to a load balancer
(CreateLoadBalancerTCPListener, CreateLoadBalancerUDPListener). It forwards
connections to its --port to the backend servers' --backend-port once
started. Health checks (on by default) are TCP connections or UDP
datagrams to the backend port (or --check-port), every --interval seconds.`,
		Example: "  palisade slb listener add lb-xxx --protocol tcp --port 80 --backend-port 8080 --scheduler rr\n" +
			"  palisade slb listener add lb-xxx --protocol udp --port 53 --backend-port 53 --health-check off",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			proto, err := lbProtocol(protocol, false)
			if err != nil {
				return err
			}
			p := nonEmpty(map[string]string{"LoadBalancerId": args[0], "ListenerPort": strconv.Itoa(port),
				"BackendServerPort": strconv.Itoa(backendPort), "Bandwidth": "-1", "Scheduler": scheduler,
				"HealthCheckSwitch": healthCheck, "Description": desc})
			fl := cmd.Flags()
			for _, o := range []struct {
				flag, param string
				v           int
			}{
				{"interval", "healthCheckInterval", interval}, {"timeout", "HealthCheckConnectTimeout", timeout},
				{"healthy-threshold", "HealthyThreshold", healthy}, {"unhealthy-threshold", "UnhealthyThreshold", unhealthy},
				{"check-port", "HealthCheckConnectPort", checkPort},
			} {
				if fl.Changed(o.flag) {
					p[o.param] = strconv.Itoa(o.v)
				}
			}
			resp, err := c.call(cmd, apiclient.VersionSLB, "CreateLoadBalancer"+strings.ToUpper(proto)+"Listener", p)
			if err != nil {
				return err
			}
			return c.renderDone(cmd, resp)
		},
	}
	f := add.Flags()
	f.StringVar(&protocol, "protocol", "", "tcp or udp (required)")
	f.IntVar(&port, "port", 0, "listener port, 1-65535 (required)")
	f.IntVar(&backendPort, "backend-port", 0, "port of the backend servers, 1-65535 (required)")
	f.StringVar(&scheduler, "scheduler", "", "wrr (weighted random, the default) or rr (round robin)")
	f.StringVar(&healthCheck, "health-check", "", "on (the default) or off")
	f.IntVar(&interval, "interval", 0, "seconds between health checks, 1-50 (default 2)")
	f.IntVar(&timeout, "timeout", 0, "seconds a health check waits, 1-300 (default 5)")
	f.IntVar(&healthy, "healthy-threshold", 0, "passed checks in a row that bring a backend back, 2-10 (default 3)")
	f.IntVar(&unhealthy, "unhealthy-threshold", 0, "failed checks in a row that take a backend out, 2-10 (default 3)")
	f.IntVar(&checkPort, "check-port", 0, "port the health checks probe (default: the backend port)")
	f.StringVar(&desc, "description", "", "description")
	for _, n := range []string{"protocol", "port", "backend-port"} {
		_ = add.MarkFlagRequired(n)
	}

	byPort := func(use, short, action string) *cobra.Command {
		var port int
		var protocol string
		sub := &cobra.Command{
			Use:     use + " LOAD_BALANCER_ID",
			Short:   short,
			Example: "  palisade slb listener " + use + " lb-xxx --port 80\n  palisade slb listener " + use + " lb-xxx --port 53 --protocol udp",
			Args:    cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				proto, err := lbProtocol(protocol, true)
				if err != nil {
					return err
				}
				resp, err := c.call(cmd, apiclient.VersionSLB, action, nonEmpty(map[string]string{
					"LoadBalancerId": args[0], "ListenerPort": strconv.Itoa(port), "ListenerProtocol": proto}))
				if err != nil {
					return err
				}
				return c.renderDone(cmd, resp)
			},
		}
		sub.Flags().IntVar(&port, "port", 0, "listener port (required)")
		sub.Flags().StringVar(&protocol, "protocol", "", "tcp or udp (required when a TCP and a UDP listener share the port)")
		_ = sub.MarkFlagRequired("port")
		return sub
	}
	cmd.AddCommand(add,
		byPort("start", "Start a listener: it forwards new connections to the backends", "StartLoadBalancerListener"),
		byPort("stop", "Stop a listener: its connections end and new ones are dropped", "StopLoadBalancerListener"),
		byPort("delete", "Delete a listener (running or stopped)", "DeleteLoadBalancerListener"))
	return cmd
}

// backendServers is the BackendServers parameter: a JSON array of the
// servers, each with the weight when given.
func backendServers(servers []string, weight *int) (string, error) {
	type server struct {
		ServerId string
		Type     string
		Weight   string `json:",omitempty"`
	}
	list := make([]server, 0, len(servers))
	for _, s := range servers {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		b := server{ServerId: s, Type: "ecs"}
		if weight != nil {
			b.Weight = strconv.Itoa(*weight)
		}
		list = append(list, b)
	}
	if len(list) == 0 {
		return "", fmt.Errorf("give at least one --server")
	}
	out, err := json.Marshal(list)
	return string(out), err
}

func (c *cli) slbBackendCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "backend", Short: "Add, remove and reweight the backend servers of a load balancer"}
	sub := func(use, short, long, action string, withWeight, needWeight bool) *cobra.Command {
		var servers []string
		var weight int
		b := &cobra.Command{
			Use:   use + " LOAD_BALANCER_ID",
			Short: short,
			Long:  long,
			Example: "  palisade slb backend " + use + " lb-xxx --server i-web1 --server i-web2" +
				map[bool]string{true: " --weight 50", false: ""}[withWeight],
			Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				var w *int
				if withWeight && cmd.Flags().Changed("weight") {
					w = &weight
				}
				bs, err := backendServers(servers, w)
				if err != nil {
					return err
				}
				resp, err := c.call(cmd, apiclient.VersionSLB, action, map[string]string{"LoadBalancerId": args[0], "BackendServers": bs})
				if err != nil {
					return err
				}
				return c.renderDone(cmd, resp)
			},
		}
		b.Flags().StringSliceVar(&servers, "server", nil, "instance ID (i-...), repeatable or comma-separated (required)")
		_ = b.MarkFlagRequired("server")
		if withWeight {
			b.Flags().IntVar(&weight, "weight", 100, "weight 0-100 of each server (0: no new connections)")
			if needWeight {
				_ = b.MarkFlagRequired("weight")
			}
		}
		return b
	}
	cmd.AddCommand(
		sub("add", "Add instances as backend servers", `Add instances of the load balancer's VPC and zone as backend servers
(AddBackendServers), with --weight (default 100). At most 20 per call.`, "AddBackendServers", true, false),
		sub("remove", "Remove backend servers", "", "RemoveBackendServers", false, false),
		sub("set", "Change the weight of backend servers", "", "SetBackendServers", true, true))
	return cmd
}

func (c *cli) slbHealthCommand() *cobra.Command {
	var port int
	var protocol string
	health := &cobra.Command{
		Use:   "health LOAD_BALANCER_ID",
		Short: "Show the health of each backend server on each listener",
		Long: `Show the health of each backend server on each listener (DescribeHealthStatus):
normal or abnormal as the health checks last found it, unavailable while
the listener is stopped, its health check off or the load balancer
inactive.`,
		Example: "  palisade slb health lb-xxx\n  palisade slb health lb-xxx --port 80",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			proto, err := lbProtocol(protocol, true)
			if err != nil {
				return err
			}
			p := nonEmpty(map[string]string{"LoadBalancerId": args[0], "ListenerProtocol": proto})
			if port != 0 {
				p["ListenerPort"] = strconv.Itoa(port)
			}
			resp, err := c.call(cmd, apiclient.VersionSLB, "DescribeHealthStatus", p)
			if err != nil {
				return err
			}
			return c.renderList(cmd, resp, objects(resp, "BackendServers", "BackendServer"), []column{
				field("Protocol", "Protocol"), field("Port", "ListenerPort"), field("Server", "ServerId"), field("Ip", "ServerIp"),
				field("BackendPort", "Port"), field("Health", "ServerHealthStatus"),
			})
		},
	}
	health.Flags().IntVar(&port, "port", 0, "only the listeners of this port")
	health.Flags().StringVar(&protocol, "protocol", "", "only the listeners of this protocol (tcp or udp)")
	return health
}
