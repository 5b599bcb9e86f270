// Package dataplane_test holds the data-plane benchmarks of the security
// group issue: connection and small-packet rates between two instances of
// one vSwitch with no policy, the compiled program (interval sets, verdict
// maps) and a naive linear nftables chain of the same rules; the time from
// a successful AuthorizeSecurityGroup to the first packet it lets through;
// and the duration of a full and of a no-change resync of 100 ENIs with
// 1,000 rules each. They need root, ip, nft and nsenter, and touch only
// namespaces carrying their own random tag (removed when they end).
//
// Reproduce (about 15 minutes on 2 cores):
//
//	go test -c -o /tmp/dpbench ./bench/dataplane/
//	/tmp/dpbench -test.run '^$' -test.bench 'ConnRate|PacketRate' -test.benchtime 2s -test.count 5 | tee rate.txt
//	/tmp/dpbench -test.run '^$' -test.bench AuthorizeToFirstPacket -test.benchtime 20x -test.count 5 | tee auth.txt
//	/tmp/dpbench -test.run '^$' -test.bench FullResync -test.benchtime 3x -test.count 3 | tee resync.txt
//	benchstat -col /policy rate.txt; benchstat auth.txt resync.txt
//
// Metrics: conns/s and pps are medians-ready rates of one run; ratio-to-none
// divides them by the median of the policy=none runs of the same process
// (policy=none runs first). The UDP receiver never answers, so conntrack
// keeps every sender's flow unreplied (state new) and every datagram is
// evaluated by the whole rule set: the worst case for per-packet cost.
package dataplane_test

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/agent"
	"github.com/palisade-project/palisade/internal/dataplane/linux"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/policy"
	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/store/memory"
)

const zone = "bench-a"

// cleanups run when the benchmark binary ends (TestMain): the rate
// benchmarks share one topology across sub-benchmarks and repetitions.
var cleanups []func()

func TestMain(m *testing.M) {
	code := m.Run()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	os.Exit(code)
}

func needKernel(b *testing.B) {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	for _, tool := range []string{"ip", "nft", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Skipf("needs %s: %v", tool, err)
		}
	}
}

func randTag() string {
	buf := make([]byte, 3)
	if _, err := crand.Read(buf); err != nil {
		panic(err)
	}
	return "b" + hex.EncodeToString(buf)
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// kworld is a memory store with VPC, vSwitch, group, instance and ENI
// records, and an agent that applies it to the kernel through the Linux
// applier and nft, as in internal/agent's kernel tests.
type kworld struct {
	tag  string
	ctx  context.Context
	st   store.Store
	ap   *linux.Applier
	fw   *agent.NlFirewall
	a    *agent.Agent
	topo *timedTopology
	fwT  *timedFirewall
	// groups and enis as last written (for the linear renderer).
	groups map[string]model.SecurityGroup
	enis   map[string]model.ENI
	macN   int
}

func newKWorld(tag string) *kworld {
	w := &kworld{tag: tag, ctx: context.Background(), st: memory.New(),
		groups: map[string]model.SecurityGroup{}, enis: map[string]model.ENI{}}
	w.ap = linux.New(linux.Config{Tag: "bench-" + tag, Logger: quietLogger()})
	w.newAgent()
	return w
}

// newAgent replaces the agent and its firewall (whose load cache makes a
// second load of the same program a no-op): a fresh agent is what a
// restarted host runs.
func (w *kworld) newAgent() {
	w.fw = &agent.NlFirewall{GuardPrefix: linux.VethPrefix}
	if w.topo == nil {
		w.topo = &timedTopology{inner: w.ap}
		w.fwT = &timedFirewall{}
	}
	w.fwT.inner = w.fw
	w.a = agent.New(agent.Config{
		Store: w.st, Zone: zone, Topology: w.topo, Firewall: w.fwT,
		// Anti-DDoS as every deployment has it: EIPs counted on the
		// uplink (nothing is sampled without Run).
		DDoS: discardDDoS{},
		// The Cloud Firewall's traffic log read as every deployment
		// reads it (nothing is reported without Run).
		FirewallLogs: discardDDoS{},
		IfName:       linux.VethName, Resync: 1 << 40, Logger: quietLogger(),
	})
}

// discardDDoS is the agent's sink of Anti-DDoS events and firewall logs.
type discardDDoS struct{}

func (discardDDoS) ReportDDoSEvents(context.Context, []model.DDoSEvent) error { return nil }

func (discardDDoS) ReportFirewallLogs(context.Context, []model.FirewallTrafficLog) error { return nil }

func (w *kworld) close() {
	if err := w.ap.Cleanup(context.Background()); err != nil {
		fmt.Fprintf(os.Stderr, "cleanup %s: %v\n", w.tag, err)
	}
	w.st.Close()
}

// put writes records in one transaction; a nil value writes an empty one.
func (w *kworld) put(kv map[string]any) error {
	_, err := w.st.Update(w.ctx, func(tx store.Txn) error {
		for k, v := range kv {
			var b []byte
			if v != nil {
				var err error
				if b, err = json.Marshal(v); err != nil {
					return err
				}
			}
			if err := tx.Put(k, b); err != nil {
				return err
			}
		}
		return nil
	})
	return err
}

func (w *kworld) vpc(short, cidr string) (vpcID, vswID string, err error) {
	vpcID, vswID = "vpc-"+w.tag+short, "vsw-"+w.tag+short
	p := netip.MustParsePrefix(cidr)
	err = w.put(map[string]any{
		model.PrefixVPC + vpcID:     model.VPC{ID: vpcID, CidrBlock: p, Status: "Available"},
		model.PrefixVSwitch + vswID: model.VSwitch{ID: vswID, VpcID: vpcID, ZoneID: zone, CidrBlock: p, Status: "Available"},
	})
	return vpcID, vswID, err
}

// group writes (or rewrites) a basic group whose members do not reach each
// other by membership alone (only rules decide).
func (w *kworld) group(id, vpcID string, rules []model.Rule) error {
	g := model.SecurityGroup{ID: id, VpcID: vpcID, Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerDrop, Rules: rules}
	w.groups[id] = g
	return w.put(map[string]any{model.PrefixSecurityGroup + id: g})
}

// instance writes a running instance with one primary ENI in groups and
// returns its instance (namespace) and ENI IDs.
func (w *kworld) instance(short, vpcID, vswID string, addr netip.Addr, groups ...string) (instID, eniID string, err error) {
	instID, eniID = "i-"+w.tag+short, "eni-"+w.tag+short
	w.macN++
	mac := fmt.Sprintf("02:%s:%s:%s:%02x:%02x", w.tag[1:3], w.tag[3:5], w.tag[5:7], w.macN>>8, w.macN&0xff)
	e := model.ENI{ID: eniID, Type: model.ENITypePrimary, VpcID: vpcID, VSwitchID: vswID, ZoneID: zone,
		InstanceID: instID, MAC: mac, PrimaryIP: addr, SecurityGroupIDs: groups, Status: model.ENIInUse}
	w.enis[eniID] = e
	kv := map[string]any{
		model.PrefixInstance + instID: model.Instance{ID: instID, ZoneID: zone, VpcID: vpcID, VSwitchID: vswID,
			PrimaryENIID: eniID, Status: model.InstanceRunning},
		model.PrefixENI + eniID: e,
	}
	for _, g := range groups {
		kv[model.PrefixMember+g+"/"+eniID] = nil
	}
	return instID, eniID, w.put(kv)
}

// rulePriorities is the number of distinct priorities (1..rulePriorities)
// of the random rules. The compiled program flattens each group set into
// one verdict map per direction and key, so the spread should not matter;
// it did when every (group, direction, priority, action) was a chain of its
// own (still the fallback for group sets that fragment too much). 10 is a
// moderate spread (real groups mostly use priority 1); -prios 99 the worst
// case for the fallback.
var rulePriorities = flag.Int("prios", 10, "distinct priorities of the random rules (1..N)")

// randomRules returns n rules of direction dir that match no address of
// 10.0.0.0/8 (peers are in 172.16.0.0/12): TCP or UDP, random port ranges,
// priorities 1..rulePriorities, accept or drop.
func randomRules(r *rand.Rand, prefix, dir string, n int) []model.Rule {
	out := make([]model.Rule, 0, n)
	for i := range n {
		addr := netip.AddrFrom4([4]byte{172, byte(16 + r.IntN(16)), byte(r.IntN(256)), byte(r.IntN(256))})
		from := 1 + r.IntN(60000)
		out = append(out, model.Rule{
			ID: fmt.Sprintf("sgr-%s%d", prefix, i), Direction: dir,
			Protocol: []string{model.ProtoTCP, "UDP"}[r.IntN(2)],
			Ports:    model.PortRange{From: from, To: from + r.IntN(200)},
			PeerCidr: netip.PrefixFrom(addr, 16+r.IntN(17)).Masked(),
			Policy:   []string{model.PolicyAccept, model.PolicyDrop}[r.IntN(2)],
			Priority: 1 + r.IntN(*rulePriorities),
		})
	}
	return out
}

// matchRule accepts all protocols with peer: the rule the benchmark
// traffic needs, at priority 100 so every other rule is evaluated first.
func matchRule(id, dir string, peer netip.Addr) model.Rule {
	return model.Rule{ID: id, Direction: dir, Protocol: model.ProtoALL, Ports: model.PortRange{From: -1, To: -1},
		PeerCidr: netip.PrefixFrom(peer, 32), Policy: model.PolicyAccept, Priority: 100}
}

// nsNft runs nft in the named namespace with script on stdin.
func nsNft(ns string, stdin string, args ...string) (string, error) {
	cmd := exec.Command("nsenter", append([]string{"--net=/run/netns/" + ns, "nft"}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("nft %v in %s: %w: %s", args, ns, err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// renderLinear is the naive baseline: the same security groups as one nft
// rule per SG rule, in evaluation order (priority ascending, drop before
// accept, group order, rule order), in two linear chains on the forward
// hook keyed by interface name, followed by each ENI's default. enis gives
// the order in which ENIs' rules appear in the chains.
func renderLinear(groups map[string]model.SecurityGroup, enis []model.ENI) string {
	var b strings.Builder
	// The loader's guard table goes: the linear chains fail closed
	// themselves (pv* drop at the end).
	for _, t := range []string{policy.GuardTable, policy.TableName} {
		b.WriteString("table inet " + t + " {}\ndelete table inet " + t + "\n")
	}
	b.WriteString("table inet " + policy.TableName + " {\n")
	for _, dir := range []string{model.Egress, model.Ingress} {
		chain, prio, key, peer, local := policy.EgressChain, "filter", "iifname", "daddr", "saddr"
		if dir == model.Ingress {
			chain, prio, key, peer, local = policy.IngressChain, "filter + 1", "oifname", "saddr", "daddr"
		}
		fmt.Fprintf(&b, "\tchain %s {\n\t\ttype filter hook forward priority %s; policy accept;\n", chain, prio)
		b.WriteString("\t\tct state established,related accept\n\t\tct state invalid drop\n")
		for _, e := range enis {
			ifname := linux.VethName(e.ID)
			type entry struct {
				r    model.Rule
				drop bool
			}
			var pool []entry
			defAllow := dir == model.Egress
			for _, gid := range e.SecurityGroupIDs {
				for _, r := range groups[gid].Rules {
					if strings.EqualFold(r.Direction, dir) {
						pool = append(pool, entry{r, strings.EqualFold(r.Policy, model.PolicyDrop)})
					}
				}
			}
			sort.SliceStable(pool, func(i, j int) bool {
				if pool[i].r.Priority != pool[j].r.Priority {
					return pool[i].r.Priority < pool[j].r.Priority
				}
				return pool[i].drop && !pool[j].drop
			})
			for _, p := range pool {
				r := p.r
				parts := []string{fmt.Sprintf("%s %q", key, ifname), fmt.Sprintf("ip %s %s", peer, r.PeerCidr)}
				switch strings.ToUpper(r.Protocol) {
				case "TCP", "UDP":
					parts = append(parts, "meta l4proto "+strings.ToLower(r.Protocol))
					if r.Ports.From >= 0 && !(r.Ports.From == 0 && r.Ports.To == 0) {
						parts = append(parts, fmt.Sprintf("th dport %d-%d", r.Ports.From, r.Ports.To))
					}
				case "ICMP":
					parts = append(parts, "meta l4proto icmp")
				}
				if r.LocalCidr.IsValid() {
					parts = append(parts, fmt.Sprintf("ip %s %s", local, r.LocalCidr))
				}
				verdict := "accept"
				if p.drop {
					verdict = "drop"
				}
				fmt.Fprintf(&b, "\t\t%s %s\n", strings.Join(parts, " "), verdict)
			}
			if defAllow {
				fmt.Fprintf(&b, "\t\t%s %q accept\n", key, ifname)
			} else {
				fmt.Fprintf(&b, "\t\t%s %q drop\n", key, ifname)
			}
		}
		fmt.Fprintf(&b, "\t\t%s %q drop\n\t}\n", key, linux.VethPrefix+"*")
	}
	b.WriteString("}\n")
	return b.String()
}

// median of xs (xs is not modified).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// percentile p (0-100) of xs by nearest rank.
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}
