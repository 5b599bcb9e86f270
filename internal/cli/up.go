package cli

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/palisade-project/palisade/internal/app"
	"github.com/palisade-project/palisade/internal/service"
)

func (c *cli) upCommand() *cobra.Command {
	var (
		listen, zone, publicCIDR string
		cleanup                  bool
	)
	var (
		flowScale     int
		flowRetention time.Duration
		tlsFiles      tlsFlags
		ddos          ddosFlags
		underlay      underlayFlags
		dnsUpstream   dnsUpstreamFlag
	)
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run the API server and the local agent that enforces it in the kernel (root)",
		Long: `Run the Palisade API server together with a local agent, in one process.

The agent serves one zone (--zone, default <region>-a): every VPC gets a
network namespace named after its ID, every instance a namespace named after
its ID (so "ip netns exec i-... CMD" and "palisade instance exec" work), every
ENI a veth pair routed through its VPC's namespace, and the security groups
are compiled to nftables with conntrack state. Instances in the zone are
Pending until the agent has put them in the kernel, then Running.

Palisade touches only namespaces, links and nftables tables it made (all
named pv*/vpc-*/i-*, marked as its own). Stopping "palisade up" leaves them
in place so that workloads keep their network; "palisade up --cleanup"
removes everything it made and exits. One "palisade up" or "palisade agent"
manages a host's kernel objects: a second one (whatever its data directory)
and a cleanup while one runs are refused. Needs root.

` + tlsHelp + `

` + metricsHelp + `

` + ddosHelp + `

` + dnsUpstreamHelp + `

` + underlayHelp,
		Example: `  sudo palisade up
  sudo palisade up --listen 0.0.0.0:8787 --data-dir /var/lib/palisade \
    --tls-cert /etc/palisade/server.pem --tls-key /etc/palisade/server-key.pem
  sudo palisade up --cleanup`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelInfo}))
			if cleanup {
				if err := app.CleanupKernel(cmd.Context(), "", logger); err != nil {
					return fmt.Errorf("cleanup: %w", err)
				}
				fmt.Fprintln(cmd.OutOrStdout(), "removed every namespace, link and nftables table Palisade made")
				return nil
			}
			if err := underlay.check(cmd); err != nil {
				return err
			}
			pool, err := parsePublicCIDR(publicCIDR)
			if err != nil {
				return err
			}
			if err := tlsFiles.check(); err != nil {
				return err
			}
			ddosCfg, err := ddos.config()
			if err != nil {
				return err
			}
			upstream, err := dnsUpstream.servers()
			if err != nil {
				return err
			}
			id, secret := app.RootKeyFromEnv(c.env.Getenv)
			return app.RunUp(cmd.Context(), app.UpOptions{
				Options: app.Options{
					Listen:              listen,
					PublicCIDR:          pool,
					DataDir:             c.dataDir,
					Region:              c.region,
					Backend:             app.BackendBolt,
					RootAccessKeyID:     id,
					RootAccessKeySecret: secret,
					Logger:              logger,
					FlowLogWindowScale:  flowScale,
					FlowLogRetention:    flowRetention,
					TLSCertFile:         tlsFiles.cert,
					TLSKeyFile:          tlsFiles.key,
					DDoS:                ddosCfg,
					DNSUpstream:         upstream,
				},
				Zone:     zone,
				Underlay: underlay.request(),
			})
		},
	}
	cmd.Flags().StringVar(&listen, "listen", app.DefaultListen, "address to listen on (host:port)")
	tlsFiles.add(cmd)
	addFlowLogFlags(cmd, &flowScale, &flowRetention)
	ddos.add(cmd)
	dnsUpstream.add(cmd)
	cmd.Flags().StringVar(&publicCIDR, "public-cidr", service.DefaultPublicCIDR.String(), "pool of elastic IP addresses (a CIDR; its first address is kept for the host)")
	cmd.Flags().StringVar(&zone, "zone", "", "zone this host serves (default <region>-a)")
	underlay.add(cmd)
	cmd.Flags().BoolVar(&cleanup, "cleanup", false, "remove every kernel object Palisade made on this host, then exit")
	return cmd
}
