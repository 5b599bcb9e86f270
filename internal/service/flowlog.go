package service

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/flowlog"
	"github.com/palisade-project/palisade/internal/flowlog/sink"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
)

// Flow logs (VPC 2016-04-28: CreateFlowLog, DescribeFlowLogs,
// ModifyFlowLogAttribute, ActiveFlowLog, DeactiveFlowLog, DeleteFlowLog),
// the records agents report (IngestFlowRecords) and the queries over them.
//
// Decisions where the cloud's documentation is silent:
//   - A flow log is created Active (the cloud creates and starts it).
//   - ActiveFlowLog on an active flow log and DeactiveFlowLog on an inactive
//     one succeed and change nothing (the cloud documents only a rate limit
//     on repeated calls, which a local control plane does not need).
//   - Deleting an ENI deletes the flow logs that cover exactly that ENI (an
//     instance's primary ENI goes with the instance, which must not be
//     blocked by a log). Deleting a vSwitch or a VPC that a flow log covers
//     is refused with DependencyViolation, like any other dependent
//     resource; DeleteVpc with ForceDelete deletes those flow logs too.
//   - ProjectName and LogStoreName are required and validated as the cloud
//     does, but Palisade has no Simple Log Service: records go to the
//     embedded store (always) and to the Palisade sinks of the flow log.
//   - FileSink is a path on the server: only the admin account may set it
//     (a tenant must not make the server append to files of its choice).
//   - DeactiveFlowLog completes the capture window in progress (what was
//     captured while the flow log was active is delivered, and the record
//     unit is the window) and nothing after it: records of windows that
//     begin after the deactivation, which an agent that has not learned of
//     it yet still reports, are dropped on arrival. The cloud documents only
//     that a deactivated flow log no longer captures traffic.
//   - A deleted flow log's records stay (until the retention removes them)
//     and stay queryable by its ID, by its account only: the server keeps a
//     tombstone of the ID for the retention period.
//   - TrafficPath.N: all (everything the ENIs send and receive, the
//     default) and internetGateway (traffic between the ENIs and the
//     internet: the remote end is outside the VPC's CIDR blocks, its
//     peering routes' destinations, the PrivateLink transit range and the
//     link-local, broadcast and multicast blocks; see
//     model.FlowLogInside and flowlog.NewInternetPath). The other paths
//     of the cloud's catalogue (IPv4 gateway, NAT gateway, VPN gateway,
//     transit router, gateway endpoint, VBR, Express Connect router, GWLB
//     endpoint) are OperationUnsupported.TrafficPath (400); a value
//     outside the catalogue is IllegalParam.TrafficPath (400). The paths
//     are a union: all with internetGateway is all (the cloud documents
//     no combination rule). The list is kept as given (canonical
//     spelling, duplicates dropped) and DescribeFlowLogs answers it;
//     ModifyFlowLogAttribute cannot change it (the cloud's request has
//     no TrafficPath). Records of an internetGateway flow log carry
//     trafficPath = internetGateway.

// prefixFlowLogStats + ID -> flowLogStats: counters the server keeps per
// flow log. Not mirrored to agents (they change with every report).
const prefixFlowLogStats = "flowlogstat/"

type flowLogStats struct {
	// Skipped counts the packets or flows capture missed (SKIPDATA).
	Skipped int64 `json:"skipped"`
	// Filtered counts records refused by the flow log's TrafficType or
	// TrafficPath.
	Filtered int64 `json:"filtered"`
	// InactiveSince (Unix seconds, rounded up) is when the flow log was
	// last deactivated, and ActiveSince (rounded down) when it was
	// activated again after that (0: not since): records of windows
	// between them are not taken (see inactiveWindow).
	InactiveSince int64 `json:"inactive_since,omitempty"`
	ActiveSince   int64 `json:"active_since,omitempty"`
}

// inactiveWindow reports whether the capture window [start, end) lies in
// the flow log's last inactive span: it began at or after the
// deactivation and ended by the reactivation (if any). The window in
// progress at the deactivation is not one of them.
func (st *flowLogStats) inactiveWindow(start, end int64) bool {
	return st.InactiveSince > 0 && start >= st.InactiveSince && (st.ActiveSince == 0 || end <= st.ActiveSince)
}

// prefixFlowLogGone + ID -> flowLogGone: a deleted flow log, kept for the
// record retention (its records may live that long) so that its account
// can still query its records by its ID, and only its account. Not
// mirrored to agents.
const prefixFlowLogGone = "flowloggone/"

type flowLogGone struct {
	AccountID     string `json:"account_id"`
	WindowSeconds int    `json:"window_seconds"`
	// VpcID, RegionID and TrafficType let the records of the window in
	// progress at the deletion, reported after it, be taken (empty in
	// tombstones older than these fields: such records are dropped).
	VpcID       string `json:"vpc_id,omitempty"`
	RegionID    string `json:"region_id,omitempty"`
	TrafficType string `json:"traffic_type,omitempty"`
	// TrafficPaths are the flow log's paths: the records of its last
	// window carry its path.
	TrafficPaths []string `json:"traffic_paths,omitempty"`
	// Skipped is the flow log's SKIPDATA counter when it was deleted.
	Skipped   int64 `json:"skipped"`
	DeletedAt int64 `json:"deleted_at"` // Unix seconds
}

// Defaults of flow logs.
const (
	DefaultFlowLogInterval  = 10 // minutes
	DefaultFlowLogsPerAcct  = 100
	maxFlowRecordsPerBatch  = 100000
	maxFlowLogFileSinkChars = 1024
	// FileSinkNone and IPFIXNone clear a sink in ModifyFlowLogAttribute (the
	// SDKs never send an empty parameter).
	FileSinkNone  = "none"
	IPFIXNone     = "none"
	flowLogIDName = "FlowLogId"
)

var slsNameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{1,61}[a-z0-9]$`)

func errFlowLogNotFound(id string) *errs.Error {
	return errs.NotFound("InvalidFlowLogId.NotFound", "The specified FlowLogId %q does not exist.", id)
}

func getFlowLog(tx store.ReadTxn, accountID, id string) (*model.FlowLog, error) {
	return getOwned(tx, model.PrefixFlowLog, flowLogIDName, accountID, id, func(v *model.FlowLog) string { return v.AccountID }, errFlowLogNotFound)
}

// windowSeconds is the capture window agents use for an interval.
func (s *Service) windowSeconds(interval int) int {
	return max(1, interval*60/s.cfg.FlowLogWindowScale)
}

func validateFlowLogText(code, param, v string, maxLen int) error {
	if v == "" {
		return nil
	}
	if len(v) > maxLen || strings.HasPrefix(v, "http://") || strings.HasPrefix(v, "https://") {
		return errs.InvalidParam(code, "The specified %s is not valid: use 1-%d characters, not starting with http:// or https://.", param, maxLen)
	}
	return nil
}

func validateSLSName(param, v string) error {
	if v == "" {
		return errs.MissingParameter(param)
	}
	if !slsNameRe.MatchString(v) {
		return errs.InvalidParam("IllegalParam."+param,
			"The specified %s %q is not valid: use 3-63 lowercase letters, digits, hyphens (-) and underscores (_), starting and ending with a letter or digit.", param, v)
	}
	return nil
}

func parseAggregationInterval(v int) error {
	switch v {
	case 1, 5, 10:
		return nil
	}
	return errs.InvalidParam("IllegalParam.AggregationInterval", "The specified AggregationInterval %d is not valid; use 1, 5 or 10 (minutes).", v)
}

// FlowLogSinks are the Palisade extension parameters of CreateFlowLog and
// ModifyFlowLogAttribute; nil fields are left alone by a modification.
type FlowLogSinks struct {
	FileSink       *string // absolute path, or FileSinkNone
	FileFormat     *string // alibaba | aws-v2
	IPFIXCollector *string // host:port, or IPFIXNone
}

// applySinks validates and applies sinks to fl. admin tells whether the
// caller may set a file sink; dataDir is the server's data directory.
func applySinks(fl *model.FlowLog, in FlowLogSinks, admin bool, dataDir string) error {
	if in.FileSink != nil {
		p := *in.FileSink
		switch {
		case p == FileSinkNone || p == "":
			fl.FileSink = ""
		case !admin:
			return errs.Forbidden("Forbidden.FileSink", "FileSink is a path on the Palisade server: only the admin account may set it.")
		case len(p) > maxFlowLogFileSinkChars || !filepath.IsAbs(p) || strings.ContainsRune(p, 0) || filepath.Clean(p) != p:
			return errs.InvalidParam("IllegalParam.FileSink", "The specified FileSink %q is not valid: use a clean absolute path such as /var/log/palisade/flows.log.", p)
		default:
			if st, err := os.Stat(filepath.Dir(p)); err != nil || !st.IsDir() {
				return errs.InvalidParam("IllegalParam.FileSink", "The directory of FileSink %q does not exist on the server.", p)
			}
			if st, err := os.Stat(p); err == nil && !st.Mode().IsRegular() {
				return errs.InvalidParam("IllegalParam.FileSink", "FileSink %q exists and is not a regular file.", p)
			}
			if err := checkFileSinkTarget(p, dataDir); err != nil {
				return err
			}
			fl.FileSink = p
		}
	}
	if in.FileFormat != nil {
		switch f := strings.ToLower(*in.FileFormat); f {
		case "", sink.FormatAlibaba, sink.FormatAWSv2:
			fl.FileFormat = f
		default:
			return errs.InvalidParam("IllegalParam.FileFormat", "The specified FileFormat %q is not valid; use alibaba or aws-v2.", *in.FileFormat)
		}
	}
	if fl.FileFormat == "" {
		fl.FileFormat = sink.FormatAlibaba
	}
	if in.IPFIXCollector != nil {
		v := *in.IPFIXCollector
		if v == IPFIXNone || v == "" {
			fl.IPFIXCollector = ""
		} else {
			host, port, err := net.SplitHostPort(v)
			n, perr := strconv.Atoi(port)
			if err != nil || host == "" || perr != nil || n < 1 || n > 65535 || strings.ContainsAny(host, "/ ") {
				return errs.InvalidParam("IllegalParam.IpfixCollector",
					"The specified IpfixCollector %q is not valid: use host:port (UDP), for example 192.0.2.10:4739 or [2001:db8::1]:4739.", v)
			}
			if !admin && !tenantCollector(host) {
				// The server and the agents send the datagrams: a tenant
				// must not aim them at their own loopback or link, nor at
				// a name whose address the tenant controls.
				return errs.Forbidden("Forbidden.IpfixCollector",
					"IpfixCollector %q is not allowed: give a unicast IP address (not loopback, link-local, multicast or unspecified); only the admin account may use host names or local addresses.", v)
			}
			fl.IPFIXCollector = v
		}
	}
	return nil
}

// tenantCollector reports whether a non-admin account may send IPFIX to
// host: an IP literal of global or private unicast scope.
func tenantCollector(host string) bool {
	a, err := netip.ParseAddr(host)
	if err != nil || a.Zone() != "" {
		return false
	}
	a = a.Unmap()
	return !a.IsLoopback() && !a.IsUnspecified() && !a.IsLinkLocalUnicast() && !a.IsMulticast() &&
		!a.IsInterfaceLocalMulticast() && a != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

// checkFileSinkTarget refuses a FileSink the server must not append to,
// even for the admin (a typo, or a QA run, must not corrupt the server's
// own database or a system file): a path inside the data directory
// (symbolic links resolved, so another name for it does not pass), and an
// existing file that is not a flow-log file Palisade wrote. An empty file
// and one of Palisade's own (a sink reused after a restart, or shared by
// flow logs) are fine.
func checkFileSinkTarget(p, dataDir string) error {
	resolved, err := resolveSinkPath(p)
	if err != nil {
		return errs.InvalidParam("IllegalParam.FileSink", "FileSink %q cannot be resolved on the server (%v): use a path to a regular file or a new file.", p, err)
	}
	if dataDir != "" {
		dir, err := filepath.Abs(dataDir)
		if err != nil {
			return fmt.Errorf("data directory: %w", err)
		}
		if r, err := filepath.EvalSymlinks(dir); err == nil {
			dir = r
		}
		if rel, err := filepath.Rel(dir, resolved); err == nil && filepath.IsLocal(rel) {
			return errs.InvalidParam("IllegalParam.FileSink",
				"FileSink %q is inside the server's data directory, which holds Palisade's database and credentials: use a path outside it, such as /var/log/palisade/flows.log.", p)
		}
	}
	if err := sink.CheckFile(resolved); errors.Is(err, sink.ErrNotFlowLogFile) {
		return errs.InvalidParam("IllegalParam.FileSink",
			"FileSink %q already exists and is not a Palisade flow-log file: Palisade appends only to a new file, an empty one or one it wrote; use a new path, or empty the file first.", p)
	} else if err != nil {
		return errs.InvalidParam("IllegalParam.FileSink", "FileSink %q cannot be read on the server (%v): use a new path.", p, err)
	}
	return nil
}

// resolveSinkPath returns p with its symbolic links resolved; a file that
// does not exist yet resolves through its directory (which must exist).
func resolveSinkPath(p string) (string, error) {
	if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
		dir, err := filepath.EvalSymlinks(filepath.Dir(p))
		if err != nil {
			return "", err
		}
		return filepath.Join(dir, filepath.Base(p)), nil
	}
	// A dangling symbolic link fails here: opening it would create its
	// target, wherever it points.
	return filepath.EvalSymlinks(p)
}

func isAdmin(tx store.ReadTxn, accountID string) (bool, error) {
	var a model.Account
	ok, err := getJSON(tx, model.PrefixAccount+accountID, &a)
	return ok && a.Admin, err
}

// CreateFlowLogInput is the request of CreateFlowLog.
type CreateFlowLogInput struct {
	Name, Description         string
	ResourceType, ResourceID  string
	TrafficType               string
	ProjectName, LogStoreName string
	AggregationInterval       int // minutes; 0 means the default, 10
	// TrafficPaths are the values of TrafficPath.N (none: all).
	TrafficPaths []string
	Sinks        FlowLogSinks
}

// flowLogPathCatalogue are the cloud's flow-log paths Palisade does not
// capture (OperationUnsupported.TrafficPath), with what each is.
var flowLogPathCatalogue = [...]struct{ name, what string }{
	{"ipv4Gateway", "traffic through an IPv4 gateway"},
	{"natGateway", "traffic through a NAT gateway"},
	{"vpnGateway", "traffic through a VPN gateway"},
	{"transitRouter", "traffic through a transit router"},
	{"gatewayEndpoint", "traffic through a gateway endpoint"},
	{"vbr", "traffic through a virtual border router (VBR)"},
	{"expressConnectRouter", "traffic through an Express Connect router"},
	{"gwlbEndpoint", "traffic through a GWLB endpoint"},
}

// normalizeTrafficPaths validates TrafficPath.N and returns it in the
// canonical spelling (names are taken in any case), duplicates dropped;
// none gives nil (all).
func normalizeTrafficPaths(in []string) ([]string, error) {
	var out []string
	for _, v := range in {
		p := ""
		for _, name := range []string{model.FlowLogPathAll, model.FlowLogPathInternet} {
			if strings.EqualFold(v, name) {
				p = name
			}
		}
		if p == "" {
			for _, c := range flowLogPathCatalogue {
				if strings.EqualFold(v, c.name) {
					return nil, errs.InvalidParam("OperationUnsupported.TrafficPath",
						"The TrafficPath %q (%s) is not supported: Palisade's flow logs capture all (everything the ENI sends and receives) or internetGateway (traffic between the ENI and the internet, through EIPs, NAT gateways and forward entries alike); send one of those.",
						v, c.what)
				}
			}
			return nil, errs.InvalidParam("IllegalParam.TrafficPath", "The specified TrafficPath %q is not valid; use all or internetGateway.", v)
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out, nil
}

func normalizeResourceType(v string) (string, bool) {
	for _, t := range []string{model.FlowLogResourceENI, model.FlowLogResourceVSwitch, model.FlowLogResourceVPC} {
		if strings.EqualFold(v, t) {
			return t, true
		}
	}
	return "", false
}

func normalizeTrafficType(v string) (string, bool) {
	for _, t := range []string{model.FlowLogTrafficAll, model.FlowLogTrafficAllow, model.FlowLogTrafficDrop} {
		if strings.EqualFold(v, t) {
			return t, true
		}
	}
	return "", false
}

// CreateFlowLog creates an active flow log on an ENI, a vSwitch or a VPC of
// the account.
func (s *Service) CreateFlowLog(ctx context.Context, accountID string, in CreateFlowLogInput) (model.FlowLog, error) {
	var out model.FlowLog
	rt, ok := normalizeResourceType(in.ResourceType)
	switch {
	case in.ResourceType == "":
		return out, errs.MissingParameter("ResourceType")
	case !ok:
		return out, errs.InvalidParam("IllegalParam.ResourceType", "The specified ResourceType %q is not valid; use NetworkInterface, VSwitch or VPC.", in.ResourceType)
	case in.ResourceID == "":
		return out, errs.MissingParameter("ResourceId")
	}
	tt, ok := normalizeTrafficType(in.TrafficType)
	switch {
	case in.TrafficType == "":
		return out, errs.MissingParameter("TrafficType")
	case !ok:
		return out, errs.InvalidParam("IllegalParam.TrafficType", "The specified TrafficType %q is not valid; use All, Allow or Drop.", in.TrafficType)
	}
	if err := validateSLSName("ProjectName", in.ProjectName); err != nil {
		return out, err
	}
	if err := validateSLSName("LogStoreName", in.LogStoreName); err != nil {
		return out, err
	}
	if err := validateFlowLogText("IllegalParam.FlowLogName", "FlowLogName", in.Name, 128); err != nil {
		return out, err
	}
	if err := validateFlowLogText("IllegalParam.Description", "Description", in.Description, 256); err != nil {
		return out, err
	}
	if in.AggregationInterval == 0 {
		in.AggregationInterval = DefaultFlowLogInterval
	}
	if err := parseAggregationInterval(in.AggregationInterval); err != nil {
		return out, err
	}
	paths, err := normalizeTrafficPaths(in.TrafficPaths)
	if err != nil {
		return out, err
	}
	_, err = s.update(ctx, func(tx store.Txn) error {
		vpcID, err := flowLogResourceVpc(tx, accountID, rt, in.ResourceID)
		if err != nil {
			return err
		}
		admin, err := isAdmin(tx, accountID)
		if err != nil {
			return err
		}
		out = model.FlowLog{
			ID: NewID("fl"), AccountID: accountID, RegionID: s.cfg.Region, Name: in.Name, Description: in.Description,
			ResourceType: rt, ResourceID: in.ResourceID, VpcID: vpcID, TrafficType: tt,
			AggregationInterval: in.AggregationInterval, WindowSeconds: s.windowSeconds(in.AggregationInterval),
			ProjectName: in.ProjectName, LogStoreName: in.LogStoreName, Status: model.FlowLogActive, CreatedAt: s.stamp(),
			TrafficPaths: paths,
		}
		if err := applySinks(&out, in.Sinks, admin, s.cfg.DataDir); err != nil {
			return err
		}
		n := 0
		if err := listJSON(tx, model.PrefixFlowLog, func(f *model.FlowLog) error {
			if f.AccountID == accountID {
				n++
			}
			return nil
		}); err != nil {
			return err
		}
		if n >= s.flowLogQuota() {
			return errs.Quota("QuotaExceeded.FlowLog", "The account already has %d flow logs, the maximum.", n)
		}
		// Every tombstone was a flow log created once: pruning here too
		// bounds them, however flow logs are deleted (an ENI's deletion).
		if err := s.pruneFlowLogsGone(tx); err != nil {
			return err
		}
		return putJSON(tx, model.PrefixFlowLog+out.ID, &out)
	})
	return out, err
}

func (s *Service) flowLogQuota() int {
	if s.cfg.Quotas.FlowLogsPerAccount > 0 {
		return s.cfg.Quotas.FlowLogsPerAccount
	}
	return DefaultFlowLogsPerAcct
}

// flowLogResourceVpc checks that the resource exists and belongs to the
// account, and returns its VPC.
func flowLogResourceVpc(tx store.ReadTxn, accountID, rt, id string) (string, error) {
	switch rt {
	case model.FlowLogResourceENI:
		e, err := getOwned(tx, model.PrefixENI, "ResourceId", accountID, id, func(v *model.ENI) string { return v.AccountID }, errENINotFound)
		if err != nil {
			return "", err
		}
		return e.VpcID, nil
	case model.FlowLogResourceVSwitch:
		w, err := getVSwitch(tx, accountID, id)
		if err != nil {
			return "", err
		}
		return w.VpcID, nil
	default:
		v, err := getVPC(tx, accountID, id)
		if err != nil {
			return "", err
		}
		return v.ID, nil
	}
}

// FlowLogView is a flow log with its counters.
type FlowLogView struct {
	model.FlowLog
	// SkippedRecords is how many packets or flows capture missed (the
	// SKIPDATA counter, summed over every agent report).
	SkippedRecords int64
}

func flowLogView(tx store.ReadTxn, f *model.FlowLog) (FlowLogView, error) {
	var st flowLogStats
	_, err := getJSON(tx, prefixFlowLogStats+f.ID, &st)
	return FlowLogView{FlowLog: *f, SkippedRecords: st.Skipped}, err
}

// FlowLogFilter selects flow logs in DescribeFlowLogs; empty fields match all.
type FlowLogFilter struct {
	ID, Name, Description, ResourceID, ResourceType, VpcID, TrafficType, Status, ProjectName, LogStoreName string
}

// DescribeFlowLogs lists the account's flow logs, oldest first.
func (s *Service) DescribeFlowLogs(ctx context.Context, accountID string, f FlowLogFilter) ([]FlowLogView, error) {
	var out []FlowLogView
	err := s.view(ctx, func(tx store.ReadTxn) error {
		out = nil
		return listJSON(tx, model.PrefixFlowLog, func(fl *model.FlowLog) error {
			if fl.AccountID != accountID || (f.ID != "" && fl.ID != f.ID) || (f.Name != "" && fl.Name != f.Name) ||
				(f.Description != "" && fl.Description != f.Description) || (f.ResourceID != "" && fl.ResourceID != f.ResourceID) ||
				(f.ResourceType != "" && !strings.EqualFold(fl.ResourceType, f.ResourceType)) || (f.VpcID != "" && fl.VpcID != f.VpcID) ||
				(f.TrafficType != "" && !strings.EqualFold(fl.TrafficType, f.TrafficType)) || (f.Status != "" && !strings.EqualFold(fl.Status, f.Status)) ||
				(f.ProjectName != "" && fl.ProjectName != f.ProjectName) || (f.LogStoreName != "" && fl.LogStoreName != f.LogStoreName) {
				return nil
			}
			v, err := flowLogView(tx, fl)
			if err != nil {
				return err
			}
			out = append(out, v)
			return nil
		})
	})
	sortByCreation(out, func(v FlowLogView) (int64, string) { return v.CreatedAt.UnixNano(), v.ID })
	return out, err
}

// ModifyFlowLogInput is the request of ModifyFlowLogAttribute; nil fields
// stay as they are.
type ModifyFlowLogInput struct {
	Name, Description   *string
	AggregationInterval *int
	Sinks               FlowLogSinks
}

// ModifyFlowLogAttribute changes a flow log's name, description, window
// or sinks.
func (s *Service) ModifyFlowLogAttribute(ctx context.Context, accountID, id string, in ModifyFlowLogInput) error {
	if id == "" {
		return errs.MissingParameter(flowLogIDName)
	}
	if in.Name != nil {
		if err := validateFlowLogText("IllegalParam.FlowLogName", "FlowLogName", *in.Name, 128); err != nil {
			return err
		}
	}
	if in.Description != nil {
		if err := validateFlowLogText("IllegalParam.Description", "Description", *in.Description, 256); err != nil {
			return err
		}
	}
	if in.AggregationInterval != nil {
		if err := parseAggregationInterval(*in.AggregationInterval); err != nil {
			return err
		}
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		fl, err := getFlowLog(tx, accountID, id)
		if err != nil {
			return err
		}
		if in.Name != nil {
			fl.Name = *in.Name
		}
		if in.Description != nil {
			fl.Description = *in.Description
		}
		if in.AggregationInterval != nil {
			fl.AggregationInterval = *in.AggregationInterval
			fl.WindowSeconds = s.windowSeconds(fl.AggregationInterval)
		}
		admin, err := isAdmin(tx, accountID)
		if err != nil {
			return err
		}
		if err := applySinks(fl, in.Sinks, admin, s.cfg.DataDir); err != nil {
			return err
		}
		return putJSON(tx, model.PrefixFlowLog+fl.ID, fl)
	})
	return err
}

// setFlowLogStatus changes a flow log's status and, with it, its last
// inactive span (see flowLogStats.inactiveWindow).
func (s *Service) setFlowLogStatus(ctx context.Context, accountID, id, status string) error {
	_, err := s.update(ctx, func(tx store.Txn) error {
		fl, err := getFlowLog(tx, accountID, id)
		if err != nil || fl.Status == status {
			return err
		}
		fl.Status = status
		var st flowLogStats
		if _, err := getJSON(tx, prefixFlowLogStats+fl.ID, &st); err != nil {
			return err
		}
		now := s.stamp()
		if status == model.FlowLogInactive {
			// Rounded up: a window that began in the second of the
			// deactivation, before it, is still in progress.
			st.InactiveSince, st.ActiveSince = now.Add(time.Second-time.Nanosecond).Unix(), 0
		} else if st.InactiveSince > 0 {
			st.ActiveSince = now.Unix()
		}
		if err := putJSON(tx, prefixFlowLogStats+fl.ID, &st); err != nil {
			return err
		}
		return putJSON(tx, model.PrefixFlowLog+fl.ID, fl)
	})
	return err
}

// ActiveFlowLog starts a flow log (no-op when active).
func (s *Service) ActiveFlowLog(ctx context.Context, accountID, id string) error {
	return s.setFlowLogStatus(ctx, accountID, id, model.FlowLogActive)
}

// DeactiveFlowLog stops a flow log (no-op when inactive); its records stay.
func (s *Service) DeactiveFlowLog(ctx context.Context, accountID, id string) error {
	return s.setFlowLogStatus(ctx, accountID, id, model.FlowLogInactive)
}

// DeleteFlowLog deletes a flow log and its counters; records already
// stored stay until the retention removes them, queryable by the flow
// log's ID (see flowLogGone).
func (s *Service) DeleteFlowLog(ctx context.Context, accountID, id string) error {
	_, err := s.update(ctx, func(tx store.Txn) error {
		fl, err := getFlowLog(tx, accountID, id)
		if err != nil {
			return err
		}
		if err := s.pruneFlowLogsGone(tx); err != nil {
			return err
		}
		return deleteFlowLog(tx, fl, s.stamp())
	})
	return err
}

// deleteFlowLog deletes a flow log and its counters, leaving its tombstone.
func deleteFlowLog(tx store.Txn, fl *model.FlowLog, now time.Time) error {
	var st flowLogStats
	if _, err := getJSON(tx, prefixFlowLogStats+fl.ID, &st); err != nil {
		return err
	}
	gone := flowLogGone{AccountID: fl.AccountID, WindowSeconds: int(flowLogWindow(fl)), Skipped: st.Skipped, DeletedAt: now.Unix(),
		VpcID: fl.VpcID, RegionID: fl.RegionID, TrafficType: fl.TrafficType, TrafficPaths: fl.TrafficPaths}
	if err := putJSON(tx, prefixFlowLogGone+fl.ID, &gone); err != nil {
		return err
	}
	if err := tx.Delete(prefixFlowLogStats + fl.ID); err != nil {
		return err
	}
	return tx.Delete(model.PrefixFlowLog + fl.ID)
}

// pruneFlowLogsGone deletes the tombstones of flow logs deleted longer
// than the record retention (and a window) ago: their records are gone.
// With no retention records, and tombstones, stay.
func (s *Service) pruneFlowLogsGone(tx store.Txn) error {
	if s.cfg.FlowLogRetention <= 0 {
		return nil
	}
	cutoff := s.stamp().Add(-s.cfg.FlowLogRetention).Unix() - sink.MaxWindow
	var old []string
	if err := tx.List(prefixFlowLogGone, func(k string, v []byte) error {
		var g flowLogGone
		if err := json.Unmarshal(v, &g); err != nil || g.DeletedAt < cutoff {
			old = append(old, k)
		}
		return nil
	}); err != nil {
		return err
	}
	for _, k := range old {
		if err := tx.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// ownedFlowLogGone returns the tombstone of the account's deleted flow log
// id, or nil (none, or another account's).
func ownedFlowLogGone(tx store.ReadTxn, accountID, id string) (*flowLogGone, error) {
	var g flowLogGone
	ok, err := getJSON(tx, prefixFlowLogGone+id, &g)
	if err != nil || !ok || g.AccountID != accountID {
		return nil, err
	}
	return &g, nil
}

// flowLogsOn returns the flow logs whose resource is one of ids.
func flowLogsOn(tx store.ReadTxn, ids ...string) ([]*model.FlowLog, error) {
	var out []*model.FlowLog
	err := listJSON(tx, model.PrefixFlowLog, func(f *model.FlowLog) error {
		for _, id := range ids {
			if f.ResourceID == id {
				out = append(out, f)
				break
			}
		}
		return nil
	})
	return out, err
}

// refuseFlowLogsOn is the DependencyViolation of deleting a vSwitch or
// VPC that a flow log covers; hint ends the message (how else to proceed).
func refuseFlowLogsOn(tx store.ReadTxn, hint string, ids ...string) error {
	fls, err := flowLogsOn(tx, ids...)
	if err != nil || len(fls) == 0 {
		return err
	}
	kind := map[string]string{model.FlowLogResourceVPC: "VPC", model.FlowLogResourceVSwitch: "vSwitch", model.FlowLogResourceENI: "ENI"}[fls[0].ResourceType]
	return errs.DependencyViolation("%s %s is covered by flow log %s; delete the flow log first%s.", kind, fls[0].ResourceID, fls[0].ID, hint)
}

// deleteFlowLogsOn deletes the flow logs whose resource is one of ids,
// leaving their tombstones stamped now.
func deleteFlowLogsOn(tx store.Txn, now time.Time, ids ...string) error {
	fls, err := flowLogsOn(tx, ids...)
	if err != nil {
		return err
	}
	for _, f := range fls {
		if err := deleteFlowLog(tx, f, now); err != nil {
			return err
		}
	}
	return nil
}

// ---------------------------------------------------------------------------
// Records

// IngestFlowRecords takes a batch an agent reports (admin caller only):
// records of a flow log deleted while their window was open go to the
// embedded store (the window in progress at a deletion completes, as at a
// deactivation; its file and IPFIX sinks went with the flow log), later
// ones and those of unknown flow logs are dropped; each record gets its
// flow log's account and VPC (agents are not trusted with tenancy) and its
// path (trafficPath); the flow log's TrafficType and TrafficPath are
// applied again as a safety net (an agent older than TrafficPath does not
// filter by path); records go to the embedded store, then to the flow
// log's sinks. Missed counts are added to the flow logs' SKIPDATA
// counters. A sink failure is logged and does not fail the batch: the
// records are in the embedded store, and a retry would store them twice.
// With an agent key (keyZone), every record's ENI must be of that zone
// (missed counts are per flow log, which may span zones).
func (s *Service) IngestFlowRecords(ctx context.Context, callerID, keyZone string, b flowlog.Batch) error {
	if len(b.Records) > maxFlowRecordsPerBatch {
		return errs.InvalidParameter("Batch", "at most %d records per batch, got %d", maxFlowRecordsPerBatch, len(b.Records))
	}
	for id, n := range b.Missed {
		if n < 0 {
			return errs.InvalidParameter("Batch", "missed count of %s is negative (%d)", id, n)
		}
	}
	logs := map[string]*model.FlowLog{}
	gone := map[string]*flowLogGone{}
	stats := map[string]*flowLogStats{}
	paths := map[string]*flowlog.PathFilter{} // flow log -> its path filter (internetGateway only)
	filtered := map[string]int64{}
	err := s.view(ctx, func(tx store.ReadTxn) error {
		if err := requireAdmin(tx, callerID); err != nil {
			return err
		}
		var routes []model.RouteEntry
		routesRead := false
		get := func(id string) error {
			if _, ok := logs[id]; ok {
				return nil
			}
			fl := new(model.FlowLog)
			ok, err := getJSON(tx, model.PrefixFlowLog+id, fl)
			if err != nil || !ok {
				logs[id] = nil
				if err != nil {
					return err
				}
				g := new(flowLogGone)
				if ok, err := getJSON(tx, prefixFlowLogGone+id, g); err != nil {
					return err
				} else if ok && g.VpcID != "" {
					gone[id] = g
				}
				return nil
			}
			st := new(flowLogStats)
			if _, err := getJSON(tx, prefixFlowLogStats+id, st); err != nil {
				return err
			}
			logs[id], stats[id] = fl, st
			if fl.InternetOnly() {
				if !routesRead {
					if err := listJSON(tx, model.PrefixRouteEntry, func(r *model.RouteEntry) error {
						routes = append(routes, *r)
						return nil
					}); err != nil {
						return err
					}
					routesRead = true
				}
				vpc := model.VPC{ID: fl.VpcID}
				if _, err := getJSON(tx, model.PrefixVPC+fl.VpcID, &vpc); err != nil {
					return err
				}
				paths[id] = flowlog.NewInternetPath(model.FlowLogInside(vpc, routes))
			}
			return nil
		}
		checked := map[string]bool{}
		for i := range b.Records {
			if err := get(b.Records[i].FlowLogID); err != nil {
				return err
			}
			// An agent key reports its own zone's ENIs only.
			if eni := b.Records[i].ENIID; keyZone != "" && !checked[eni] {
				if err := eniInZone(tx, keyZone, eni); err != nil {
					return err
				}
				checked[eni] = true
			}
		}
		for id := range b.Missed {
			if err := get(id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if b.ID != "" && s.flowBatches.seen(b.ID) {
		return nil // sent again by an agent that did not know it arrived
	}
	// Records of windows in which the flow log was inactive (an agent
	// learns of a deactivation late) are dropped, not counted: nothing of
	// a deactivated flow log is written after the window in progress.
	kept := b.Records[:0:0]
	for _, r := range b.Records {
		if fl := logs[r.FlowLogID]; fl != nil {
			w := flowLogWindow(fl)
			start := windowStartOf(r.Start, w)
			if stats[fl.ID].inactiveWindow(start, start+w) {
				continue
			}
		}
		kept = append(kept, r)
	}
	b.Records = kept
	admits := func(fl *model.FlowLog, r *flowlog.Record) bool {
		return trafficAdmits(fl.TrafficType, r.Action) && paths[fl.ID].KeepsRecord(r)
	}
	for i := range b.Records {
		r := &b.Records[i]
		if fl := logs[r.FlowLogID]; fl != nil && !admits(fl, r) {
			filtered[fl.ID]++
		}
	}
	// Counters, when there is something to count (rare: agents filter by
	// traffic type themselves and miss records only under overload), in
	// one read-modify-write per flow log. A flow log deleted meanwhile
	// gets no counter.
	touched := map[string]bool{}
	for id, n := range b.Missed {
		if n > 0 && (logs[id] != nil || gone[id] != nil) {
			touched[id] = true
		}
	}
	for id := range filtered {
		touched[id] = true
	}
	if len(touched) > 0 {
		if _, err := s.update(ctx, func(tx store.Txn) error {
			for id := range touched {
				if _, ok, err := tx.Get(model.PrefixFlowLog + id); err != nil {
					return err
				} else if !ok {
					// Deleted: its tombstone keeps the counter.
					var g flowLogGone
					if ok, err := getJSON(tx, prefixFlowLogGone+id, &g); err != nil {
						return err
					} else if ok {
						g.Skipped += b.Missed[id]
						if err := putJSON(tx, prefixFlowLogGone+id, &g); err != nil {
							return err
						}
					}
					continue
				}
				var st flowLogStats
				if _, err := getJSON(tx, prefixFlowLogStats+id, &st); err != nil {
					return err
				}
				st.Skipped += b.Missed[id]
				st.Filtered += filtered[id]
				if err := putJSON(tx, prefixFlowLogStats+id, &st); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
	byLog := map[string][]flowlog.Record{}
	var all []flowlog.Record
	for _, r := range b.Records {
		fl, g := logs[r.FlowLogID], gone[r.FlowLogID]
		switch {
		case fl != nil && admits(fl, &r):
			r.AccountID, r.VpcID, r.Region, r.TrafficPath = fl.AccountID, fl.VpcID, fl.RegionID, recordPath(fl.TrafficPaths)
		case g != nil && windowStartOf(r.Start, int64(g.WindowSeconds)) <= g.DeletedAt && trafficAdmits(g.TrafficType, r.Action):
			// Deleted: the window in progress at the deletion, or an
			// earlier one (embedded store only). Its path's inside
			// blocks may be gone with its VPC: the agent's filter
			// stands.
			r.AccountID, r.VpcID, r.Region, r.TrafficPath = g.AccountID, g.VpcID, g.RegionID, recordPath(g.TrafficPaths)
		default:
			continue
		}
		if r.Version == 0 {
			r.Version = flowlog.Version
		}
		if r.LogStatus == "" {
			r.LogStatus = flowlog.StatusOK
		}
		all = append(all, r)
		if fl != nil {
			byLog[fl.ID] = append(byLog[fl.ID], r)
		}
	}
	if len(all) == 0 {
		s.flowBatches.add(b.ID)
		return nil
	}
	if err := s.flowRecords.Append(ctx, all); err != nil {
		return fmt.Errorf("store flow-log records: %w", err)
	}
	for id, recs := range byLog {
		fl := logs[id]
		t := sink.Target{FilePath: fl.FileSink, FileFormat: fl.FileFormat, IPFIXCollector: fl.IPFIXCollector}
		if err := s.flowSinks.Write(t, recs); err != nil {
			s.log.Warn("flow-log sink", "flow_log", id, "records", len(recs), "err", err)
		}
	}
	s.flowBatches.add(b.ID)
	return nil
}

// recordPath is the trafficPath of the records of a flow log with paths:
// the path it captures when it captures one only.
func recordPath(paths []string) string {
	if (&model.FlowLog{TrafficPaths: paths}).InternetOnly() {
		return model.FlowLogPathInternet
	}
	return ""
}

// flowLogWindow is the capture window of a flow log in seconds, as agents
// take it: WindowSeconds, else the aggregation interval.
func flowLogWindow(fl *model.FlowLog) int64 {
	if fl.WindowSeconds > 0 {
		return int64(fl.WindowSeconds)
	}
	return max(int64(fl.AggregationInterval)*60, 1)
}

// windowStartOf is the start of the capture window of length w containing
// the Unix time t (windows are aligned to multiples of w, as agents align
// them).
func windowStartOf(t, w int64) int64 {
	s := t - t%w
	if t < 0 && t%w != 0 {
		s -= w
	}
	return s
}

// trafficAdmits reports whether a record with action belongs in a flow
// log of traffic type tt. Records without an action (NODATA, SKIPDATA)
// belong everywhere.
func trafficAdmits(tt, action string) bool {
	switch {
	case action == "":
		return true
	case tt == model.FlowLogTrafficAllow:
		return action == flowlog.ActionAccept
	case tt == model.FlowLogTrafficDrop:
		return action == flowlog.ActionReject
	}
	return true
}

// FlowRecordQuery selects records in DescribeFlowLogRecords and
// DescribeFlowLogTopTalkers. Since and Until are Unix seconds (0: open).
type FlowRecordQuery struct {
	FlowLogID, ENIID, VpcID string
	Since, Until            int64
	Action                  string // ACCEPT | REJECT (case-insensitive)
	Src, Dst                string // address or CIDR
	Port                    int
}

func parseAddrOrPrefix(param, v string) (netip.Prefix, error) {
	if v == "" {
		return netip.Prefix{}, nil
	}
	if a, err := netip.ParseAddr(v); err == nil {
		return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
	}
	p, err := netip.ParsePrefix(v)
	if err != nil {
		return p, errs.InvalidParam("IllegalParam."+param, "The specified %s %q is not an IP address or a CIDR block.", param, v)
	}
	return p.Masked(), nil
}

func (q FlowRecordQuery) toSink(accountID string) (sink.Query, error) {
	out := sink.Query{AccountID: accountID, FlowLogID: q.FlowLogID, ENIID: q.ENIID, VpcID: q.VpcID, Since: q.Since, Until: q.Until, Port: q.Port}
	switch a := strings.ToUpper(q.Action); a {
	case "", flowlog.ActionAccept, flowlog.ActionReject:
		out.Action = a
	default:
		return out, errs.InvalidParam("IllegalParam.Action", "The specified Action %q is not valid; use ACCEPT or REJECT.", q.Action)
	}
	if q.Port < 0 || q.Port > 65535 {
		return out, errs.InvalidParam("IllegalParam.Port", "The specified Port %d is not valid; use 1-65535.", q.Port)
	}
	if q.Until > 0 && q.Since > q.Until {
		return out, errs.InvalidParam("IllegalParam.TimeRange", "Since (%d) is after Until (%d).", q.Since, q.Until)
	}
	var err error
	if out.Src, err = parseAddrOrPrefix("SrcAddr", q.Src); err != nil {
		return out, err
	}
	if out.Dst, err = parseAddrOrPrefix("DstAddr", q.Dst); err != nil {
		return out, err
	}
	return out, nil
}

// checkFlowLogOwned answers InvalidFlowLogId.NotFound for a flow log ID
// that is not the account's, live or deleted (another account's, or none),
// so queries cannot probe other accounts' IDs; the records of a deleted
// flow log stay queryable by its ID.
func (s *Service) checkFlowLogOwned(ctx context.Context, accountID, id string) error {
	if id == "" {
		return nil
	}
	return s.view(ctx, func(tx store.ReadTxn) error {
		_, err := getFlowLog(tx, accountID, id)
		if !errs.HasCode(err, "InvalidFlowLogId.NotFound") {
			return err
		}
		if g, gerr := ownedFlowLogGone(tx, accountID, id); gerr != nil {
			return gerr
		} else if g != nil {
			return nil
		}
		return err
	})
}

// FlowLogSkipped is the SKIPDATA counter of one flow log.
type FlowLogSkipped struct {
	FlowLogID      string
	SkippedRecords int64
}

// FlowRecordsResult is the answer of DescribeFlowLogRecords.
type FlowRecordsResult struct {
	Records []flowlog.Record // oldest first
	// Skipped holds the SKIPDATA counter of each flow log in scope (the
	// one of FlowLogId, else those with records in the answer), by ID,
	// deleted ones included. The counters are per flow log and are not
	// summed: what capture missed on an ENI counts in every flow log
	// covering it (its own, its vSwitch's, its VPC's), and a miss capture
	// cannot pin on an ENI counts in every flow log of the VPC.
	Skipped []FlowLogSkipped
}

// DescribeFlowLogRecords returns the account's records that match q.
func (s *Service) DescribeFlowLogRecords(ctx context.Context, accountID string, q FlowRecordQuery) (FlowRecordsResult, error) {
	var res FlowRecordsResult
	recs, infos, err := s.queryFlowRecords(ctx, accountID, q)
	if err != nil {
		return res, err
	}
	res.Records = recs
	for id, in := range infos {
		res.Skipped = append(res.Skipped, FlowLogSkipped{FlowLogID: id, SkippedRecords: in.skipped})
	}
	sort.Slice(res.Skipped, func(i, j int) bool { return res.Skipped[i].FlowLogID < res.Skipped[j].FlowLogID })
	return res, nil
}

// queryFlowRecords returns the account's records that match q, and the
// flow logs in scope: the one of q.FlowLogID, and those of the records.
func (s *Service) queryFlowRecords(ctx context.Context, accountID string, q FlowRecordQuery) ([]flowlog.Record, map[string]flowLogInfo, error) {
	sq, err := q.toSink(accountID)
	if err != nil {
		return nil, nil, err
	}
	if err := s.checkFlowLogOwned(ctx, accountID, q.FlowLogID); err != nil {
		// A flow log deleted without a tombstone (before tombstones, or
		// one pruned a little before its last records) is still the
		// account's if its records say so: the store answers for the
		// account's records only, so this tells nothing of others'.
		own, qerr := s.flowRecords.Query(ctx, sink.Query{AccountID: accountID, FlowLogID: q.FlowLogID, Limit: 1})
		if qerr != nil {
			return nil, nil, fmt.Errorf("query flow-log records: %w", qerr)
		}
		if len(own) == 0 {
			return nil, nil, err
		}
	}
	recs, err := s.flowRecords.Query(ctx, sq)
	if err != nil {
		return nil, nil, fmt.Errorf("query flow-log records: %w", err)
	}
	ids := map[string]bool{}
	if q.FlowLogID != "" {
		ids[q.FlowLogID] = true
	}
	for i := range recs {
		ids[recs[i].FlowLogID] = true
	}
	infos, err := s.flowLogInfos(ctx, accountID, ids)
	return recs, infos, err
}

// flowLogInfo is what a query needs of a flow log, live or deleted.
type flowLogInfo struct {
	window  int64 // capture window, seconds
	skipped int64 // SKIPDATA counter
}

// flowLogInfos returns the window and counter of the account's flow logs
// among ids, live or deleted (IDs of other accounts are left out).
func (s *Service) flowLogInfos(ctx context.Context, accountID string, ids map[string]bool) (map[string]flowLogInfo, error) {
	out := map[string]flowLogInfo{}
	err := s.view(ctx, func(tx store.ReadTxn) error {
		clear(out)
		for id := range ids {
			var fl model.FlowLog
			ok, err := getJSON(tx, model.PrefixFlowLog+id, &fl)
			if err != nil {
				return err
			}
			if ok {
				if fl.AccountID != accountID {
					continue
				}
				var st flowLogStats
				if _, err := getJSON(tx, prefixFlowLogStats+id, &st); err != nil {
					return err
				}
				out[id] = flowLogInfo{window: flowLogWindow(&fl), skipped: st.Skipped}
				continue
			}
			g, err := ownedFlowLogGone(tx, accountID, id)
			if err != nil {
				return err
			}
			if g != nil {
				out[id] = flowLogInfo{window: int64(g.WindowSeconds), skipped: g.Skipped}
			}
		}
		return nil
	})
	return out, err
}

// Top-talker orderings.
const (
	TopByBytes   = "bytes"
	TopByPackets = "packets"
	TopByFlows   = "flows"
)

// TopTalker is one source address with its traffic in the query's scope.
type TopTalker struct {
	SrcAddr string
	Bytes   uint64
	Packets uint64
	// Flows counts distinct flows: ENI, direction, 5-tuple and action,
	// however many windows and flow logs recorded them (see
	// distinctTraffic).
	Flows int64
}

// DescribeFlowLogTopTalkers ranks the source addresses of the matching
// records by bytes, packets or flows, largest first; with Action REJECT it
// gives the top rejected sources. Traffic recorded by several flow logs
// (an ENI's, its vSwitch's, its VPC's), whatever their windows, counts
// once.
func (s *Service) DescribeFlowLogTopTalkers(ctx context.Context, accountID string, q FlowRecordQuery, by string, limit int) ([]TopTalker, error) {
	by = strings.ToLower(by)
	switch by {
	case "":
		by = TopByBytes
	case TopByBytes, TopByPackets, TopByFlows:
	default:
		return nil, errs.InvalidParam("IllegalParam.By", "The specified By %q is not valid; use bytes, packets or flows.", by)
	}
	recs, infos, err := s.queryFlowRecords(ctx, accountID, q)
	if err != nil {
		return nil, err
	}
	agg := map[string]*TopTalker{}
	for k, c := range distinctTraffic(recs, func(id string) int64 { return infos[id].window }) {
		t := agg[k.src]
		if t == nil {
			t = &TopTalker{SrcAddr: k.src}
			agg[k.src] = t
		}
		t.Bytes += c.bytes
		t.Packets += c.packets
		t.Flows++
	}
	out := make([]TopTalker, 0, len(agg))
	for _, t := range agg {
		out = append(out, *t)
	}
	key := func(t TopTalker) uint64 {
		switch by {
		case TopByPackets:
			return t.Packets
		case TopByFlows:
			return uint64(t.Flows)
		}
		return t.Bytes
	}
	sort.Slice(out, func(i, j int) bool {
		if ki, kj := key(out[i]), key(out[j]); ki != kj {
			return ki > kj
		}
		return out[i].SrcAddr < out[j].SrcAddr
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// flowKey identifies a flow independently of the flow logs and windows
// that recorded it: ENI, direction, 5-tuple and action.
type flowKey struct {
	eni, dir, action string
	src, dst         string
	srcPort, dstPort int
	proto            int
}

type trafficCount struct {
	bytes, packets uint64
}

// flowSpan is one record's share of a flow: its flow log, its capture window
// [start, end) and its counts.
type flowSpan struct {
	log        string
	start, end int64
	trafficCount
}

// distinctTraffic counts the traffic of each flow of recs once. The flow
// logs of an ENI, of its vSwitch and of its VPC each record the same
// traffic, rightly (each flow log has its records), possibly in windows
// of other lengths (1, 5 or 10 minutes), but a ranking over several of
// them must not count it once per flow log. So a flow's records are
// grouped by their capture windows (window reports the window length of a
// flow log, 0 if unknown): records whose windows overlap, chained, cover
// one stretch of time; in a stretch each flow log's records add up (its
// windows, and a window reported in parts) and the largest of the flow
// logs' sums is taken (a flow log activated or deactivated in the middle
// of the stretch saw only part of it); the stretches add up. Records
// without a source address (NODATA, SKIPDATA) are left out.
func distinctTraffic(recs []flowlog.Record, window func(flowLogID string) int64) map[flowKey]trafficCount {
	spans := map[flowKey][]flowSpan{}
	for i := range recs {
		r := &recs[i]
		if r.SrcAddr == "" {
			continue
		}
		k := flowKey{eni: r.ENIID, dir: r.Direction, action: r.Action, src: r.SrcAddr, dst: r.DstAddr,
			srcPort: r.SrcPort, dstPort: r.DstPort, proto: r.Protocol}
		sp := flowSpan{log: r.FlowLogID, start: r.Start, end: max(r.End, r.Start+1), trafficCount: trafficCount{r.Bytes, r.Packets}}
		if w := window(r.FlowLogID); w > 0 {
			// A record lies within its window; one made before the
			// flow log's window changed may not fit the current one.
			ws := windowStartOf(r.Start, w)
			sp.start, sp.end = ws, max(ws+w, sp.end)
		}
		spans[k] = append(spans[k], sp)
	}
	out := make(map[flowKey]trafficCount, len(spans))
	for k, ss := range spans {
		slices.SortFunc(ss, func(a, b flowSpan) int { return cmp.Compare(a.start, b.start) })
		var total trafficCount
		for i := 0; i < len(ss); {
			perLog := map[string]trafficCount{}
			end := ss[i].end
			for ; i < len(ss) && ss[i].start < end; i++ {
				end = max(end, ss[i].end)
				c := perLog[ss[i].log]
				c.bytes += ss[i].bytes
				c.packets += ss[i].packets
				perLog[ss[i].log] = c
			}
			var m trafficCount
			for _, c := range perLog {
				m.bytes, m.packets = max(m.bytes, c.bytes), max(m.packets, c.packets)
			}
			total.bytes += m.bytes
			total.packets += m.packets
		}
		out[k] = total
	}
	return out
}

// ReconcileFlowLogWindows rewrites the WindowSeconds of every flow log for
// this server's window scale (the app calls it at start: a flow log
// created under a demo scale must not keep its short window after a
// restart without it).
func (s *Service) ReconcileFlowLogWindows(ctx context.Context) error {
	_, err := s.update(ctx, func(tx store.Txn) error {
		var stale []*model.FlowLog
		if err := listJSON(tx, model.PrefixFlowLog, func(f *model.FlowLog) error {
			if w := s.windowSeconds(f.AggregationInterval); f.WindowSeconds != w {
				f.WindowSeconds = w
				stale = append(stale, f)
			}
			return nil
		}); err != nil {
			return err
		}
		for _, f := range stale {
			if err := putJSON(tx, model.PrefixFlowLog+f.ID, f); err != nil {
				return err
			}
		}
		return nil
	})
	return err
}

// CloseFlowLogs closes the flow-log record store and sinks (the app calls
// it on shutdown).
func (s *Service) CloseFlowLogs() error {
	return errors.Join(s.flowSinks.Close(), s.flowRecords.Close())
}

// recentIDs is a bounded set of recently seen IDs (oldest forgotten first),
// safe for concurrent use. It lives in memory: a server restart forgets it,
// which only matters if an agent's crash-resend meets it.
type recentIDs struct {
	mu    sync.Mutex
	max   int
	ids   map[string]struct{}
	order []string
}

func newRecentIDs(max int) *recentIDs {
	return &recentIDs{max: max, ids: map[string]struct{}{}}
}

func (r *recentIDs) seen(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.ids[id]
	return ok
}

func (r *recentIDs) add(id string) {
	if id == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.ids[id]; ok {
		return
	}
	r.ids[id] = struct{}{}
	r.order = append(r.order, id)
	if len(r.order) > r.max {
		delete(r.ids, r.order[0])
		r.order = r.order[1:]
	}
}
