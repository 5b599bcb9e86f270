package sink

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/palisade-project/palisade/internal/flowlog"
)

// File formats.
const (
	FormatAlibaba = "alibaba" // JSON lines, Alibaba field names (default)
	FormatAWSv2   = "aws-v2"  // AWS VPC Flow Logs version-2 default format
)

// AWSv2Header is the header line of the AWS version-2 default format (AWS
// writes it at the top of its files; Palisade does not, but a file that
// starts with it is a flow-log file).
const AWSv2Header = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"

// ErrNotFlowLogFile is the error of a file sink path that holds something
// else than flow-log lines: appending to it would corrupt it (a password
// file, a database).
var ErrNotFlowLogFile = errors.New("not a flow-log file")

// maxFirstLine bounds how much of an existing file is read to recognise its
// first line (a record line is a few hundred bytes).
const maxFirstLine = 64 << 10

// CheckFile tells whether path may be opened as a file sink: nil when it
// does not exist, is empty or starts with a line of one of the sink's
// formats (a file Palisade wrote, reopened after a restart or shared by
// another flow log); an error wrapping ErrNotFlowLogFile when it holds
// anything else; another error when it cannot be read.
func CheckFile(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check flow-log file: %w", err)
	}
	defer f.Close()
	return checkOpenFile(f)
}

// checkOpenFile is CheckFile on an open file: OpenFile checks the very file
// it will append to, so that nothing can be swapped in between.
func checkOpenFile(f *os.File) error {
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("check flow-log file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file: %w", f.Name(), ErrNotFlowLogFile)
	}
	if st.Size() == 0 {
		return nil
	}
	buf := make([]byte, min(st.Size(), maxFirstLine))
	n, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("check flow-log file: %w", err)
	}
	line, _, found := bytes.Cut(buf[:n], []byte{'\n'})
	// A first line longer than the bound is no line of ours.
	if (found || int64(n) == st.Size()) && IsFlowLogLine(line) {
		return nil
	}
	return fmt.Errorf("%s does not start with a flow-log line: %w", f.Name(), ErrNotFlowLogFile)
}

// IsFlowLogLine reports whether line (without its newline) is a line of
// one of the file formats: a JSON record with the Alibaba field names, the
// AWS version-2 header or an AWS version-2 record.
func IsFlowLogLine(line []byte) bool {
	if len(line) > 0 && line[0] == '{' {
		return isJSONRecord(line)
	}
	return isAWSv2Line(string(line))
}

func isJSONRecord(line []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(line))
	// Unknown fields mean another program's JSON, not a record.
	dec.DisallowUnknownFields()
	var r flowlog.Record
	if err := dec.Decode(&r); err != nil {
		return false
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return false // something after the object
	}
	return r.Version >= 1 && r.FlowLogID != "" && r.LogStatus != ""
}

func isAWSv2Line(line string) bool {
	if line == AWSv2Header {
		return true
	}
	f := strings.Split(line, " ")
	if len(f) != 14 || f[0] != "2" || f[1] == "" || f[2] == "" {
		return false
	}
	for _, a := range f[3:5] {
		if _, err := netip.ParseAddr(a); a != "-" && err != nil {
			return false
		}
	}
	for _, v := range f[5:10] {
		if _, err := strconv.ParseUint(v, 10, 64); v != "-" && err != nil {
			return false
		}
	}
	for _, v := range f[10:12] {
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			return false
		}
	}
	switch f[12] {
	case flowlog.ActionAccept, flowlog.ActionReject, "-":
	default:
		return false
	}
	switch f[13] {
	case flowlog.StatusOK, flowlog.StatusNoData, flowlog.StatusSkipData:
		return true
	}
	return false
}

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
// It refuses (ErrNotFlowLogFile) a file that exists and is not a flow-log
// file (see CheckFile): the server validates the path when a flow log is
// created or changed, and this check also covers a flow log stored before
// that validation existed, and a file replaced since.
func OpenFile(path, format string) (*FileSink, error) {
	switch format {
	case "":
		format = FormatAlibaba
	case FormatAlibaba, FormatAWSv2:
	default:
		return nil, fmt.Errorf("flow-log file format %q: want %s or %s", format, FormatAlibaba, FormatAWSv2)
	}
	// Read-write, so that the check reads the file the writes will go to.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open flow-log file: %w", err)
	}
	if err := checkOpenFile(f); err != nil {
		f.Close()
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
