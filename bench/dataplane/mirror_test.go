package dataplane_test

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/palisade-project/palisade/internal/model"
)

// BenchmarkMirrorCost measures what traffic mirroring costs the traffic
// it mirrors: small UDP datagrams and new TCP connections from the client
// to the server (1,000 rules on each ENI, as BenchmarkInterleavedRatio),
// with the client mirrored (a session whose filter accepts everything,
// target another instance of the VPC) and without, alternating round by
// round. It reports the ratios (mirrored / not) and the share of the
// datagrams sent that the mirror copied (copies are best effort: NFLOG drops what
// the agent cannot read in time).
func BenchmarkMirrorCost(b *testing.B) {
	e := getRateEnv(b)
	udp := &unix.SockaddrInet4{Port: udpPort, Addr: e.serverIP.As4()}
	tcp := &unix.SockaddrInet4{Port: tcpPort, Addr: e.serverIP.As4()}
	const packets, conns = 400_000, 20_000
	all := model.PortRange{From: -1, To: -1}
	filter := model.MirrorFilter{ID: "tmf-" + e.w.tag, AccountID: "1", Egress: []model.MirrorRule{
		{ID: "tmr-" + e.w.tag, Priority: 1, Action: model.PolicyAccept, Protocol: model.ProtoALL, SourcePorts: all, DestinationPorts: all}}}
	session := model.MirrorSession{ID: "tms-" + e.w.tag, AccountID: "1", FilterID: filter.ID, TargetID: e.otherENI,
		TargetType: model.MirrorTargetENI, Priority: 1, VNI: 1, PacketLength: 1500, SourceIDs: []string{e.clientENI}}
	e.setPolicy(b, "compiled", 1000)
	setMirror := func(on bool) {
		session.Enabled = on
		if err := e.w.put(map[string]any{model.PrefixMirrorFilter + filter.ID: filter, model.PrefixMirrorSession + session.ID: session}); err != nil {
			b.Fatal(err)
		}
		if err := e.w.a.Reconcile(e.w.ctx); err != nil {
			b.Fatal(err)
		}
	}
	defer setMirror(false)
	var pkt, conn, copied []float64
	for round := range b.N {
		var pps, cps [2]float64
		for _, i := range counterbalanced(round, 2) {
			setMirror(i == 1)
			before, _ := e.w.a.MirrorStats(e.vpcID)
			r, err := udpBurst(e.client, udp, e.sink, packets)
			if err != nil {
				b.Fatal(err)
			}
			after, _ := e.w.a.MirrorStats(e.vpcID)
			c, err := dialN(e.client, tcp, e.sink, conns)
			if err != nil {
				b.Fatal(err)
			}
			pps[i], cps[i] = r.pps, c.rate
			if i == 1 {
				copied = append(copied, float64(after.Mirrored-before.Mirrored)/float64(packets))
			}
		}
		pkt = append(pkt, pps[1]/pps[0])
		conn = append(conn, cps[1]/cps[0])
		b.Logf("round: not mirrored %.0f pps %.0f conns/s; mirrored %.0f pps %.0f conns/s, %.0f%% of the datagrams copied",
			pps[0], cps[0], pps[1], cps[1], 100*copied[len(copied)-1])
	}
	b.ReportMetric(median(pkt), "pps-ratio")
	b.ReportMetric(median(conn), "conns-ratio")
	b.ReportMetric(median(copied), "copied-share")
}
