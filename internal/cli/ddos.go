package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/palisade-project/palisade/internal/apiclient"
	"github.com/palisade-project/palisade/internal/model"
)

// ddosHelp is the Anti-DDoS paragraph of the server and up commands' help.
const ddosHelp = `Anti-DDoS Basic protects every EIP: the agents scrub an EIP's inbound traffic
once it crosses the EIP's scrubbing threshold, until it has stayed under it for
--ddos-quiet, and blackhole the EIP (drop everything to it) once its traffic
crosses --ddos-blackhole-mbps, until --ddos-blackhole-duration after the attack
was last seen. The server hands these settings to every agent.`

// ddosFlags are the Anti-DDoS settings of the server and up commands.
type ddosFlags struct {
	blackholeMbps int
	blackholeFor  time.Duration
	quiet         time.Duration
	timeScale     int
}

func (f *ddosFlags) add(cmd *cobra.Command) {
	def := model.DefaultDDoSConfig()
	cmd.Flags().IntVar(&f.blackholeMbps, "ddos-blackhole-mbps", def.BlackholeMbps,
		"Anti-DDoS: inbound traffic to one EIP above this many Mbit/s blackholes it")
	cmd.Flags().DurationVar(&f.blackholeFor, "ddos-blackhole-duration", time.Duration(def.BlackholeSeconds)*time.Second,
		"Anti-DDoS: how long a blackhole lasts after the attack was last seen (30m to 24h)")
	cmd.Flags().DurationVar(&f.quiet, "ddos-quiet", time.Duration(def.QuietSeconds)*time.Second,
		"Anti-DDoS: scrubbing ends after this long under the threshold (1s to 1h)")
	cmd.Flags().IntVar(&f.timeScale, "ddos-time-scale", 1,
		"divide the Anti-DDoS blackhole duration and quiet period by this factor (demos and tests only; 1800 makes 30 minutes 1 second)")
}

// config checks the flags and returns the configuration they make.
func (f *ddosFlags) config() (model.DDoSConfig, error) {
	seconds := func(name string, d, least, most time.Duration) (int, error) {
		if d < least || d > most || d%time.Second != 0 {
			return 0, fmt.Errorf("--%s %s: want whole seconds from %s to %s", name, d, least, most)
		}
		return int(d / time.Second), nil
	}
	if f.blackholeMbps < 1 {
		return model.DDoSConfig{}, fmt.Errorf("--ddos-blackhole-mbps %d: want at least 1 (Mbit/s)", f.blackholeMbps)
	}
	cfg := model.DDoSConfig{BlackholeMbps: f.blackholeMbps, TimeScale: f.timeScale}
	var err error
	if cfg.BlackholeSeconds, err = seconds("ddos-blackhole-duration", f.blackholeFor, 30*time.Minute, 24*time.Hour); err != nil {
		return cfg, err
	}
	if cfg.QuietSeconds, err = seconds("ddos-quiet", f.quiet, time.Second, time.Hour); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

// ddosPages pages through an Anti-DDoS Describe action (CurrentPage,
// PageSize 100) and returns every element of the list that items reads
// from a page.
func (c *cli) ddosPages(cmd *cobra.Command, action string, params map[string]string, items func(map[string]any) []any) ([]any, error) {
	_, all, err := c.numberedPages(cmd, apiclient.VersionAntiDDoS, action, params, "Total", items)
	return all, err
}

// ddosInstanceType is the InstanceType of an instance ID: eip for an EIP
// (eip-...), else ecs.
func ddosInstanceType(id string) string {
	if strings.HasPrefix(id, "eip-") {
		return "eip"
	}
	return "ecs"
}

func (c *cli) ddosCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ddos",
		Short: "Anti-DDoS Basic: the protection status, thresholds and attack events of your EIPs",
		Long: `Show and tune Anti-DDoS Basic, the protection every EIP of your account has
(Anti-DDoS API antiddos-public 2017-05-18).

The agent of each EIP's host measures its inbound traffic. Above the EIP's
scrubbing threshold (by default 450 Mbit/s or 1.5 times its bandwidth, and
100,000 packets/s or 1,000 per Mbit/s of bandwidth) the traffic is scrubbed
(status defense) until it has stayed under the threshold for a while; above
the blackhole threshold, the operator's, everything to the EIP is dropped
(status blackhole) until some time after the attack was last seen. You may
lower an EIP's scrubbing threshold, never raise it above the default, and a
blackhole cannot be lifted by hand.

Instances are ECS instances with EIPs (i-...) or EIPs themselves (eip-...).`,
		Example: `  palisade ddos list
  palisade ddos events 198.18.0.5
  palisade ddos threshold set --instance i-xxx --ip 198.18.0.5 --bps 100 --pps 20000
  palisade ddos threshold auto --instance i-xxx`,
	}

	list := &cobra.Command{
		Use:     "list",
		Short:   "List your EIPs with their instance, status and thresholds",
		Example: "  palisade ddos list\n  palisade ddos list -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			instances := func(resp map[string]any) []any { arr, _ := resp["InstanceList"].([]any); return arr }
			eips, err := c.ddosPages(cmd, "DescribeInstanceIpAddress", map[string]string{"DdosRegionId": c.region, "InstanceType": "eip"}, instances)
			if err != nil {
				return err
			}
			ecs, err := c.ddosPages(cmd, "DescribeInstanceIpAddress", map[string]string{"DdosRegionId": c.region, "InstanceType": "ecs"}, instances)
			if err != nil {
				return err
			}
			onInstance := map[string]string{} // IP -> ECS instance
			for _, v := range ecs {
				inst, _ := v.(map[string]any)
				for _, ip := range objects(inst, "IpAddressConfig") {
					onInstance[str(ip, "InstanceIp")] = str(inst, "InstanceId")
				}
			}
			// Which thresholds were set by hand (IsAuto false), 100 EIPs a call.
			auto := map[string]string{}
			for i := 0; i < len(eips); i += 100 {
				p := map[string]string{"DdosRegionId": c.region, "InstanceType": "eip", "DdosType": "defense"}
				for j, v := range eips[i:min(i+100, len(eips))] {
					inst, _ := v.(map[string]any)
					p["InstanceIds."+strconv.Itoa(j+1)] = str(inst, "InstanceId")
				}
				resp, err := c.call(cmd, apiclient.VersionAntiDDoS, "DescribeDdosThreshold", p)
				if err != nil {
					return err
				}
				for _, t := range objects(resp, "Thresholds", "Threshold") {
					auto[str(t, "InternetIp")] = str(t, "IsAuto")
				}
			}
			rows := []any{}
			for _, v := range eips {
				inst, _ := v.(map[string]any)
				for _, ip := range objects(inst, "IpAddressConfig") {
					addr := str(ip, "InstanceIp")
					rows = append(rows, map[string]any{
						"InstanceIp": addr, "AllocationId": str(inst, "InstanceId"), "InstanceId": onInstance[addr],
						"IpStatus": ip["IpStatus"], "DefenseBpsThreshold": ip["DefenseBpsThreshold"],
						"DefensePpsThreshold": ip["DefensePpsThreshold"], "IsAuto": auto[addr], "BlackholeThreshold": ip["BlackholeThreshold"],
					})
				}
			}
			resp := map[string]any{"Ips": rows}
			return c.renderList(cmd, resp, objects(resp, "Ips"), []column{
				field("Address", "InstanceIp"), field("AllocationId", "AllocationId"), field("Instance", "InstanceId"),
				field("Status", "IpStatus"), field("ScrubMbps", "DefenseBpsThreshold"), field("ScrubPps", "DefensePpsThreshold"),
				field("Auto", "IsAuto"), field("BlackholeMbps", "BlackholeThreshold"),
			})
		},
	}

	var evInstance string
	var evDays int
	events := &cobra.Command{
		Use:   "events [IP]",
		Short: "List the attack events (scrubbing, blackholes) of an EIP or an instance, newest first",
		Long: `List the Anti-DDoS events of an EIP (by address) or of every EIP of an
instance (--instance i-... or eip-...), newest first, over the last --days
days. STATUS is the event's type while it goes on, normal once it is over;
a blackhole shows when it ends (UNBLACKHOLE).`,
		Example: `  palisade ddos events 198.18.0.5
  palisade ddos events --instance i-xxx --days 30`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p := map[string]string{"DdosRegionId": c.region, "QueryDays": strconv.Itoa(evDays)}
			switch {
			case evInstance != "":
				p["InstanceId"], p["InstanceType"] = evInstance, ddosInstanceType(evInstance)
				if len(args) == 1 {
					p["InternetIp"] = args[0]
				}
			case len(args) == 1:
				// The EIP that holds the address.
				resp, err := c.call(cmd, apiclient.VersionAntiDDoS, "DescribeInstanceIpAddress",
					map[string]string{"DdosRegionId": c.region, "InstanceType": "eip", "InstanceIp": args[0]})
				if err != nil {
					return err
				}
				found := objects(resp, "InstanceList")
				if len(found) == 0 {
					return fmt.Errorf("%s is not an EIP of your account (palisade ddos list shows them)", args[0])
				}
				p["InstanceId"], p["InstanceType"], p["InternetIp"] = str(found[0], "InstanceId"), "eip", args[0]
			default:
				return fmt.Errorf("name an EIP address or give --instance")
			}
			all, err := c.ddosPages(cmd, "DescribeDdosEventList", p, func(resp map[string]any) []any {
				arr, _ := get(resp, "DdosEventList", "DdosEvent").([]any)
				return arr
			})
			if err != nil {
				return err
			}
			if all == nil {
				all = []any{}
			}
			resp := map[string]any{"Total": len(all), "DdosEventList": map[string]any{"DdosEvent": all}}
			unix := func(name string) func(map[string]any) string {
				return func(m map[string]any) string {
					n, err := strconv.ParseInt(str(m, name), 10, 64)
					if err != nil || n == 0 {
						return ""
					}
					return time.Unix(n, 0).UTC().Format(time.RFC3339)
				}
			}
			return c.renderList(cmd, resp, objects(resp, "DdosEventList", "DdosEvent"), []column{
				field("Type", "DdosType"), field("Status", "DdosStatus"), {"Start", unix("StartTime")}, {"End", unix("EndTime")},
				{"Unblackhole", unix("UnBlackholeTime")}, field("BlackholeMinutes", "DelayTime"),
			})
		},
	}
	events.Flags().StringVar(&evInstance, "instance", "", "an instance (i-...) or EIP (eip-...): the events of all its IPs")
	events.Flags().IntVar(&evDays, "days", 7, "the last this many days (1 to 365)")

	cmd.AddCommand(list, events, c.ddosThresholdCommand())
	return cmd
}

func (c *cli) ddosThresholdCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "threshold",
		Short: "Lower the scrubbing threshold of an EIP, or restore the default",
		Long: `The scrubbing threshold of an EIP is by default the highest allowed for its
bandwidth; you may lower it (scrubbing then starts earlier), and restore the
default (auto). palisade ddos list shows each EIP's threshold and whether it is
the default (Auto true).`,
	}

	var instance, ip string
	var bps, pps int
	set := &cobra.Command{
		Use:   "set",
		Short: "Set the scrubbing threshold of an IP of an instance (ModifyIpDefenseThreshold)",
		Long: `Set the scrubbing threshold of one IP of an instance (--instance i-... or
eip-...): --bps in Mbit/s and --pps in packets/s, both required, at least 1
and at most the default of the EIP's bandwidth (the error says it).`,
		Example: "  palisade ddos threshold set --instance i-xxx --ip 198.18.0.5 --bps 100 --pps 20000",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := c.call(cmd, apiclient.VersionAntiDDoS, "ModifyIpDefenseThreshold", map[string]string{
				"DdosRegionId": c.region, "InstanceId": instance, "InstanceType": ddosInstanceType(instance), "InternetIp": ip,
				"Bps": strconv.Itoa(bps), "Pps": strconv.Itoa(pps),
			})
			if err != nil {
				return err
			}
			return c.renderDone(cmd, resp)
		},
	}
	set.Flags().StringVar(&instance, "instance", "", "the instance (i-...) or EIP (eip-...) (required)")
	set.Flags().StringVar(&ip, "ip", "", "the IP (required)")
	set.Flags().IntVar(&bps, "bps", 0, "scrubbing threshold in Mbit/s (required)")
	set.Flags().IntVar(&pps, "pps", 0, "scrubbing threshold in packets/s (required)")
	for _, n := range []string{"instance", "ip", "bps", "pps"} {
		_ = set.MarkFlagRequired(n)
	}

	var autoInstance, autoIP string
	auto := &cobra.Command{
		Use:   "auto",
		Short: "Restore the default scrubbing threshold of an IP, or of every IP of an instance",
		Example: `  palisade ddos threshold auto --instance i-xxx --ip 198.18.0.5
  palisade ddos threshold auto --instance i-xxx`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p := map[string]string{"DdosRegionId": c.region, "InstanceId": autoInstance, "InstanceType": ddosInstanceType(autoInstance), "IsAuto": "true"}
			action := "ModifyDefenseThreshold"
			if autoIP != "" {
				p["InternetIp"], action = autoIP, "ModifyIpDefenseThreshold"
			}
			resp, err := c.call(cmd, apiclient.VersionAntiDDoS, action, p)
			if err != nil {
				return err
			}
			return c.renderDone(cmd, resp)
		},
	}
	auto.Flags().StringVar(&autoInstance, "instance", "", "the instance (i-...) or EIP (eip-...) (required)")
	auto.Flags().StringVar(&autoIP, "ip", "", "only this IP (default: every IP of the instance)")
	_ = auto.MarkFlagRequired("instance")

	cmd.AddCommand(set, auto)
	return cmd
}
