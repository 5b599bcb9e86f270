package sink

import (
	"errors"
	"fmt"
	"sync"

	"github.com/palisade-project/palisade/internal/flowlog"
)

// Target names the optional sinks of one flow log.
type Target struct {
	FilePath       string // absolute path; "" for none
	FileFormat     string // FormatAlibaba (default) or FormatAWSv2
	IPFIXCollector string // host:port (UDP); "" for none
}

// Fanout writes records to the file sinks and IPFIX exporters of flow
// logs, opening each file or exporter once and sharing it between the flow
// logs that name it. It is safe for concurrent use.
type Fanout struct {
	ipfix IPFIXOptions

	mu        sync.Mutex // guards the maps
	files     map[string]*FileSink
	exporters map[string]*Exporter
}

// NewFanout returns a Fanout; o configures the IPFIX exporters.
func NewFanout(o IPFIXOptions) *Fanout {
	return &Fanout{ipfix: o, files: map[string]*FileSink{}, exporters: map[string]*Exporter{}}
}

func (f *Fanout) file(path, format string) (*FileSink, error) {
	if format == "" {
		format = FormatAlibaba
	}
	key := format + "\x00" + path
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.files[key]; ok {
		return s, nil
	}
	s, err := OpenFile(path, format)
	if err != nil {
		return nil, err
	}
	f.files[key] = s
	return s, nil
}

func (f *Fanout) exporter(addr string) (*Exporter, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if e, ok := f.exporters[addr]; ok {
		return e, nil
	}
	e, err := DialIPFIX(addr, f.ipfix)
	if err != nil {
		return nil, err
	}
	f.exporters[addr] = e
	return e, nil
}

// Write sends recs to t's sinks; it tries every sink and returns their
// errors joined.
func (f *Fanout) Write(t Target, recs []flowlog.Record) error {
	if len(recs) == 0 {
		return nil
	}
	var errList []error
	if t.FilePath != "" {
		s, err := f.file(t.FilePath, t.FileFormat)
		if err == nil {
			err = s.Write(recs)
		}
		if err != nil {
			errList = append(errList, fmt.Errorf("file sink: %w", err))
		}
	}
	if t.IPFIXCollector != "" {
		e, err := f.exporter(t.IPFIXCollector)
		if err == nil {
			err = e.Write(recs)
		}
		if err != nil {
			errList = append(errList, fmt.Errorf("IPFIX sink: %w", err))
		}
	}
	return errors.Join(errList...)
}

// Close closes every file and exporter.
func (f *Fanout) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var errList []error
	for k, s := range f.files {
		errList = append(errList, s.Close())
		delete(f.files, k)
	}
	for k, e := range f.exporters {
		errList = append(errList, e.Close())
		delete(f.exporters, k)
	}
	return errors.Join(errList...)
}
