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
instances of the load balancer's VPC and zone, weight 0-100 (default 100).
A listener may filter its clients by an access control list ("slb acl"):
a whitelist admits only its entries' addresses, a blacklist refuses them.`,
		Example: `  palisade slb create --vswitch vsw-xxx --name web
  palisade slb listener add lb-xxx --protocol tcp --port 80 --backend-port 8080
  palisade slb backend add lb-xxx --server i-web1,i-web2
  palisade slb listener start lb-xxx --port 80
  palisade slb acl create --name office
  palisade slb listener set lb-xxx --port 80 --acl acl-xxx --acl-type white
  palisade slb health lb-xxx`,
	}
	cmd.AddCommand(c.slbCreateCommand(), c.slbListCommand(), c.slbShowCommand(),
		c.byIDCommand("delete LOAD_BALANCER_ID", "Delete a load balancer with its listeners (its address goes back to the vSwitch)",
			"  palisade slb delete lb-xxx", apiclient.VersionSLB, "DeleteLoadBalancer", "LoadBalancerId"),
		c.slbListenerCommand(), c.slbBackendCommand(), c.slbHealthCommand(), c.slbACLCommand())
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
					{"Acl", listenerACLColumn},
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

// listenerFlags are the settings "listener add" and "listener set" share.
type listenerFlags struct {
	scheduler, healthCheck, desc                   string
	interval, timeout, healthy, unhealthy, chkPort int
	acl, aclType                                   string
}

func (lf *listenerFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&lf.scheduler, "scheduler", "", "wrr (weighted random, the default) or rr (round robin)")
	f.StringVar(&lf.healthCheck, "health-check", "", "on (the default) or off")
	f.IntVar(&lf.interval, "interval", 0, "seconds between health checks, 1-50 (default 2)")
	f.IntVar(&lf.timeout, "timeout", 0, "seconds a health check waits, 1-300 (default 5)")
	f.IntVar(&lf.healthy, "healthy-threshold", 0, "passed checks in a row that bring a backend back, 2-10 (default 3)")
	f.IntVar(&lf.unhealthy, "unhealthy-threshold", 0, "failed checks in a row that take a backend out, 2-10 (default 3)")
	f.IntVar(&lf.chkPort, "check-port", 0, "port the health checks probe (default: the backend port)")
	f.StringVar(&lf.desc, "description", "", "description")
	f.StringVar(&lf.acl, "acl", "", "access control list (acl-...) that filters the listener's clients (with --acl-type)")
	f.StringVar(&lf.aclType, "acl-type", "", "white (admit only the list's addresses) or black (refuse them)")
}

// params adds the flags that were given to p; interval is the parameter
// name of the health-check interval (healthCheckInterval when creating).
func (lf *listenerFlags) params(cmd *cobra.Command, p map[string]string, interval string) {
	for k, v := range map[string]string{"Scheduler": lf.scheduler, "HealthCheckSwitch": lf.healthCheck, "Description": lf.desc} {
		if v != "" {
			p[k] = v
		}
	}
	fl := cmd.Flags()
	for _, o := range []struct {
		flag, param string
		v           int
	}{
		{"interval", interval, lf.interval}, {"timeout", "HealthCheckConnectTimeout", lf.timeout},
		{"healthy-threshold", "HealthyThreshold", lf.healthy}, {"unhealthy-threshold", "UnhealthyThreshold", lf.unhealthy},
		{"check-port", "HealthCheckConnectPort", lf.chkPort},
	} {
		if fl.Changed(o.flag) {
			p[o.param] = strconv.Itoa(o.v)
		}
	}
}

// listenerProtocol is the protocol of the one listener of lbID on port
// (--protocol left out).
func (c *cli) listenerProtocol(cmd *cobra.Command, lbID string, port int) (string, error) {
	resp, err := c.call(cmd, apiclient.VersionSLB, "DescribeLoadBalancerListeners", map[string]string{
		"LoadBalancerId.1": lbID, "ListenerPort": strconv.Itoa(port)})
	if err != nil {
		return "", err
	}
	ls := objects(resp, "Listeners")
	switch len(ls) {
	case 0:
		return "", fmt.Errorf("load balancer %s has no listener on port %d", lbID, port)
	case 1:
		return str(ls[0], "ListenerProtocol"), nil
	}
	return "", fmt.Errorf("load balancer %s has a TCP and a UDP listener on port %d: give --protocol", lbID, port)
}

func (c *cli) slbListenerCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "listener", Short: "Add, change, start, stop and delete the TCP and UDP listeners of a load balancer"}

	var protocol string
	var port, backendPort int
	var lf listenerFlags
	add := &cobra.Command{
		Use:   "add LOAD_BALANCER_ID",
		Short: "Add a listener (created stopped: start it with \"listener start\")",
		Long: `Add a TCP or UDP listener to a load balancer
(CreateLoadBalancerTCPListener, CreateLoadBalancerUDPListener). It forwards
connections to its --port to the backend servers' --backend-port once
started. Health checks (on by default) are TCP connections or UDP
datagrams to the backend port (or --check-port), every --interval seconds.
With --acl and --acl-type, an access control list filters its clients: a
whitelist admits only the list's addresses, a blacklist refuses them.`,
		Example: "  palisade slb listener add lb-xxx --protocol tcp --port 80 --backend-port 8080 --scheduler rr\n" +
			"  palisade slb listener add lb-xxx --protocol udp --port 53 --backend-port 53 --health-check off\n" +
			"  palisade slb listener add lb-xxx --protocol tcp --port 22 --backend-port 22 --acl acl-xxx --acl-type white",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			proto, err := lbProtocol(protocol, false)
			if err != nil {
				return err
			}
			p := map[string]string{"LoadBalancerId": args[0], "ListenerPort": strconv.Itoa(port),
				"BackendServerPort": strconv.Itoa(backendPort), "Bandwidth": "-1"}
			lf.params(cmd, p, "healthCheckInterval")
			if err := listenerACLParams(p, lf.acl, lf.aclType, false, true); err != nil {
				return err
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
	lf.register(add)
	for _, n := range []string{"protocol", "port", "backend-port"} {
		_ = add.MarkFlagRequired(n)
	}

	var setProtocol string
	var setPort int
	var setFlags listenerFlags
	var aclOff bool
	set := &cobra.Command{
		Use:   "set LOAD_BALANCER_ID",
		Short: "Change a listener's scheduler, health check, description or access control",
		Long: `Change the settings of a listener (SetLoadBalancerTCPListenerAttribute,
SetLoadBalancerUDPListenerAttribute); settings not given stay. --acl and
--acl-type turn access control on (either alone changes that much of the
listener's access control when it is on); --acl-off turns it off. A change
of access control applies to new connections.`,
		Example: "  palisade slb listener set lb-xxx --port 80 --acl acl-xxx --acl-type black\n" +
			"  palisade slb listener set lb-xxx --port 80 --acl-off\n" +
			"  palisade slb listener set lb-xxx --port 53 --protocol udp --scheduler rr",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			proto, err := lbProtocol(setProtocol, true)
			if err != nil {
				return err
			}
			p := map[string]string{"LoadBalancerId": args[0], "ListenerPort": strconv.Itoa(setPort)}
			setFlags.params(cmd, p, "HealthCheckInterval")
			if err := listenerACLParams(p, setFlags.acl, setFlags.aclType, aclOff, false); err != nil {
				return err
			}
			if len(p) == 2 {
				return fmt.Errorf("nothing to change: give a setting such as --scheduler, --health-check, --acl or --acl-off")
			}
			if proto == "" {
				if proto, err = c.listenerProtocol(cmd, args[0], setPort); err != nil {
					return err
				}
			}
			resp, err := c.call(cmd, apiclient.VersionSLB, "SetLoadBalancer"+strings.ToUpper(proto)+"ListenerAttribute", p)
			if err != nil {
				return err
			}
			return c.renderDone(cmd, resp)
		},
	}
	set.Flags().StringVar(&setProtocol, "protocol", "", "tcp or udp (required when a TCP and a UDP listener share the port)")
	set.Flags().IntVar(&setPort, "port", 0, "listener port (required)")
	setFlags.register(set)
	set.Flags().BoolVar(&aclOff, "acl-off", false, "turn access control off")
	_ = set.MarkFlagRequired("port")

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
	cmd.AddCommand(add, set,
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
