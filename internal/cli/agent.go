package cli

import (
	"errors"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/palisade-project/palisade/internal/app"
)

// runAgent is app.RunAgent; tests replace it to check the client the
// command builds without a kernel.
var runAgent = app.RunAgent

func (c *cli) agentCommand() *cobra.Command {
	var zone, metricsListen string
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
WAF decisions, Anti-DDoS state, Go runtime) at http://ADDR/metrics, without
authentication: bind it to 127.0.0.1 or a private interface only.`,
		Example: `  sudo palisade agent --server https://10.0.0.1:8787 --ca-cert /etc/palisade/ca.pem --zone local-b
  sudo palisade agent --server https://10.0.0.1:8787 --zone local-b --metrics-listen 127.0.0.1:9787`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
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
			return tlsHint(runAgent(cmd.Context(), client, zone, "", logger, opts...))
		},
	}
	cmd.Flags().StringVar(&zone, "zone", "", "zone this host serves (required)")
	cmd.Flags().StringVar(&metricsListen, "metrics-listen", "", "serve Prometheus metrics on this host:port at /metrics, without authentication (bind to 127.0.0.1 or a private interface; default: off)")
	cmd.Flags().StringVar(&c.endpoint, "server", c.endpoint, "server endpoint (same as --endpoint)")
	return cmd
}
