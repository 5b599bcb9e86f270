package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/palisade-project/palisade/internal/apiclient"
	"github.com/palisade-project/palisade/internal/app"
	"github.com/palisade-project/palisade/internal/dataplane/linux"
	"github.com/palisade-project/palisade/internal/waf"
	"github.com/palisade-project/palisade/internal/waf/wafrule"
)

func (c *cli) wafCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "waf",
		Short: "Web application firewall: protected objects, templates, rules, logs",
		Long: `Protect an instance's HTTP(S) port with the web application firewall.

Each request runs through the modules in this order: whitelist (bypasses all
or chosen modules) -> IP blacklist -> custom rules and rate limits -> core
rule set (OWASP CRS 4 on Coraza). Each module acts block or monitor; the
strongest action wins. Blocked requests get 405 unless the object sets
another status (200-600 except 204/304), headers and body.

"waf protect" protects a port of an instance: the agent serving the instance
(palisade up or palisade agent) steers new connections to that port of the
instance's EIP through the WAF, transparently (no DNS change), and forwards
clean requests to the instance from the client's own address and port (one
connection per client connection), with X-Forwarded-For and X-Real-IP; the
instance's security groups still decide on the client. With
--tls-cert/--tls-key the WAF terminates TLS on the port (HTTP/2 or HTTP/1.1).
"waf unprotect" restores the direct path. Changes are in force within a
second, without dropping connections. "waf serve" is a standalone data plane
besides: it listens on each object's port (or --listen address) for clients
that use its address.`,
		Example: `  palisade waf protect --instance i-xxx --port 80
  palisade waf template create --name strict --mode block --paranoia 2
  palisade waf modify waf-xxx --template waftpl-xxx
  palisade waf rule add --protection waf-xxx --if 'path prefix /admin && method equals post' --action block
  palisade waf blacklist add --protection waf-xxx --address 198.51.100.0/24 --ttl 1h
  palisade waf ratelimit add --protection waf-xxx --by ip --interval 10s --threshold 100 --block-for 5m
  palisade waf serve --log-file waf.jsonl
  palisade waf logs --action block`,
	}
	cmd.AddCommand(c.wafProtectCommand(), c.wafModifyCommand(), c.wafUnprotectCommand(), c.wafListCommand(), c.wafTemplateCommand(),
		c.wafRuleKindCommand(wafrule.KindWhitelist), c.wafRuleKindCommand(wafrule.KindBlacklist),
		c.wafRuleKindCommand(wafrule.KindCustom), c.wafRuleKindCommand(wafrule.KindRateLimit),
		c.wafRulesCommand(), c.wafLogsCommand(), c.wafServeCommand())
	return cmd
}

func readPEM(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	return string(b), err
}

type wafObjectFlags struct {
	template, upstream, listen, certFile, keyFile, blockBody, blacklistAction string
	blockStatus                                                               int
	blockHeaders                                                              []string
}

func (f *wafObjectFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.template, "template", "", "template ID (default: CRS paranoia 1, block)")
	fl.StringVar(&f.upstream, "upstream", "", "IP:PORT of the instance to forward to: one of its private IPv4 addresses, any port (default: the private address its EIP maps to, else its primary address, and --port)")
	fl.StringVar(&f.listen, "listen", "", "address the WAF listens on (default :PORT)")
	fl.StringVar(&f.certFile, "tls-cert", "", "PEM certificate file: terminate TLS at the WAF")
	fl.StringVar(&f.keyFile, "tls-key", "", "PEM private key file of --tls-cert")
	fl.IntVar(&f.blockStatus, "block-status", 0, "status of the block response, 200-600 except 204/304 (default 405)")
	fl.StringArrayVar(&f.blockHeaders, "block-header", nil, "header of the block response, Name=Value (repeatable)")
	fl.StringVar(&f.blockBody, "block-body", "", "body of the block response")
	fl.StringVar(&f.blacklistAction, "blacklist-action", "", "blacklist module action: block (default) or monitor")
}

func (f *wafObjectFlags) params(cmd *cobra.Command, p map[string]string) error {
	set := func(flag, name, v string) {
		if cmd.Flags().Changed(flag) {
			p[name] = v
		}
	}
	set("template", "TemplateId", f.template)
	set("upstream", "UpstreamAddress", f.upstream)
	set("listen", "ListenAddress", f.listen)
	set("block-body", "BlockBody", f.blockBody)
	set("blacklist-action", "BlacklistAction", f.blacklistAction)
	set("block-status", "BlockStatus", strconv.Itoa(f.blockStatus))
	if cmd.Flags().Changed("block-header") {
		h := map[string]string{}
		for _, kv := range f.blockHeaders {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return fmt.Errorf("--block-header %q: want Name=Value", kv)
			}
			h[k] = v
		}
		b, _ := json.Marshal(h)
		p["BlockHeaders"] = string(b)
	}
	if (f.certFile == "") != (f.keyFile == "") {
		return fmt.Errorf("--tls-cert and --tls-key go together")
	}
	if f.certFile != "" {
		cert, err := readPEM(f.certFile)
		if err != nil {
			return err
		}
		key, err := readPEM(f.keyFile)
		if err != nil {
			return err
		}
		p["TlsCertificate"], p["TlsPrivateKey"] = cert, key
	}
	return nil
}

func (c *cli) wafProtectCommand() *cobra.Command {
	var instance string
	var port int
	var f wafObjectFlags
	cmd := &cobra.Command{
		Use:   "protect",
		Short: "Protect an instance's HTTP(S) port and print the protected object's ID",
		Long: `Record a protected object for an instance's port. The agent serving the
instance steers new connections to that port of the instance's EIP through its
WAF, which forwards clean requests to the instance ("palisade waf serve" also
listens for the object on its own address). With --tls-cert and --tls-key the
WAF terminates TLS (HTTP/2 or HTTP/1.1 to clients) and talks HTTP/1.1 to the
instance. The object is in force only while the instance has an EIP (and
its upstream is one of the instance's addresses): otherwise it is recorded,
a warning on standard error says why nothing is steered, and "waf list"
shows its STATUS.`,
		Example: `  palisade waf protect --instance i-xxx --port 80
  palisade waf protect --instance i-xxx --port 443 --tls-cert site.crt --tls-key site.key --upstream 10.0.1.7:80`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p := map[string]string{"InstanceId": instance, "Port": strconv.Itoa(port)}
			if err := f.params(cmd, p); err != nil {
				return err
			}
			resp, err := c.call(cmd, apiclient.VersionPalisade, "CreateWafProtection", p)
			if err != nil {
				return err
			}
			warnNotSteered(cmd, resp)
			return c.renderID(cmd, resp, "ProtectionId")
		},
	}
	cmd.Flags().StringVar(&instance, "instance", "", "instance ID (required)")
	cmd.Flags().IntVar(&port, "port", 80, "the instance's HTTP(S) port")
	f.register(cmd)
	_ = cmd.MarkFlagRequired("instance")
	return cmd
}

// warnNotSteered tells, on standard error, that a protected object just
// created or changed is not in force (no EIP, or an upstream the instance
// no longer has), with what to do: the object is recorded either way.
func warnNotSteered(cmd *cobra.Command, resp map[string]any) {
	if st := str(resp, "Status"); st != "" && st != "Active" {
		fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s is not in force (%s): %s\n", str(resp, "ProtectionId"), st, str(resp, "StatusReason"))
	}
}

func (c *cli) wafModifyCommand() *cobra.Command {
	var f wafObjectFlags
	cmd := &cobra.Command{
		Use:   "modify PROTECTION_ID",
		Short: "Change a protected object's template, upstream, certificate or block response; the rest is kept",
		Example: `  palisade waf modify waf-xxx --template waftpl-xxx
  palisade waf modify waf-xxx --template ""          # back to the default profile
  palisade waf modify waf-xxx --block-status 403 --block-body denied`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p := map[string]string{"ProtectionId": args[0]}
			if err := f.params(cmd, p); err != nil {
				return err
			}
			if len(p) == 1 {
				return fmt.Errorf("nothing to change: give at least one flag (see --help)")
			}
			resp, err := c.call(cmd, apiclient.VersionPalisade, "ModifyWafProtection", p)
			if err != nil {
				return err
			}
			warnNotSteered(cmd, resp)
			return c.renderDone(cmd, resp)
		},
	}
	f.register(cmd)
	return cmd
}

func (c *cli) wafUnprotectCommand() *cobra.Command {
	var instance string
	var port int
	cmd := &cobra.Command{
		Use:   "unprotect [PROTECTION_ID]",
		Short: "Stop protecting an object (by ID, or by --instance and --port); its rules are deleted",
		Example: `  palisade waf unprotect waf-xxx
  palisade waf unprotect --instance i-xxx --port 80`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := ""
			if len(args) == 1 {
				if cmd.Flags().Changed("instance") || cmd.Flags().Changed("port") {
					return fmt.Errorf("give a protection ID or --instance and --port, not both")
				}
				id = args[0]
			} else {
				if instance == "" {
					return fmt.Errorf("give a protection ID or --instance and --port")
				}
				resp, err := c.call(cmd, apiclient.VersionPalisade, "DescribeWafProtections", map[string]string{"InstanceId": instance})
				if err != nil {
					return err
				}
				for _, o := range objects(resp, "Protections", "Protection") {
					if str(o, "Port") == strconv.Itoa(port) {
						id = str(o, "ProtectionId")
					}
				}
				if id == "" {
					return fmt.Errorf("port %d of %s is not protected", port, instance)
				}
			}
			resp, err := c.call(cmd, apiclient.VersionPalisade, "DeleteWafProtection", map[string]string{"ProtectionId": id})
			if err != nil {
				return err
			}
			return c.renderDone(cmd, resp)
		},
	}
	cmd.Flags().StringVar(&instance, "instance", "", "instance ID")
	cmd.Flags().IntVar(&port, "port", 80, "the protected port")
	return cmd
}

func (c *cli) wafListCommand() *cobra.Command {
	var instance string
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List protected objects",
		Example: "  palisade waf list --instance i-xxx",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := c.call(cmd, apiclient.VersionPalisade, "DescribeWafProtections", nonEmpty(map[string]string{"InstanceId": instance}))
			if err != nil {
				return err
			}
			return c.renderList(cmd, resp, objects(resp, "Protections", "Protection"), []column{
				field("ProtectionId", "ProtectionId"), field("InstanceId", "InstanceId"), field("Port", "Port"), field("Protocol", "Protocol"),
				field("Status", "Status"), field("EipAddress", "EipAddress"),
				field("TemplateId", "TemplateId"), field("UpstreamAddress", "UpstreamAddress"), field("ListenAddress", "ListenAddress"), field("BlockStatus", "BlockStatus"),
			})
		},
	}
	cmd.Flags().StringVar(&instance, "instance", "", "only this instance's objects")
	return cmd
}

func (c *cli) wafTemplateCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "template",
		Short: "Manage templates (core rule set profiles shared by protected objects)",
		Long: `A template sets the core rule set (OWASP CRS) of the objects using it: mode
(block, monitor = log only, off), paranoia level 1-4, inbound anomaly
threshold, rules excluded by ID or tag, and how much of a request body is
inspected (above the limit: inspect-partial, block with 413, or skip; a cut
JSON, XML or multipart body cannot be parsed, so inspect-partial checks only
its headers against the core rule set), and whether the upstream's answers
are inspected too (--inspect-responses: the CRS's data-leakage rules on the
status, headers and the first body-limit bytes of textual, uncompressed
bodies; in block mode a leaking answer is replaced by the block response).
Objects with equal settings share one compiled rule set.`,
	}
	var name, mode, bodyAction string
	var pl, threshold, bodyLimit int
	var inspectResponses bool
	var excludeIDs, excludeTags []string
	flags := func(cmd *cobra.Command) {
		fl := cmd.Flags()
		fl.StringVar(&name, "name", "", "template name")
		fl.StringVar(&mode, "mode", "", "block, monitor or off (default block)")
		fl.IntVar(&pl, "paranoia", 0, "CRS paranoia level 1-4 (default 1)")
		fl.IntVar(&threshold, "threshold", 0, "inbound anomaly score threshold (default 5)")
		fl.StringSliceVar(&excludeIDs, "exclude-id", nil, "CRS rule IDs to remove (comma-separated or repeated)")
		fl.StringSliceVar(&excludeTags, "exclude-tag", nil, "CRS rule tags to remove, e.g. attack-xss")
		fl.IntVar(&bodyLimit, "body-limit", 0, "body bytes inspected (default 131072, at most 8 MiB)")
		fl.StringVar(&bodyAction, "body-action", "", "above the body limit: inspect-partial (default), block or skip")
		fl.BoolVar(&inspectResponses, "inspect-responses", false, "also inspect the upstream's answers (CRS data-leakage rules)")
	}
	params := func(cmd *cobra.Command) map[string]string {
		p := map[string]string{}
		ch := cmd.Flags().Changed
		if ch("name") {
			p["Name"] = name
		}
		if ch("mode") {
			p["Mode"] = mode
		}
		if ch("paranoia") {
			p["ParanoiaLevel"] = strconv.Itoa(pl)
		}
		if ch("threshold") {
			p["InboundThreshold"] = strconv.Itoa(threshold)
		}
		if ch("exclude-id") {
			p["ExcludeRuleIds"] = strings.Join(excludeIDs, ",")
		}
		if ch("exclude-tag") {
			b, _ := json.Marshal(excludeTags)
			p["ExcludeTags"] = string(b)
		}
		if ch("body-limit") {
			p["BodyLimit"] = strconv.Itoa(bodyLimit)
		}
		if ch("body-action") {
			p["BodyAction"] = bodyAction
		}
		if ch("inspect-responses") {
			p["InspectResponses"] = strconv.FormatBool(inspectResponses)
		}
		return p
	}
	create := &cobra.Command{
		Use: "create", Short: "Create a template and print its ID", Args: cobra.NoArgs,
		Example: "  palisade waf template create --name strict --mode block --paranoia 2 --exclude-tag attack-xss",
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := c.call(cmd, apiclient.VersionPalisade, "CreateWafTemplate", params(cmd))
			if err != nil {
				return err
			}
			return c.renderID(cmd, resp, "TemplateId")
		},
	}
	flags(create)
	modify := &cobra.Command{
		Use: "modify TEMPLATE_ID", Short: "Change a template (objects using it reload)", Args: cobra.ExactArgs(1),
		Example: "  palisade waf template modify waftpl-xxx --mode monitor",
		RunE: func(cmd *cobra.Command, args []string) error {
			p := params(cmd)
			p["TemplateId"] = args[0]
			resp, err := c.call(cmd, apiclient.VersionPalisade, "ModifyWafTemplate", p)
			if err != nil {
				return err
			}
			return c.renderDone(cmd, resp)
		},
	}
	flags(modify)
	list := &cobra.Command{
		Use: "list", Short: "List templates", Args: cobra.NoArgs,
		Example: "  palisade waf template list\n  palisade waf template list -o json",
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := c.call(cmd, apiclient.VersionPalisade, "DescribeWafTemplates", nil)
			if err != nil {
				return err
			}
			return c.renderList(cmd, resp, objects(resp, "Templates", "Template"), []column{
				field("TemplateId", "TemplateId"), field("Name", "Name"), field("Mode", "Mode"), field("ParanoiaLevel", "ParanoiaLevel"),
				field("InboundThreshold", "InboundThreshold"), joined("ExcludeRuleIds", "ExcludeRuleIds"), joined("ExcludeTags", "ExcludeTags"),
				field("BodyLimit", "BodyLimit"), field("BodyAction", "BodyAction"), field("InspectResponses", "InspectResponses"),
			})
		},
	}
	del := &cobra.Command{
		Use: "delete TEMPLATE_ID", Short: "Delete an unused template", Args: cobra.ExactArgs(1),
		Example: "  palisade waf template delete waftpl-xxx",
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := c.call(cmd, apiclient.VersionPalisade, "DeleteWafTemplate", map[string]string{"TemplateId": args[0]})
			if err != nil {
				return err
			}
			return c.renderDone(cmd, resp)
		},
	}
	cmd.AddCommand(create, modify, list, del)
	return cmd
}

// wafRuleKindCommand builds "waf whitelist|blacklist|rule|ratelimit add|list".
func (c *cli) wafRuleKindCommand(kind string) *cobra.Command {
	use, short, example := kind, "", ""
	switch kind {
	case wafrule.KindWhitelist:
		short = "Whitelist: requests matching the conditions bypass all or chosen modules"
		example = "  palisade waf whitelist add --protection waf-xxx --if 'ip in-cidr 192.0.2.0/24' --bypass crs,ratelimit"
	case wafrule.KindBlacklist:
		short = "IP blacklist: addresses and CIDRs refused, optionally until a TTL runs out"
		example = "  palisade waf blacklist add --protection waf-xxx --address 198.51.100.0/24 --address 203.0.113.5 --ttl 24h"
	case wafrule.KindCustom:
		use = "rule"
		short = "Custom rules: an AND of conditions with an action (block or monitor)"
		example = `  palisade waf rule add --protection waf-xxx --if 'path prefix /admin && header:User-Agent contains curl' --action block`
	case wafrule.KindRateLimit:
		short = "Rate limits per client IP or header value, optionally counting only responses with a status"
		example = `  palisade waf ratelimit add --protection waf-xxx --by ip --interval 10s --threshold 100 --block-for 5m
  palisade waf ratelimit add --protection waf-xxx --status 404 --interval 60s --threshold 20 --block-for 10m`
	}
	long := short + "."
	if kind != wafrule.KindBlacklist {
		long += `

Conditions (--if) are "field[:name] op value[,value...]" joined by &&: fields
ip, url (as sent), path (decoded, with "//", "." and ".." resolved as the
origin resolves them), query[:arg], header:NAME, cookie:NAME, method, body;
operators contains, equals, prefix (case-sensitive, except that method
values are upper-cased), regex (add (?i) for case-insensitive) and in-cidr
(ip only). Several values match any of them;
quote values with spaces or commas in double quotes.`
	}
	cmd := &cobra.Command{Use: use, Short: short, Long: long}
	var protection, cond, action, name, by, header string
	var bypass, addrs []string
	var ttl, interval, blockFor time.Duration
	var threshold, status int
	add := &cobra.Command{
		Use: "add", Short: "Add a rule and print its ID", Example: example, Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p := nonEmpty(map[string]string{"ProtectionId": protection, "Kind": kind, "Name": name, "Conditions": cond, "RuleAction": action})
			switch kind {
			case wafrule.KindWhitelist:
				if len(bypass) > 0 {
					p["Bypass"] = strings.Join(bypass, ",")
				}
			case wafrule.KindBlacklist:
				if len(addrs) == 0 {
					return fmt.Errorf("give at least one --address")
				}
				b, _ := json.Marshal(addrs)
				p["Addresses"] = string(b)
				secs, err := wholeSeconds("--ttl", ttl, true)
				if err != nil {
					return err
				}
				p["Ttl"] = secs
			case wafrule.KindRateLimit:
				p["By"], p["Header"] = by, header
				var err error
				if p["Interval"], err = wholeSeconds("--interval", interval, false); err != nil {
					return err
				}
				if p["BlockDuration"], err = wholeSeconds("--block-for", blockFor, false); err != nil {
					return err
				}
				p["Threshold"] = strconv.Itoa(threshold)
				p["Status"] = strconv.Itoa(status)
				p = nonEmpty(p)
			}
			resp, err := c.call(cmd, apiclient.VersionPalisade, "CreateWafRule", p)
			if err != nil {
				return err
			}
			return c.renderID(cmd, resp, "RuleId")
		},
	}
	fl := add.Flags()
	fl.StringVar(&protection, "protection", "", "protected object ID (required)")
	fl.StringVar(&name, "name", "", "rule name")
	_ = add.MarkFlagRequired("protection")
	switch kind {
	case wafrule.KindWhitelist:
		fl.StringVar(&cond, "if", "", "conditions (required)")
		fl.StringSliceVar(&bypass, "bypass", nil, "modules skipped: blacklist, custom, ratelimit, crs (default all)")
	case wafrule.KindBlacklist:
		fl.StringArrayVar(&addrs, "address", nil, "address or CIDR (repeatable, required)")
		fl.DurationVar(&ttl, "ttl", 0, "expire after this long (default never)")
	case wafrule.KindCustom:
		fl.StringVar(&cond, "if", "", "conditions (required)")
		fl.StringVar(&action, "action", "block", "block or monitor")
	case wafrule.KindRateLimit:
		fl.StringVar(&cond, "if", "", "conditions: only matching requests are counted (default all)")
		fl.StringVar(&action, "action", "block", "block or monitor")
		fl.StringVar(&by, "by", "ip", "count per ip or per header value")
		fl.StringVar(&header, "header", "", "header whose value is counted (--by header)")
		fl.DurationVar(&interval, "interval", 10*time.Second, "counting window")
		fl.IntVar(&threshold, "threshold", 100, "requests (or responses with --status) allowed per window")
		fl.DurationVar(&blockFor, "block-for", 5*time.Minute, "how long the action applies once over the threshold")
		fl.IntVar(&status, "status", 0, "count only responses with this status, e.g. 404")
	}
	var listProt string
	list := &cobra.Command{
		Use: "list", Short: "List rules of this kind", Args: cobra.NoArgs,
		Example: "  palisade waf " + use + " list\n  palisade waf " + use + " list --protection waf-xxx",
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.listWafRules(cmd, listProt, kind)
		},
	}
	list.Flags().StringVar(&listProt, "protection", "", "only this object's rules")
	cmd.AddCommand(add, list)
	return cmd
}

func (c *cli) listWafRules(cmd *cobra.Command, protection, kind string) error {
	resp, err := c.call(cmd, apiclient.VersionPalisade, "DescribeWafRules", nonEmpty(map[string]string{"ProtectionId": protection, "Kind": kind}))
	if err != nil {
		return err
	}
	return c.renderList(cmd, resp, objects(resp, "Rules", "Rule"), []column{
		field("RuleId", "RuleId"), field("ProtectionId", "ProtectionId"), field("Kind", "Kind"), field("Name", "Name"), field("Conditions", "Conditions"),
		field("RuleAction", "RuleAction"), joined("Bypass", "Bypass"), joined("Addresses", "Addresses"), field("ExpireTime", "ExpireTime"),
		field("By", "By"), field("Header", "Header"), field("Interval", "Interval"), field("Threshold", "Threshold"),
		field("BlockDuration", "BlockDuration"), field("Status", "Status"),
	})
}

func (c *cli) wafRulesCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "rules", Short: "List, change and delete rules of every kind"}
	var protection, kind string
	list := &cobra.Command{
		Use: "list", Short: "List rules", Args: cobra.NoArgs,
		Example: "  palisade waf rules list\n  palisade waf rules list --protection waf-xxx --kind blacklist",
		RunE:    func(cmd *cobra.Command, args []string) error { return c.listWafRules(cmd, protection, kind) },
	}
	list.Flags().StringVar(&protection, "protection", "", "only this object's rules")
	list.Flags().StringVar(&kind, "kind", "", "whitelist, blacklist, custom or ratelimit")
	var cond, action, setName string
	var setBypass []string
	set := &cobra.Command{
		Use:   "set RULE_ID",
		Short: "Change a rule's conditions, action, name or bypassed modules; the rest is kept (in force within a second)",
		Args:  cobra.ExactArgs(1),
		Example: `  palisade waf rules set wafr-xxx --if 'path prefix /private' --action monitor
  palisade waf rules set wafr-yyy --bypass crs,ratelimit`,
		RunE: func(cmd *cobra.Command, args []string) error {
			p := map[string]string{"RuleId": args[0]}
			for flag, param := range map[string]string{"if": "Conditions", "action": "RuleAction", "name": "Name", "bypass": "Bypass"} {
				if cmd.Flags().Changed(flag) {
					p[param] = map[string]string{"if": cond, "action": action, "name": setName, "bypass": strings.Join(setBypass, ",")}[flag]
				}
			}
			if len(p) == 1 {
				return fmt.Errorf("nothing to change: give --if, --action, --name or --bypass")
			}
			resp, err := c.call(cmd, apiclient.VersionPalisade, "ModifyWafRule", p)
			if err != nil {
				return err
			}
			return c.renderDone(cmd, resp)
		},
	}
	set.Flags().StringVar(&cond, "if", "", "new conditions (custom, whitelist and rate-limit rules)")
	set.Flags().StringVar(&action, "action", "", "new action: block or monitor (custom and rate-limit rules)")
	set.Flags().StringVar(&setName, "name", "", "new name")
	set.Flags().StringSliceVar(&setBypass, "bypass", nil, "modules a whitelist rule skips: blacklist, custom, ratelimit, crs (empty: all)")
	del := &cobra.Command{
		Use: "delete RULE_ID...", Short: "Delete rules (none when one of them does not exist)", Args: cobra.MinimumNArgs(1),
		Example: "  palisade waf rules delete wafr-xxx wafr-yyy",
		RunE: func(cmd *cobra.Command, args []string) error {
			// Every ID is checked first, so that a typo in the list deletes
			// nothing rather than the rules before it.
			resp, err := c.call(cmd, apiclient.VersionPalisade, "DescribeWafRules", map[string]string{})
			if err != nil {
				return err
			}
			known := map[string]bool{}
			for _, o := range objects(resp, "Rules", "Rule") {
				known[str(o, "RuleId")] = true
			}
			for _, id := range args {
				if !known[id] {
					return fmt.Errorf("InvalidRuleId.NotFound: The specified RuleId %q does not exist; nothing was deleted.", id)
				}
			}
			for _, id := range args {
				if _, err := c.call(cmd, apiclient.VersionPalisade, "DeleteWafRule", map[string]string{"RuleId": id}); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.AddCommand(list, set, del)
	return cmd
}

func (c *cli) wafLogsCommand() *cobra.Command {
	var protection, action, clientIP, module string
	var since time.Duration
	var limit int
	cmd := &cobra.Command{
		Use:   "logs",
		Short: "Show WAF decisions, newest first",
		Example: `  palisade waf logs --action block --since 1h
  palisade waf logs --protection waf-xxx --module crs -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p := nonEmpty(map[string]string{"ProtectionId": protection, "WafAction": action, "ClientIp": clientIP, "Module": module,
				"MaxResults": strconv.Itoa(limit)})
			if since < 0 {
				return fmt.Errorf("--since %v: give how far back, such as 1h", since)
			}
			if since > 0 {
				p["StartTime"] = time.Now().Add(-since).UTC().Format(time.RFC3339)
			}
			resp, err := c.call(cmd, apiclient.VersionPalisade, "DescribeWafLogs", p)
			if err != nil {
				return err
			}
			return c.renderList(cmd, resp, objects(resp, "Logs", "Log"), []column{
				field("TIME", "Time"), field("OBJECT", "ProtectionId"), field("CLIENT", "ClientIp"), field("METHOD", "Method"),
				field("HOST", "Host"), field("URI", "Uri"), field("STATUS", "Status"), field("MODULE", "Module"),
				joined("RULES", "RuleIds"), field("ACTION", "WafAction"), field("SCORE", "Score"),
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&protection, "protection", "", "only this object")
	fl.StringVar(&action, "action", "", "pass, monitor or block")
	fl.StringVar(&clientIP, "client-ip", "", "only this client address")
	fl.StringVar(&module, "module", "", "blacklist, custom, ratelimit or crs")
	fl.DurationVar(&since, "since", 0, "only records newer than this")
	fl.IntVar(&limit, "limit", 100, "at most this many records (1-1000)")
	return cmd
}

func (c *cli) wafServeCommand() *cobra.Command {
	var logFile, metricsListen string
	var interval time.Duration
	var logAll bool
	var keyFiles []string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the WAF data plane for the account's protected objects",
		Long: `Run a reverse proxy for every protected object of the account: listen on the
object's address, inspect requests, forward clean ones to the instance. The
configuration is polled (--interval) and changes are swapped in without
dropping connections. Every decision goes to --log-file as JSON lines and to
the API ("waf logs", which keeps the newest 10,000 per account); with
--log-pass=false only monitor and block decisions are shipped to the API.
The API never hands back an uploaded private key: an object that terminates
TLS is served only with its key given here (--tls-key PROTECTION_ID=FILE),
the others are skipped with a warning. An upstream is a private address of
the instance's VPC: it is reached from inside the VPC's network namespace,
so run this as root on the host that runs the VPC; an object whose VPC
namespace is not on this host (or cannot be entered) is not served, with a
warning. That upstream connection comes from the VPC's router, from its
address on the upstream's vSwitch (the gateway, x.x.x.253 of a /24): the
instance's security groups decide on it as on a client at that address, so
they must admit it, and a rule change that denies it aborts the open ones
(the network ACL does not apply: the gateway is an address of the
instance's own vSwitch). The agent's steering, for an instance with an EIP,
forwards from the client's own address instead. Stop with Ctrl-C.`,
		Example: `  palisade waf serve --log-file /var/log/palisade-waf.jsonl
  palisade waf serve --tls-key waf-xxx=/etc/palisade/site.key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			keys, err := readServeKeys(keyFiles)
			if err != nil {
				return err
			}
			cl, err := c.client()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			ship := &logShipper{call: func(ctx context.Context, recs []waf.Record) error {
				b, err := json.Marshal(recs)
				if err != nil {
					return err
				}
				_, err = cl.Call(ctx, apiclient.VersionPalisade, "PutWafLogs", map[string]string{"Records": string(b)})
				return err
			}, all: logAll, log: log}
			sinks := waf.MultiSink{ship}
			if logFile != "" {
				fs, err := waf.OpenFileSink(logFile)
				if err != nil {
					return err
				}
				defer fs.Close()
				sinks = append(sinks, fs)
			}
			rt := waf.NewRuntime(sinks, log)
			if metricsListen != "" {
				m, _, stopMetrics, err := app.ServeWAFMetrics(metricsListen, log)
				if err != nil {
					return err
				}
				defer stopMetrics()
				rt.Metrics = m
			}
			// Marked, the upstream connections meet the instance's
			// network ACL and security groups in the VPC's program.
			rt.VPCs.Mark = linux.UpstreamMark
			warned := map[string]bool{}
			unreachable := map[string]string{} // object ID -> warning last given
			go ship.run(ctx)
			fetch := func(ctx context.Context) ([]wafrule.ObjectConfig, string, error) {
				resp, err := cl.Call(ctx, apiclient.VersionPalisade, "DescribeWafConfig", nil)
				if err != nil {
					return nil, "", err
				}
				b, _ := json.Marshal(resp["Objects"])
				var cfgs []wafrule.ObjectConfig
				if err := json.Unmarshal(b, &cfgs); err != nil {
					return nil, "", fmt.Errorf("decode waf config: %w", err)
				}
				cfgs = withServeKeys(cfgs, keys, warned, log)
				// An upstream is a private address of the object's VPC,
				// reached inside the VPC's namespace (rt.VPCs): an object
				// whose namespace this process cannot enter is not served
				// (never dialled from this host's own namespace). Its
				// ID goes into the hash, so that the object starts once
				// its namespace appears.
				served := cfgs[:0]
				hash := str(resp, "Hash")
				for _, c := range cfgs {
					if err := rt.VPCs.CheckObject(c); err != nil {
						if msg := err.Error(); unreachable[c.ID] != msg {
							unreachable[c.ID] = msg
							log.Warn("waf object not served: "+msg, "protection", c.ID)
						}
						hash += " -" + c.ID
						continue
					}
					if _, ok := unreachable[c.ID]; ok {
						delete(unreachable, c.ID)
						log.Info("upstream reachable again: served", "protection", c.ID, "upstream", c.Upstream, "vpc", c.VPCID)
					}
					served = append(served, c)
				}
				return served, hash, nil
			}
			fmt.Fprintln(cmd.ErrOrStderr(), "palisade waf: serving; Ctrl-C to stop")
			err = rt.Run(ctx, fetch, interval)
			ship.flush(context.Background())
			return err
		},
	}
	cmd.Flags().StringVar(&logFile, "log-file", "", "append every decision to this file as JSON lines")
	cmd.Flags().StringVar(&metricsListen, "metrics-listen", "", "serve Prometheus metrics at /metrics on this address (host:port), without authentication: bind it to loopback or a private interface (default: off)")
	cmd.Flags().DurationVar(&interval, "interval", waf.PollInterval, "configuration poll interval")
	cmd.Flags().BoolVar(&logAll, "log-pass", true, "ship clean (pass) decisions to the API too")
	cmd.Flags().StringArrayVar(&keyFiles, "tls-key", nil, "PROTECTION_ID=FILE: the PEM private key of an object that terminates TLS (repeatable)")
	return cmd
}

// readServeKeys reads the --tls-key PROTECTION_ID=FILE arguments of waf
// serve into PEM keys by protection ID.
func readServeKeys(args []string) (map[string]string, error) {
	keys := map[string]string{}
	for _, a := range args {
		id, file, ok := strings.Cut(a, "=")
		if !ok || id == "" || file == "" {
			return nil, fmt.Errorf("--tls-key %q: want PROTECTION_ID=FILE", a)
		}
		if _, dup := keys[id]; dup {
			return nil, fmt.Errorf("--tls-key: %s given twice", id)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("--tls-key %s: %w", id, err)
		}
		keys[id] = string(b)
	}
	return keys, nil
}

// withServeKeys gives each object that terminates TLS its key from keys
// and leaves out those without one (warning once per object): the API
// does not return private keys.
func withServeKeys(cfgs []wafrule.ObjectConfig, keys map[string]string, warned map[string]bool, log *slog.Logger) []wafrule.ObjectConfig {
	out := cfgs[:0]
	for _, c := range cfgs {
		if c.TLSCert != "" {
			k, ok := keys[c.ID]
			if !ok {
				if !warned[c.ID] {
					warned[c.ID] = true
					log.Warn("object terminates TLS but no --tls-key was given for it: not served", "protection", c.ID)
				}
				continue
			}
			c.TLSKey = k
		}
		out = append(out, c)
	}
	return out
}

// logShipper batches records and sends them with PutWafLogs every second.
// The queue is bounded: when the API is down, records beyond it are
// dropped (the log file still has them).
type logShipper struct {
	call func(context.Context, []waf.Record) error
	all  bool
	log  *slog.Logger

	mu      sync.Mutex
	queue   []waf.Record
	dropped int
}

const shipQueueMax = 20000

func (s *logShipper) Log(r waf.Record) {
	if !s.all && r.Action == wafrule.Pass.String() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) >= shipQueueMax {
		s.dropped++
		return
	}
	s.queue = append(s.queue, r)
}

func (s *logShipper) run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.flush(ctx)
		}
	}
}

func (s *logShipper) flush(ctx context.Context) {
	s.mu.Lock()
	q, dropped := s.queue, s.dropped
	s.queue, s.dropped = nil, 0
	s.mu.Unlock()
	if dropped > 0 {
		s.log.Warn("waf log queue full, records not shipped", "dropped", dropped)
	}
	for len(q) > 0 {
		n := min(len(q), 1000)
		if err := s.call(ctx, q[:n]); err != nil {
			s.log.Warn("shipping waf logs failed", "records", n, "err", err)
		}
		q = q[n:]
	}
}

// wholeSeconds is a duration flag in the API's whole seconds, rounded up;
// a positive duration under a second is refused rather than sent as 0,
// which means "never expires" for a TTL.
func wholeSeconds(flag string, d time.Duration, zeroOK bool) (string, error) {
	switch {
	case d < 0:
		return "", fmt.Errorf("%s %v: must not be negative", flag, d)
	case d == 0 && zeroOK:
		return "0", nil
	case d < time.Second:
		return "", fmt.Errorf("%s %v: the API counts whole seconds; give at least 1s", flag, d)
	}
	return strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10), nil
}
