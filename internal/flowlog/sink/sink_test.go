package sink_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/flowlog"
	"github.com/palisade-project/palisade/internal/flowlog/sink"
)

func rec(acct, fl, eni, src, dst string, sport, dport int, action string, start int64, bytes uint64) flowlog.Record {
	return flowlog.Record{
		Version: flowlog.Version, AccountID: acct, FlowLogID: fl, ENIID: eni, VpcID: "vpc-1", VSwitchID: "vsw-1",
		SrcAddr: src, DstAddr: dst, SrcPort: sport, DstPort: dport, Protocol: 6, Direction: flowlog.DirIn,
		Packets: bytes / 100, Bytes: bytes, Start: start, End: start + 60, Action: action, LogStatus: flowlog.StatusOK, TCPFlags: 18,
	}
}

func TestAWSv2Line(t *testing.T) {
	tests := []struct {
		name string
		r    flowlog.Record
		want string
	}{
		{"accepted flow", rec("123", "fl-1", "eni-1", "172.31.16.139", "172.31.16.21", 20641, 22, flowlog.ActionAccept, 1418530010, 4249),
			"2 123 eni-1 172.31.16.139 172.31.16.21 20641 22 6 42 4249 1418530010 1418530070 ACCEPT OK"},
		{"nodata", flowlog.Record{AccountID: "123", ENIID: "eni-1", Start: 1431280876, End: 1431280934, LogStatus: flowlog.StatusNoData},
			"2 123 eni-1 - - - - - - - 1431280876 1431280934 - NODATA"},
		{"skipdata", flowlog.Record{AccountID: "123", ENIID: "eni-1", Start: 10, End: 70, LogStatus: flowlog.StatusSkipData},
			"2 123 eni-1 - - - - - - - 10 70 - SKIPDATA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sink.AWSv2Line(&tt.r); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestFileSink(t *testing.T) {
	recs := []flowlog.Record{
		rec("a", "fl-1", "eni-1", "10.0.0.1", "10.0.0.2", 1000, 80, flowlog.ActionAccept, 100, 500),
		rec("a", "fl-1", "eni-1", "10.0.0.3", "10.0.0.2", 1001, 22, flowlog.ActionReject, 100, 60),
	}
	for _, format := range []string{sink.FormatAlibaba, sink.FormatAWSv2} {
		t.Run(format, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "flows.log")
			s, err := sink.OpenFile(path, format)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Write(recs[:1]); err != nil {
				t.Fatal(err)
			}
			if err := s.Write(recs[1:]); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			st, err := os.Stat(path)
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("file mode: %v %v", st.Mode(), err)
			}
			f, _ := os.Open(path)
			defer f.Close()
			sc := bufio.NewScanner(f)
			var lines []string
			for sc.Scan() {
				lines = append(lines, sc.Text())
			}
			if len(lines) != 2 {
				t.Fatalf("lines: %q", lines)
			}
			for i, l := range lines {
				if format == sink.FormatAWSv2 {
					if l != sink.AWSv2Line(&recs[i]) {
						t.Errorf("line %d = %q", i, l)
					}
					continue
				}
				var m map[string]any
				if err := json.Unmarshal([]byte(l), &m); err != nil {
					t.Fatalf("line %d: %v", i, err)
				}
				for _, k := range []string{"version", "account-id", "eni-id", "vm-id", "vswitch-id", "vpc-id", "srcaddr", "srcport",
					"dstaddr", "dstport", "protocol", "direction", "packets", "bytes", "start", "end", "action", "log-status", "tcp-flags"} {
					if _, ok := m[k]; !ok {
						t.Errorf("line %d lacks Alibaba field %q: %s", i, k, l)
					}
				}
				if m["action"] != recs[i].Action || m["dstport"] != float64(recs[i].DstPort) {
					t.Errorf("line %d = %s", i, l)
				}
			}
		})
	}
	if _, err := sink.OpenFile(filepath.Join(t.TempDir(), "x"), "csv"); err == nil {
		t.Error("unknown format accepted")
	}
}

func TestIPFIXRoundTrip(t *testing.T) {
	var recs []flowlog.Record
	for i := range 60 { // more than one message's worth
		src, dst := "10.0.0.1", "10.0.0.2"
		if i%3 == 0 {
			src, dst = "fd00::1", "fd00::2"
		}
		r := rec("a", "fl-1", "eni-1", src, dst, 1000+i, 443, flowlog.ActionAccept, 1700000000+int64(i), uint64(100*i+1))
		if i%2 == 0 {
			r.Action, r.Direction = flowlog.ActionReject, flowlog.DirOut
		}
		recs = append(recs, r)
	}
	recs = append(recs, flowlog.Record{ENIID: "eni-1", LogStatus: flowlog.StatusNoData, Start: 1, End: 2})
	enc := sink.Encoder{Domain: 7}
	msgs := enc.Encode(recs, true, 1700000100)
	if len(msgs) < 2 {
		t.Fatalf("%d messages for 60 records; want them split under the MTU", len(msgs))
	}
	tmpl := map[uint16][]sink.FieldSpec{}
	var got []flowlog.Record
	var wantSeq uint32
	for i, m := range msgs {
		if len(m) > 1400 {
			t.Errorf("message %d is %d bytes", i, len(m))
		}
		dm, err := sink.Decode(m, tmpl)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if dm.Domain != 7 || dm.ExportTime != 1700000100 || dm.Sequence != wantSeq {
			t.Errorf("message %d header: %+v, want sequence %d", i, dm, wantSeq)
		}
		wantSeq += uint32(len(dm.Records))
		for _, d := range dm.Records {
			got = append(got, sink.RecordFromIPFIX(d))
		}
	}
	if len(tmpl) != 2 {
		t.Errorf("templates: %v", tmpl)
	}
	if len(got) != 60 {
		t.Fatalf("decoded %d records, want 60 (NODATA is not exported)", len(got))
	}
	for i, g := range got {
		w := recs[i]
		w.Version, w.AccountID = 0, "" // not carried by IPFIX
		if g != w {
			t.Errorf("record %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
	// Without templates, the next call starts a message at the running sequence number.
	msgs = enc.Encode(recs[:1], false, 1700000200)
	dm, err := sink.Decode(msgs[0], map[uint16][]sink.FieldSpec{})
	if err != nil || dm.Sequence != 60 || len(dm.Records) != 0 {
		t.Errorf("no-template message: %+v %v (unknown templates are skipped)", dm, err)
	}
}

func TestIPFIXExporterResendsTemplates(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	now := time.Unix(1700000000, 0)
	e, err := sink.DialIPFIX(pc.LocalAddr().String(), sink.IPFIXOptions{Refresh: time.Minute, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	r := []flowlog.Record{rec("a", "fl-1", "eni-1", "10.0.0.1", "10.0.0.2", 1, 2, flowlog.ActionAccept, 1, 1)}
	hasTemplate := func() bool {
		t.Helper()
		buf := make([]byte, 65535)
		_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		tm := map[uint16][]sink.FieldSpec{}
		if _, err := sink.Decode(buf[:n], tm); err != nil {
			t.Fatal(err)
		}
		return len(tm) == 2
	}
	for i, step := range []struct {
		advance time.Duration
		want    bool
	}{{0, true}, {10 * time.Second, false}, {time.Minute, true}, {time.Second, false}} {
		now = now.Add(step.advance)
		if err := e.Write(r); err != nil {
			t.Fatal(err)
		}
		if got := hasTemplate(); got != step.want {
			t.Errorf("write %d: template sent = %v, want %v", i, got, step.want)
		}
	}
}

func FuzzIPFIXDecode(f *testing.F) {
	enc := sink.Encoder{Domain: 1}
	for _, m := range enc.Encode([]flowlog.Record{
		rec("a", "fl-1", "eni-1", "10.0.0.1", "10.0.0.2", 1, 2, flowlog.ActionAccept, 1, 1),
		rec("a", "fl-1", "eni-1", "fd00::1", "fd00::2", 1, 2, flowlog.ActionReject, 1, 1),
	}, true, 1) {
		f.Add(m)
	}
	f.Add([]byte{0, 10, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		tm := map[uint16][]sink.FieldSpec{}
		m, err := sink.Decode(b, tm)
		if err != nil {
			return
		}
		for _, d := range m.Records {
			_ = sink.RecordFromIPFIX(d)
		}
	})
}

// stores returns a bolt and a memory record store with the given retention.
func stores(t *testing.T, ret sink.Retention) map[string]sink.RecordStore {
	t.Helper()
	b, err := sink.OpenBolt(filepath.Join(t.TempDir(), sink.DBFile), ret)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return map[string]sink.RecordStore{"bolt": b, "memory": sink.NewMemory(ret)}
}

func TestRecordStoreQuery(t *testing.T) {
	base := int64(1700000000)
	recs := []flowlog.Record{
		rec("acct-a", "fl-1", "eni-1", "10.0.0.1", "10.0.1.1", 40000, 443, flowlog.ActionAccept, base, 1000),
		rec("acct-a", "fl-1", "eni-1", "10.0.0.2", "10.0.1.1", 40001, 22, flowlog.ActionReject, base+60, 60),
		rec("acct-a", "fl-2", "eni-2", "192.168.0.9", "10.0.1.2", 5353, 53, flowlog.ActionAccept, base+120, 90),
		rec("acct-b", "fl-3", "eni-3", "10.0.0.1", "10.0.1.1", 40000, 443, flowlog.ActionAccept, base, 7),
		rec("acct-a", "fl-1", "eni-1", "fd00::1", "fd00::2", 1, 22, flowlog.ActionReject, base+180, 5),
	}
	ctx := context.Background()
	tests := []struct {
		name string
		q    sink.Query
		want []uint64 // bytes of the expected records, in order
	}{
		{"account a", sink.Query{AccountID: "acct-a"}, []uint64{1000, 60, 90, 5}},
		{"account b", sink.Query{AccountID: "acct-b"}, []uint64{7}},
		{"nobody", sink.Query{AccountID: "acct-c"}, nil},
		{"flow log", sink.Query{AccountID: "acct-a", FlowLogID: "fl-2"}, []uint64{90}},
		{"eni", sink.Query{AccountID: "acct-a", ENIID: "eni-1"}, []uint64{1000, 60, 5}},
		{"other account's flow log", sink.Query{AccountID: "acct-a", FlowLogID: "fl-3"}, nil},
		{"reject", sink.Query{AccountID: "acct-a", Action: flowlog.ActionReject}, []uint64{60, 5}},
		{"since overlaps", sink.Query{AccountID: "acct-a", Since: base + 100}, []uint64{60, 90, 5}},
		{"until", sink.Query{AccountID: "acct-a", Until: base + 60}, []uint64{1000, 60}},
		{"window", sink.Query{AccountID: "acct-a", Since: base + 121, Until: base + 170}, []uint64{90}},
		{"src cidr", sink.Query{AccountID: "acct-a", Src: netip.MustParsePrefix("10.0.0.0/31")}, []uint64{1000}},
		{"src v6", sink.Query{AccountID: "acct-a", Src: netip.MustParsePrefix("fd00::/8")}, []uint64{5}},
		{"dst host", sink.Query{AccountID: "acct-a", Dst: netip.MustParsePrefix("10.0.1.2/32")}, []uint64{90}},
		{"port either side", sink.Query{AccountID: "acct-a", Port: 5353}, []uint64{90}},
		{"port 22", sink.Query{AccountID: "acct-a", Port: 22}, []uint64{60, 5}},
		{"limit", sink.Query{AccountID: "acct-a", Limit: 2}, []uint64{1000, 60}},
	}
	for name, st := range stores(t, sink.Retention{}) {
		// Out of order on purpose: results still come by start.
		if err := st.Append(ctx, recs[2:]); err != nil {
			t.Fatal(err)
		}
		if err := st.Append(ctx, recs[:2]); err != nil {
			t.Fatal(err)
		}
		for _, tt := range tests {
			t.Run(name+"/"+tt.name, func(t *testing.T) {
				got, err := st.Query(ctx, tt.q)
				if err != nil {
					t.Fatal(err)
				}
				var gotBytes []uint64
				for _, r := range got {
					gotBytes = append(gotBytes, r.Bytes)
				}
				if !equalU64(gotBytes, tt.want) {
					t.Errorf("got %v, want %v", gotBytes, tt.want)
				}
			})
		}
		if _, err := st.Query(ctx, sink.Query{}); err == nil {
			t.Errorf("%s: query without account accepted", name)
		}
		if err := st.Append(ctx, []flowlog.Record{{ENIID: "x"}}); err == nil {
			t.Errorf("%s: record without account accepted", name)
		}
	}
}

func TestRecordStorePrune(t *testing.T) {
	now := time.Unix(1700100000, 0)
	ctx := context.Background()
	for name, st := range stores(t, sink.Retention{Keep: time.Hour, Now: func() time.Time { return now }}) {
		t.Run(name, func(t *testing.T) {
			old := rec("a", "fl-1", "eni-1", "10.0.0.1", "10.0.0.2", 1, 2, flowlog.ActionAccept, now.Add(-2*time.Hour).Unix(), 1)
			edge := rec("a", "fl-1", "eni-1", "10.0.0.1", "10.0.0.2", 1, 2, flowlog.ActionAccept, now.Add(-time.Hour).Unix()-30, 2)
			fresh := rec("b", "fl-2", "eni-2", "10.0.0.1", "10.0.0.2", 1, 2, flowlog.ActionAccept, now.Add(-time.Minute).Unix(), 3)
			oldB := rec("b", "fl-2", "eni-2", "10.0.0.1", "10.0.0.2", 1, 2, flowlog.ActionAccept, now.Add(-3*time.Hour).Unix(), 4)
			// Append prunes (retention one hour): old and oldB go, edge
			// (ends inside the hour) stays.
			if err := st.Append(ctx, []flowlog.Record{old, edge, fresh, oldB}); err != nil {
				t.Fatal(err)
			}
			a, _ := st.Query(ctx, sink.Query{AccountID: "a"})
			b, _ := st.Query(ctx, sink.Query{AccountID: "b"})
			if len(a) != 1 || a[0].Bytes != 2 || len(b) != 1 || b[0].Bytes != 3 {
				t.Errorf("after retention: a=%v b=%v", a, b)
			}
			n, err := st.Prune(ctx, now.Unix()+3600)
			if err != nil || n != 2 {
				t.Errorf("prune all: %d %v", n, err)
			}
		})
	}
}

func TestBoltStoreFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), sink.DBFile)
	s, err := sink.OpenBolt(path, sink.Retention{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v %v", st.Mode(), err)
	}
	if !strings.HasSuffix(path, "flowlogs.db") {
		t.Error(path)
	}
}

func equalU64(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestCheckFile: a file sink appends only to a new or empty file or to one
// that starts with a line of its own formats, never to a file of another
// kind (a password file, a database).
func TestCheckFile(t *testing.T) {
	r := rec("a", "fl-1", "eni-1", "10.0.0.1", "10.0.0.2", 1000, 80, flowlog.ActionAccept, 100, 500)
	js, err := sink.FormatJSON(&r)
	if err != nil {
		t.Fatal(err)
	}
	nodata := flowlog.Record{AccountID: "a", ENIID: "eni-1", Start: 10, End: 70, LogStatus: flowlog.StatusNoData}
	tests := []struct {
		name    string
		content string // "" with create false: no file
		create  bool
		ok      bool
	}{
		{"missing", "", false, true},
		{"empty", "", true, true},
		{"json record", string(js) + "\n" + string(js) + "\n", true, true},
		{"json record without newline", string(js), true, true},
		{"aws header", sink.AWSv2Header + "\n", true, true},
		{"aws record", sink.AWSv2Line(&r) + "\n", true, true},
		{"aws nodata", sink.AWSv2Line(&nodata) + "\n", true, true},
		{"passwd", "root:x:0:0:root:/root:/bin/bash\n", true, false},
		{"bolt", "\x00\x00\x00\x00\x00\x00\x00\x00\x04\x00\xed\xda\x0c\xed", true, false},
		{"other json", `{"user":"root","admin":true}` + "\n", true, false},
		{"json without flow-log id", `{"version":1,"log-status":"OK"}` + "\n", true, false},
		{"json then garbage", string(js) + " x\n", true, false},
		{"aws wrong field count", "2 a eni-1 - - - - - - - 10 70 -\n", true, false},
		{"aws bad status", "2 a eni-1 - - - - - - - 10 70 - FINE\n", true, false},
		{"long first line", strings.Repeat("2", 70<<10), true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "flows.log")
			if tt.create {
				if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			err := sink.CheckFile(path)
			if tt.ok != (err == nil) {
				t.Fatalf("CheckFile: %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, sink.ErrNotFlowLogFile) {
				t.Errorf("CheckFile: %v, want ErrNotFlowLogFile", err)
			}
			// OpenFile refuses what CheckFile refuses, and leaves it alone.
			s, err := sink.OpenFile(path, sink.FormatAlibaba)
			if tt.ok != (err == nil) {
				t.Fatalf("OpenFile: %v, want ok=%v", err, tt.ok)
			}
			if err == nil {
				s.Close()
				return
			}
			if b, _ := os.ReadFile(path); string(b) != tt.content {
				t.Errorf("refused file changed: %q", b)
			}
		})
	}
	if err := sink.CheckFile(t.TempDir()); !errors.Is(err, sink.ErrNotFlowLogFile) {
		t.Errorf("CheckFile on a directory: %v", err)
	}
}

// TestFileSinkReopen: a server restart reopens its own file and appends.
func TestFileSinkReopen(t *testing.T) {
	r := rec("a", "fl-1", "eni-1", "10.0.0.1", "10.0.0.2", 1000, 80, flowlog.ActionAccept, 100, 500)
	for _, format := range []string{sink.FormatAlibaba, sink.FormatAWSv2} {
		t.Run(format, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "flows.log")
			for i := range 2 {
				s, err := sink.OpenFile(path, format)
				if err != nil {
					t.Fatalf("open %d: %v", i, err)
				}
				if err := s.Write([]flowlog.Record{r}); err != nil {
					t.Fatal(err)
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
			}
			if b, err := os.ReadFile(path); err != nil || strings.Count(string(b), "\n") != 2 {
				t.Errorf("after reopening: %q %v", b, err)
			}
		})
	}
}
