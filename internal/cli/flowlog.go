package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/palisade-project/palisade/internal/apiclient"
	"github.com/palisade-project/palisade/internal/app"
)

// flowLogResourceType maps the --eni/--vswitch/--vpc flag that is set to
// the API's ResourceType and ResourceId.
func flowLogResource(eni, vsw, vpc string) (typ, id string, err error) {
	n := 0
	for _, v := range []string{eni, vsw, vpc} {
		if v != "" {
			n++
		}
	}
	if n != 1 {
		return "", "", fmt.Errorf("give exactly one of --eni, --vswitch or --vpc")
	}
	switch {
	case eni != "":
		return "NetworkInterface", eni, nil
	case vsw != "":
		return "VSwitch", vsw, nil
	}
	return "VPC", vpc, nil
}

// recordFilter holds the flags shared by "flowlog records" and "flowlog top".
type recordFilter struct {
	flowLog, eni, vpc, since, until, action, src, dst string
	port                                              int
}

func (f *recordFilter) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.flowLog, "flow-log-id", "", "only records of this flow log")
	fl.StringVar(&f.eni, "eni", "", "only records of this ENI")
	fl.StringVar(&f.vpc, "vpc", "", "only records of this VPC")
	fl.StringVar(&f.since, "since", "", "records whose window ends at or after this time (RFC 3339 or Unix seconds)")
	fl.StringVar(&f.until, "until", "", "records whose window starts at or before this time (RFC 3339 or Unix seconds)")
	fl.StringVar(&f.action, "action", "", "ACCEPT or REJECT")
	fl.StringVar(&f.src, "src", "", "source address or CIDR")
	fl.StringVar(&f.dst, "dst", "", "destination address or CIDR")
	fl.IntVar(&f.port, "port", 0, "source or destination port")
}

func (f *recordFilter) params() map[string]string {
	p := nonEmpty(map[string]string{
		"FlowLogId": f.flowLog, "EniId": f.eni, "VpcId": f.vpc, "Since": f.since, "Until": f.until,
		"RecordAction": strings.ToUpper(f.action), "SrcAddr": f.src, "DstAddr": f.dst,
	})
	if f.port != 0 {
		p["Port"] = strconv.Itoa(f.port)
	}
	return p
}

func (c *cli) flowlogCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "flowlog",
		Short: "Manage flow logs and query their records",
		Long: `Create, list, change, start, stop and delete flow logs (VPC API 2016-04-28),
and query the records they captured.

A flow log captures the traffic of one ENI, of every ENI of a vSwitch or of
every ENI of a VPC (ENIs created later included): one record per ENI,
direction, 5-tuple and capture window (1, 5 or 10 minutes), with the
decision of the security groups and network ACLs (ACCEPT or REJECT).
Records are kept in the server's data directory (flowlogs.db, pruned after
the server's --flowlog-retention) and can also be written to a file (JSON
lines with the Alibaba field names, or AWS version-2 text lines) and sent to
an IPFIX collector. What capture could not keep up with is counted
(SkippedRecords) and marked SKIPDATA, never silently lost.`,
		Example: `  palisade flowlog create --vpc vpc-xxx --traffic All --interval 1 --ipfix 192.0.2.10:4739
  palisade flowlog records --flow-log-id fl-xxx --since 2026-11-25T10:00:00Z --action REJECT
  palisade flowlog top --by bytes --action REJECT`,
	}

	var (
		eni, vsw, vpc, traffic, name, desc, project, logstore string
		fileSink, fileFormat, ipfix                           string
		interval                                              int
		paths                                                 []string
	)
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a flow log (active at once) and print its ID",
		Long: `Create a flow log on one of --eni, --vswitch or --vpc. --project and
--logstore name the Simple Log Service destination the cloud requires
(validated, 3-63 lowercase letters, digits, - and _); Palisade keeps the
records itself and, with --file or --ipfix, sends them on. --file is a path
on the server and only the admin account may set it: outside the server's
data directory, and a new file, an empty one or one Palisade wrote (the
server refuses to append to anything else).`,
		Example: `  palisade flowlog create --eni eni-xxx --traffic Drop
  palisade flowlog create --vpc vpc-xxx --traffic-path internetGateway
  palisade flowlog create --vswitch vsw-xxx --traffic All --interval 5 --file /var/log/palisade/flows.log --file-format aws-v2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			typ, id, err := flowLogResource(eni, vsw, vpc)
			if err != nil {
				return err
			}
			p := nonEmpty(map[string]string{
				"ResourceType": typ, "ResourceId": id, "TrafficType": traffic, "FlowLogName": name, "Description": desc,
				"ProjectName": project, "LogStoreName": logstore, "FileSink": fileSink, "FileFormat": fileFormat, "IpfixCollector": ipfix,
			})
			if cmd.Flags().Changed("interval") {
				p["AggregationInterval"] = strconv.Itoa(interval) // 0 is refused by the API, not read as the default
			}
			for i, path := range paths {
				p["TrafficPath."+strconv.Itoa(i+1)] = path
			}
			resp, err := c.call(cmd, apiclient.VersionVPC, "CreateFlowLog", p)
			if err != nil {
				return err
			}
			return c.renderID(cmd, resp, "FlowLogId")
		},
	}
	cf := create.Flags()
	cf.StringVar(&eni, "eni", "", "capture this ENI")
	cf.StringVar(&vsw, "vswitch", "", "capture every ENI of this vSwitch")
	cf.StringVar(&vpc, "vpc", "", "capture every ENI of this VPC")
	cf.StringVar(&traffic, "traffic", "All", "traffic to capture: All, Allow or Drop")
	cf.IntVar(&interval, "interval", 0, "capture window in minutes: 1, 5 or 10 (default 10)")
	cf.StringSliceVar(&paths, "traffic-path", nil, "traffic path: all (default) or internetGateway (only traffic with the internet: EIPs, NAT gateways, forward entries)")
	cf.StringVar(&name, "name", "", "flow log name")
	cf.StringVar(&desc, "description", "", "description")
	cf.StringVar(&project, "project", "palisade", "log project name (required by the API)")
	cf.StringVar(&logstore, "logstore", "flowlogs", "log store name (required by the API)")
	cf.StringVar(&fileSink, "file", "", "also append records to this file on the server (admin only)")
	cf.StringVar(&fileFormat, "file-format", "", "file format: alibaba (JSON lines, default) or aws-v2")
	cf.StringVar(&ipfix, "ipfix", "", "also export records to this IPFIX collector (host:port, UDP)")

	flowLogCols := []column{
		field("FlowLogId", "FlowLogId"), field("Name", "FlowLogName"), field("Resource", "ResourceType"),
		field("ResourceId", "ResourceId"), field("Traffic", "TrafficType"), field("Interval", "AggregationInterval"),
		field("Status", "Status"), field("Skipped", "SkippedRecords"), field("Created", "CreationTime"),
	}
	var listVPC, listResource string
	list := &cobra.Command{
		Use:     "list",
		Short:   "List flow logs",
		Example: "  palisade flowlog list --vpc vpc-xxx",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, items, err := c.listAll(cmd, apiclient.VersionVPC, "DescribeFlowLogs",
				nonEmpty(map[string]string{"VpcId": listVPC, "ResourceId": listResource}), "FlowLogs", "FlowLog")
			if err != nil {
				return err
			}
			return c.renderList(cmd, resp, items, flowLogCols)
		},
	}
	list.Flags().StringVar(&listVPC, "vpc", "", "only flow logs of this VPC")
	list.Flags().StringVar(&listResource, "resource", "", "only flow logs of this ENI, vSwitch or VPC")

	show := &cobra.Command{
		Use:     "show FLOW_LOG_ID",
		Short:   "Show a flow log with its sinks and SKIPDATA counter",
		Example: "  palisade flowlog show fl-xxx",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := c.call(cmd, apiclient.VersionVPC, "DescribeFlowLogs", map[string]string{"FlowLogId": args[0]})
			if err != nil {
				return err
			}
			items := objects(resp, "FlowLogs", "FlowLog")
			if len(items) == 0 {
				return fmt.Errorf("InvalidFlowLogId.NotFound: The specified FlowLogId %q does not exist.", args[0])
			}
			return c.render(cmd, items[0], func(w io.Writer) error { return printObject(w, items[0]) })
		},
	}

	var mName, mDesc, mFile, mFormat, mIPFIX string
	var mInterval int
	modify := &cobra.Command{
		Use:   "modify FLOW_LOG_ID",
		Short: "Change a flow log's name, description, window or sinks",
		Long: `Change a flow log's name, description, capture window or sinks. --file none
and --ipfix none remove a sink.`,
		Example: "  palisade flowlog modify fl-xxx --interval 1 --ipfix none",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p := nonEmpty(map[string]string{"FlowLogId": args[0], "FlowLogName": mName, "Description": mDesc,
				"FileSink": mFile, "FileFormat": mFormat, "IpfixCollector": mIPFIX})
			if mInterval != 0 {
				p["AggregationInterval"] = strconv.Itoa(mInterval)
			}
			if len(p) == 1 {
				return fmt.Errorf("nothing to change: give --name, --description, --interval, --file, --file-format or --ipfix")
			}
			resp, err := c.call(cmd, apiclient.VersionVPC, "ModifyFlowLogAttribute", p)
			if err != nil {
				return err
			}
			return c.renderDone(cmd, resp)
		},
	}
	mf := modify.Flags()
	mf.StringVar(&mName, "name", "", "new name")
	mf.StringVar(&mDesc, "description", "", "new description")
	mf.IntVar(&mInterval, "interval", 0, "capture window in minutes: 1, 5 or 10")
	mf.StringVar(&mFile, "file", "", "file sink path on the server (admin only), or none")
	mf.StringVar(&mFormat, "file-format", "", "alibaba or aws-v2")
	mf.StringVar(&mIPFIX, "ipfix", "", "IPFIX collector host:port, or none")

	simple := func(use, short, action string) *cobra.Command {
		return &cobra.Command{
			Use:     use + " FLOW_LOG_ID",
			Short:   short,
			Example: "  palisade flowlog " + use + " fl-xxx",
			Args:    cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				resp, err := c.call(cmd, apiclient.VersionVPC, action, map[string]string{"FlowLogId": args[0]})
				if err != nil {
					return err
				}
				return c.renderDone(cmd, resp)
			},
		}
	}

	var rf recordFilter
	var limit int
	records := &cobra.Command{
		Use:   "records",
		Short: "Query captured flow-log records",
		Example: `  palisade flowlog records --flow-log-id fl-xxx --since 2026-11-25T10:00:00Z
  palisade flowlog records --eni eni-xxx --action REJECT --port 22 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p := rf.params()
			p["MaxResults"] = strconv.Itoa(limit) // the API refuses outside 1-1000
			resp, err := c.call(cmd, apiclient.VersionPalisade, "DescribeFlowLogRecords", p)
			if err != nil {
				return err
			}
			items := objects(resp, "Records", "Record")
			return c.render(cmd, resp, func(w io.Writer) error {
				// FlowLogId tells apart the records of flow logs that cover
				// the same ENI (its own, its vSwitch's, its VPC's), which
				// otherwise look like duplicates.
				h, r := rowsOf(items, []column{
					field("FlowLogId", "flow-log-id"), field("Start", "start"), field("End", "end"), field("ENI", "eni-id"), field("Dir", "direction"),
					field("Src", "srcaddr"), field("SrcPort", "srcport"), field("Dst", "dstaddr"), field("DstPort", "dstport"),
					field("Proto", "protocol"), field("Packets", "packets"), field("Bytes", "bytes"), field("Action", "action"),
					field("Status", "log-status"),
				})
				if err := table(w, h, r); err != nil {
					return err
				}
				_, err := fmt.Fprintf(w, "%d of %s records; %s\n", len(items), str(resp, "TotalCount"), skippedLine(resp))
				return err
			})
		},
	}
	rf.register(records)
	records.Flags().IntVar(&limit, "limit", 100, "at most this many records (oldest first, up to 1000)")

	var tf recordFilter
	var by string
	var topLimit int
	top := &cobra.Command{
		Use:   "top",
		Short: "Rank source addresses by bytes, packets or flows (top talkers, top rejected sources)",
		Long: `Rank source addresses by bytes, packets or flows (top talkers, top rejected
sources). Traffic recorded by several flow logs (an ENI's, its vSwitch's,
its VPC's) counts once, whatever their capture windows. Flows are distinct
flows (ENI, direction, 5-tuple and action), however many windows they span.`,
		Example: `  palisade flowlog top --by bytes
  palisade flowlog top --by flows --action REJECT --since 2026-11-25T10:00:00Z`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p := tf.params()
			p["By"], p["Limit"] = by, strconv.Itoa(topLimit)
			resp, err := c.call(cmd, apiclient.VersionPalisade, "DescribeFlowLogTopTalkers", p)
			if err != nil {
				return err
			}
			return c.renderList(cmd, resp, objects(resp, "TopTalkers", "TopTalker"), []column{
				field("Source", "SrcAddr"), field("Bytes", "Bytes"), field("Packets", "Packets"), field("Flows", "Flows"),
			})
		},
	}
	tf.register(top)
	top.Flags().StringVar(&by, "by", "bytes", "rank by bytes, packets or flows")
	top.Flags().IntVar(&topLimit, "limit", 10, "how many sources")

	cmd.AddCommand(create, list, show, modify,
		simple("activate", "Start a flow log", "ActiveFlowLog"),
		simple("deactivate", "Stop a flow log (the window in progress completes; its records stay)", "DeactiveFlowLog"),
		simple("delete", "Delete a flow log (its records stay, queryable by its ID, until the retention removes them)", "DeleteFlowLog"),
		records, top)
	return cmd
}

// skippedLine says what capture missed (SKIPDATA) in a
// DescribeFlowLogRecords answer: the counter of the flow log queried, or
// each flow log's, never a sum (flow logs over the same ENIs count the
// same misses).
func skippedLine(resp map[string]any) string {
	if v := str(resp, "SkippedRecords"); v != "" {
		return "skipped (SKIPDATA): " + v
	}
	var parts []string
	for _, o := range objects(resp, "SkippedRecordsByFlowLog", "FlowLog") {
		parts = append(parts, str(o, "FlowLogId")+" "+str(o, "SkippedRecords"))
	}
	if len(parts) == 0 {
		return "skipped (SKIPDATA): no flow log in scope"
	}
	return "skipped (SKIPDATA) per flow log: " + strings.Join(parts, ", ")
}

// addFlowLogFlags registers the flow-log server settings of "server" and
// "up".
func addFlowLogFlags(cmd *cobra.Command, scale *int, retention *time.Duration) {
	cmd.Flags().IntVar(scale, "flowlog-window-scale", 1,
		"divide flow-log capture windows by this factor (demos and tests only; 60 makes a 1-minute window 1 second)")
	cmd.Flags().DurationVar(retention, "flowlog-retention", app.DefaultFlowLogRetention, "how long flow-log records are kept")
}
