package cli

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
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
		tlsFiles      tlsFlags
		ddos          ddosFlags
		dnsUpstream   dnsUpstreamFlag
	)
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the Palisade API server",
		Long: `Run the Palisade API server (ECS 2014-05-26, VPC 2016-04-28 and Palisade
2026-11-01 actions) on --listen, with its bbolt store in --data-dir and serving
the region --region. It stops gracefully on SIGINT or SIGTERM.

On start it ensures the admin account and writes its access key to
<data-dir>/credentials.json (mode 0600), where the client commands find it.
PALISADE_ROOT_ACCESS_KEY_ID and PALISADE_ROOT_ACCESS_KEY_SECRET preset that key.

` + tlsHelp + `

` + metricsHelp + `

` + ddosHelp + `

` + dnsUpstreamHelp,
		Example: `  palisade server
  palisade server --listen 0.0.0.0:8787 --data-dir /var/lib/palisade \
    --tls-cert /etc/palisade/server.pem --tls-key /etc/palisade/server-key.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
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
				TLSCertFile:         tlsFiles.cert,
				TLSKeyFile:          tlsFiles.key,
				DDoS:                ddosCfg,
				DNSUpstream:         upstream,
			})
		},
	}
	cmd.Flags().StringVar(&listen, "listen", app.DefaultListen, "address to listen on (host:port)")
	tlsFiles.add(cmd)
	addFlowLogFlags(cmd, &flowScale, &flowRetention)
	ddos.add(cmd)
	dnsUpstream.add(cmd)
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

// tlsHelp is the TLS paragraph of the server and up commands' help.
const tlsHelp = `With --tls-cert and --tls-key (PEM files: the certificate, with any
intermediates after it, and its private key) the API serves TLS only, version
1.2 or later, and re-reads the pair when the files change (a renewal); clients
then use an https:// endpoint (and --ca-cert for a private CA). Without them it
serves plain HTTP, and warns when listening beyond loopback: requests,
responses (an agent's DescribeState carries every account's records) and
access-key signatures would cross the network in clear text.`

// metricsHelp is the metrics paragraph of the server and up commands' help.
const metricsHelp = `Prometheus metrics are served at GET /metrics on the same listener, to HTTP
Basic credentials made of an access key ID (username) and its secret
(password) of the admin account; agent keys and other accounts' keys are
refused (403).`

// tlsFlags are --tls-cert and --tls-key of the server and up commands.
type tlsFlags struct{ cert, key string }

func (f *tlsFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.cert, "tls-cert", "", "PEM certificate (chain) of the API: serve TLS only (needs --tls-key)")
	cmd.Flags().StringVar(&f.key, "tls-key", "", "PEM private key of --tls-cert")
}

func (f *tlsFlags) check() error {
	if (f.cert == "") != (f.key == "") {
		return fmt.Errorf("--tls-cert and --tls-key go together: give both (TLS) or neither (plain HTTP)")
	}
	return nil
}

// dnsUpstreamHelp is the DNS paragraph of the server and up commands' help.
const dnsUpstreamHelp = `The server resolves the domains that Cloud Firewall policies name as their
destination (DestinationType domain: the Internet firewall's out policies and
the NAT firewall's) by DNS, every 30 seconds and soon after a policy changes,
asking --dns-upstream (repeatable, tried in order; default: the nameservers of
/etc/resolv.conf) for their A records; the agents match the addresses found.`

// dnsUpstreamFlag is --dns-upstream of the server and up commands.
type dnsUpstreamFlag struct{ values []string }

func (f *dnsUpstreamFlag) add(cmd *cobra.Command) {
	cmd.Flags().StringArrayVar(&f.values, "dns-upstream", nil,
		"DNS server (HOST:PORT, or an IP address: port 53) that resolves the domains of Cloud Firewall policies; repeat for more, tried in order (default: the nameservers of "+app.HostResolvConf+")")
}

// servers checks the flag: nil when not given (the app's default).
func (f *dnsUpstreamFlag) servers() ([]string, error) {
	var out []string
	for _, v := range f.values {
		v = strings.TrimSpace(v)
		if a, err := netip.ParseAddr(strings.Trim(v, "[]")); err == nil {
			out = append(out, net.JoinHostPort(a.String(), "53"))
			continue
		}
		host, port, err := net.SplitHostPort(v)
		n, perr := strconv.Atoi(port)
		if err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("--dns-upstream %q: want HOST:PORT such as 192.0.2.53:53 (or an IP address, port 53)", v)
		}
		out = append(out, v)
	}
	return out, nil
}
