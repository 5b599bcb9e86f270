package sink_test

import (
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/flowlog"
	"github.com/palisade-project/palisade/internal/flowlog/sink"
	"github.com/palisade-project/palisade/internal/model"
)

// TestTrafficPathFormats: the Alibaba JSON line of an internetGateway
// record carries trafficPath (and stays a line CheckFile takes for a
// flow-log file's); the AWS version-2 line and the IPFIX record are
// those of the same record without a path.
func TestTrafficPathFormats(t *testing.T) {
	plain := rec("1", "fl-1", "eni-1", "198.51.100.7", "10.0.1.10", 443, 40000, flowlog.ActionAccept, 100, 600)
	withPath := plain
	withPath.TrafficPath = model.FlowLogPathInternet

	js, err := sink.FormatJSON(&withPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(js), `"trafficPath":"internetGateway"`) || !sink.IsFlowLogLine(js) {
		t.Errorf("JSON line %s: want trafficPath, and a flow-log line", js)
	}
	if js, _ := sink.FormatJSON(&plain); strings.Contains(string(js), "trafficPath") {
		t.Errorf("JSON line of a record without a path names one: %s", js)
	}
	if a, b := sink.AWSv2Line(&withPath), sink.AWSv2Line(&plain); a != b {
		t.Errorf("AWS line changed by the path:\n%s\n%s", a, b)
	}
	var encA, encB sink.Encoder
	a := encA.Encode([]flowlog.Record{withPath}, true, 1000)
	b := encB.Encode([]flowlog.Record{plain}, true, 1000)
	if len(a) != 1 || len(b) != 1 || string(a[0]) != string(b[0]) {
		t.Errorf("IPFIX changed by the path:\n%x\n%x", a, b)
	}
}
