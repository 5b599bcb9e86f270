package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/palisade-project/palisade/internal/apiclient"
	"github.com/palisade-project/palisade/internal/dataplane/linux"
)

func (c *cli) instanceCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "instance",
		Aliases: []string{"i"},
		Short:   "Manage instances",
		Long: `Create, list, show, stop, start and delete instances and run commands in them (ECS API
2014-05-26). A Palisade instance is a network namespace on an agent host with
one ENI per attached network interface.`,
		Example: `  palisade instance create --vswitch vsw-xxx --sg sg-xxx --name web1
  palisade instance list
  palisade instance show i-xxx
  sudo palisade instance exec i-xxx -- ping -c1 192.168.1.10
  palisade instance stop i-xxx
  palisade instance start i-xxx
  palisade instance delete i-xxx --force`,
	}

	var vsw, name, ip, image, typ string
	var sgs []string
	var count int
	create := &cobra.Command{
		Use:   "create",
		Short: "Create instances and print their IDs",
		Long: `Create --count instances in a vSwitch (RunInstances) and print their IDs, one a
line. Each instance gets a primary ENI in the vSwitch, in the --sg groups.`,
		Example: `  palisade instance create --vswitch vsw-xxx --sg sg-web --sg sg-ssh --name web --private-ip 192.168.1.10
  palisade instance create --vswitch vsw-xxx --sg sg-xxx --count 3`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p := nonEmpty(map[string]string{
				"VSwitchId": vsw, "InstanceName": name, "PrivateIpAddress": ip,
				"ImageId": image, "InstanceType": typ, "Amount": strconv.Itoa(count),
			})
			if len(sgs) == 1 {
				p["SecurityGroupId"] = sgs[0]
			} else {
				indexed(p, "SecurityGroupIds", sgs)
			}
			resp, err := c.call(cmd, apiclient.VersionECS, "RunInstances", p)
			if err != nil {
				return err
			}
			return c.render(cmd, resp, func(w io.Writer) error {
				for _, id := range strs(resp, "InstanceIdSets", "InstanceIdSet") {
					fmt.Fprintln(w, id)
				}
				return nil
			})
		},
	}
	f := create.Flags()
	f.StringVar(&vsw, "vswitch", "", "vSwitch ID (required)")
	f.StringSliceVar(&sgs, "sg", nil, "security group ID (repeatable; default: the VPC's default group)")
	f.StringVar(&name, "name", "", "instance name")
	f.StringVar(&ip, "private-ip", "", "primary private IPv4 address (default: allocated)")
	f.StringVar(&image, "image", "palisade", "image ID")
	f.StringVar(&typ, "type", "ecs.t6-c1m1.large", "instance type")
	f.IntVar(&count, "count", 1, "number of instances")
	_ = create.MarkFlagRequired("vswitch")

	list := &cobra.Command{
		Use:     "list",
		Short:   "List instances",
		Long:    "List the caller's instances (DescribeInstances).",
		Example: "  palisade instance list\n  palisade instance list -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, items, err := c.listAll(cmd, apiclient.VersionECS, "DescribeInstances", nil, "Instances", "Instance")
			if err != nil {
				return err
			}
			return c.renderList(cmd, resp, items, []column{
				field("InstanceId", "InstanceId"), field("Name", "InstanceName"), field("Status", "Status"),
				field("Zone", "ZoneId"), field("VpcId", "VpcAttributes", "VpcId"),
				field("VSwitchId", "VpcAttributes", "VSwitchId"),
				joined("PrivateIp", "VpcAttributes", "PrivateIpAddress", "IpAddress"),
				joined("SecurityGroups", "SecurityGroupIds", "SecurityGroupId"),
			})
		},
	}

	show := &cobra.Command{
		Use:     "show INSTANCE_ID",
		Short:   "Show an instance",
		Long:    "Show an instance (DescribeInstances with InstanceIds=[\"INSTANCE_ID\"]).",
		Example: "  palisade instance show i-xxx",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ids, _ := json.Marshal([]string{args[0]})
			resp, err := c.call(cmd, apiclient.VersionECS, "DescribeInstances", map[string]string{"InstanceIds": string(ids)})
			if err != nil {
				return err
			}
			items := objects(resp, "Instances", "Instance")
			if len(items) == 0 {
				return &apiclient.APIError{Code: "InvalidInstanceId.NotFound", Message: fmt.Sprintf("The specified instance %q does not exist.", args[0])}
			}
			if c.output == OutputJSON {
				return writeJSON(cmd.OutOrStdout(), items[0])
			}
			return printObject(cmd.OutOrStdout(), items[0])
		},
	}

	var force bool
	del := &cobra.Command{
		Use:     "delete INSTANCE_ID",
		Short:   "Delete an instance",
		Long:    "Delete an instance (DeleteInstance). --force deletes a running instance.",
		Example: "  palisade instance delete i-xxx --force",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p := map[string]string{"InstanceId": args[0]}
			if force {
				p["Force"] = "true"
			}
			resp, err := c.call(cmd, apiclient.VersionECS, "DeleteInstance", p)
			if err != nil {
				return err
			}
			return c.renderDone(cmd, resp)
		},
	}
	del.Flags().BoolVar(&force, "force", false, "delete even if running")

	// stop and start: StopInstance needs a Running instance, StartInstance
	// a Stopped one (IncorrectInstanceStatus otherwise).
	power := func(use, action, short, long string) *cobra.Command {
		var dry bool
		pc := &cobra.Command{
			Use:     use + " INSTANCE_ID",
			Short:   short,
			Long:    long,
			Example: "  palisade instance " + use + " i-xxx",
			Args:    cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				p := map[string]string{"InstanceId": args[0]}
				if dry {
					p["DryRun"] = "true"
				}
				resp, err := c.call(cmd, apiclient.VersionECS, action, p)
				if err != nil {
					return err
				}
				return c.renderDone(cmd, resp)
			},
		}
		pc.Flags().BoolVar(&dry, "dry-run", false, "check only (DryRunOperation when the call would succeed)")
		return pc
	}
	stop := power("stop", "StopInstance", "Stop a running instance",
		`Stop a Running instance (StopInstance). A stopped instance keeps its
addresses and namespace but runs nothing and passes nothing: its agent kills
every process in its namespace (also any started there later) and "instance
exec" refuses it.`)
	start := power("start", "StartInstance", "Start a stopped instance",
		`Start a Stopped instance (StartInstance). It is Pending until its agent has
it in place again, then Running. It starts empty: what ran before the stop
does not come back.`)

	exec := &cobra.Command{
		Use:   "exec INSTANCE_ID -- COMMAND [ARG...]",
		Short: "Run a command inside an instance's network namespace",
		Long: `Run COMMAND in the instance's network namespace, as
"ip netns exec INSTANCE_ID COMMAND...", with stdin, stdout and stderr passed
through; palisade exits with the command's exit code. Deleting the instance
kills whatever still runs in it, as terminating a VM would; so does stopping
it, and a stopped instance refuses exec until it is started again.

This does not go through the API: it must run as root on the host where the
instance lives (the host running "palisade up" or the agent serving its zone).`,
		Example: `  sudo palisade instance exec i-xxx -- ip addr
  sudo palisade instance exec i-xxx -- curl -s http://192.168.1.20/`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			// Flags stop at INSTANCE_ID (SetInterspersed(false)), so a "--"
			// after it reaches us as an argument.
			prog := args[1:]
			if prog[0] == "--" {
				prog = prog[1:]
			}
			if len(prog) == 0 {
				return fmt.Errorf("no command: palisade instance exec INSTANCE_ID -- COMMAND [ARG...]")
			}
			// The agent marks a stopped instance's namespace; without
			// the rights to read it, "ip netns exec" reports its error.
			if stopped, err := linux.InstanceStopped(args[0]); err == nil && stopped {
				return fmt.Errorf("instance %s is Stopped: a stopped instance runs nothing; start it first (palisade instance start %s)", args[0], args[0])
			}
			argv := append([]string{"ip", "netns", "exec", args[0]}, prog...)
			code, err := c.env.Exec(cmd.Context(), argv, cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr())
			if err != nil {
				return fmt.Errorf("run %q: %w", argv[0], err)
			}
			if code == 255 && !linux.InstanceNamespaceHere(args[0]) {
				// ip's own message ("Cannot open network namespace") does
				// not say why: a new instance is Pending until its agent
				// made the namespace.
				return fmt.Errorf("instance %s has no namespace on this host: it may still be Pending (wait until \"palisade instance list\" shows it Running), be served by an agent on another host, or not exist", args[0])
			}
			if code != 0 {
				return &ExitError{Code: code}
			}
			return nil
		},
	}
	exec.Flags().SetInterspersed(false)

	cmd.AddCommand(create, list, show, stop, start, del, exec)
	return cmd
}
