package service

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
)

// Anti-DDoS Basic (antiddos-public 2017-05-18), the control plane of the
// protection every EIP has without asking: what the agents measured
// (scrubbing and blackhole events), the scrubbing thresholds users may
// lower, and the operator's settings the agents apply.
//
// Decisions:
//   - The agents decide everything (when scrubbing starts and ends, when a
//     blackhole starts and is lifted); the server stores what they report
//     (ReportDDoSEvents) and derives statuses from it. It sets each event's
//     AccountID and EipID from the EIP that holds the address at the time
//     of the report: agents are not trusted with tenancy.
//   - The protected objects are the EIPs. InstanceType ecs lists the ECS
//     instances an EIP maps to (through its ENI: an EIP associated with the
//     instance, or with an ENI attached to it), InstanceId i-...; eip lists
//     every EIP, InstanceId eip-.... The other types of the cloud (slb,
//     ipv6, swas, waf, ga_basic) are valid and have nothing; anything else
//     is InvalidParameter.
//   - An IP's status is blackhole while one of its blackhole events is
//     open (model.DDoSEvent.Open), else defense while a defense event is,
//     else normal; an instance's is the worst of its IPs'. Only the events
//     of the current EIP count (same EipID and account): an address that
//     changed hands carries none of its past owner's events.
//   - Scrubbing threshold: the manual one (model.DDoSThresholdKey, per
//     account and address) or DefaultDDoSThreshold of the EIP's bandwidth,
//     which is also the maximum: a manual threshold is 1..MaxBps Mbit/s
//     and 1..MaxPps packets/s, both given together; IsAuto deletes it.
//     Releasing an EIP deletes its manual threshold (eip.go). The
//     blackhole threshold is the operator's (model.DDoSConfig), the same
//     for every IP, and cannot be changed through the API.
//   - Anti-DDoS Basic blackholes cannot be lifted by hand (ModifyDdosStatus
//     is refused, after the IP was checked to be the caller's): they end
//     BlackholeSeconds after the attack was last seen.
//   - Events: at most DDoSEventsPerIP per address; past that the oldest
//     that are over go. DescribeDdosEventList lists newest first those that
//     overlap the last QueryDays days.
//   - One account never sees another's IPs, thresholds or events: another
//     account's instance or IP is reported as not found.
//
// Error codes (HTTP status):
//   - MissingParameter (400), InvalidParameter (400).
//   - InvalidInstanceId.NotFound (404): no such ECS instance with an EIP,
//     or EIP, of the caller. InvalidInternetIp.NotFound (404): the IP is
//     not one of that instance's.
//   - OperationDenied (403): ModifyDdosStatus.
//   - Agents: Forbidden.NotAdmin, Forbidden.AgentZone (403),
//     InvalidInternetIp.NotFound (404) for an event of an address that is
//     no EIP.

// Bounds of the Anti-DDoS event store.
const (
	// DDoSEventsPerIP is how many events are kept per address.
	DDoSEventsPerIP = 200
	// DDoSEventsPerReport bounds one ReportDDoSEvents call.
	DDoSEventsPerReport = 1000
)

// Anti-DDoS instance types (InstanceType).
const (
	DDoSTypeECS = "ecs"
	DDoSTypeEIP = "eip"
)

// ddosOtherTypes are the cloud's other instance types: valid, and
// Palisade has none of them.
var ddosOtherTypes = []string{"slb", "ipv6", "swas", "waf", "ga_basic"}

// ParseDDoSInstanceType checks an InstanceType (case-insensitive).
func ParseDDoSInstanceType(v string) (string, error) {
	t := strings.ToLower(strings.TrimSpace(v))
	switch {
	case t == "":
		return "", errs.MissingParameter("InstanceType")
	case t == DDoSTypeECS || t == DDoSTypeEIP || slices.Contains(ddosOtherTypes, t):
		return t, nil
	}
	return "", errs.InvalidParameter("InstanceType", "%q is not an instance type: use ecs (ECS instances with an EIP) or eip (EIPs); slb, ipv6, swas, waf and ga_basic have no instances here", v)
}

// ParseDDoSStatus checks a status filter: normal, defense or blackhole
// ("" for none).
func ParseDDoSStatus(param, v string) (string, error) {
	switch s := strings.ToLower(strings.TrimSpace(v)); s {
	case "", model.DDoSNormal, model.DDoSDefense, model.DDoSBlackhole:
		return s, nil
	}
	return "", errs.InvalidParameter(param, "%q is not a status: use normal, defense (scrubbing) or blackhole", v)
}

func errDDoSInstanceNotFound(typ, id string) *errs.Error {
	what := "an ECS instance with an EIP"
	if typ == DDoSTypeEIP {
		what = "an EIP"
	} else if typ != DDoSTypeECS {
		what = "an instance of type " + typ
	}
	return errs.NotFound("InvalidInstanceId.NotFound",
		"The specified InstanceId %q is not %s of your account: DescribeInstanceIpAddress lists them (InstanceType ecs: i-..., eip: eip-...).", id, what)
}

func errDDoSIPNotFound(ip, instanceID string) *errs.Error {
	return errs.NotFound("InvalidInternetIp.NotFound",
		"The specified InternetIp %q is not a public IP of %s: DescribeInstanceIpAddress lists the IPs of each instance.", ip, instanceID)
}

// DDoSConfig returns the operator's Anti-DDoS configuration in force.
func (s *Service) DDoSConfig() model.DDoSConfig { return s.cfg.DDoS }

// EnsureDDoSConfig writes the operator's configuration at
// model.KeyDDoSConfig, where the agents read it, unless it is there
// already (the server calls it at start).
func (s *Service) EnsureDDoSConfig(ctx context.Context) error {
	want, err := json.Marshal(s.cfg.DDoS)
	if err != nil {
		return err
	}
	_, err = s.update(ctx, func(tx store.Txn) error {
		have, ok, err := tx.Get(model.KeyDDoSConfig)
		if err != nil || ok && bytes.Equal(have, want) {
			return err
		}
		return tx.Put(model.KeyDDoSConfig, want)
	})
	return err
}

// DDoSIP is one protected public IP as the Anti-DDoS actions show it.
type DDoSIP struct {
	EIP model.EIP
	// InstanceID and InstanceName: the ECS instance the EIP maps to
	// (through its ENI); empty when none.
	InstanceID   string
	InstanceName string
	Status       string // model.DDoSNormal, DDoSDefense or DDoSBlackhole
	// UnBlackholeAt is when the open blackhole ends (zero: none).
	UnBlackholeAt time.Time
	// Bps (Mbit/s) and Pps are the scrubbing threshold in force; MaxBps
	// and MaxPps the default of the EIP's bandwidth, the highest allowed.
	Bps, Pps       int
	MaxBps, MaxPps int
	Auto           bool // no manual threshold: the default applies
	BlackholeMbps  int
}

// DDoSInstance is an instance (an ECS instance or an EIP) with its IPs.
type DDoSInstance struct {
	ID, Type, Name string
	Status         string // the worst of its IPs' statuses
	IPs            []DDoSIP
	created        time.Time
}

// ddosRank orders statuses from best to worst.
var ddosRank = map[string]int{model.DDoSNormal: 0, model.DDoSDefense: 1, model.DDoSBlackhole: 2}

func worseDDoS(a, b string) string {
	if ddosRank[b] > ddosRank[a] {
		return b
	}
	return a
}

// eipDDoSEvents returns the events of the EIP e (of its address while e
// held it).
func eipDDoSEvents(tx store.ReadTxn, e *model.EIP) ([]model.DDoSEvent, error) {
	var out []model.DDoSEvent
	err := listJSON(tx, model.PrefixDDoSEvent+e.Address.String()+"/", func(ev *model.DDoSEvent) error {
		if ev.EipID == e.ID && ev.AccountID == e.AccountID {
			out = append(out, *ev)
		}
		return nil
	})
	return out, err
}

// ddosStatus derives an IP's status at now from its events, and when the
// open blackhole (if any) ends.
func ddosStatus(events []model.DDoSEvent, now time.Time) (string, time.Time) {
	st, until := model.DDoSNormal, time.Time{}
	for _, ev := range events {
		if !ev.Open(now) {
			continue
		}
		st = worseDDoS(st, ev.Type)
		if ev.Type == model.DDoSBlackhole && ev.UnBlackholeAt.After(until) {
			until = ev.UnBlackholeAt
		}
	}
	return st, until
}

// ddosIPs returns every EIP of the account with its status and
// thresholds, oldest first.
func (s *Service) ddosIPs(tx store.ReadTxn, accountID string, now time.Time) ([]DDoSIP, error) {
	var out []DDoSIP
	err := listJSON(tx, model.PrefixEIP, func(e *model.EIP) error {
		if e.AccountID != accountID {
			return nil
		}
		d := DDoSIP{EIP: *e, BlackholeMbps: s.cfg.DDoS.BlackholeMbps, Auto: true}
		if e.InstanceType == model.EIPInstanceNat {
			d.InstanceID = e.InstanceID // the NAT gateway
		}
		if e.ENIID != "" {
			var eni model.ENI
			if ok, err := getJSON(tx, model.PrefixENI+e.ENIID, &eni); err != nil {
				return err
			} else if ok && eni.AccountID == accountID && eni.InstanceID != "" {
				var in model.Instance
				if ok, err := getJSON(tx, model.PrefixInstance+eni.InstanceID, &in); err != nil {
					return err
				} else if ok && in.AccountID == accountID {
					d.InstanceID, d.InstanceName = in.ID, in.Name
				}
			}
		}
		events, err := eipDDoSEvents(tx, e)
		if err != nil {
			return err
		}
		d.Status, d.UnBlackholeAt = ddosStatus(events, now)
		d.MaxBps, d.MaxPps = model.EIPDDoSThreshold(*e)
		d.Bps, d.Pps = d.MaxBps, d.MaxPps
		var thr model.DDoSThreshold
		if ok, err := getJSON(tx, model.DDoSThresholdKey(accountID, e.Address), &thr); err != nil {
			return err
		} else if ok {
			d.Bps, d.Pps, d.Auto = thr.Bps, thr.Pps, false
		}
		out = append(out, d)
		return nil
	})
	sortByCreation(out, func(d DDoSIP) (int64, string) { return d.EIP.CreatedAt.UnixNano(), d.EIP.ID })
	return out, err
}

// ddosInstances groups the account's IPs into instances of type typ.
func (s *Service) ddosInstances(tx store.ReadTxn, accountID, typ string, now time.Time) ([]DDoSInstance, error) {
	if typ != DDoSTypeECS && typ != DDoSTypeEIP {
		return nil, nil
	}
	ips, err := s.ddosIPs(tx, accountID, now)
	if err != nil {
		return nil, err
	}
	var out []DDoSInstance
	at := map[string]int{} // instance ID -> index in out
	for _, d := range ips {
		inst := DDoSInstance{ID: d.EIP.ID, Type: typ, Name: d.EIP.Name, created: d.EIP.CreatedAt}
		if typ == DDoSTypeECS {
			if d.InstanceID == "" {
				continue
			}
			if i, seen := at[d.InstanceID]; seen {
				out[i].IPs = append(out[i].IPs, d)
				out[i].Status = worseDDoS(out[i].Status, d.Status)
				continue
			}
			var in model.Instance
			if _, err := getJSON(tx, model.PrefixInstance+d.InstanceID, &in); err != nil {
				return nil, err
			}
			inst = DDoSInstance{ID: d.InstanceID, Type: typ, Name: d.InstanceName, created: in.CreatedAt}
		}
		inst.IPs, inst.Status = []DDoSIP{d}, d.Status
		at[inst.ID] = len(out)
		out = append(out, inst)
	}
	sortByCreation(out, func(i DDoSInstance) (int64, string) { return i.created.UnixNano(), i.ID })
	return out, nil
}

// DDoSQuery selects instances in DescribeInstanceIpAddress and
// DescribeInstance; empty fields match all.
type DDoSQuery struct {
	Type       string // required: ecs, eip, or another valid type (none)
	InstanceID string // exact
	Name       string // a substring of the instance's name
	IP         string // exact: only that IP is shown
	Status     string // normal, defense or blackhole: only IPs in it are shown
}

// DescribeDDoSInstances lists the caller's instances of q.Type, oldest
// first, with their IPs. The IP and status filters select IPs: an
// instance is listed with those of its IPs that match (its Status is
// still that of all its IPs), and not at all when none does.
func (s *Service) DescribeDDoSInstances(ctx context.Context, accountID string, q DDoSQuery) ([]DDoSInstance, error) {
	typ, err := ParseDDoSInstanceType(q.Type)
	if err != nil {
		return nil, err
	}
	status, err := ParseDDoSStatus("DdosStatus", q.Status)
	if err != nil {
		return nil, err
	}
	var ip netip.Addr
	if q.IP != "" {
		if ip, err = netip.ParseAddr(strings.TrimSpace(q.IP)); err != nil {
			return nil, errs.InvalidParameter("InstanceIp", "%q is not an IP address", q.IP)
		}
	}
	var all []DDoSInstance
	err = s.view(ctx, func(tx store.ReadTxn) error {
		all, err = s.ddosInstances(tx, accountID, typ, s.cfg.Now())
		return err
	})
	if err != nil {
		return nil, err
	}
	out := []DDoSInstance{}
	for _, inst := range all {
		if q.InstanceID != "" && inst.ID != q.InstanceID || q.Name != "" && !strings.Contains(inst.Name, q.Name) {
			continue
		}
		var ips []DDoSIP
		for _, d := range inst.IPs {
			if (!ip.IsValid() || d.EIP.Address == ip) && (status == "" || d.Status == status) {
				ips = append(ips, d)
			}
		}
		if len(ips) > 0 {
			inst.IPs = ips
			out = append(out, inst)
		}
	}
	return out, nil
}

// DDoSCount counts the caller's instances of typ: all, those whose worst
// status is defense, and those whose worst status is blackhole.
func (s *Service) DDoSCount(ctx context.Context, accountID, typ string) (total, defense, blackhole int, err error) {
	list, err := s.DescribeDDoSInstances(ctx, accountID, DDoSQuery{Type: typ})
	if err != nil {
		return 0, 0, 0, err
	}
	for _, inst := range list {
		switch inst.Status {
		case model.DDoSDefense:
			defense++
		case model.DDoSBlackhole:
			blackhole++
		}
	}
	return len(list), defense, blackhole, nil
}

// ddosTargets returns the IPs of the caller's instance instanceID (of
// type typ; "" infers it from the ID: eip-... is an EIP, anything else an
// ECS instance), or only ip when given.
func (s *Service) ddosTargets(tx store.ReadTxn, accountID, typ, instanceID, ip string, now time.Time) ([]DDoSIP, error) {
	if instanceID == "" {
		return nil, errs.MissingParameter("InstanceId")
	}
	if typ == "" {
		typ = DDoSTypeECS
		if strings.HasPrefix(instanceID, "eip-") {
			typ = DDoSTypeEIP
		}
	} else {
		var err error
		if typ, err = ParseDDoSInstanceType(typ); err != nil {
			return nil, err
		}
	}
	var addr netip.Addr
	if ip != "" {
		var err error
		if addr, err = netip.ParseAddr(strings.TrimSpace(ip)); err != nil {
			return nil, errs.InvalidParameter("InternetIp", "%q is not an IP address", ip)
		}
	}
	list, err := s.ddosInstances(tx, accountID, typ, now)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(list, func(in DDoSInstance) bool { return in.ID == instanceID })
	if i < 0 {
		return nil, errDDoSInstanceNotFound(typ, instanceID)
	}
	ips := list[i].IPs
	if addr.IsValid() {
		j := slices.IndexFunc(ips, func(d DDoSIP) bool { return d.EIP.Address == addr })
		if j < 0 {
			return nil, errDDoSIPNotFound(ip, instanceID)
		}
		ips = ips[j : j+1]
	}
	return ips, nil
}

// DDoSTargets returns the IPs of the caller's instance (all of them, or
// the one ip) with their status and thresholds. typ may be empty (see
// ddosTargets).
func (s *Service) DDoSTargets(ctx context.Context, accountID, typ, instanceID, ip string) ([]DDoSIP, error) {
	var out []DDoSIP
	err := s.view(ctx, func(tx store.ReadTxn) error {
		var err error
		out, err = s.ddosTargets(tx, accountID, typ, instanceID, ip, s.cfg.Now())
		return err
	})
	return out, err
}

// DDoSThresholdInput is a ModifyIpDefenseThreshold request: Auto restores
// the default; otherwise Bps (Mbit/s) and Pps are both required.
type DDoSThresholdInput struct {
	Auto     bool
	Bps, Pps *int
}

// ModifyDDoSThreshold sets (or with Auto resets) the scrubbing threshold
// of one IP of the caller's instance, or of all its IPs when ip is empty.
// Each IP's bounds are its own (its bandwidth's default); one out of
// bounds changes nothing.
func (s *Service) ModifyDDoSThreshold(ctx context.Context, accountID, typ, instanceID, ip string, in DDoSThresholdInput) error {
	if !in.Auto {
		if in.Bps == nil {
			return errs.MissingParameter("Bps")
		}
		if in.Pps == nil {
			return errs.MissingParameter("Pps")
		}
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		ips, err := s.ddosTargets(tx, accountID, typ, instanceID, ip, s.cfg.Now())
		if err != nil {
			return err
		}
		if !in.Auto {
			for _, d := range ips {
				if *in.Bps < 1 || *in.Bps > d.MaxBps {
					return errs.InvalidParameter("Bps", "%d Mbit/s is out of range for %s: use 1 to %d, the default threshold of its %d Mbit/s bandwidth and the highest allowed (IsAuto=true restores the default)",
						*in.Bps, d.EIP.Address, d.MaxBps, d.EIP.Bandwidth)
				}
				if *in.Pps < 1 || *in.Pps > d.MaxPps {
					return errs.InvalidParameter("Pps", "%d packets/s is out of range for %s: use 1 to %d, the default threshold of its %d Mbit/s bandwidth and the highest allowed (IsAuto=true restores the default)",
						*in.Pps, d.EIP.Address, d.MaxPps, d.EIP.Bandwidth)
				}
			}
		}
		for _, d := range ips {
			key := model.DDoSThresholdKey(accountID, d.EIP.Address)
			if in.Auto {
				if err := tx.Delete(key); err != nil {
					return err
				}
				continue
			}
			if err := putJSON(tx, key, model.DDoSThreshold{AccountID: accountID, IP: d.EIP.Address, Bps: *in.Bps, Pps: *in.Pps}); err != nil {
				return err
			}
		}
		return nil
	})
	return err
}

// ModifyDDoSStatus is ModifyDdosStatus, which would lift a blackhole by
// hand: Anti-DDoS Basic does not allow it. It checks that the IP is the
// caller's, then refuses, saying when the blackhole ends.
func (s *Service) ModifyDDoSStatus(ctx context.Context, accountID, typ, instanceID, ip string) error {
	if ip == "" {
		return errs.MissingParameter("InternetIp")
	}
	ips, err := s.DDoSTargets(ctx, accountID, typ, instanceID, ip)
	if err != nil {
		return err
	}
	d := ips[0]
	if d.Status == model.DDoSBlackhole {
		return errs.Forbidden("OperationDenied",
			"The blackhole of %s cannot be lifted by hand under Anti-DDoS Basic: it ends by itself at %s (UTC), %s after the attack was last seen, and later if the attack goes on.",
			d.EIP.Address, d.UnBlackholeAt.UTC().Format(time.DateTime), time.Duration(s.cfg.DDoS.BlackholeSeconds)*time.Second)
	}
	return errs.Forbidden("OperationDenied",
		"%s is not blackholed (status %s): there is nothing to lift, and Anti-DDoS Basic blackholes cannot be lifted by hand anyway; they end by themselves %s after the attack was last seen.",
		d.EIP.Address, d.Status, time.Duration(s.cfg.DDoS.BlackholeSeconds)*time.Second)
}

// DDoSEventQuery selects events in DescribeDdosEventList.
type DDoSEventQuery struct {
	Type       string // required
	InstanceID string // required
	IP         string // one IP of the instance; empty: all
	Days       int    // the last Days days (0: 7)
}

// DDoSEventView is an event as the API shows it at one moment.
type DDoSEventView struct {
	model.DDoSEvent
	// Status is the event's type while it is open, model.DDoSNormal once
	// it is over.
	Status string
	// Ended is when it ended: End, or UnBlackholeAt for a blackhole that
	// ran out before its agent said so; zero while open.
	Ended time.Time
}

// DescribeDDoSEvents returns the events of the caller's instance (or of
// one of its IPs) that overlap the last q.Days days, newest first.
func (s *Service) DescribeDDoSEvents(ctx context.Context, accountID string, q DDoSEventQuery) ([]DDoSEventView, error) {
	typ, err := ParseDDoSInstanceType(q.Type)
	if err != nil {
		return nil, err
	}
	if q.Days <= 0 {
		q.Days = 7
	}
	now := s.cfg.Now()
	since := now.Add(-time.Duration(q.Days) * 24 * time.Hour)
	out := []DDoSEventView{}
	err = s.view(ctx, func(tx store.ReadTxn) error {
		out = out[:0]
		ips, err := s.ddosTargets(tx, accountID, typ, q.InstanceID, q.IP, now)
		if err != nil {
			return err
		}
		for _, d := range ips {
			events, err := eipDDoSEvents(tx, &d.EIP)
			if err != nil {
				return err
			}
			for _, ev := range events {
				v := DDoSEventView{DDoSEvent: ev, Status: ev.Type}
				if !ev.Open(now) {
					v.Status, v.Ended = model.DDoSNormal, ev.End
					if v.Ended.IsZero() {
						v.Ended = ev.UnBlackholeAt
					}
				}
				if v.Ended.IsZero() || !v.Ended.Before(since) {
					out = append(out, v)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(out, func(a, b DDoSEventView) int {
		if c := b.Start.Compare(a.Start); c != 0 {
			return c
		}
		return strings.Compare(a.Key(), b.Key())
	})
	return out, nil
}

// checkDDoSEvent validates one reported event.
func checkDDoSEvent(i int, ev model.DDoSEvent) error {
	param := fmt.Sprintf("Events[%d]", i)
	switch {
	case !ev.IP.IsValid():
		return errs.InvalidParameter(param, "ip is missing or not an IP address")
	case ev.Type != model.DDoSDefense && ev.Type != model.DDoSBlackhole:
		return errs.InvalidParameter(param, "type %q of %s is not an event type: use defense or blackhole", ev.Type, ev.IP)
	case ev.Start.IsZero():
		return errs.InvalidParameter(param, "the %s event of %s has no start", ev.Type, ev.IP)
	case !ev.End.IsZero() && !ev.End.After(ev.Start):
		return errs.InvalidParameter(param, "the %s event of %s ends (%s) before it starts (%s)", ev.Type, ev.IP, ev.End.Format(time.RFC3339Nano), ev.Start.Format(time.RFC3339Nano))
	}
	return nil
}

// ReportDDoSEvents stores events an agent observed (admin only), each
// whole at its key (a report of a known event replaces it). Each address
// must be an EIP's, and with an agent key (keyZone) an EIP mapped to an
// ENI of that zone (an unassociated EIP is accepted, as in ReportStatus:
// its events may end after it left the host); the event's account and EIP
// are set from that EIP. Then each address keeps its DDoSEventsPerIP
// newest events (open ones are never dropped). One bad event stores
// nothing.
func (s *Service) ReportDDoSEvents(ctx context.Context, callerID, keyZone string, events []model.DDoSEvent) error {
	if len(events) > DDoSEventsPerReport {
		return errs.InvalidParameter("Events", "at most %d events per call, got %d", DDoSEventsPerReport, len(events))
	}
	for i, ev := range events {
		if err := checkDDoSEvent(i, ev); err != nil {
			return err
		}
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		if err := requireAdmin(tx, callerID); err != nil {
			return err
		}
		eips := map[netip.Addr]*model.EIP{}
		var ips []netip.Addr
		for _, ev := range events {
			e := eips[ev.IP]
			if e == nil {
				id, ok, err := tx.Get(model.PrefixEIPAddr + ev.IP.String())
				if err != nil {
					return err
				}
				e = new(model.EIP)
				if ok {
					ok, err = getJSON(tx, model.PrefixEIP+string(id), e)
					if err != nil {
						return err
					}
				}
				if !ok || e.Address != ev.IP {
					return errs.NotFound("InvalidInternetIp.NotFound", "%s is not the address of an EIP: an agent reports the events of the EIPs it serves only.", ev.IP)
				}
				if keyZone != "" && e.ENIID != "" {
					if err := eniInZone(tx, keyZone, e.ENIID); err != nil {
						return errAgentZone(keyZone, "report Anti-DDoS events of "+ev.IP.String()+", an EIP mapped to an ENI of another zone")
					}
				}
				if keyZone != "" && e.InstanceType == model.EIPInstanceNat && e.ZoneID != keyZone {
					return errAgentZone(keyZone, "report Anti-DDoS events of "+ev.IP.String()+", an EIP of a NAT gateway of another zone")
				}
				eips[ev.IP] = e
				ips = append(ips, ev.IP)
			}
			ev.AccountID, ev.EipID = e.AccountID, e.ID
			if err := putJSON(tx, ev.Key(), ev); err != nil {
				return err
			}
		}
		for _, ip := range ips {
			if err := s.pruneDDoSEvents(tx, ip); err != nil {
				return err
			}
		}
		return nil
	})
	return err
}

// pruneDDoSEvents drops the oldest events of ip that are over beyond
// DDoSEventsPerIP.
func (s *Service) pruneDDoSEvents(tx store.Txn, ip netip.Addr) error {
	type keyed struct {
		key string
		ev  model.DDoSEvent
	}
	var all []keyed
	if err := tx.List(model.PrefixDDoSEvent+ip.String()+"/", func(k string, v []byte) error {
		var ev model.DDoSEvent
		if err := json.Unmarshal(v, &ev); err != nil {
			return fmt.Errorf("decode %s: %w", k, err)
		}
		all = append(all, keyed{k, ev})
		return nil
	}); err != nil {
		return err
	}
	extra := len(all) - DDoSEventsPerIP
	if extra <= 0 {
		return nil
	}
	slices.SortStableFunc(all, func(a, b keyed) int { return a.ev.Start.Compare(b.ev.Start) })
	now := s.cfg.Now()
	for _, k := range all {
		if extra == 0 {
			break
		}
		if k.ev.Open(now) {
			continue
		}
		if err := tx.Delete(k.key); err != nil {
			return err
		}
		extra--
	}
	return nil
}
