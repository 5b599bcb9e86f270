// Package cli is the palisade command line: the server and a client of
// Palisade's ECS/VPC-compatible API (accounts, VPCs, vSwitches, security
// groups, instances, ENIs).
//
// The command tree is built by NewRootCommand from an Env, so tests run it
// in-process; Execute runs it and turns errors into "Error: ..." on stderr
// and an exit code; Main is the binary's entry point.
package cli

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/palisade-project/palisade/internal/apiclient"
	"github.com/palisade-project/palisade/internal/app"
)

// Environment variables read by the CLI.
const (
	EnvEndpoint     = "PALISADE_ENDPOINT"
	EnvAccessKeyID  = "ALIBABA_CLOUD_ACCESS_KEY_ID"
	EnvAccessSecret = "ALIBABA_CLOUD_ACCESS_KEY_SECRET"
	// EnvCACert is the default of --ca-cert.
	EnvCACert = "PALISADE_CA_CERT"
)

// Output formats.
const (
	OutputTable = "table"
	OutputJSON  = "json"
)

// Env is what the commands read and write instead of the process globals.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	// Exec runs an external program with the given stdio and returns its
	// exit code (instance exec); nil runs it with os/exec.
	Exec func(ctx context.Context, argv []string, stdin io.Reader, stdout, stderr io.Writer) (int, error)
}

// OSEnv is the process's environment.
func OSEnv() Env {
	return Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
}

func (e Env) withDefaults() Env {
	if e.Stdin == nil {
		e.Stdin = eofReader{}
	}
	if e.Stdout == nil {
		e.Stdout = io.Discard
	}
	if e.Stderr == nil {
		e.Stderr = io.Discard
	}
	if e.Getenv == nil {
		e.Getenv = func(string) string { return "" }
	}
	if e.Exec == nil {
		e.Exec = runProgram
	}
	return e
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// ExitError asks Execute to exit with Code without printing anything more
// (the exit status of a program run by instance exec).
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// Main runs the CLI with the process's arguments and environment and exits.
// SIGINT and SIGTERM cancel the command's context.
func Main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Execute(ctx, OSEnv(), os.Args[1:])
	stop()
	os.Exit(code)
}

// Execute runs the command tree with args and returns the exit code: 0 on
// success, the program's code for instance exec, else 1 after printing
// "Error: <Code>: <Message>" (API errors) or "Error: <message>" to stderr;
// with -o json, the error as a JSON object (Code, Message, RequestId,
// HttpStatus) instead.
func Execute(ctx context.Context, env Env, args []string) int {
	env = env.withDefaults()
	root := NewRootCommand(env)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	if f := root.PersistentFlags().Lookup("output"); f != nil && f.Value.String() == OutputJSON {
		// Scripts that asked for JSON get the error as JSON too, in the
		// cloud's shape (Code, Message, RequestId, HttpStatus).
		out := map[string]any{"Message": err.Error()}
		var ae *apiclient.APIError
		if errors.As(err, &ae) {
			out = map[string]any{"Code": ae.Code, "Message": ae.Message, "RequestId": ae.RequestID, "HttpStatus": ae.HTTPStatus}
		}
		if writeJSON(env.Stderr, out) == nil {
			return 1
		}
	}
	fmt.Fprintf(env.Stderr, "Error: %v\n", err)
	return 1
}

// cli holds the global flags and the environment of one command tree.
type cli struct {
	env      Env
	endpoint string
	output   string
	dataDir  string
	region   string
	caCert   string // PEM file of the CAs an https endpoint must chain to
}

// NewRootCommand builds the palisade command tree. Errors are returned by
// Execute*, not printed (SilenceErrors); use Execute for the printing.
func NewRootCommand(env Env) *cobra.Command {
	env = env.withDefaults()
	c := &cli{env: env}
	defEndpoint := env.Getenv(EnvEndpoint)
	if defEndpoint == "" {
		defEndpoint = app.DefaultListen
	}
	root := &cobra.Command{
		Use:   "palisade",
		Short: "Self-hosted cloud network security stack with Alibaba Cloud's ECS/VPC API",
		Long: `Palisade gives workloads on your own Linux hosts what a public cloud gives its
instances: VPCs and vSwitches, stateful security groups, network ACLs,
elastic IPs, flow logs, traffic mirroring, PrivateLink, internal load
balancers, an Internet firewall, Anti-DDoS Basic and a web application
firewall, enforced in the kernel (namespaces, nftables, conntrack), behind
Alibaba Cloud's ECS, VPC, PrivateLink, Server Load Balancer, Cloud Firewall
and Anti-DDoS APIs. "palisade up" runs the API with the local data plane (root), "palisade
server" the API alone, "palisade agent" the data plane of one zone against a
remote server; the other commands are a client of the API, signed with an
access key like any Alibaba Cloud SDK.

Credentials come from ALIBABA_CLOUD_ACCESS_KEY_ID and
ALIBABA_CLOUD_ACCESS_KEY_SECRET, or else from <data-dir>/credentials.json,
which the server writes with the admin key when it starts.

A server started with --tls-cert and --tls-key serves TLS only: give its
endpoint as https://host:port, and trust a private CA or self-signed
certificate with --ca-cert FILE (or PALISADE_CA_CERT); without it the
system's roots are used. Certificates are always verified.`,
		Example: `  palisade server --data-dir ./palisade-data &
  palisade account create alice
  palisade sg create --vpc vpc-xxx --name web
  palisade sg rule add sg-xxx --direction ingress --protocol tcp --port 80 --cidr 0.0.0.0/0
  palisade sg list --output json`,
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if c.output != OutputTable && c.output != OutputJSON {
				return fmt.Errorf("invalid --output %q: use table or json", c.output)
			}
			return nil
		},
	}
	root.SetIn(env.Stdin)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&c.endpoint, "endpoint", defEndpoint, "API endpoint, host:port or http(s)://host:port (env "+EnvEndpoint+")")
	pf.StringVar(&c.caCert, "ca-cert", env.Getenv(EnvCACert), "PEM file of the CA (or self-signed certificate) that an https:// endpoint's certificate must chain to, instead of the system's roots (env "+EnvCACert+")")
	pf.StringVarP(&c.output, "output", "o", OutputTable, "output format: table or json")
	pf.StringVar(&c.dataDir, "data-dir", app.DefaultDataDir, "data directory (the server's store; the client reads credentials.json from it)")
	pf.StringVar(&c.region, "region", app.DefaultRegion, "region ID (the server's region; clients must send the same)")
	_ = root.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{OutputTable, OutputJSON}, cobra.ShellCompDirectiveNoFileComp))

	root.AddCommand(
		c.serverCommand(),
		c.upCommand(),
		c.agentCommand(),
		c.accountCommand(),
		c.vpcCommand(),
		c.vswitchCommand(),
		c.sgCommand(),
		c.instanceCommand(),
		c.eniCommand(),
		c.aclCommand(),
		c.flowlogCommand(),
		c.mirrorCommand(),
		c.privatelinkCommand(),
		c.slbCommand(),
		c.peeringCommand(), c.routeCommand(),
		c.firewallCommand(),
		c.ddosCommand(),
		c.analyzeCommand(), c.auditCommand(),
		c.eipCommand(),
		c.natCommand(),
		c.wafCommand(),
	)
	markGroups(root)
	return root
}

// markGroups makes every command without an action refuse arguments, so
// "palisade sg frobnicate" is an error ("unknown command") rather than a
// help screen with exit code 0.
func markGroups(cmd *cobra.Command) {
	for _, sub := range cmd.Commands() {
		if !sub.Runnable() && sub.HasSubCommands() {
			sub.Args = cobra.NoArgs
			sub.RunE = func(cmd *cobra.Command, args []string) error { return cmd.Help() }
		}
		markGroups(sub)
	}
}

// credentials returns the access key: the environment first, else
// <data-dir>/credentials.json.
func (c *cli) credentials() (id, secret string, err error) {
	id, secret = c.env.Getenv(EnvAccessKeyID), c.env.Getenv(EnvAccessSecret)
	if id != "" && secret != "" {
		return id, secret, nil
	}
	if id != "" || secret != "" {
		return "", "", fmt.Errorf("set both %s and %s, or neither", EnvAccessKeyID, EnvAccessSecret)
	}
	cr, err := app.ReadCredentials(c.dataDir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", "", fmt.Errorf("no credentials: set %s and %s, or point --data-dir at the server's data directory (no %s in %q)",
				EnvAccessKeyID, EnvAccessSecret, app.CredentialsFile, c.dataDir)
		}
		return "", "", fmt.Errorf("read credentials: %w", err)
	}
	if cr.AccessKeyID == "" || cr.AccessKeySecret == "" {
		return "", "", fmt.Errorf("%s in %q has no access key", app.CredentialsFile, c.dataDir)
	}
	return cr.AccessKeyID, cr.AccessKeySecret, nil
}

func (c *cli) client() (*apiclient.Client, error) {
	id, secret, err := c.credentials()
	if err != nil {
		return nil, err
	}
	return apiclient.New(apiclient.Options{Endpoint: c.endpoint, AccessKeyID: id, AccessKeySecret: secret, Region: c.region, CAFile: c.caCert})
}

// tlsHint adds what to do to an error about an untrusted server
// certificate.
func tlsHint(err error) error {
	var unknown x509.UnknownAuthorityError
	if errors.As(err, &unknown) {
		return fmt.Errorf("%w (to trust the server's private CA or self-signed certificate, give its PEM file with --ca-cert or %s)", err, EnvCACert)
	}
	return err
}

// call sends one action.
func (c *cli) call(cmd *cobra.Command, version, action string, params map[string]string) (map[string]any, error) {
	cl, err := c.client()
	if err != nil {
		return nil, err
	}
	out, err := cl.Call(cmd.Context(), version, action, params)
	return out, tlsHint(err)
}
