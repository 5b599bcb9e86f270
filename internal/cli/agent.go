package cli

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/palisade-project/palisade/internal/app"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/service"
)

// runAgent is app.RunAgent; tests replace it to check the client the
// command builds without a kernel.
var runAgent = app.RunAgent

func (c *cli) agentCommand() *cobra.Command {
	var zone, metricsListen string
	var underlay underlayFlags
	cmd := &cobra.Command{
		Use:   "agent --server URL --zone NAME",
		Short: "Run an agent that enforces one zone of a remote Palisade server in this host's kernel (root)",
		Long: `Run a Palisade agent alone, against a server elsewhere ("palisade server" or
"palisade up" on another host). The agent registers the zone (--zone) with the
server, mirrors the VPCs, vSwitches, security groups, instances and ENIs over
the API, and puts the zone's instances in this host's kernel exactly as
"palisade up" does for its own zone; it reports instances Running once they
are in place. It heartbeats every 10 s; a zone without a heartbeat for 30 s
is treated as unserved.

The server is --server (or --endpoint / PALISADE_ENDPOINT). The agent signs
with ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET (or <data-dir>/credentials.json): give
it an agent key of its zone, made on the server with
"palisade account key create --agent-zone ZONE". An agent key signs the agent
actions only, for its zone only, so this host holds no key that can change
resources; the admin's own keys work too. The state of every account crosses
the network: use a server started with --tls-cert/--tls-key, an https:// URL,
and --ca-cert (or PALISADE_CA_CERT) for a private CA or self-signed
certificate. Needs root.

With --metrics-listen ADDR the agent serves its Prometheus metrics
(reconciliations, namespaces, instances and ENIs on the host, flows cut,
WAF decisions, Anti-DDoS state, traffic mirroring, Go runtime) at
http://ADDR/metrics, without authentication: bind it to 127.0.0.1 or a
private interface only.

` + underlayHelp,
		Example: `  sudo palisade agent --server https://10.0.0.1:8787 --ca-cert /etc/palisade/ca.pem --zone local-b
  sudo palisade agent --server https://10.0.0.1:8787 --zone local-b --metrics-listen 127.0.0.1:9787
  sudo palisade agent --server https://10.0.0.1:8787 --zone local-b --underlay-addr 10.0.0.2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := underlay.check(cmd); err != nil {
				return err
			}
			if zone == "" {
				return errors.New("--zone is required: the zone this host serves (for example " + c.region + "-b)")
			}
			client, err := c.client()
			if err != nil {
				return err
			}
			logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelInfo}))
			var opts []app.AgentOption
			if metricsListen != "" {
				opts = append(opts, app.WithMetricsListen(metricsListen))
			}
			if underlay.addr != "" {
				opts = append(opts, app.WithUnderlay(underlay.request()))
			}
			return tlsHint(runAgent(cmd.Context(), client, zone, "", logger, opts...))
		},
	}
	cmd.Flags().StringVar(&zone, "zone", "", "zone this host serves (required)")
	cmd.Flags().StringVar(&metricsListen, "metrics-listen", "", "serve Prometheus metrics on this host:port at /metrics, without authentication (bind to 127.0.0.1 or a private interface; default: off)")
	cmd.Flags().StringVar(&c.endpoint, "server", c.endpoint, "server endpoint (same as --endpoint)")
	underlay.add(cmd)
	return cmd
}

// underlayHelp explains --underlay-addr (up and agent).
const underlayHelp = `A VPC may have vSwitches in several zones, so instances on several hosts.
With --underlay-addr ADDR every host with instances of such a VPC joins its
VPC namespace to the others' over VXLAN (UDP --underlay-port, default 4798,
one network identifier per VPC): the VPC is one network again, and each
host judges its own ENIs (the sender's egress groups and outbound ACL on
its host, the receiver's ingress on its). ADDR is this host's address the
other hosts reach it by; give every host one, on the same port, and let
that port and the next one (which relays traffic-mirror copies to targets
on another host) through between them. Each host accepts the first only
from the other hosts' addresses, and the second only from the hosts of
the sources mirrored to its targets. VPC peerings, PrivateLink endpoints
and traffic-mirror sessions cross hosts the same way. Without it this host
joins no other (its instances reach only those on this host).`

// underlayFlags are --underlay-addr and --underlay-port.
type underlayFlags struct {
	addr string
	port uint16
}

func (u *underlayFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&u.addr, "underlay-addr", "", "this host's address that the other hosts' agents reach it by, to join VPCs spread over hosts (VXLAN; default: join none)")
	cmd.Flags().Uint16Var(&u.port, "underlay-port", model.DefaultUnderlayPort, "UDP port of the VXLAN between hosts (the same on every host; the next port relays mirrored traffic between them)")
}

// check refuses --underlay-port without --underlay-addr: the port alone
// would join nothing, silently.
func (u *underlayFlags) check(cmd *cobra.Command) error {
	if u.addr == "" && cmd.Flags().Changed("underlay-port") {
		return errors.New("--underlay-port needs --underlay-addr: give this host's address that the other hosts reach it by")
	}
	if u.port == 0 || u.port == 65535 {
		return fmt.Errorf("--underlay-port %d: give a port from 1 to 65534 (the next port carries mirrored traffic between hosts)", u.port)
	}
	return nil
}

func (u *underlayFlags) request() service.UnderlayRequest {
	if u.addr == "" {
		return service.UnderlayRequest{}
	}
	return service.UnderlayRequest{Addr: u.addr, Port: strconv.Itoa(int(u.port))}
}
