// Package controlplane_test holds the control-plane benchmarks of
// BENCHMARKS.md: a server with 10,000 security groups and 100,000 rules,
// driven through the official SDK, on the durable bbolt store and on the
// in-memory store in the same run (the baseline).
//
//	go test -run '^$' -bench . -benchtime 2000x -count 5 ./bench/controlplane/ | tee out.txt
package controlplane_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"

	"github.com/palisade-project/palisade/internal/apitest"
	"github.com/palisade-project/palisade/internal/app"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/service"
	"github.com/palisade-project/palisade/internal/store"
)

const (
	seedGroups        = 10_000
	seedRulesPerGroup = 10
	concurrentClients = 16
)

// world is a seeded server.
type world struct {
	env    *apitest.Env
	groups []string
}

// seed starts a server on backend and writes the groups straight into the
// store in large transactions (seeding through the API would measure the
// seeding, not the queries).
func seed(b *testing.B, backend string) *world {
	b.Helper()
	q := service.DefaultQuotas()
	q.SecurityGroupsPerAccount = 1 << 30
	env := apitest.Start(b, apitest.WithBackend(backend), apitest.WithQuotas(q))
	acct := env.Admin.AccountID
	vpc := model.VPC{ID: service.NewID("vpc"), AccountID: acct, CidrBlock: netip.MustParsePrefix("10.0.0.0/8"), Status: "Available"}
	env.PutRecord(b, model.PrefixVPC+vpc.ID, vpc)
	w := &world{env: env}
	now := time.Now().UTC()
	const batch = 500
	for start := 0; start < seedGroups; start += batch {
		recs := map[string][]byte{}
		for i := start; i < start+batch && i < seedGroups; i++ {
			sg := model.SecurityGroup{ID: service.NewID("sg"), AccountID: acct, VpcID: vpc.ID, Name: fmt.Sprintf("g%05d", i),
				Type: model.GroupTypeBasic, InnerAccessPolicy: model.InnerAccept, CreatedAt: now}
			for r := 0; r < seedRulesPerGroup; r++ {
				sg.Rules = append(sg.Rules, model.Rule{ID: service.NewID("sgr"), Direction: model.Ingress, Protocol: model.ProtoTCP,
					Ports:    model.PortRange{From: 1000 + r, To: 1000 + r},
					PeerCidr: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(r), byte(i >> 8), byte(i)}), 32),
					Policy:   model.PolicyAccept, Priority: 1 + r, NicType: "intranet", CreatedAt: now})
			}
			v, err := json.Marshal(sg)
			if err != nil {
				b.Fatal(err)
			}
			recs[model.PrefixSecurityGroup+sg.ID] = v
			w.groups = append(w.groups, sg.ID)
		}
		_, err := env.App.Service().Store().Update(context.Background(), func(tx store.Txn) error {
			for k, v := range recs {
				if err := tx.Put(k, v); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return w
}

var backends = []string{app.BackendBolt, app.BackendMemory}

// reportMemory reports the Go heap in use and the process RSS after a GC.
func reportMemory(b *testing.B) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MB")
	if rss, ok := rssMB(); ok {
		b.ReportMetric(rss, "rss-MB")
	}
}

func rssMB() (float64, bool) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseFloat(f[1], 64)
			return kb / 1024, err == nil
		}
	}
	return 0, false
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[min(len(d)-1, int(float64(len(d))*p))]
}

// BenchmarkDescribeSecurityGroupAttribute: one client describing random
// groups; reports p50/p99 latency of the SDK call.
func BenchmarkDescribeSecurityGroupAttribute(b *testing.B) {
	for _, backend := range backends {
		b.Run("backend="+backend, func(b *testing.B) {
			w := seed(b, backend)
			c := w.env.ECS(b, w.env.Admin)
			rng := rand.New(rand.NewPCG(1, 2))
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				req := ecs.CreateDescribeSecurityGroupAttributeRequest()
				req.SecurityGroupId = w.groups[rng.IntN(len(w.groups))]
				t0 := time.Now()
				resp, err := c.DescribeSecurityGroupAttribute(req)
				lat = append(lat, time.Since(t0))
				if err != nil {
					b.Fatal(err)
				}
				if len(resp.Permissions.Permission) != seedRulesPerGroup {
					b.Fatalf("got %d rules", len(resp.Permissions.Permission))
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(percentile(lat, 0.50).Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "p99-ms")
			reportMemory(b)
		})
	}
}

// BenchmarkAuthorizeSecurityGroup: 16 concurrent clients each adding one
// new rule per call to random groups; every call is acknowledged only after
// the store made it durable. Reports requests per second.
func BenchmarkAuthorizeSecurityGroup(b *testing.B) {
	for _, backend := range backends {
		b.Run(fmt.Sprintf("backend=%s/clients=%d", backend, concurrentClients), func(b *testing.B) {
			w := seed(b, backend)
			clients := make([]*ecs.Client, concurrentClients)
			for i := range clients {
				clients[i] = w.env.ECS(b, w.env.Admin)
			}
			var next atomic.Int64
			var wg sync.WaitGroup
			errc := make(chan error, concurrentClients)
			b.ResetTimer()
			start := time.Now()
			for ci := range clients {
				wg.Add(1)
				go func(c *ecs.Client, seed uint64) {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(seed, 7))
					for {
						n := next.Add(1)
						if n > int64(b.N) {
							return
						}
						req := ecs.CreateAuthorizeSecurityGroupRequest()
						req.SecurityGroupId = w.groups[rng.IntN(len(w.groups))]
						req.Permissions = &[]ecs.AuthorizeSecurityGroupPermissions{{
							IpProtocol: "tcp", PortRange: "443/443", Priority: "50",
							SourceCidrIp: netip.AddrFrom4([4]byte{172, byte(n >> 16), byte(n >> 8), byte(n)}).String() + "/32",
						}}
						if _, err := c.AuthorizeSecurityGroup(req); err != nil {
							errc <- err
							return
						}
					}
				}(clients[ci], uint64(ci))
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			select {
			case err := <-errc:
				b.Fatal(err)
			default:
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
			reportMemory(b)
		})
	}
}
