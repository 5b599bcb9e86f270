package cli

import (
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/palisade-project/palisade/internal/apiclient"
)

// firewallLogTypes maps "firewall logs --type" to the API's LogType.
func firewallLogTypes() map[string]string {
	return map[string]string{"internet": "internet_log", "nat": "nat_firewall_log", "vpc": "vpc_firewall_log"}
}

// logEndpoint shows one end of a logged connection: ip:port, or the bare
// address for protocols without ports.
func logEndpoint(ipKey, portKey string) func(map[string]any) string {
	return func(m map[string]any) string {
		a, err := netip.ParseAddr(str(m, ipKey))
		port, perr := strconv.ParseUint(str(m, portKey), 10, 16)
		if err != nil || perr != nil || port == 0 {
			return str(m, ipKey)
		}
		return netip.AddrPortFrom(a, uint16(port)).String()
	}
}

// firewallLogColumns are the columns of "firewall logs".
func firewallLogColumns() []column {
	short := map[string]string{}
	for k, v := range firewallLogTypes() {
		short[v] = k
	}
	return []column{
		{"Time", func(m map[string]any) string {
			sec, err := strconv.ParseInt(str(m, "start_time"), 10, 64)
			if err != nil {
				return ""
			}
			return time.Unix(sec, 0).UTC().Format(time.RFC3339)
		}},
		{"Type", func(m map[string]any) string { return short[str(m, "log_type")] }},
		field("Action", "rule_result"), field("Policy", "acl_rule_id"), field("Proto", "ip_protocol"),
		{"Source", logEndpoint("src_ip", "src_port")},
		{"Destination", func(m map[string]any) string {
			// A domain policy's records name its domain too.
			if d := str(m, "domain"); d != "" {
				return logEndpoint("dst_ip", "dst_port")(m) + " (" + d + ")"
			}
			return logEndpoint("dst_ip", "dst_port")(m)
		}},
		field("Firewall", "firewall_id"),
	}
}

func (c *cli) firewallLogsCommand() *cobra.Command {
	var typ, policy, action, src, dst string
	var port, page, pageSize int
	var since time.Duration
	cmd := &cobra.Command{
		Use:   "logs",
		Short: "Show the connections that drop and log policies decided, newest first",
		Long: `Show the traffic logs of the Cloud Firewall (DescribeFirewallLogs): every new
connection that a drop or log policy of the Internet firewall, a NAT firewall
or a VPC firewall decided, newest first. Accept policies are counted
(HitTimes), not logged. The server keeps the newest 10,000 records of each
account.

Firewall is the NAT gateway of a NAT-firewall policy or the VPC firewall of a
VPC-firewall policy. Action is the policy's action when the record was
stored. --src and --dst take an address or a CIDR block; --port matches the
source or the destination port.`,
		Example: `  palisade firewall logs
  palisade firewall logs --type nat --action drop --since 1h
  palisade firewall logs --src 203.0.113.0/24 --port 22 --page 2
  palisade firewall logs --policy 2f1c...-... -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			logType, ok := firewallLogTypes()[typ]
			if typ != "" && !ok {
				return fmt.Errorf("--type %q: use internet, nat or vpc", typ)
			}
			if since < 0 {
				return fmt.Errorf("--since %v: give how far back, such as 1h", since)
			}
			p := nonEmpty(map[string]string{
				"LogType": logType, "AclUuid": policy, "RuleResult": action, "SrcIP": src, "DstIP": dst,
				"CurrentPage": strconv.Itoa(page), "PageSize": strconv.Itoa(pageSize),
			})
			if port != 0 {
				p["Port"] = strconv.Itoa(port)
			}
			if since > 0 {
				p["StartTime"] = strconv.FormatInt(time.Now().Add(-since).Unix(), 10)
			}
			resp, err := c.call(cmd, apiclient.VersionPalisade, "DescribeFirewallLogs", p)
			if err != nil {
				return err
			}
			items := objects(resp, "Logs")
			return c.render(cmd, resp, func(w io.Writer) error {
				h, r := rowsOf(items, firewallLogColumns())
				if err := table(w, h, r); err != nil {
					return err
				}
				cur, _ := strconv.Atoi(str(resp, "CurrentPage"))
				size, _ := strconv.Atoi(str(resp, "PageSize"))
				total, _ := strconv.Atoi(str(resp, "TotalCount"))
				more := ""
				if cur*size < total {
					more = fmt.Sprintf("; --page %d for older ones", cur+1)
				}
				_, err := fmt.Fprintf(w, "page %d: %d of %d records%s\n", cur, len(items), total, more)
				return err
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&typ, "type", "", "only this firewall's: internet, nat or vpc")
	f.StringVar(&policy, "policy", "", "only this policy's (its AclUuid)")
	f.StringVar(&action, "action", "", "only this action: drop or log")
	f.StringVar(&src, "src", "", "only from this address or CIDR block")
	f.StringVar(&dst, "dst", "", "only to this address or CIDR block")
	f.IntVar(&port, "port", 0, "only with this source or destination port")
	f.DurationVar(&since, "since", 0, "only records newer than this, such as 1h")
	f.IntVar(&page, "page", 1, "page number, 1 first (newest)")
	f.IntVar(&pageSize, "page-size", 20, "records per page (1-100)")
	_ = cmd.RegisterFlagCompletionFunc("type", cobra.FixedCompletions([]string{"internet", "nat", "vpc"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("action", cobra.FixedCompletions([]string{"drop", "log"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}
