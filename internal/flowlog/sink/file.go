package sink

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"sync"

	"github.com/palisade-project/palisade/internal/flowlog"
)

// File formats.
const (
	FormatAlibaba = "alibaba" // JSON lines, Alibaba field names (default)
	FormatAWSv2   = "aws-v2"  // AWS VPC Flow Logs version-2 default format
)

// FormatJSON returns r as one JSON line (no newline) with the Alibaba
// field names.
func FormatJSON(r *flowlog.Record) ([]byte, error) {
	return json.Marshal(r)
}

// AWSv2Line returns r as one line of the AWS version-2 default format
// (no newline):
//
//	version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status
//
// A record without traffic (NODATA, SKIPDATA) prints "-" for the flow
// fields, as AWS does.
func AWSv2Line(r *flowlog.Record) string {
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	account, eni := dash(r.AccountID), dash(r.ENIID)
	start, end := strconv.FormatInt(r.Start, 10), strconv.FormatInt(r.End, 10)
	if r.LogStatus != "" && r.LogStatus != flowlog.StatusOK {
		return "2 " + account + " " + eni + " - - - - - - - " + start + " " + end + " - " + r.LogStatus
	}
	var b bytes.Buffer
	b.Grow(128)
	fields := []string{
		"2", account, eni, dash(r.SrcAddr), dash(r.DstAddr),
		strconv.Itoa(r.SrcPort), strconv.Itoa(r.DstPort), strconv.Itoa(r.Protocol),
		strconv.FormatUint(r.Packets, 10), strconv.FormatUint(r.Bytes, 10), start, end,
		dash(r.Action), dash(r.LogStatus),
	}
	for i, f := range fields {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(f)
	}
	return b.String()
}

// FileSink appends records to a file (created with mode 0600), one line
// each. It is safe for concurrent use.
type FileSink struct {
	path   string
	format string

	mu sync.Mutex // serialises writes so lines never interleave
	f  *os.File
}

// OpenFile opens path for appending in format (FormatAlibaba when empty).
func OpenFile(path, format string) (*FileSink, error) {
	switch format {
	case "":
		format = FormatAlibaba
	case FormatAlibaba, FormatAWSv2:
	default:
		return nil, fmt.Errorf("flow-log file format %q: want %s or %s", format, FormatAlibaba, FormatAWSv2)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open flow-log file: %w", err)
	}
	return &FileSink{path: path, format: format, f: f}, nil
}

// Write appends recs, one line each, in one write call.
func (s *FileSink) Write(recs []flowlog.Record) error {
	var buf bytes.Buffer
	for i := range recs {
		if s.format == FormatAWSv2 {
			buf.WriteString(AWSv2Line(&recs[i]))
		} else {
			b, err := FormatJSON(&recs[i])
			if err != nil {
				return fmt.Errorf("encode flow-log record: %w", err)
			}
			buf.Write(b)
		}
		buf.WriteByte('\n')
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.f.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write flow-log file %s: %w", s.path, err)
	}
	return nil
}

// Close closes the file.
func (s *FileSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f.Close()
}
