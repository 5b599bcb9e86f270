package waf

import (
	"bufio"
	"encoding/json"
	"os"
	"sync"
	"time"
)

// FileSink appends records as JSON lines to a file. Writes are buffered
// and flushed at least every FlushEvery; Close flushes. Safe for concurrent
// use.
type FileSink struct {
	mu        sync.Mutex
	f         *os.File
	w         *bufio.Writer
	lastFlush time.Time
	err       error
}

// FlushEvery bounds how long a record stays in the buffer.
const FlushEvery = 200 * time.Millisecond

// OpenFileSink opens (creating or appending) path.
func OpenFileSink(path string) (*FileSink, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
	if err != nil {
		return nil, err
	}
	return &FileSink{f: f, w: bufio.NewWriterSize(f, 64<<10), lastFlush: time.Now()}, nil
}

// Log appends r. The first write error is kept (Err) and later records
// are dropped.
func (s *FileSink) Log(r Record) {
	b, err := json.Marshal(r)
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return
	}
	b = append(b, '\n')
	if _, err := s.w.Write(b); err != nil {
		s.err = err
		return
	}
	if now := time.Now(); now.Sub(s.lastFlush) >= FlushEvery {
		s.lastFlush = now
		s.err = s.w.Flush()
	}
}

// Flush writes buffered records.
func (s *FileSink) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.lastFlush = time.Now()
	return s.w.Flush()
}

// Err is the first write error.
func (s *FileSink) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close flushes and closes the file.
func (s *FileSink) Close() error {
	ferr := s.Flush()
	if err := s.f.Close(); ferr == nil {
		ferr = err
	}
	return ferr
}

// MultiSink sends each record to every sink.
type MultiSink []Sink

// Log implements Sink.
func (m MultiSink) Log(r Record) {
	for _, s := range m {
		if s != nil {
			s.Log(r)
		}
	}
}
