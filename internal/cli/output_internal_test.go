package cli

import (
	"bytes"
	"strings"
	"testing"
)

// JSON output is for people and jq: <, > and & print as themselves.
func TestWriteJSONUnescaped(t *testing.T) {
	var b bytes.Buffer
	if err := writeJSON(&b, map[string]string{"Packet": "tcp 10.0.0.1:49152 -> 10.0.0.2:80 & <more>"}); err != nil {
		t.Fatal(err)
	}
	if want := `"Packet": "tcp 10.0.0.1:49152 -> 10.0.0.2:80 & <more>"`; !strings.Contains(b.String(), want) {
		t.Errorf("writeJSON printed %s, want %s", b.String(), want)
	}
}
