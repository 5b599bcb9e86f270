package service

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
)

// Cloud Firewall traffic logs: the new connections that drop and log
// policies of the Internet, NAT and VPC firewalls decided, as agents
// record them. They are kept per account like WAF logs.
const (
	// FirewallLogsPerReport bounds one IngestFirewallLogs call.
	FirewallLogsPerReport = 1000
	// FirewallLogRetention is how many records an account keeps; older
	// ones are dropped as new ones arrive.
	FirewallLogRetention = 10000
	// firewallLogDefaultLimit is DescribeFirewallLogs's page without a
	// Limit.
	firewallLogDefaultLimit = 100
)

// loggedPolicy is what a traffic log takes from the policy it names.
type loggedPolicy struct {
	accountID, logType, direction, action, firewallID, domain string
}

// lookupLoggedPolicy finds the policy id in any firewall; ok is false when
// none has it (deleted since the agent judged the connection).
func lookupLoggedPolicy(tx store.ReadTxn, id string) (loggedPolicy, bool, error) {
	for _, fw := range [...]struct{ prefix, logType string }{
		{model.PrefixFirewallPolicy, model.FirewallLogTypeInternet},
		{model.PrefixNatFirewallPolicy, model.FirewallLogTypeNAT},
		{model.PrefixVpcFirewallPolicy, model.FirewallLogTypeVPC},
	} {
		var p model.FirewallPolicy
		ok, err := getJSON(tx, fw.prefix+id, &p)
		if err != nil {
			return loggedPolicy{}, false, err
		}
		if !ok || p.ID != id {
			continue
		}
		lp := loggedPolicy{accountID: p.AccountID, logType: fw.logType, direction: p.Direction, action: p.Action}
		if p.DestinationType == model.FirewallDomain {
			lp.domain = p.Destination
		}
		switch fw.logType {
		case model.FirewallLogTypeNAT:
			lp.firewallID = p.NatGatewayID
		case model.FirewallLogTypeVPC:
			// A VPC firewall's policies have no direction: the
			// connection may cross the peering either way.
			lp.direction, lp.firewallID = "", p.VpcFirewallID
		}
		return lp, true, nil
	}
	return loggedPolicy{}, false, nil
}

// IngestFirewallLogs stores the traffic logs agents recorded (admin caller
// only, as an agent is), for any number of accounts: each record takes
// its account, firewall, direction, action and firewall ID from the
// policy it names (agents are not trusted with tenancy), and records of
// unknown policies (deleted meanwhile) are dropped. The third argument,
// the zone of an agent key, restricts nothing: policies belong to no zone
// (as for ReportFirewallHits). Beyond FirewallLogRetention records per
// account the oldest are dropped. It returns how many records were stored.
func (s *Service) IngestFirewallLogs(ctx context.Context, callerID, _ string, recs []model.FirewallTrafficLog) (int, error) {
	if len(recs) > FirewallLogsPerReport {
		return 0, errs.InvalidParameter("Records", "at most %d records per call, got %d", FirewallLogsPerReport, len(recs))
	}
	for i, r := range recs {
		switch {
		case r.PolicyID == "":
			return 0, errs.InvalidParameter("Records", "Records[%d] has no policy_id", i)
		case !r.Src.IsValid():
			return 0, errs.InvalidParameter("Records", "Records[%d] has no src address", i)
		case !r.Dst.IsValid():
			return 0, errs.InvalidParameter("Records", "Records[%d] has no dst address", i)
		}
	}
	stored := 0
	_, err := s.update(ctx, func(tx store.Txn) error {
		stored = 0 // the store may run fn again
		if err := requireAdmin(tx, callerID); err != nil {
			return err
		}
		policies := map[string]*loggedPolicy{} // nil: unknown
		touched := map[string]bool{}
		var accounts []string
		for _, r := range recs {
			p, seen := policies[r.PolicyID]
			if !seen {
				lp, ok, err := lookupLoggedPolicy(tx, r.PolicyID)
				if err != nil {
					return err
				}
				if ok {
					p = &lp
				}
				policies[r.PolicyID] = p
			}
			if p == nil {
				continue
			}
			if err := s.putFirewallLog(tx, r, p); err != nil {
				return err
			}
			stored++
			if !touched[p.accountID] {
				touched[p.accountID] = true
				accounts = append(accounts, p.accountID)
			}
		}
		for _, acct := range accounts {
			if err := trimFirewallLogs(tx, acct); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return stored, nil
}

// putFirewallLog stores r with the fields the server fills from its
// policy p (and the time when the agent sent none).
func (s *Service) putFirewallLog(tx store.Txn, r model.FirewallTrafficLog, p *loggedPolicy) error {
	if r.Time.IsZero() {
		r.Time = s.stamp()
	}
	// An IPv4 address in IPv6 form would escape IPv4 address filters.
	r.Src, r.Dst = r.Src.Unmap(), r.Dst.Unmap()
	r.AccountID, r.LogType, r.Direction, r.Action, r.FirewallID, r.Domain = p.accountID, p.logType, p.direction, p.action, p.firewallID, p.domain
	key := fmt.Sprintf("%s%s/%020d-%s", model.PrefixFirewallTrafficLog, p.accountID, r.Time.UnixNano(), NewSecret(4))
	return putJSON(tx, key, r)
}

// trimFirewallLogs drops the oldest records of the account beyond
// FirewallLogRetention (keys sort by time).
func trimFirewallLogs(tx store.Txn, accountID string) error {
	prefix := model.PrefixFirewallTrafficLog + accountID + "/"
	var keys []string
	if err := tx.List(prefix, func(k string, _ []byte) error {
		keys = append(keys, k)
		return nil
	}); err != nil {
		return fmt.Errorf("list firewall logs of %s: %w", accountID, err)
	}
	excess := max(len(keys)-FirewallLogRetention, 0)
	for _, k := range keys[:excess] {
		if err := tx.Delete(k); err != nil {
			return fmt.Errorf("drop firewall log %s: %w", k, err)
		}
	}
	return nil
}

// FirewallLogFilter selects traffic logs; zero fields match all.
type FirewallLogFilter struct {
	LogType  string // model.FirewallLogType*
	PolicyID string
	Action   string // the policy's action when the record was stored
	// Src and Dst hold the connection's source and destination address
	// (an address is a /32 or /128).
	Src, Dst netip.Prefix
	// Port is the source or the destination port.
	Port       uint16
	Start, End time.Time // End exclusive
	// Offset skips that many matching records, newest first; Limit
	// bounds the answer (0: 100).
	Offset, Limit int
}

// match reports whether r passes every filter.
func (f *FirewallLogFilter) match(r *model.FirewallTrafficLog) bool {
	switch {
	case f.LogType != "" && r.LogType != f.LogType,
		f.PolicyID != "" && r.PolicyID != f.PolicyID,
		f.Action != "" && r.Action != f.Action,
		f.Src.IsValid() && !f.Src.Contains(r.Src),
		f.Dst.IsValid() && !f.Dst.Contains(r.Dst),
		f.Port != 0 && r.SrcPort != f.Port && r.DstPort != f.Port,
		!f.Start.IsZero() && r.Time.Before(f.Start),
		!f.End.IsZero() && !r.Time.Before(f.End):
		return false
	}
	return true
}

// DescribeFirewallLogs returns the account's matching traffic logs, newest
// first, from f.Offset on, and how many matched in all.
func (s *Service) DescribeFirewallLogs(ctx context.Context, accountID string, f FirewallLogFilter) ([]model.FirewallTrafficLog, int, error) {
	if f.Limit <= 0 {
		f.Limit = firewallLogDefaultLimit
	}
	var all []model.FirewallTrafficLog
	err := s.view(ctx, func(tx store.ReadTxn) error {
		all = nil
		return listJSON(tx, model.PrefixFirewallTrafficLog+accountID+"/", func(r *model.FirewallTrafficLog) error {
			if f.match(r) {
				all = append(all, *r)
			}
			return nil
		})
	})
	if err != nil {
		return nil, 0, fmt.Errorf("firewall logs of %s: %w", accountID, err)
	}
	slices.Reverse(all)
	total := len(all)
	start := min(max(f.Offset, 0), total)
	end := min(start+f.Limit, total)
	return all[start:end], total, nil
}
