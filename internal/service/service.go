// Package service holds Palisade's business logic: validation, quotas, IDs,
// IP address management and the invariants between resources. It reads and
// writes the store and returns coded errors (package errs); it knows nothing
// of HTTP.
//
// Every method takes the caller's account ID; a resource of another account
// is reported as not found.
package service

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/palisade-project/palisade/internal/errs"
	"github.com/palisade-project/palisade/internal/flowlog/sink"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/store"
)

// Quotas are the per-deployment limits (SEMANTICS.md Part A).
type Quotas struct {
	VpcsPerAccount           int // default 10
	SecondaryCidrsPerVpc     int // 5
	VSwitchesPerVpc          int // 150
	SecurityGroupsPerAccount int // default 100000 (large: benchmarks create 10,000)
	GroupsPerENI             int // 10
	RulesPerENI              int // 1000 (ingress + egress, across the ENI's groups)
	RulesPerGroup            int // 1000 (bounded by RulesPerENI in practice)
	GroupRefRulesPerGroup    int // 20 (rules referencing another group, basic groups)
	BasicGroupIPs            int // 6000 private IPs in a basic group
	AdvancedGroupENIs        int // 65536
	ENIsPerInstance          int // 8 (incl. primary)
	PrivateIPsPerENI         int // 10 (incl. primary)
	InstancesPerRunCall      int // 100 (RunInstances Amount)
	NetworkAclsPerVpc        int // 20
	ACLEntriesPerDirection   int // 100 (ingress and egress each)
	FlowLogsPerAccount       int // 100 (0 also means 100)
	// EipsPerAccount bounds the EIPs one account holds, so that no account
	// can take the whole shared public pool (the cloud's default,
	// eip_quota_instances_num, is 20). 0 also means 20.
	EipsPerAccount int
	// InstancesPerAccount bounds the instances of one account (each is a
	// network namespace on its zone's host, a resource all accounts
	// share). 0 also means DefaultInstancesPerAccount.
	InstancesPerAccount int
	// MirrorRulesPerDirection bounds the rules of each direction of a
	// traffic-mirror filter, MirrorSessionsPerSource the sessions that may
	// list one source ENI. 0 also means model.MirrorRulesPerDirection
	// (10) and model.MirrorSessionsPerSource (3).
	MirrorRulesPerDirection int
	MirrorSessionsPerSource int
	// EndpointServiceResources bounds the instances of one PrivateLink
	// service, EndpointZones the zones of one endpoint. 0 also means
	// DefaultServiceResources (20) and DefaultEndpointZones (10).
	EndpointServiceResources int
	EndpointZones            int
	// FirewallPolicies bounds the Internet-firewall policies of one
	// account and direction, AddressBooks the address books of one
	// account, AddressBookEntries the entries of one book. 0 also means
	// DefaultFirewallPolicies (1000), DefaultAddressBooks (5000) and
	// DefaultAddressBookEntries (2000).
	FirewallPolicies   int
	AddressBooks       int
	AddressBookEntries int
	// LoadBalancersPerAccount bounds the Server Load Balancer instances of
	// one account, ListenersPerLoadBalancer and BackendsPerLoadBalancer
	// the listeners and backend servers of one. 0 also means
	// DefaultLoadBalancersPerAccount (60), DefaultListenersPerLoadBalancer
	// (50) and DefaultBackendsPerLoadBalancer (200).
	LoadBalancersPerAccount  int
	ListenersPerLoadBalancer int
	BackendsPerLoadBalancer  int
	// LBACLsPerAccount bounds the access control lists of listeners of
	// one account, LBACLEntries the entries of one list (the cloud's limit
	// of a listener's list), LBListenersPerACL the listeners that may use
	// one list. 0 also means DefaultLBACLsPerAccount (50),
	// DefaultLBACLEntries (1000) and DefaultLBListenersPerACL (50).
	LBACLsPerAccount  int
	LBACLEntries      int
	LBListenersPerACL int
}

// Defaults of the quotas where 0 means the default.
const (
	DefaultEipsPerAccount      = 20
	DefaultInstancesPerAccount = 1000
)

// DefaultQuotas returns the limits of SEMANTICS.md Part A.
func DefaultQuotas() Quotas {
	return Quotas{
		VpcsPerAccount:           10,
		SecondaryCidrsPerVpc:     5,
		VSwitchesPerVpc:          150,
		SecurityGroupsPerAccount: 100000,
		GroupsPerENI:             10,
		RulesPerENI:              1000,
		RulesPerGroup:            1000,
		GroupRefRulesPerGroup:    20,
		BasicGroupIPs:            6000,
		AdvancedGroupENIs:        65536,
		ENIsPerInstance:          8,
		PrivateIPsPerENI:         10,
		InstancesPerRunCall:      100,
		NetworkAclsPerVpc:        20,
		ACLEntriesPerDirection:   100,
		FlowLogsPerAccount:       DefaultFlowLogsPerAcct,
		EipsPerAccount:           DefaultEipsPerAccount,
		InstancesPerAccount:      DefaultInstancesPerAccount,
		MirrorRulesPerDirection:  model.MirrorRulesPerDirection,
		MirrorSessionsPerSource:  model.MirrorSessionsPerSource,
		EndpointServiceResources: DefaultServiceResources,
		EndpointZones:            DefaultEndpointZones,
		FirewallPolicies:         DefaultFirewallPolicies,
		AddressBooks:             DefaultAddressBooks,
		AddressBookEntries:       DefaultAddressBookEntries,
		LoadBalancersPerAccount:  DefaultLoadBalancersPerAccount,
		ListenersPerLoadBalancer: DefaultListenersPerLoadBalancer,
		BackendsPerLoadBalancer:  DefaultBackendsPerLoadBalancer,
		LBACLsPerAccount:         DefaultLBACLsPerAccount,
		LBACLEntries:             DefaultLBACLEntries,
		LBListenersPerACL:        DefaultLBListenersPerACL,
	}
}

// Config configures a Service.
type Config struct {
	Region string // e.g. "local"
	Quotas Quotas
	// ZoneServed reports whether an agent serves the zone. When no agent
	// serves it, new instances go straight to Running. Nil means none.
	ZoneServed func(zoneID string) bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// PublicCIDR is the pool of elastic IP addresses (zero: DefaultPublicCIDR).
	PublicCIDR netip.Prefix
	// FlowLogWindowScale divides flow-log capture windows (demos and tests
	// only; 0 or 1 in production: 1, 5 or 10 minutes as configured).
	FlowLogWindowScale int
	// FlowLogRetention is how long flow-log records are kept (the record
	// store prunes older ones; 0 keeps them forever). The app builds the
	// record store with it.
	FlowLogRetention time.Duration
	// FlowRecords is the embedded flow-log record store (nil: in memory,
	// with FlowLogRetention). The service closes it in CloseFlowLogs.
	FlowRecords sink.RecordStore
	// DataDir is the server's data directory: a flow-log FileSink may not
	// point into it (appending would corrupt the database or the
	// credentials). Empty: no data directory (tests).
	DataDir string
	// Logger logs what has no caller to answer (flow-log sink failures);
	// nil means slog.Default().
	Logger *slog.Logger
	// RootKeyDeleted, when set, is called after DeleteAccessKey deleted
	// the root key (the app publishes a new one in credentials.json).
	RootKeyDeleted func(keyID string)
	// DDoS is the operator's Anti-DDoS Basic configuration (zero:
	// model.DefaultDDoSConfig()); the caller validates it. EnsureDDoSConfig
	// writes it where the agents read it.
	DDoS model.DDoSConfig
}

// Service implements the API's actions on a store.
type Service struct {
	st  store.Store
	cfg Config
	log *slog.Logger
	// flowRecords and flowSinks receive flow-log records (IngestFlowRecords).
	flowRecords sink.RecordStore
	flowSinks   *sink.Fanout
	// flowBatches remembers the IDs of flow-record batches taken lately.
	flowBatches *recentIDs
}

// New returns a Service over st.
func New(st store.Store, cfg Config) *Service {
	if cfg.Region == "" {
		cfg.Region = "local"
	}
	if cfg.Quotas == (Quotas{}) {
		cfg.Quotas = DefaultQuotas()
	}
	// Quotas spelled out field by field before these existed mean the
	// defaults: an unset quota must not be "nothing allowed".
	if cfg.Quotas.EipsPerAccount <= 0 {
		cfg.Quotas.EipsPerAccount = DefaultEipsPerAccount
	}
	if cfg.Quotas.InstancesPerAccount <= 0 {
		cfg.Quotas.InstancesPerAccount = DefaultInstancesPerAccount
	}
	if cfg.Quotas.MirrorRulesPerDirection <= 0 {
		cfg.Quotas.MirrorRulesPerDirection = model.MirrorRulesPerDirection
	}
	if cfg.Quotas.MirrorSessionsPerSource <= 0 {
		cfg.Quotas.MirrorSessionsPerSource = model.MirrorSessionsPerSource
	}
	if cfg.Quotas.EndpointServiceResources <= 0 {
		cfg.Quotas.EndpointServiceResources = DefaultServiceResources
	}
	if cfg.Quotas.EndpointZones <= 0 {
		cfg.Quotas.EndpointZones = DefaultEndpointZones
	}
	if cfg.Quotas.FirewallPolicies <= 0 {
		cfg.Quotas.FirewallPolicies = DefaultFirewallPolicies
	}
	if cfg.Quotas.AddressBooks <= 0 {
		cfg.Quotas.AddressBooks = DefaultAddressBooks
	}
	if cfg.Quotas.AddressBookEntries <= 0 {
		cfg.Quotas.AddressBookEntries = DefaultAddressBookEntries
	}
	if cfg.Quotas.LoadBalancersPerAccount <= 0 {
		cfg.Quotas.LoadBalancersPerAccount = DefaultLoadBalancersPerAccount
	}
	if cfg.Quotas.ListenersPerLoadBalancer <= 0 {
		cfg.Quotas.ListenersPerLoadBalancer = DefaultListenersPerLoadBalancer
	}
	if cfg.Quotas.BackendsPerLoadBalancer <= 0 {
		cfg.Quotas.BackendsPerLoadBalancer = DefaultBackendsPerLoadBalancer
	}
	if cfg.Quotas.LBACLsPerAccount <= 0 {
		cfg.Quotas.LBACLsPerAccount = DefaultLBACLsPerAccount
	}
	if cfg.Quotas.LBACLEntries <= 0 {
		cfg.Quotas.LBACLEntries = DefaultLBACLEntries
	}
	if cfg.Quotas.LBListenersPerACL <= 0 {
		cfg.Quotas.LBListenersPerACL = DefaultLBListenersPerACL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.FlowLogWindowScale < 1 {
		cfg.FlowLogWindowScale = 1
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.DDoS == (model.DDoSConfig{}) {
		cfg.DDoS = model.DefaultDDoSConfig()
	}
	if cfg.FlowRecords == nil {
		cfg.FlowRecords = sink.NewMemory(sink.Retention{Keep: cfg.FlowLogRetention})
	}
	return &Service{st: st, cfg: cfg, log: cfg.Logger, flowRecords: cfg.FlowRecords, flowSinks: sink.NewFanout(sink.IPFIXOptions{}),
		flowBatches: newRecentIDs(100_000)}
}

// Quotas returns the limits in force (defaults filled in).
func (s *Service) Quotas() Quotas { return s.cfg.Quotas }

// checkInstanceQuota refuses to add n instances to an account that would
// then hold more than Quotas.InstancesPerAccount (QuotaExceed.Instance,
// the cloud's code). RunInstances calls it in its transaction.
func (s *Service) checkInstanceQuota(tx store.ReadTxn, accountID string, n int) error {
	limit := s.cfg.Quotas.InstancesPerAccount
	have := 0
	if err := listJSON(tx, model.PrefixInstance, func(i *model.Instance) error {
		if i.AccountID == accountID {
			have++
		}
		return nil
	}); err != nil {
		return err
	}
	if have+n > limit {
		return errs.New(http.StatusBadRequest, "QuotaExceed.Instance",
			"An account may have at most %d instances; this one has %d and asked for %d more. Delete unused instances or ask the operator to raise the quota.",
			limit, have, n)
	}
	return nil
}

// Region returns the region this control plane serves.
func (s *Service) Region() string { return s.cfg.Region }

// DefaultZone is the zone that exists with no agent: "<region>-a".
func (s *Service) DefaultZone() string { return s.cfg.Region + "-a" }

// Store returns the underlying store (for components that watch it).
func (s *Service) Store() store.Store { return s.st }

func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Second) }

// stamp is the creation time of listed resources: full precision, so that
// resources created within one second still list in creation order (the
// API shows it to the second).
func (s *Service) stamp() time.Time { return s.cfg.Now().UTC() }

// NewID returns prefix + "-" + 20 lowercase alphanumerics, like the cloud's IDs.
func NewID(prefix string) string {
	const alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return prefix + "-" + string(b)
}

// NewSecret returns n random bytes hex-encoded.
func NewSecret(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return hex.EncodeToString(b)
}

// getJSON reads key into v; ok is false when absent.
func getJSON(tx store.ReadTxn, key string, v any) (bool, error) {
	b, ok, err := tx.Get(key)
	if err != nil || !ok {
		return false, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("decode %s: %w", key, err)
	}
	return true, nil
}

// getOwned reads the record prefix+id of the caller's account. A record of
// another account is reported exactly like a missing one (notFound), so IDs
// cannot be probed across accounts; an empty id is a missing parameter.
func getOwned[T any](tx store.ReadTxn, prefix, param, accountID, id string, owner func(*T) string, notFound func(string) *errs.Error) (*T, error) {
	if id == "" {
		return nil, errs.MissingParameter(param)
	}
	v := new(T)
	ok, err := getJSON(tx, prefix+id, v)
	if err != nil {
		return nil, err
	}
	if !ok || owner(v) != accountID {
		return nil, notFound(id)
	}
	return v, nil
}

// putJSON writes v at key.
func putJSON(tx store.Txn, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	return tx.Put(key, b)
}

// listJSON decodes every value under prefix with newT and calls fn.
func listJSON[T any](tx store.ReadTxn, prefix string, fn func(*T) error) error {
	return tx.List(prefix, func(key string, value []byte) error {
		v := new(T)
		if err := json.Unmarshal(value, v); err != nil {
			return fmt.Errorf("decode %s: %w", key, err)
		}
		return fn(v)
	})
}

// view and update are shorthands with context.
func (s *Service) view(ctx context.Context, fn func(tx store.ReadTxn) error) error {
	return s.st.View(ctx, fn)
}

func (s *Service) update(ctx context.Context, fn func(tx store.Txn) error) (int64, error) {
	return s.st.Update(ctx, fn)
}
