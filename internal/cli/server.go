package cli

import (
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/spf13/cobra"

	"github.com/palisade-project/palisade/internal/app"
	"github.com/palisade-project/palisade/internal/service"
)

func (c *cli) serverCommand() *cobra.Command {
	var listen, publicCIDR string
	var (
		flowScale     int
		flowRetention time.Duration
	)
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the Palisade API server",
		Long: `Run the Palisade API server (ECS 2014-05-26, VPC 2016-04-28 and Palisade
2026-11-01 actions) on --listen, with its bbolt store in --data-dir and serving
the region --region. It stops gracefully on SIGINT or SIGTERM.

On start it ensures the admin account and writes its access key to
<data-dir>/credentials.json (mode 0600), where the client commands find it.
PALISADE_ROOT_ACCESS_KEY_ID and PALISADE_ROOT_ACCESS_KEY_SECRET preset that key.`,
		Example: `  palisade server
  palisade server --listen 0.0.0.0:8787 --data-dir /var/lib/palisade`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			pool, err := parsePublicCIDR(publicCIDR)
			if err != nil {
				return err
			}
			id, secret := app.RootKeyFromEnv(c.env.Getenv)
			logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelInfo}))
			return app.Run(cmd.Context(), app.Options{
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
			})
		},
	}
	cmd.Flags().StringVar(&listen, "listen", app.DefaultListen, "address to listen on (host:port)")
	addFlowLogFlags(cmd, &flowScale, &flowRetention)
	cmd.Flags().StringVar(&publicCIDR, "public-cidr", service.DefaultPublicCIDR.String(), "pool of elastic IP addresses (a CIDR; its first address is kept for the host)")
	return cmd
}

// parsePublicCIDR checks the --public-cidr flag: an IPv4 network of at
// least 4 addresses (network, host gateway, one EIP, broadcast).
func parsePublicCIDR(v string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(v)
	if err != nil || !p.Addr().Is4() || p.Masked() != p || p.Bits() > 30 {
		return netip.Prefix{}, fmt.Errorf("--public-cidr %q: want an IPv4 network such as 198.18.0.0/20 (at most /30)", v)
	}
	return p, nil
}
