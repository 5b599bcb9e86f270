// Package analysis_test holds the analysis benchmarks of BENCHMARKS.md: a
// synthetic account of 10 VPCs x 1,000 instances (10,000 ENIs), 1,000
// security groups of 100 rules (100,000 rules: CIDR and group-reference
// peers, accept and drop, priorities 1-100, some source-port and local
// CIDR restrictions) and network ACLs on a third of the vSwitches.
//
// BenchmarkTargets measures, in one run, the analyzer against a baseline
// without its indexes (package policy's evaluator over policy.NewWorld,
// which pools and sorts the rules of an ENI's groups on every call) and
// prints a table:
//
//	go test -run '^$' -bench Targets -benchtime 1x -v ./bench/analysis/
//
// The Benchmark functions measure the same operations for benchstat:
//
//	go test -run '^$' -bench . -benchmem -count 5 ./bench/analysis/
package analysis_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/analysis"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/policy"
	"github.com/palisade-project/palisade/internal/service"
	"github.com/palisade-project/palisade/internal/store"
	"github.com/palisade-project/palisade/internal/store/memory"
)

const (
	nVPCs         = 10
	enisPerVPC    = 1000
	groupsPerVPC  = 100
	rulesPerGroup = 100
	vswPerVPC     = 10
)

var sensitive = []int{22, 80, 443, 3306, 5432, 6379, 8080, 9200}

// buildWorld draws the synthetic world (deterministic).
func buildWorld() *analysis.World {
	rng := rand.New(rand.NewPCG(42, 42))
	w := &analysis.World{Limits: analysis.Limits{VpcsPerAccount: 10, VSwitchesPerVpc: 150, SecurityGroupsPerAccount: 100000,
		GroupsPerENI: 10, RulesPerENI: 1000, RulesPerGroup: 1000, GroupRefRulesPerGroup: 20, BasicGroupIPs: 6000,
		ENIsPerInstance: 8, PrivateIPsPerENI: 10, NetworkAclsPerVpc: 20, ACLEntriesPerDirection: 100}}
	for v := range nVPCs {
		vpc := fmt.Sprintf("vpc-%02d", v)
		w.VPCs = append(w.VPCs, model.VPC{ID: vpc, CidrBlock: netip.MustParsePrefix("10.0.0.0/16")})
		for s := range vswPerVPC {
			vsw := model.VSwitch{ID: fmt.Sprintf("vsw-%02d-%02d", v, s), VpcID: vpc, CidrBlock: netip.MustParsePrefix(fmt.Sprintf("10.0.%d.0/24", s))}
			if s%3 == 0 {
				acl := model.NetworkACL{ID: fmt.Sprintf("nacl-%02d-%02d", v, s), VpcID: vpc}
				for k := range 20 {
					e := model.ACLEntry{ID: fmt.Sprintf("nae-%02d-%02d-i%d", v, s, k), Policy: model.PolicyAccept, Protocol: "tcp",
						Ports: model.PortRange{From: sensitive[k%len(sensitive)], To: sensitive[k%len(sensitive)]}, Cidr: netip.MustParsePrefix(fmt.Sprintf("10.0.%d.0/24", rng.IntN(vswPerVPC)))}
					if k%5 == 4 {
						e.Policy = model.PolicyDrop
					}
					acl.Ingress = append(acl.Ingress, e)
				}
				acl.Ingress = append(acl.Ingress, model.ACLEntry{ID: "nae-in-all", Policy: model.PolicyAccept, Protocol: "all", Ports: model.PortRange{From: -1, To: -1}, Cidr: netip.MustParsePrefix("10.0.0.0/16")})
				acl.Egress = []model.ACLEntry{
					{ID: "nae-out-eph", Policy: model.PolicyAccept, Protocol: "tcp", Ports: model.PortRange{From: 1024, To: 65535}, Cidr: netip.MustParsePrefix("0.0.0.0/0")},
					{ID: "nae-out-vpc", Policy: model.PolicyAccept, Protocol: "all", Ports: model.PortRange{From: -1, To: -1}, Cidr: netip.MustParsePrefix("10.0.0.0/16")},
				}
				w.ACLs = append(w.ACLs, acl)
				vsw.NetworkAclID = acl.ID
			}
			w.VSwitches = append(w.VSwitches, vsw)
		}
		var gids []string
		for g := range groupsPerVPC {
			gids = append(gids, fmt.Sprintf("sg-%02d-%03d", v, g))
		}
		for g, gid := range gids {
			sg := model.SecurityGroup{ID: gid, VpcID: vpc, Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerDrop}
			if g%4 == 0 {
				sg.InnerAccessPolicy = model.InnerAccept
			}
			refs := 0
			for r := range rulesPerGroup {
				ru := model.Rule{ID: fmt.Sprintf("sgr-%02d-%03d-%03d", v, g, r), Direction: model.Ingress, Policy: model.PolicyAccept,
					Protocol: model.ProtoTCP, Priority: 1 + rng.IntN(100), Ports: model.PortRange{From: -1, To: -1}}
				if rng.IntN(4) == 0 {
					ru.Direction = model.Egress
				}
				if rng.IntN(5) == 0 {
					ru.Policy = model.PolicyDrop
				}
				switch k := rng.IntN(10); {
				case k < 6:
					p := sensitive[rng.IntN(len(sensitive))]
					if rng.IntN(3) == 0 {
						p = 1024 + rng.IntN(60000)
					}
					ru.Ports = model.PortRange{From: p, To: p + rng.IntN(3)*rng.IntN(50)}
				case k < 8:
					ru.Protocol = model.ProtoUDP
					p := 1 + rng.IntN(65000)
					ru.Ports = model.PortRange{From: p, To: p + rng.IntN(100)}
				case k < 9:
					ru.Protocol = model.ProtoICMP
				default:
					ru.Protocol = model.ProtoALL
				}
				if rng.IntN(20) == 0 && (ru.Protocol == model.ProtoTCP || ru.Protocol == model.ProtoUDP) {
					ru.SourcePorts = model.PortRange{From: 1024, To: 65535}
				}
				if refs < 20 && rng.IntN(8) == 0 {
					ru.PeerGroupID = gids[rng.IntN(len(gids))]
					refs++
				} else {
					switch k := rng.IntN(10); {
					case k < 5:
						ru.PeerCidr = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(rng.IntN(vswPerVPC)), byte(rng.IntN(256))}), 32)
					case k < 8:
						ru.PeerCidr = netip.MustParsePrefix(fmt.Sprintf("10.0.%d.0/24", rng.IntN(vswPerVPC)))
					case k < 9:
						ru.PeerCidr = netip.MustParsePrefix("0.0.0.0/0")
					default:
						ru.PeerCidr = netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(1 + rng.IntN(223)), byte(rng.IntN(256)), 0, 0}), 8+rng.IntN(17)).Masked()
					}
				}
				if rng.IntN(25) == 0 {
					ru.LocalCidr = netip.MustParsePrefix(fmt.Sprintf("10.0.%d.0/24", rng.IntN(vswPerVPC)))
				}
				sg.Rules = append(sg.Rules, ru)
			}
			w.Groups = append(w.Groups, sg)
		}
		for i := range enisPerVPC {
			s := i % vswPerVPC
			inst := fmt.Sprintf("i-%02d-%04d", v, i)
			e := model.ENI{ID: fmt.Sprintf("eni-%02d-%04d", v, i), VpcID: vpc, VSwitchID: fmt.Sprintf("vsw-%02d-%02d", v, s), InstanceID: inst,
				PrimaryIP: netip.AddrFrom4([4]byte{10, 0, byte(s), byte(10 + i/vswPerVPC)}), Type: model.ENITypePrimary}
			for _, k := range rng.Perm(groupsPerVPC)[:1+rng.IntN(3)] {
				e.SecurityGroupIDs = append(e.SecurityGroupIDs, gids[k])
			}
			if i%10 == 0 {
				w.EIPs = append(w.EIPs, model.EIP{ID: fmt.Sprintf("eip-%02d-%04d", v, i), Address: netip.AddrFrom4([4]byte{198, 18, byte(v), byte(i / 10)}),
					ENIID: e.ID, PrivateIP: e.PrimaryIP, InstanceID: inst, Status: model.EIPInUse})
			}
			w.ENIs = append(w.ENIs, e)
			w.Instances = append(w.Instances, model.Instance{ID: inst, VpcID: vpc, VSwitchID: e.VSwitchID, PrimaryENIID: e.ID, Status: model.InstanceRunning})
		}
	}
	return w
}

var (
	worldOnce sync.Once
	theWorld  *analysis.World
)

func world() *analysis.World {
	worldOnce.Do(func() { theWorld = buildWorld() })
	return theWorld
}

// queries draws n reach queries: instance pairs of one VPC (most), the
// internet to an instance, an instance to the internet.
func queries(n int) []analysis.ReachQuery {
	rng := rand.New(rand.NewPCG(7, 7))
	out := make([]analysis.ReachQuery, 0, n)
	for range n {
		v := rng.IntN(nVPCs)
		a, b := fmt.Sprintf("i-%02d-%04d", v, rng.IntN(enisPerVPC)), fmt.Sprintf("i-%02d-%04d", v, rng.IntN(enisPerVPC))
		q := analysis.ReachQuery{From: a, To: b, Protocol: "tcp", Port: sensitive[rng.IntN(len(sensitive))]}
		switch rng.IntN(10) {
		case 0:
			q.From = "203.0.113.7"
		case 3:
			q.From, q.To = "203.0.113.7", fmt.Sprintf("198.18.%d.%d", v, rng.IntN(enisPerVPC/10))
		case 1:
			q.To = "198.51.100.9"
		case 2:
			q.Protocol, q.Port = "udp", 53
		}
		if q.From == q.To {
			q.To = fmt.Sprintf("i-%02d-%04d", v, (rng.IntN(enisPerVPC-1)+1+rng.IntN(1))%enisPerVPC)
		}
		out = append(out, q)
	}
	return out
}

// naiveReach is the baseline: policy's evaluator (no index: it pools and
// sorts the groups' rules on every call), request and reply.
func naiveReach(pw policy.World, from, to *model.ENI, proto uint8, port uint16) bool {
	pkt := policy.Packet{Src: from.PrimaryIP, Dst: to.PrimaryIP, Proto: proto, SrcPort: analysis.DefaultSourcePort, DstPort: port}
	if !policy.Evaluate(pw, from.ID, to.ID, pkt).Allow {
		return false
	}
	rep := policy.Packet{Src: to.PrimaryIP, Dst: from.PrimaryIP, Proto: proto, SrcPort: port, DstPort: analysis.DefaultSourcePort}
	o, i := policy.EvaluateACLs(pw, to.ID, from.ID, rep)
	return o.Allow && i.Allow
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

func heapMB() float64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc) / (1 << 20)
}

// cpu is the process's user + system CPU time so far: the machine may be
// shared, so each phase reports CPU time next to wall time.
func cpu() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func maxRSSMB() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Maxrss) / 1024
}

// BenchmarkTargets measures the targets of issue 5 and the baseline once,
// and fails when a target is missed (PALISADE_BENCH_NOFAIL=1 only reports).
// It is a benchmark, not a test, so that `go test ./...` (with -race) never
// times it:
//
//	go test -run '^$' -bench Targets -benchtime 1x -v ./bench/analysis/
func BenchmarkTargets(b *testing.B) {
	t := b
	if testing.Short() {
		t.Skip("benchmark")
	}
	heap0 := heapMB()
	t0 := time.Now()
	w := world()
	tGen := time.Since(t0)
	nRules := 0
	for _, g := range w.Groups {
		nRules += len(g.Rules)
	}
	t0 = time.Now()
	a := analysis.New(w)
	tIndex := time.Since(t0)
	t0 = time.Now()
	a.Prepare()
	tPrepare := time.Since(t0)
	t.Logf("world: %d VPCs, %d ENIs, %d groups, %d rules, %d ACLs (generated in %v); analyzer index %v + contexts of all ENIs (Prepare) %v",
		len(w.VPCs), len(w.ENIs), len(w.Groups), nRules, len(w.ACLs), tGen.Round(time.Millisecond), tIndex.Round(time.Millisecond), tPrepare.Round(time.Millisecond))

	// Reach: first and second pass over the queries (the second finds
	// the reply caches of the CPU warm).
	qs := queries(5000)
	lat := make([]time.Duration, 0, len(qs))
	for _, q := range qs {
		s := time.Now()
		if _, err := a.Reach(q); err != nil {
			t.Fatalf("%+v: %v", q, err)
		}
		lat = append(lat, time.Since(s))
	}
	warm := make([]time.Duration, 0, len(qs))
	for _, q := range qs {
		s := time.Now()
		_, _ = a.Reach(q)
		warm = append(warm, time.Since(s))
	}
	// Baseline reach: policy evaluator on policy.NewWorld (pairs only).
	pw := policy.NewWorld(w.Groups, w.ENIs, w.VSwitches, w.ACLs)
	enis := map[string]*model.ENI{}
	for i := range w.ENIs {
		enis[w.ENIs[i].InstanceID] = &w.ENIs[i]
	}
	var base []time.Duration
	for _, q := range qs {
		f, to := enis[q.From], enis[q.To]
		_ = to
		if f == nil || to == nil {
			continue
		}
		proto := policy.IPProtoTCP
		if q.Protocol == "udp" {
			proto = policy.IPProtoUDP
		}
		s := time.Now()
		naiveReach(pw, f, to, proto, uint16(q.Port))
		base = append(base, time.Since(s))
	}
	t.Logf("reach, %d queries: first pass p50 %v p99 %v max %v; second pass p50 %v p99 %v; baseline (policy evaluator, verdict only, no trace) p50 %v p99 %v",
		len(qs), percentile(lat, .5), percentile(lat, .99), percentile(lat, 1), percentile(warm, .5), percentile(warm, .99),
		percentile(base, .5), percentile(base, .99))

	// Matrix: 1,000 instances x 3 ports.
	ports, _ := analysis.ParsePorts("22,443,5432")
	t0, c0 := time.Now(), cpu()
	m, err := a.Matrix(analysis.MatrixQuery{VpcID: "vpc-03", Ports: ports})
	if err != nil {
		t.Fatal(err)
	}
	tMatrix, cMatrix := time.Since(t0), cpu()-c0
	// Baseline matrix: the policy evaluator per cell on 20 rows,
	// extrapolated to 1,000 (the full run takes minutes).
	var vpcENIs []*model.ENI
	for i := range w.ENIs {
		if w.ENIs[i].VpcID == "vpc-03" {
			vpcENIs = append(vpcENIs, &w.ENIs[i])
		}
	}
	t0 = time.Now()
	agree, cells := 0, 0
	row := map[string]int{}
	for i, in := range m.Instances {
		row[in.Instance] = i
	}
	for _, f := range vpcENIs[:20] {
		for pi, p := range ports {
			for _, to := range vpcENIs {
				if f == to {
					continue
				}
				got := naiveReach(pw, f, to, p.Proto, p.Port)
				want := m.Rows[row[f.InstanceID]].Cells[pi][row[to.InstanceID]] == analysis.CellReachable
				cells++
				if got == want {
					agree++
				}
			}
		}
	}
	tBaseMatrix := time.Since(t0) * time.Duration(len(vpcENIs)) / 20
	if agree != cells {
		t.Errorf("matrix and baseline disagree on %d of %d cells", cells-agree, cells)
	}
	t.Logf("matrix %d x %d x %d ports: %v wall, %v CPU on %d CPUs (%d reachable cells); baseline (policy evaluator per cell) %v extrapolated from 20 rows (agrees on %d/%d sampled cells)",
		len(m.Instances), len(m.Instances), len(ports), tMatrix.Round(time.Millisecond), cMatrix.Round(time.Millisecond), runtime.GOMAXPROCS(0), m.Reachable, tBaseMatrix.Round(time.Second), agree, cells)

	// Audit of the whole account.
	t0, c0 = time.Now(), cpu()
	au, err := analysis.New(w).Audit(analysis.AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	tAudit, cAudit := time.Since(t0), cpu()-c0
	codes := map[string]int{}
	for _, f := range au.Findings {
		codes[f.Code]++
	}
	t.Logf("audit (fresh analyzer): %v wall, %v CPU, %d findings (%d high, %d medium, %d low): %v", tAudit.Round(time.Millisecond), cAudit.Round(time.Millisecond), len(au.Findings), au.High, au.Medium, au.Low, codes)

	// Through the service: the account read from a store (memory
	// backend), indexed, cached by store revision.
	st := memory.New()
	defer st.Close()
	put := func(tx store.Txn, key string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		return tx.Put(key, b)
	}
	const acct = "1000000000000001"
	if _, err := st.Update(context.Background(), func(tx store.Txn) error {
		for _, v := range w.VPCs {
			v.AccountID = acct
			if err := put(tx, model.PrefixVPC+v.ID, v); err != nil {
				return err
			}
		}
		for _, v := range w.VSwitches {
			v.AccountID = acct
			if err := put(tx, model.PrefixVSwitch+v.ID, v); err != nil {
				return err
			}
		}
		for _, v := range w.ACLs {
			v.AccountID = acct
			if err := put(tx, model.PrefixNetworkACL+v.ID, v); err != nil {
				return err
			}
		}
		for _, v := range w.Groups {
			v.AccountID = acct
			if err := put(tx, model.PrefixSecurityGroup+v.ID, v); err != nil {
				return err
			}
		}
		for _, v := range w.ENIs {
			v.AccountID = acct
			if err := put(tx, model.PrefixENI+v.ID, v); err != nil {
				return err
			}
		}
		for _, v := range w.EIPs {
			v.AccountID = acct
			if err := put(tx, model.PrefixEIP+v.ID, v); err != nil {
				return err
			}
		}
		for _, v := range w.Instances {
			v.AccountID = acct
			if err := put(tx, model.PrefixInstance+v.ID, v); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	svc := service.New(st, service.Config{})
	t0, c0 = time.Now(), cpu()
	if _, err := svc.AnalyzeReachability(context.Background(), acct, qs[0], nil); err != nil {
		t.Fatal(err)
	}
	tSvcCold, cSvcCold := time.Since(t0), cpu()-c0
	var svcLat []time.Duration
	for _, q := range qs[:1000] {
		s := time.Now()
		if _, err := svc.AnalyzeReachability(context.Background(), acct, q, nil); err != nil {
			t.Fatal(err)
		}
		svcLat = append(svcLat, time.Since(s))
	}
	t.Logf("service AnalyzeReachability: first call (read account from store + index + Prepare) %v wall, %v CPU; then (cached by store revision) p50 %v p99 %v",
		tSvcCold.Round(time.Millisecond), cSvcCold.Round(time.Millisecond), percentile(svcLat, .5), percentile(svcLat, .99))

	heap := heapMB() - heap0
	runtime.KeepAlive(a)
	runtime.KeepAlive(pw)
	t.Logf("memory: live heap %.0f MB (world + analyzer + baseline world), max RSS %.0f MB", heap, maxRSSMB())

	if os.Getenv("PALISADE_BENCH_NOFAIL") == "" {
		if p := percentile(lat, .99); p > 5*time.Millisecond {
			t.Errorf("reach p99 %v > 5 ms", p)
		}
		if tMatrix > 10*time.Second {
			t.Errorf("matrix %v > 10 s", tMatrix)
		}
		if tAudit > 10*time.Second {
			t.Errorf("audit %v > 10 s", tAudit)
		}
		if rss := maxRSSMB(); rss > 1024 {
			t.Errorf("max RSS %.0f MB > 1 GB", rss)
		}
	}
}

func BenchmarkReach(b *testing.B) {
	a := analysis.New(world())
	qs := queries(1000)
	for _, q := range qs {
		_, _ = a.Reach(q)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := a.Reach(qs[i%len(qs)]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReachBaseline(b *testing.B) {
	w := world()
	pw := policy.NewWorld(w.Groups, w.ENIs, w.VSwitches, w.ACLs)
	enis := map[string]*model.ENI{}
	for i := range w.ENIs {
		enis[w.ENIs[i].InstanceID] = &w.ENIs[i]
	}
	var pairs [][2]*model.ENI
	for _, q := range queries(1000) {
		if f, t := enis[q.From], enis[q.To]; f != nil && t != nil {
			pairs = append(pairs, [2]*model.ENI{f, t})
		}
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		p := pairs[i%len(pairs)]
		naiveReach(pw, p[0], p[1], policy.IPProtoTCP, 5432)
	}
}

func BenchmarkIndex(b *testing.B) {
	w := world()
	for b.Loop() {
		analysis.New(w)
	}
}

func BenchmarkMatrix(b *testing.B) {
	a := analysis.New(world())
	ports, _ := analysis.ParsePorts("22,443,5432")
	cells := 0
	for b.Loop() {
		m, err := a.Matrix(analysis.MatrixQuery{VpcID: "vpc-03", Ports: ports})
		if err != nil {
			b.Fatal(err)
		}
		cells = len(m.Rows) * (len(m.Rows) - 1) * len(ports)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(cells), "ns/cell")
}

// peeredWorld is world() with vpc-04 moved to 10.1.0.0/16 (its vSwitches,
// ENIs, EIPs' private addresses and its groups' rules towards its own
// block) and peered with vpc-03, routes on both sides: the matrix of
// vpc-03 with IncludePeers then has 2,000 instances, half of the cells
// across the peering.
func peeredWorld() *analysis.World {
	base := world()
	w := *base
	move := func(a netip.Addr) netip.Addr {
		if b := a.As4(); a.Is4() && b[0] == 10 && b[1] == 0 {
			return netip.AddrFrom4([4]byte{10, 1, b[2], b[3]})
		}
		return a
	}
	movePrefix := func(p netip.Prefix) netip.Prefix {
		if p.Bits() >= 16 {
			return netip.PrefixFrom(move(p.Addr()), p.Bits())
		}
		return p
	}
	const moved = "vpc-04"
	w.VSwitches = slices.Clone(base.VSwitches)
	for i := range w.VSwitches {
		if w.VSwitches[i].VpcID == moved {
			w.VSwitches[i].CidrBlock = movePrefix(w.VSwitches[i].CidrBlock)
		}
	}
	movedENI := map[string]bool{}
	w.ENIs = slices.Clone(base.ENIs)
	for i := range w.ENIs {
		if e := &w.ENIs[i]; e.VpcID == moved {
			movedENI[e.ID] = true
			e.PrimaryIP = move(e.PrimaryIP)
			e.SecondaryIPs = slices.Clone(e.SecondaryIPs)
			for j := range e.SecondaryIPs {
				e.SecondaryIPs[j] = move(e.SecondaryIPs[j])
			}
		}
	}
	w.EIPs = slices.Clone(base.EIPs)
	for i := range w.EIPs {
		if movedENI[w.EIPs[i].ENIID] {
			w.EIPs[i].PrivateIP = move(w.EIPs[i].PrivateIP)
		}
	}
	w.Groups = slices.Clone(base.Groups)
	for i := range w.Groups {
		if g := &w.Groups[i]; g.VpcID == moved {
			g.Rules = slices.Clone(g.Rules)
			for j := range g.Rules {
				g.Rules[j].PeerCidr = movePrefix(g.Rules[j].PeerCidr)
			}
		}
	}
	w.ACLs = slices.Clone(base.ACLs)
	for i := range w.ACLs {
		if a := &w.ACLs[i]; a.VpcID == moved {
			a.Ingress, a.Egress = slices.Clone(a.Ingress), slices.Clone(a.Egress)
			for _, es := range [][]model.ACLEntry{a.Ingress, a.Egress} {
				for j := range es {
					es[j].Cidr = movePrefix(es[j].Cidr)
				}
			}
		}
	}
	w.Peerings = []model.PeerConnection{{ID: "pcc-0304", VpcID: "vpc-03", AcceptingVpcID: moved, Status: model.PeerActivated}}
	w.RouteEntries = []model.RouteEntry{
		{ID: "rte-03", VpcID: "vpc-03", DestinationCidr: netip.MustParsePrefix("10.1.0.0/16"), NextHopType: model.RouteNextHopPeer, NextHopID: "pcc-0304"},
		{ID: "rte-04", VpcID: moved, DestinationCidr: netip.MustParsePrefix("10.0.0.0/16"), NextHopType: model.RouteNextHopPeer, NextHopID: "pcc-0304"},
	}
	return &w
}

// BenchmarkMatrixPeers is BenchmarkMatrix's VPC with its peer: 2,000 x
// 2,000 instances x 3 ports, half of the cells across the peering. It
// reports ns per cell, to compare with BenchmarkMatrix's.
func BenchmarkMatrixPeers(b *testing.B) {
	a := analysis.New(peeredWorld())
	ports, _ := analysis.ParsePorts("22,443,5432")
	var cells, cross, reachable int
	for b.Loop() {
		m, err := a.Matrix(analysis.MatrixQuery{VpcID: "vpc-03", Ports: ports, IncludePeers: true})
		if err != nil {
			b.Fatal(err)
		}
		cells, cross, reachable = 0, 0, 0
		for i, row := range m.Rows {
			for _, cs := range row.Cells {
				for j, c := range []byte(cs) {
					if i == j {
						continue
					}
					cells++
					if m.Instances[i].VpcID != m.Instances[j].VpcID {
						cross++
						if c != analysis.CellBlocked {
							reachable++
						}
					}
				}
			}
		}
	}
	if cross == 0 || reachable == 0 {
		b.Fatalf("%d cells, %d across the peering, %d of them not blocked: the world does not exercise the peering", cells, cross, reachable)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(cells), "ns/cell")
	b.ReportMetric(float64(cross), "cross-cells")
}

func BenchmarkAudit(b *testing.B) {
	benchAudit(b, world())
}

// benchAudit audits w with a fresh analyzer (the audit includes building
// the contexts) and reports the process's CPU time per audit too: the
// machine may be shared, and wall time then depends on the other jobs.
func benchAudit(b *testing.B, w *analysis.World) {
	var c0 time.Duration
	for b.Loop() {
		if c0 == 0 {
			c0 = cpu()
		}
		if _, err := analysis.New(w).Audit(analysis.AuditQuery{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric((cpu()-c0).Seconds()/float64(b.N), "cpu-s/op")
}

// openWorld is world() with every EIP moved to the next instance, on a
// vSwitch without a network ACL. In world() every EIP's ENI is on a
// vSwitch whose ACL admits no public address, which settles the exposure
// of its sensitive ports at the ACL; here the security groups decide it.
func openWorld() *analysis.World {
	w := *world()
	w.EIPs = slices.Clone(w.EIPs)
	enis := map[string]int{}
	for i := range w.ENIs {
		enis[w.ENIs[i].ID] = i
	}
	for i := range w.EIPs {
		e := &w.ENIs[enis[w.EIPs[i].ENIID]+1]
		w.EIPs[i].ENIID, w.EIPs[i].PrivateIP, w.EIPs[i].InstanceID = e.ID, e.PrimaryIP, e.InstanceID
	}
	return &w
}

// BenchmarkAuditOpen is BenchmarkAudit on openWorld.
func BenchmarkAuditOpen(b *testing.B) {
	benchAudit(b, openWorld())
}
