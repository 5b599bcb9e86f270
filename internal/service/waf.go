package service

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/waf/wafconfig"
	"github.com/palisade-project/palisade/internal/waf/wafrule"
)

// WAF limits.
const (
	WAFProtectionsPerAccount = 100
	WAFTemplatesPerAccount   = 50
	WAFRulesPerProtection    = 1000
	WAFMaxBodyLimit          = 8 << 20
	WAFDefaultBodyLimit      = wafconfig.DefaultBodyLimit
	// WAFLogRetention is how many log records an account keeps; older ones
	// are dropped when new ones arrive.
	WAFLogRetention = 10000
	// WAFLogsPerPut bounds one PutWafLogs call.
	WAFLogsPerPut = 1000
)

func errWAFProtectionNotFound(id string) *errs.Error {
	return errs.NotFound("InvalidProtectionId.NotFound", "The specified ProtectionId %q does not exist.", id)
}

func errWAFTemplateNotFound(id string) *errs.Error {
	return errs.NotFound("InvalidTemplateId.NotFound", "The specified TemplateId %q does not exist.", id)
}

func errWAFRuleNotFound(id string) *errs.Error {
	return errs.NotFound("InvalidRuleId.NotFound", "The specified RuleId %q does not exist.", id)
}

func getWAFProtection(tx store.ReadTxn, accountID, id string) (*model.WAFProtection, error) {
	return getOwned(tx, model.PrefixWAFProtection, "ProtectionId", accountID, id, func(v *model.WAFProtection) string { return v.AccountID }, errWAFProtectionNotFound)
}

func getWAFTemplate(tx store.ReadTxn, accountID, id string) (*model.WAFTemplate, error) {
	return getOwned(tx, model.PrefixWAFTemplate, "TemplateId", accountID, id, func(v *model.WAFTemplate) string { return v.AccountID }, errWAFTemplateNotFound)
}

func getWAFRule(tx store.ReadTxn, accountID, id string) (*model.WAFRule, error) {
	return getOwned(tx, model.PrefixWAFRule, "RuleId", accountID, id, func(v *model.WAFRule) string { return v.AccountID }, errWAFRuleNotFound)
}

// --- templates ---

// WAFTemplateInput is a template's settings; a nil field keeps the current
// value (Modify) or takes the default (Create).
type WAFTemplateInput struct {
	Name             *string
	Action           *string // block, monitor, off
	ParanoiaLevel    *int
	InboundThreshold *int
	ExcludeRuleIDs   *[]int
	ExcludeTags      *[]string
	BodyLimit        *int
	BodyAction       *string
	InspectResponses *bool
}

func applyTemplate(t *model.WAFTemplate, in WAFTemplateInput) error {
	if in.Name != nil {
		if err := validateName("InvalidName.Malformed", "Name", *in.Name); err != nil {
			return err
		}
		t.Name = *in.Name
	}
	if in.Action != nil {
		a := strings.ToLower(*in.Action)
		if a != "block" && a != "monitor" && a != "off" {
			return errs.InvalidParameter("Action", "%q: use block, monitor or off", *in.Action)
		}
		t.Action = a
	}
	if in.ParanoiaLevel != nil {
		if *in.ParanoiaLevel < 1 || *in.ParanoiaLevel > 4 {
			return errs.InvalidParameter("ParanoiaLevel", "%d is out of range, expected 1 to 4", *in.ParanoiaLevel)
		}
		t.ParanoiaLevel = *in.ParanoiaLevel
	}
	if in.InboundThreshold != nil {
		if *in.InboundThreshold < 1 || *in.InboundThreshold > 10000 {
			return errs.InvalidParameter("InboundThreshold", "%d is out of range, expected 1 to 10000", *in.InboundThreshold)
		}
		t.InboundThreshold = *in.InboundThreshold
	}
	if in.ExcludeRuleIDs != nil {
		if len(*in.ExcludeRuleIDs) > 500 {
			return errs.InvalidParameter("ExcludeRuleIds", "at most 500 rule IDs")
		}
		for _, id := range *in.ExcludeRuleIDs {
			if id < 1 || id > 9999999 {
				return errs.InvalidParameter("ExcludeRuleIds", "rule ID %d is out of range", id)
			}
		}
		t.ExcludeRuleIDs = slices.Compact(slices.Sorted(slices.Values(*in.ExcludeRuleIDs)))
	}
	if in.ExcludeTags != nil {
		if len(*in.ExcludeTags) > 100 {
			return errs.InvalidParameter("ExcludeTags", "at most 100 tags")
		}
		for _, tag := range *in.ExcludeTags {
			if tag == "" || len(tag) > 128 || strings.ContainsAny(tag, " \t\r\n\"'\\") {
				return errs.InvalidParameter("ExcludeTags", "tag %q: use a word such as attack-sqli or paranoia-level/2", tag)
			}
		}
		t.ExcludeTags = slices.Compact(slices.Sorted(slices.Values(*in.ExcludeTags)))
	}
	if in.BodyLimit != nil {
		if *in.BodyLimit < 1 || *in.BodyLimit > WAFMaxBodyLimit {
			return errs.InvalidParameter("BodyLimit", "%d is out of range, expected 1 to %d bytes", *in.BodyLimit, WAFMaxBodyLimit)
		}
		t.BodyLimit = *in.BodyLimit
	}
	if in.InspectResponses != nil {
		t.InspectResponses = *in.InspectResponses
	}
	if in.BodyAction != nil {
		a := strings.ToLower(*in.BodyAction)
		if a != "inspect-partial" && a != "block" && a != "skip" {
			return errs.InvalidParameter("BodyAction", "%q: use inspect-partial, block or skip", *in.BodyAction)
		}
		t.BodyAction = a
	}
	return nil
}

// CreateWafTemplate creates a rule profile (defaults: Block, paranoia 1,
// threshold 5, body limit 128 KiB inspected partially).
func (s *Service) CreateWafTemplate(ctx context.Context, accountID string, in WAFTemplateInput) (model.WAFTemplate, error) {
	t := model.WAFTemplate{AccountID: accountID, Action: "block", ParanoiaLevel: 1, InboundThreshold: 5,
		BodyLimit: WAFDefaultBodyLimit, BodyAction: "inspect-partial"}
	if err := applyTemplate(&t, in); err != nil {
		return t, err
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		n := 0
		if err := listJSON(tx, model.PrefixWAFTemplate, func(x *model.WAFTemplate) error {
			if x.AccountID == accountID {
				n++
			}
			return nil
		}); err != nil {
			return err
		}
		if n >= WAFTemplatesPerAccount {
			return errs.Quota("QuotaExceeded.WafTemplate", "An account may have at most %d WAF templates.", WAFTemplatesPerAccount)
		}
		t.ID, t.CreatedAt = NewID("waftpl"), s.stamp()
		return putJSON(tx, model.PrefixWAFTemplate+t.ID, &t)
	})
	return t, err
}

// ModifyWafTemplate changes a template; objects using it reload.
func (s *Service) ModifyWafTemplate(ctx context.Context, accountID, id string, in WAFTemplateInput) error {
	_, err := s.update(ctx, func(tx store.Txn) error {
		t, err := getWAFTemplate(tx, accountID, id)
		if err != nil {
			return err
		}
		if err := applyTemplate(t, in); err != nil {
			return err
		}
		return putJSON(tx, model.PrefixWAFTemplate+t.ID, t)
	})
	return err
}

// DescribeWafTemplates lists the account's templates (one when id is set).
func (s *Service) DescribeWafTemplates(ctx context.Context, accountID, id string) ([]model.WAFTemplate, error) {
	var out []model.WAFTemplate
	err := s.view(ctx, func(tx store.ReadTxn) error {
		out = nil
		if id != "" {
			t, err := getWAFTemplate(tx, accountID, id)
			if err != nil {
				return err
			}
			out = append(out, *t)
			return nil
		}
		return listJSON(tx, model.PrefixWAFTemplate, func(t *model.WAFTemplate) error {
			if t.AccountID == accountID {
				out = append(out, *t)
			}
			return nil
		})
	})
	sortByCreation(out, func(t model.WAFTemplate) (int64, string) { return t.CreatedAt.UnixNano(), t.ID })
	return out, err
}

// DeleteWafTemplate deletes an unused template.
func (s *Service) DeleteWafTemplate(ctx context.Context, accountID, id string) error {
	_, err := s.update(ctx, func(tx store.Txn) error {
		if _, err := getWAFTemplate(tx, accountID, id); err != nil {
			return err
		}
		var user string
		if err := listJSON(tx, model.PrefixWAFProtection, func(p *model.WAFProtection) error {
			if p.AccountID == accountID && p.TemplateID == id && user == "" {
				user = p.ID
			}
			return nil
		}); err != nil {
			return err
		}
		if user != "" {
			return errs.DependencyViolation("Template %s is used by protected object %s; change its template first.", id, user)
		}
		return tx.Delete(model.PrefixWAFTemplate + id)
	})
	return err
}

// --- protected objects ---

// WAFProtectionInput describes a protected object. On Modify, nil fields
// keep their value (InstanceID and Port cannot change).
type WAFProtectionInput struct {
	InstanceID      string
	Port            int
	Upstream        *string
	Listen          *string
	TLSCert, TLSKey *string
	TemplateID      *string
	BlockStatus     *int
	BlockHeaders    *map[string]string
	BlockBody       *string
	BlacklistAction *string
}

func validHostPort(v string) bool {
	h, p, err := net.SplitHostPort(v)
	if err != nil || strings.ContainsAny(h, "/ ") {
		return false
	}
	n, err := strconv.Atoi(p)
	return err == nil && n >= 0 && n <= 65535
}

// instanceIPv4s returns the private IPv4 addresses (primary and secondary)
// of the ENIs of an instance of the account.
func instanceIPv4s(tx store.ReadTxn, accountID, instanceID string) ([]netip.Addr, error) {
	inst, err := getInstance(tx, accountID, instanceID)
	if err != nil {
		return nil, err
	}
	enis, err := instanceENIs(tx, inst.ID)
	if err != nil {
		return nil, fmt.Errorf("list ENIs of %s: %w", inst.ID, err)
	}
	// The primary ENI is read by ID as well, as DescribeWafConfig finds the
	// default upstream, in case its record does not name the instance.
	if !slices.ContainsFunc(enis, func(e *model.ENI) bool { return e.ID == inst.PrimaryENIID }) {
		var e model.ENI
		ok, err := getJSON(tx, model.PrefixENI+inst.PrimaryENIID, &e)
		if err != nil {
			return nil, fmt.Errorf("read primary ENI %s of %s: %w", inst.PrimaryENIID, inst.ID, err)
		}
		if ok {
			enis = append(enis, &e)
		}
	}
	var out []netip.Addr
	for _, e := range enis {
		if e.AccountID != accountID {
			continue
		}
		for _, a := range append([]netip.Addr{e.PrimaryIP}, e.SecondaryIPs...) {
			if a.Is4() && !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	return out, nil
}

// checkUpstream refuses an upstream outside the protected instance. The
// agent steers the EIP's port to the WAF and admits clients at the SYN by
// the network ACL and security groups of the upstream's address, so an
// upstream elsewhere (another host, the host's loopback, a public address)
// would carry internet traffic past the instance's filters to whatever it
// names. Hence: empty (the instance's primary address and the protected
// port), or IP:PORT with IP one of the instance's private IPv4 addresses.
// On success p.Upstream is in canonical form.
func checkUpstream(tx store.ReadTxn, accountID string, p *model.WAFProtection) error {
	if p.Upstream == "" {
		return nil
	}
	addrs, err := instanceIPv4s(tx, accountID, p.InstanceID)
	if err != nil {
		return err
	}
	ap, perr := netip.ParseAddrPort(p.Upstream)
	// Is4 is false for IPv4-mapped IPv6 ([::ffff:10.0.1.7]:80): one
	// spelling per address keeps the agent's lookup by address exact.
	if perr != nil || !ap.Addr().Is4() || ap.Port() == 0 || !slices.Contains(addrs, ap.Addr()) {
		list := make([]string, len(addrs))
		for i, a := range addrs {
			list[i] = a.String()
		}
		return errs.InvalidParameter("UpstreamAddress",
			"%q: leave it empty (the instance's primary private address and port %d) or give IP:PORT, with IP a private IPv4 address of instance %s (%s) and PORT 1 to 65535",
			p.Upstream, p.Port, p.InstanceID, strings.Join(list, ", "))
	}
	p.Upstream = ap.String()
	return nil
}

func (s *Service) applyProtection(tx store.ReadTxn, accountID string, p *model.WAFProtection, in WAFProtectionInput) error {
	if in.Upstream != nil {
		p.Upstream = *in.Upstream
	}
	// Checked even when the request leaves it unchanged: an object stored
	// before this check, or whose address the instance has since released,
	// is not modified without a valid upstream.
	if err := checkUpstream(tx, accountID, p); err != nil {
		return err
	}
	if in.Listen != nil {
		if *in.Listen != "" && !validHostPort(*in.Listen) {
			return errs.InvalidParameter("ListenAddress", "%q: use [host]:port such as :8080", *in.Listen)
		}
		p.Listen = *in.Listen
	}
	if in.TLSCert != nil || in.TLSKey != nil {
		cert, key := p.TLSCert, p.TLSKey
		if in.TLSCert != nil {
			cert = *in.TLSCert
		}
		if in.TLSKey != nil {
			key = *in.TLSKey
		}
		switch {
		case cert == "" && key == "":
		case cert == "" || key == "":
			return errs.InvalidParameter("TlsCertificate", "a certificate and its private key go together")
		default:
			if _, err := tls.X509KeyPair([]byte(cert), []byte(key)); err != nil {
				return errs.InvalidParameter("TlsCertificate", "the certificate and key do not form a valid PEM pair: %v", err)
			}
		}
		p.TLSCert, p.TLSKey = cert, key
	}
	p.Protocol = "HTTP"
	if p.TLSCert != "" {
		p.Protocol = "HTTPS"
	}
	if in.TemplateID != nil {
		if *in.TemplateID != "" {
			if _, err := getWAFTemplate(tx, accountID, *in.TemplateID); err != nil {
				return err
			}
		}
		p.TemplateID = *in.TemplateID
	}
	if in.BlockStatus != nil {
		if *in.BlockStatus != 0 && !(*in.BlockStatus >= 200 && *in.BlockStatus <= 600 && *in.BlockStatus != 204 && *in.BlockStatus != 304) {
			return errs.InvalidParameter("BlockStatus", "%d: use 200 to 600 except 204 and 304 (default 405)", *in.BlockStatus)
		}
		p.BlockStatus = *in.BlockStatus
	}
	if in.BlockHeaders != nil {
		if len(*in.BlockHeaders) > 20 {
			return errs.InvalidParameter("BlockHeaders", "at most 20 headers")
		}
		for k, v := range *in.BlockHeaders {
			if k == "" || len(k) > 128 || len(v) > 1024 || strings.ContainsAny(k, " :\r\n") || strings.ContainsAny(v, "\r\n") {
				return errs.InvalidParameter("BlockHeaders", "header %q: use a token name and a single-line value", k)
			}
			// The server frames the block response itself: a stated
			// length or encoding would contradict the body it sends.
			switch http.CanonicalHeaderKey(k) {
			case "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive", "Upgrade", "Trailer", "Te":
				return errs.InvalidParameter("BlockHeaders", "header %q frames the HTTP message, which the WAF sets itself: leave it out", k)
			}
		}
		p.BlockHeaders = *in.BlockHeaders
	}
	if in.BlockBody != nil {
		if len(*in.BlockBody) > 64<<10 {
			return errs.InvalidParameter("BlockBody", "at most 64 KiB")
		}
		p.BlockBody = *in.BlockBody
	}
	if in.BlacklistAction != nil {
		a := strings.ToLower(*in.BlacklistAction)
		if a != "" && a != "block" && a != "monitor" {
			return errs.InvalidParameter("BlacklistAction", "%q: use block or monitor", *in.BlacklistAction)
		}
		p.BlacklistAction = a
	}
	return nil
}

// CreateWafProtection protects an instance's port: its HTTP(S) traffic goes
// through the WAF. One object per (instance, port).
func (s *Service) CreateWafProtection(ctx context.Context, accountID string, in WAFProtectionInput) (model.WAFProtection, error) {
	var p model.WAFProtection
	if in.InstanceID == "" {
		return p, errs.MissingParameter("InstanceId")
	}
	if in.Port < 1 || in.Port > 65535 {
		return p, errs.InvalidParameter("Port", "%d is out of range, expected 1 to 65535", in.Port)
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		if _, err := getInstance(tx, accountID, in.InstanceID); err != nil {
			return err
		}
		n := 0
		var dup string
		if err := listJSON(tx, model.PrefixWAFProtection, func(x *model.WAFProtection) error {
			if x.AccountID == accountID {
				n++
				if x.InstanceID == in.InstanceID && x.Port == in.Port {
					dup = x.ID
				}
			}
			return nil
		}); err != nil {
			return err
		}
		if dup != "" {
			return errs.Conflict("InvalidProtection.Duplicate", "Port %d of instance %s is already protected by %s.", in.Port, in.InstanceID, dup)
		}
		if n >= WAFProtectionsPerAccount {
			return errs.Quota("QuotaExceeded.WafProtection", "An account may have at most %d protected objects.", WAFProtectionsPerAccount)
		}
		p = model.WAFProtection{AccountID: accountID, InstanceID: in.InstanceID, Port: in.Port}
		if err := s.applyProtection(tx, accountID, &p, in); err != nil {
			return err
		}
		p.ID, p.CreatedAt = NewID("waf"), s.stamp()
		return putJSON(tx, model.PrefixWAFProtection+p.ID, &p)
	})
	return p, err
}

// ModifyWafProtection changes a protected object's settings.
func (s *Service) ModifyWafProtection(ctx context.Context, accountID, id string, in WAFProtectionInput) error {
	_, err := s.update(ctx, func(tx store.Txn) error {
		p, err := getWAFProtection(tx, accountID, id)
		if err != nil {
			return err
		}
		if err := s.applyProtection(tx, accountID, p, in); err != nil {
			return err
		}
		return putJSON(tx, model.PrefixWAFProtection+p.ID, p)
	})
	return err
}

// WAFProtectionFilter selects protected objects.
type WAFProtectionFilter struct{ ID, InstanceID string }

// DescribeWafProtections lists the account's protected objects.
func (s *Service) DescribeWafProtections(ctx context.Context, accountID string, f WAFProtectionFilter) ([]model.WAFProtection, error) {
	var out []model.WAFProtection
	err := s.view(ctx, func(tx store.ReadTxn) error {
		out = nil
		return listJSON(tx, model.PrefixWAFProtection, func(p *model.WAFProtection) error {
			if p.AccountID != accountID || (f.ID != "" && p.ID != f.ID) || (f.InstanceID != "" && p.InstanceID != f.InstanceID) {
				return nil
			}
			out = append(out, *p)
			return nil
		})
	})
	if err == nil && f.ID != "" && len(out) == 0 {
		err = errWAFProtectionNotFound(f.ID)
	}
	sortByCreation(out, func(p model.WAFProtection) (int64, string) { return p.CreatedAt.UnixNano(), p.ID })
	return out, err
}

// WAF steering states, as DescribeWafProtections reports them.
const (
	// WAFSteeringActive: connections to the port of EipAddress go through
	// the WAF.
	WAFSteeringActive = "Active"
	// WAFSteeringNoEIP: the instance has no EIP, so nothing reaches the
	// WAF; the object takes effect when one is associated.
	WAFSteeringNoEIP = "NoEip"
	// WAFSteeringUpstreamGone: the upstream address is no longer one of the
	// instance's, so the agent does not steer the port (it stays on the
	// direct path, under the instance's own filters) until the upstream is
	// changed or the address comes back.
	WAFSteeringUpstreamGone = "UpstreamNotOnInstance"
)

// WAFSteering says whether a protected object is in force and through which
// address, by the same choices the agent makes (model.SteeredEIP, the
// upstream among the instance's addresses).
type WAFSteering struct {
	Status     string
	EIPAddress netip.Addr // the steered EIP; invalid unless Active
	Reason     string     // what to do, unless Active
}

// WafSteering reports the steering state of each of the account's given
// protected objects, by ID.
func (s *Service) WafSteering(ctx context.Context, accountID string, ps []model.WAFProtection) (map[string]WAFSteering, error) {
	out := make(map[string]WAFSteering, len(ps))
	if len(ps) == 0 {
		return out, nil
	}
	err := s.view(ctx, func(tx store.ReadTxn) error {
		clear(out)
		instEIPs, err := accountInstanceEIPs(tx, accountID)
		if err != nil {
			return err
		}
		for _, p := range ps {
			if p.AccountID != accountID {
				continue
			}
			inst, err := getInstance(tx, accountID, p.InstanceID)
			if err != nil {
				return err
			}
			eips := instEIPs[inst.ID]
			pick := model.SteeredEIP(inst.PrimaryENIID, eips, func(e *model.EIP) (string, string) { return e.ID, e.ENIID })
			if pick < 0 {
				out[p.ID] = WAFSteering{Status: WAFSteeringNoEIP,
					Reason: fmt.Sprintf("instance %s has no EIP: nothing reaches the WAF until one is associated (palisade eip associate)", inst.ID)}
				continue
			}
			if p.Upstream != "" {
				addrs, err := instanceIPv4s(tx, accountID, inst.ID)
				if err != nil {
					return err
				}
				if ap, err := netip.ParseAddrPort(p.Upstream); err != nil || !slices.Contains(addrs, ap.Addr()) {
					out[p.ID] = WAFSteering{Status: WAFSteeringUpstreamGone,
						Reason: fmt.Sprintf("upstream %s is no longer an address of instance %s: port %d is not steered (it is on the direct path) until the upstream is changed", p.Upstream, inst.ID, p.Port)}
					continue
				}
			}
			out[p.ID] = WAFSteering{Status: WAFSteeringActive, EIPAddress: eips[pick].Address}
		}
		return nil
	})
	return out, err
}

// accountInstanceEIPs maps each of the account's instances to the EIPs
// associated with its ENIs.
func accountInstanceEIPs(tx store.ReadTxn, accountID string) (map[string][]*model.EIP, error) {
	eniInstance := map[string]string{}
	if err := listJSON(tx, model.PrefixENI, func(e *model.ENI) error {
		if e.AccountID == accountID && e.InstanceID != "" {
			eniInstance[e.ID] = e.InstanceID
		}
		return nil
	}); err != nil {
		return nil, err
	}
	out := map[string][]*model.EIP{}
	err := listJSON(tx, model.PrefixEIP, func(e *model.EIP) error {
		if e.AccountID != accountID || e.ENIID == "" {
			return nil
		}
		if inst := eniInstance[e.ENIID]; inst != "" {
			out[inst] = append(out[inst], e)
		}
		return nil
	})
	return out, err
}

// DeleteWafProtection stops protecting the object and deletes its rules.
func (s *Service) DeleteWafProtection(ctx context.Context, accountID, id string) error {
	_, err := s.update(ctx, func(tx store.Txn) error {
		if _, err := getWAFProtection(tx, accountID, id); err != nil {
			return err
		}
		return deleteWAFProtections(tx, []string{id})
	})
	return err
}

// deleteWAFProtections deletes protected objects and their rules.
func deleteWAFProtections(tx store.Txn, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	var rules []string
	if err := listJSON(tx, model.PrefixWAFRule, func(r *model.WAFRule) error {
		if slices.Contains(ids, r.ProtectionID) {
			rules = append(rules, r.ID)
		}
		return nil
	}); err != nil {
		return err
	}
	for _, r := range rules {
		if err := tx.Delete(model.PrefixWAFRule + r); err != nil {
			return fmt.Errorf("delete waf rule %s: %w", r, err)
		}
	}
	for _, id := range ids {
		if err := tx.Delete(model.PrefixWAFProtection + id); err != nil {
			return fmt.Errorf("delete waf protection %s: %w", id, err)
		}
	}
	return nil
}

// deleteInstanceWAF deletes the protected objects of an instance and their
// rules, in the caller's transaction (DeleteInstances): an object outliving
// its instance would still be listed, take rules and count toward the
// account's quota.
func deleteInstanceWAF(tx store.Txn, accountID, instanceID string) error {
	var ids []string
	if err := listJSON(tx, model.PrefixWAFProtection, func(p *model.WAFProtection) error {
		if p.AccountID == accountID && p.InstanceID == instanceID {
			ids = append(ids, p.ID)
		}
		return nil
	}); err != nil {
		return err
	}
	return deleteWAFProtections(tx, ids)
}

// --- rules ---

// WAFRuleInput is a rule of a protected object. Which fields apply depends
// on Kind (whitelist, blacklist, custom, ratelimit).
type WAFRuleInput struct {
	ProtectionID string
	Kind         string
	Name         string
	Conditions   string
	Action       string
	Bypass       []string
	Addresses    []string
	TTL          int // blacklist: seconds until the entry expires; 0: never
	// ExpiresAt, with TTL 0, is a blacklist rule's expiry kept as it is
	// (ModifyWafRule without Ttl); zero: none.
	ExpiresAt  time.Time
	By, Header string
	Interval   int
	Threshold  int
	BlockFor   int
	Status     int
}

// checkRule validates in into r (kind-specific fields).
func (s *Service) checkRule(r *model.WAFRule, in WAFRuleInput) error {
	if err := validateName("InvalidName.Malformed", "Name", in.Name); err != nil {
		return err
	}
	*r = model.WAFRule{ID: r.ID, AccountID: r.AccountID, ProtectionID: r.ProtectionID, Kind: r.Kind, Name: in.Name, CreatedAt: r.CreatedAt}
	conds := func(required bool) error {
		if in.Conditions == "" {
			if required {
				return errs.MissingParameter("Conditions")
			}
			return nil
		}
		cs, err := wafrule.ParseConditions(in.Conditions)
		if err != nil {
			return errs.InvalidParameter("Conditions", "%v", err)
		}
		r.Conditions = wafrule.FormatConditions(cs)
		return nil
	}
	action := func() error {
		a, err := wafrule.ParseAction(in.Action)
		if in.Action == "" {
			return errs.MissingParameter("Action")
		}
		if err != nil {
			return errs.InvalidParameter("Action", "%q: use block or monitor", in.Action)
		}
		r.Action = a.String()
		return nil
	}
	switch r.Kind {
	case wafrule.KindWhitelist:
		if err := conds(true); err != nil {
			return err
		}
		for _, m := range in.Bypass {
			mod, err := wafrule.ParseModule(m)
			if err != nil || mod == wafrule.ModuleWhitelist {
				return errs.InvalidParameter("Bypass", "%q: use blacklist, custom, ratelimit or crs", m)
			}
			r.Bypass = append(r.Bypass, mod.String())
		}
	case wafrule.KindBlacklist:
		if len(in.Addresses) == 0 {
			return errs.MissingParameter("Addresses")
		}
		if len(in.Addresses) > 1000 {
			return errs.InvalidParameter("Addresses", "at most 1000 addresses per rule")
		}
		for _, a := range in.Addresses {
			p, err := wafrule.ParsePrefix(strings.TrimSpace(a))
			if err != nil {
				return errs.InvalidParameter("Addresses", "%v", err)
			}
			r.Addresses = append(r.Addresses, p.String())
		}
		if in.TTL < 0 || in.TTL > 10*365*86400 {
			return errs.InvalidParameter("Ttl", "%d is out of range, expected 0 (never expires) to %d seconds", in.TTL, 10*365*86400)
		}
		switch {
		case in.TTL > 0:
			r.ExpiresAt = s.cfg.Now().UTC().Add(time.Duration(in.TTL) * time.Second)
		case !in.ExpiresAt.IsZero():
			r.ExpiresAt = in.ExpiresAt
		}
	case wafrule.KindCustom:
		if err := conds(true); err != nil {
			return err
		}
		if err := action(); err != nil {
			return err
		}
	case wafrule.KindRateLimit:
		if err := conds(false); err != nil {
			return err
		}
		if err := action(); err != nil {
			return err
		}
		switch strings.ToLower(in.By) {
		case "", "ip":
			r.By = "ip"
			if in.Header != "" {
				return errs.InvalidParameter("Header", "only for By=header")
			}
		case "header":
			r.By = "header"
			if in.Header == "" {
				return errs.MissingParameter("Header")
			}
			if len(in.Header) > 128 || strings.ContainsAny(in.Header, " :\r\n") {
				return errs.InvalidParameter("Header", "%q is not a header name", in.Header)
			}
			r.Header = http.CanonicalHeaderKey(in.Header)
		default:
			return errs.InvalidParameter("By", "%q: use ip or header", in.By)
		}
		if in.Interval < 1 || in.Interval > 3600 {
			return errs.InvalidParameter("Interval", "%d is out of range, expected 1 to 3600 seconds", in.Interval)
		}
		if in.Threshold < 1 || in.Threshold > 1000000 {
			return errs.InvalidParameter("Threshold", "%d is out of range, expected 1 to 1000000", in.Threshold)
		}
		if in.BlockFor < 1 || in.BlockFor > 86400 {
			return errs.InvalidParameter("BlockDuration", "%d is out of range, expected 1 to 86400 seconds", in.BlockFor)
		}
		if in.Status != 0 && (in.Status < 100 || in.Status > 599) {
			return errs.InvalidParameter("Status", "%d is not an HTTP status", in.Status)
		}
		r.Interval, r.Threshold, r.BlockFor, r.Status = in.Interval, in.Threshold, in.BlockFor, in.Status
	}
	return nil
}

// CreateWafRule adds a rule to a protected object.
func (s *Service) CreateWafRule(ctx context.Context, accountID string, in WAFRuleInput) (model.WAFRule, error) {
	r := model.WAFRule{AccountID: accountID, ProtectionID: in.ProtectionID, Kind: strings.ToLower(in.Kind)}
	switch r.Kind {
	case "":
		return r, errs.MissingParameter("Kind")
	case wafrule.KindWhitelist, wafrule.KindBlacklist, wafrule.KindCustom, wafrule.KindRateLimit:
	default:
		return r, errs.InvalidParameter("Kind", "%q: use whitelist, blacklist, custom or ratelimit", in.Kind)
	}
	if err := s.checkRule(&r, in); err != nil {
		return r, err
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		if _, err := getWAFProtection(tx, accountID, in.ProtectionID); err != nil {
			return err
		}
		n := 0
		if err := listJSON(tx, model.PrefixWAFRule, func(x *model.WAFRule) error {
			if x.ProtectionID == in.ProtectionID {
				n++
			}
			return nil
		}); err != nil {
			return err
		}
		if n >= WAFRulesPerProtection {
			return errs.Quota("QuotaExceeded.WafRule", "A protected object may have at most %d rules.", WAFRulesPerProtection)
		}
		r.ID, r.CreatedAt = NewID("wafr"), s.stamp()
		return putJSON(tx, model.PrefixWAFRule+r.ID, &r)
	})
	return r, err
}

// ModifyWafRule replaces a rule's settings (its kind and object stay).
func (s *Service) ModifyWafRule(ctx context.Context, accountID, id string, in WAFRuleInput) error {
	_, err := s.update(ctx, func(tx store.Txn) error {
		r, err := getWAFRule(tx, accountID, id)
		if err != nil {
			return err
		}
		if err := s.checkRule(r, in); err != nil {
			return err
		}
		return putJSON(tx, model.PrefixWAFRule+r.ID, r)
	})
	return err
}

// WafRule returns one rule of the account.
func (s *Service) WafRule(ctx context.Context, accountID, id string) (model.WAFRule, error) {
	var out model.WAFRule
	err := s.view(ctx, func(tx store.ReadTxn) error {
		r, err := getWAFRule(tx, accountID, id)
		if err == nil {
			out = *r
		}
		return err
	})
	return out, err
}

// DescribeWafRules lists rules, optionally of one object and kind.
func (s *Service) DescribeWafRules(ctx context.Context, accountID, protectionID, kind string) ([]model.WAFRule, error) {
	var out []model.WAFRule
	err := s.view(ctx, func(tx store.ReadTxn) error {
		out = nil
		if protectionID != "" {
			if _, err := getWAFProtection(tx, accountID, protectionID); err != nil {
				return err
			}
		}
		return listJSON(tx, model.PrefixWAFRule, func(r *model.WAFRule) error {
			if r.AccountID != accountID || (protectionID != "" && r.ProtectionID != protectionID) || (kind != "" && r.Kind != strings.ToLower(kind)) {
				return nil
			}
			out = append(out, *r)
			return nil
		})
	})
	sortByCreation(out, func(r model.WAFRule) (int64, string) { return r.CreatedAt.UnixNano(), r.ID })
	return out, err
}

// DeleteWafRule deletes a rule.
func (s *Service) DeleteWafRule(ctx context.Context, accountID, id string) error {
	_, err := s.update(ctx, func(tx store.Txn) error {
		if _, err := getWAFRule(tx, accountID, id); err != nil {
			return err
		}
		return tx.Delete(model.PrefixWAFRule + id)
	})
	return err
}

// --- data plane ---

// accountWAFTemplates reads the account's WAF templates by ID.
func accountWAFTemplates(tx store.ReadTxn, accountID string) (map[string]model.WAFTemplate, error) {
	tpls := map[string]model.WAFTemplate{}
	err := listJSON(tx, model.PrefixWAFTemplate, func(t *model.WAFTemplate) error {
		if t.AccountID == accountID {
			tpls[t.ID] = *t
		}
		return nil
	})
	return tpls, err
}

// DescribeWafConfig returns the data plane's configuration of every
// protected object of the account, and a hash that changes whenever it
// does (a data plane polls and reloads on change).
func (s *Service) DescribeWafConfig(ctx context.Context, accountID string) ([]wafrule.ObjectConfig, string, error) {
	var out []wafrule.ObjectConfig
	err := s.view(ctx, func(tx store.ReadTxn) error {
		out = nil
		tpls, err := accountWAFTemplates(tx, accountID)
		if err != nil {
			return err
		}
		rules := map[string][]model.WAFRule{}
		if err := listJSON(tx, model.PrefixWAFRule, func(r *model.WAFRule) error {
			if r.AccountID == accountID {
				rules[r.ProtectionID] = append(rules[r.ProtectionID], *r)
			}
			return nil
		}); err != nil {
			return err
		}
		instEIPs, err := accountInstanceEIPs(tx, accountID)
		if err != nil {
			return err
		}
		return listJSON(tx, model.PrefixWAFProtection, func(p *model.WAFProtection) error {
			if p.AccountID != accountID {
				return nil
			}
			upstream, vpcID := "", ""
			inst, ierr := getInstance(tx, accountID, p.InstanceID)
			if ierr == nil {
				vpcID = inst.VpcID
				if p.Upstream == "" {
					// The default upstream is the agent's: the private
					// address of the EIP the port is steered on (where
					// the direct path leads), else the primary address.
					eips := instEIPs[inst.ID]
					if pick := model.SteeredEIP(inst.PrimaryENIID, eips, func(e *model.EIP) (string, string) { return e.ID, e.ENIID }); pick >= 0 && eips[pick].PrivateIP.IsValid() {
						upstream = wafconfig.Upstream(eips[pick].PrivateIP.String(), p.Port)
					} else if eni, err := getENI(tx, accountID, inst.PrimaryENIID); err == nil && eni.PrimaryIP.IsValid() {
						upstream = wafconfig.Upstream(eni.PrimaryIP.String(), p.Port)
					}
				}
			}
			var tpl *model.WAFTemplate
			if t, ok := tpls[p.TemplateID]; ok {
				tpl = &t
			}
			oc := wafconfig.Object(*p, tpl, rules[p.ID], upstream)
			// The upstream is a private address of the instance's VPC:
			// the data plane reaches it only inside the VPC's namespace.
			// Without the instance, its VPC and addresses are unknown:
			// no upstream (the object is not served).
			oc.VPCID = vpcID
			if ierr != nil {
				oc.Upstream = ""
			}
			out = append(out, oc)
			return nil
		})
	})
	if err != nil {
		return nil, "", err
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, "", fmt.Errorf("encode waf config: %w", err)
	}
	// The hash covers the private keys (a new key reloads the data
	// plane), the answer does not: an uploaded private key is never
	// handed back by the API. A standalone data plane is given its keys
	// locally (palisade waf serve --tls-key).
	sum := sha256.Sum256(b)
	for i := range out {
		out[i].TLSKey = ""
	}
	return out, hex.EncodeToString(sum[:16]), nil
}

// --- logs ---

// PutWafLogs stores decisions reported by a data plane. Records of objects
// the account does not own are refused. Beyond WAFLogRetention records per
// account the oldest are dropped.
func (s *Service) PutWafLogs(ctx context.Context, accountID string, recs []model.WAFLog) (int, error) {
	if len(recs) > WAFLogsPerPut {
		return 0, errs.InvalidParameter("Records", "at most %d records per call, got %d", WAFLogsPerPut, len(recs))
	}
	_, err := s.update(ctx, func(tx store.Txn) error {
		owned := map[string]bool{}
		for i := range recs {
			r := &recs[i]
			if !owned[r.ProtectionID] {
				if _, err := getWAFProtection(tx, accountID, r.ProtectionID); err != nil {
					return err
				}
				owned[r.ProtectionID] = true
			}
		}
		return s.appendWAFLogs(tx, accountID, recs)
	})
	return len(recs), err
}

// IngestWafLogs stores decisions a remote agent reports (admin caller
// only), for any number of accounts: each record takes the account of the
// protected object it names (agents are not trusted with tenancy), and
// records of unknown objects (deleted meanwhile) are dropped. The bounds
// and retention are PutWafLogs's. With an agent key (keyZone), every
// object named must protect an instance of that zone. It returns how many
// records were stored.
func (s *Service) IngestWafLogs(ctx context.Context, callerID, keyZone string, recs []model.WAFLog) (int, error) {
	if len(recs) > WAFLogsPerPut {
		return 0, errs.InvalidParameter("Records", "at most %d records per call, got %d", WAFLogsPerPut, len(recs))
	}
	stored := 0
	_, err := s.update(ctx, func(tx store.Txn) error {
		stored = 0
		if err := requireAdmin(tx, callerID); err != nil {
			return err
		}
		owner := map[string]string{} // object ID -> account, "" when unknown
		byAccount := map[string][]model.WAFLog{}
		var accounts []string
		for _, r := range recs {
			acct, seen := owner[r.ProtectionID]
			if !seen {
				var p model.WAFProtection
				ok, err := getJSON(tx, model.PrefixWAFProtection+r.ProtectionID, &p)
				if err != nil {
					return err
				}
				if ok && p.ID != "" && p.ID == r.ProtectionID {
					acct = p.AccountID
					if keyZone != "" {
						if err := instanceInZone(tx, keyZone, p.InstanceID); err != nil {
							return errAgentZone(keyZone, "report WAF logs of "+p.ID+", which protects an instance of another zone")
						}
					}
				}
				owner[r.ProtectionID] = acct
			}
			if acct == "" {
				continue
			}
			if byAccount[acct] == nil {
				accounts = append(accounts, acct)
			}
			byAccount[acct] = append(byAccount[acct], r)
		}
		for _, acct := range accounts {
			if err := s.appendWAFLogs(tx, acct, byAccount[acct]); err != nil {
				return err
			}
			stored += len(byAccount[acct])
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return stored, nil
}

// appendWAFLogs stores records of objects of accountID (checked by the
// caller), stamping them with the account (and the time when they have
// none), then drops the account's oldest records beyond WAFLogRetention.
func (s *Service) appendWAFLogs(tx store.Txn, accountID string, recs []model.WAFLog) error {
	for i := range recs {
		r := &recs[i]
		if r.Time.IsZero() {
			r.Time = s.cfg.Now().UTC()
		}
		r.AccountID = accountID
		key := fmt.Sprintf("%s%s/%020d-%s", model.PrefixWAFLog, accountID, r.Time.UnixNano(), NewSecret(4))
		if err := putJSON(tx, key, r); err != nil {
			return err
		}
	}
	var keys []string
	if err := tx.List(model.PrefixWAFLog+accountID+"/", func(k string, _ []byte) error {
		keys = append(keys, k)
		return nil
	}); err != nil {
		return fmt.Errorf("list waf logs of %s: %w", accountID, err)
	}
	for i := 0; i < len(keys)-WAFLogRetention; i++ {
		if err := tx.Delete(keys[i]); err != nil {
			return fmt.Errorf("drop waf log %s: %w", keys[i], err)
		}
	}
	return nil
}

// WAFLogFilter selects log records; empty fields match all.
type WAFLogFilter struct {
	ProtectionID, ClientIP, Action, Module string
	Start, End                             time.Time // End exclusive; zero: open
	Limit                                  int       // newest first; 0: 100
}

// DescribeWafLogs returns matching records, newest first, and how many
// matched in all.
func (s *Service) DescribeWafLogs(ctx context.Context, accountID string, f WAFLogFilter) ([]model.WAFLog, int, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	var all []model.WAFLog
	err := s.view(ctx, func(tx store.ReadTxn) error {
		all = nil
		if f.ProtectionID != "" {
			if _, err := getWAFProtection(tx, accountID, f.ProtectionID); err != nil {
				return err
			}
		}
		return listJSON(tx, model.PrefixWAFLog+accountID+"/", func(r *model.WAFLog) error {
			if (f.ProtectionID != "" && r.ProtectionID != f.ProtectionID) || (f.ClientIP != "" && r.ClientIP != f.ClientIP) ||
				(f.Action != "" && !strings.EqualFold(r.Action, f.Action)) || (f.Module != "" && !strings.EqualFold(r.Module, f.Module)) ||
				(!f.Start.IsZero() && r.Time.Before(f.Start)) || (!f.End.IsZero() && !r.Time.Before(f.End)) {
				return nil
			}
			all = append(all, *r)
			return nil
		})
	})
	if err != nil {
		return nil, 0, err
	}
	slices.Reverse(all)
	total := len(all)
	if len(all) > f.Limit {
		all = all[:f.Limit]
	}
	return all, total, nil
}
