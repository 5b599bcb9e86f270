package sink

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/palisade-project/palisade/internal/flowlog"
)

// IPFIX (RFC 7011) export over UDP. Each flow record with addresses
// becomes one data record of the IPv4 or the IPv6 template; records without
// traffic (NODATA, SKIPDATA) have no flow key and are not exported (the
// embedded store and the file sink keep them).

// IPFIX constants.
const (
	IPFIXVersion     = 10
	TemplateSetID    = 2
	TemplateIPv4     = 256
	TemplateIPv6     = 257
	ipfixHeaderLen   = 16
	setHeaderLen     = 4
	maxIPFIXMessage  = 1400 // stays under a 1500-byte MTU with IP and UDP headers
	varLen           = 65535
	defaultRefresh   = 30 * time.Second
	enterpriseBit    = 0x8000
	forwardedUnknown = 0x40 // forwardingStatus: Forwarded, unknown reason (RFC 7270)
	droppedUnknown   = 0x80 // forwardingStatus: Dropped, unknown reason
)

// PEN is the private enterprise number of Palisade's own information
// elements: 32473, the number RFC 5612 reserves for documentation and
// examples (Palisade has none of its own).
const PEN = 32473

// IANA information elements used by the templates.
const (
	IEOctetDeltaCount          = 1
	IEPacketDeltaCount         = 2
	IEProtocolIdentifier       = 4
	IETCPControlBits           = 6
	IESourceTransportPort      = 7
	IESourceIPv4Address        = 8
	IEDestinationTransportPort = 11
	IEDestinationIPv4Address   = 12
	IESourceIPv6Address        = 27
	IEDestinationIPv6Address   = 28
	IEFlowDirection            = 61
	IEForwardingStatus         = 89
	IEFlowStartSeconds         = 150
	IEFlowEndSeconds           = 151
	IEFlowStartMilliseconds    = 152
	IEFlowEndMilliseconds      = 153
)

// Palisade information elements (enterprise PEN), variable-length strings.
const (
	IEPalisadeENIID     = 1
	IEPalisadeVpcID     = 2
	IEPalisadeFlowLogID = 3
	IEPalisadeVSwitchID = 4
)

// FieldSpec is one field specifier of a template.
type FieldSpec struct {
	ID         uint16 // without the enterprise bit
	Length     uint16 // varLen (65535) for variable length
	Enterprise uint32 // 0 for IANA elements
}

func ianaField(id, length uint16) FieldSpec { return FieldSpec{ID: id, Length: length} }
func penField(id uint16) FieldSpec {
	return FieldSpec{ID: id, Length: varLen, Enterprise: PEN}
}

// Templates returns the field specifiers of the IPv4 and IPv6 templates.
func Templates() map[uint16][]FieldSpec {
	common := func(src, dst uint16, alen uint16) []FieldSpec {
		return []FieldSpec{
			ianaField(IEOctetDeltaCount, 8), ianaField(IEPacketDeltaCount, 8),
			ianaField(IEProtocolIdentifier, 1), ianaField(IETCPControlBits, 2),
			ianaField(IESourceTransportPort, 2), ianaField(src, alen),
			ianaField(IEDestinationTransportPort, 2), ianaField(dst, alen),
			ianaField(IEFlowDirection, 1), ianaField(IEForwardingStatus, 1),
			ianaField(IEFlowStartSeconds, 4), ianaField(IEFlowEndSeconds, 4),
			// The window again in milliseconds: collectors such as nfdump
			// 1.7 read only these.
			ianaField(IEFlowStartMilliseconds, 8), ianaField(IEFlowEndMilliseconds, 8),
			penField(IEPalisadeENIID), penField(IEPalisadeVpcID),
			penField(IEPalisadeFlowLogID), penField(IEPalisadeVSwitchID),
		}
	}
	return map[uint16][]FieldSpec{
		TemplateIPv4: common(IESourceIPv4Address, IEDestinationIPv4Address, 4),
		TemplateIPv6: common(IESourceIPv6Address, IEDestinationIPv6Address, 16),
	}
}

func appendTemplateSet(b []byte) []byte {
	start := len(b)
	b = binary.BigEndian.AppendUint16(b, TemplateSetID)
	b = binary.BigEndian.AppendUint16(b, 0) // length, patched below
	tm := Templates()
	for _, id := range []uint16{TemplateIPv4, TemplateIPv6} {
		fs := tm[id]
		b = binary.BigEndian.AppendUint16(b, id)
		b = binary.BigEndian.AppendUint16(b, uint16(len(fs)))
		for _, f := range fs {
			id := f.ID
			if f.Enterprise != 0 {
				id |= enterpriseBit
			}
			b = binary.BigEndian.AppendUint16(b, id)
			b = binary.BigEndian.AppendUint16(b, f.Length)
			if f.Enterprise != 0 {
				b = binary.BigEndian.AppendUint32(b, f.Enterprise)
			}
		}
	}
	binary.BigEndian.PutUint16(b[start+2:], uint16(len(b)-start))
	return b
}

func appendVarString(b []byte, s string) []byte {
	if len(s) > 65535 {
		s = s[:65535]
	}
	if len(s) < 255 {
		b = append(b, byte(len(s)))
	} else {
		b = append(b, 255)
		b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	}
	return append(b, s...)
}

// ipfixAddrs returns the record's addresses and template, ok false when it
// has no flow key (NODATA, SKIPDATA) or mixes families.
func ipfixAddrs(r *flowlog.Record) (src, dst netip.Addr, tmpl uint16, ok bool) {
	src, err1 := netip.ParseAddr(r.SrcAddr)
	dst, err2 := netip.ParseAddr(r.DstAddr)
	if err1 != nil || err2 != nil {
		return src, dst, 0, false
	}
	src, dst = src.Unmap(), dst.Unmap()
	switch {
	case src.Is4() && dst.Is4():
		return src, dst, TemplateIPv4, true
	case src.Is6() && dst.Is6():
		return src, dst, TemplateIPv6, true
	}
	return src, dst, 0, false
}

// appendDataRecord encodes r for template tmpl.
func appendDataRecord(b []byte, r *flowlog.Record, src, dst netip.Addr) []byte {
	b = binary.BigEndian.AppendUint64(b, r.Bytes)
	b = binary.BigEndian.AppendUint64(b, r.Packets)
	b = append(b, byte(r.Protocol))
	b = binary.BigEndian.AppendUint16(b, uint16(r.TCPFlags))
	b = binary.BigEndian.AppendUint16(b, uint16(r.SrcPort))
	b = append(b, src.AsSlice()...)
	b = binary.BigEndian.AppendUint16(b, uint16(r.DstPort))
	b = append(b, dst.AsSlice()...)
	dir := byte(0) // ingress
	if r.Direction == flowlog.DirOut {
		dir = 1
	}
	b = append(b, dir)
	fwd := byte(forwardedUnknown)
	if r.Action == flowlog.ActionReject {
		fwd = droppedUnknown
	}
	b = append(b, fwd)
	b = binary.BigEndian.AppendUint32(b, uint32(r.Start))
	b = binary.BigEndian.AppendUint32(b, uint32(r.End))
	b = binary.BigEndian.AppendUint64(b, uint64(r.Start)*1000)
	b = binary.BigEndian.AppendUint64(b, uint64(r.End)*1000)
	b = appendVarString(b, r.ENIID)
	b = appendVarString(b, r.VpcID)
	b = appendVarString(b, r.FlowLogID)
	return appendVarString(b, r.VSwitchID)
}

// Encoder builds IPFIX messages. It keeps the sequence number (the count
// of data records sent before each message, RFC 7011 §3.1). Not safe for
// concurrent use.
type Encoder struct {
	Domain uint32 // observation domain ID
	seq    uint32
}

// Encode returns the messages that carry recs, the template set first in
// the first message when withTemplates. exportTime is Unix seconds.
func (e *Encoder) Encode(recs []flowlog.Record, withTemplates bool, exportTime int64) [][]byte {
	var msgs [][]byte
	var msg []byte
	var setStart int
	var setID uint16
	var inMsg uint32
	begin := func() {
		msg = make([]byte, ipfixHeaderLen, maxIPFIXMessage)
		binary.BigEndian.PutUint16(msg[0:], IPFIXVersion)
		binary.BigEndian.PutUint32(msg[4:], uint32(exportTime))
		binary.BigEndian.PutUint32(msg[8:], e.seq)
		binary.BigEndian.PutUint32(msg[12:], e.Domain)
		setID, inMsg = 0, 0
		if withTemplates {
			msg = appendTemplateSet(msg)
			withTemplates = false
		}
	}
	closeSet := func() {
		if setID != 0 {
			binary.BigEndian.PutUint16(msg[setStart+2:], uint16(len(msg)-setStart))
			setID = 0
		}
	}
	finish := func() {
		closeSet()
		binary.BigEndian.PutUint16(msg[2:], uint16(len(msg)))
		msgs = append(msgs, msg)
		e.seq += inMsg
		msg = nil
	}
	var rec []byte
	for i := range recs {
		src, dst, tmpl, ok := ipfixAddrs(&recs[i])
		if !ok {
			continue
		}
		rec = appendDataRecord(rec[:0], &recs[i], src, dst)
		if msg != nil {
			need := len(rec)
			if setID != tmpl {
				need += setHeaderLen
			}
			if len(msg)+need > maxIPFIXMessage {
				finish()
			}
		}
		if msg == nil {
			begin()
		}
		if setID != tmpl {
			closeSet()
			setStart, setID = len(msg), tmpl
			msg = binary.BigEndian.AppendUint16(msg, tmpl)
			msg = binary.BigEndian.AppendUint16(msg, 0)
		}
		msg = append(msg, rec...)
		inMsg++
	}
	if msg == nil && withTemplates {
		begin()
	}
	if msg != nil {
		finish()
	}
	return msgs
}

// IPFIXOptions configures an exporter.
type IPFIXOptions struct {
	Domain uint32 // observation domain ID (default 1)
	// Refresh is how often the templates are sent again (RFC 7011 §8.4:
	// over UDP they are re-sent periodically); default 30 s.
	Refresh time.Duration
	Now     func() time.Time // nil: time.Now
}

// Exporter sends records to an IPFIX collector over UDP. It is safe for
// concurrent use.
type Exporter struct {
	addr    string
	refresh time.Duration
	now     func() time.Time

	mu       sync.Mutex // guards the fields below and orders the messages
	conn     net.Conn
	enc      Encoder
	lastTmpl time.Time
}

// DialIPFIX returns an exporter to the collector at addr (host:port, UDP).
func DialIPFIX(addr string, o IPFIXOptions) (*Exporter, error) {
	conn, err := net.Dial("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial IPFIX collector %s: %w", addr, err)
	}
	if o.Domain == 0 {
		o.Domain = 1
	}
	if o.Refresh <= 0 {
		o.Refresh = defaultRefresh
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Exporter{addr: addr, refresh: o.Refresh, now: o.Now, conn: conn, enc: Encoder{Domain: o.Domain}}, nil
}

// Write exports recs; the templates go first when never sent or when the
// refresh period has passed.
func (e *Exporter) Write(recs []flowlog.Record) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	withTmpl := e.lastTmpl.IsZero() || now.Sub(e.lastTmpl) >= e.refresh
	msgs := e.enc.Encode(recs, withTmpl, now.Unix())
	if withTmpl && len(msgs) > 0 {
		e.lastTmpl = now
	}
	var errList []error
	for _, m := range msgs {
		if _, err := e.conn.Write(m); err != nil {
			errList = append(errList, err)
		}
	}
	if err := errors.Join(errList...); err != nil {
		// Nothing tells us the collector kept the templates: send them again.
		e.lastTmpl = time.Time{}
		return fmt.Errorf("export IPFIX to %s: %w", e.addr, err)
	}
	return nil
}

// Close closes the socket.
func (e *Exporter) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.conn.Close()
}

// ---------------------------------------------------------------------------
// Decoding (tests, fuzzing, and tools that read what Palisade exports).

// Message is a decoded IPFIX message.
type Message struct {
	ExportTime uint32
	Sequence   uint32
	Domain     uint32
	Records    []DataRecord
}

// DataRecord is one decoded data record: its template and the raw value of
// each field, keyed by (enterprise, element ID).
type DataRecord struct {
	TemplateID uint16
	Fields     map[FieldKey][]byte
}

// FieldKey names an information element.
type FieldKey struct {
	Enterprise uint32
	ID         uint16
}

var errShort = errors.New("ipfix: truncated")

// Decode parses one IPFIX message. Templates it carries are added to
// templates (by template ID); data sets are decoded with them, and data
// sets of unknown templates are skipped as RFC 7011 allows.
func Decode(b []byte, templates map[uint16][]FieldSpec) (Message, error) {
	var m Message
	if len(b) < ipfixHeaderLen {
		return m, errShort
	}
	if v := binary.BigEndian.Uint16(b); v != IPFIXVersion {
		return m, fmt.Errorf("ipfix: version %d, want 10", v)
	}
	n := int(binary.BigEndian.Uint16(b[2:]))
	if n < ipfixHeaderLen || n > len(b) {
		return m, fmt.Errorf("ipfix: message length %d of %d bytes", n, len(b))
	}
	m.ExportTime, m.Sequence, m.Domain = binary.BigEndian.Uint32(b[4:]), binary.BigEndian.Uint32(b[8:]), binary.BigEndian.Uint32(b[12:])
	b = b[ipfixHeaderLen:n]
	for len(b) > 0 {
		if len(b) < setHeaderLen {
			return m, errShort
		}
		id, sl := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:]))
		if sl < setHeaderLen || sl > len(b) {
			return m, fmt.Errorf("ipfix: set length %d of %d bytes", sl, len(b))
		}
		body := b[setHeaderLen:sl]
		b = b[sl:]
		switch {
		case id == TemplateSetID:
			if err := decodeTemplates(body, templates); err != nil {
				return m, err
			}
		case id >= 256:
			fs, ok := templates[id]
			if !ok {
				continue
			}
			recs, err := decodeData(id, body, fs)
			if err != nil {
				return m, err
			}
			m.Records = append(m.Records, recs...)
		}
	}
	return m, nil
}

func decodeTemplates(b []byte, templates map[uint16][]FieldSpec) error {
	for len(b) >= 4 {
		id, count := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:]))
		b = b[4:]
		if id < 256 {
			return fmt.Errorf("ipfix: template ID %d below 256", id)
		}
		fs := make([]FieldSpec, 0, min(count, 256))
		for range count {
			if len(b) < 4 {
				return errShort
			}
			f := FieldSpec{ID: binary.BigEndian.Uint16(b), Length: binary.BigEndian.Uint16(b[2:])}
			b = b[4:]
			if f.ID&enterpriseBit != 0 {
				if len(b) < 4 {
					return errShort
				}
				f.ID &^= enterpriseBit
				f.Enterprise = binary.BigEndian.Uint32(b)
				b = b[4:]
			}
			fs = append(fs, f)
		}
		templates[id] = fs
	}
	return nil // what remains is padding
}

func decodeData(id uint16, b []byte, fs []FieldSpec) ([]DataRecord, error) {
	var out []DataRecord
	minLen := 0
	for _, f := range fs {
		if f.Length == varLen {
			minLen++
		} else {
			minLen += int(f.Length)
		}
	}
	if minLen == 0 {
		return nil, fmt.Errorf("ipfix: template %d has no content", id)
	}
	for len(b) >= minLen {
		r := DataRecord{TemplateID: id, Fields: make(map[FieldKey][]byte, len(fs))}
		for _, f := range fs {
			l := int(f.Length)
			if f.Length == varLen {
				if len(b) < 1 {
					return out, errShort
				}
				l, b = int(b[0]), b[1:]
				if l == 255 {
					if len(b) < 2 {
						return out, errShort
					}
					l, b = int(binary.BigEndian.Uint16(b)), b[2:]
				}
			}
			if len(b) < l {
				return out, errShort
			}
			r.Fields[FieldKey{f.Enterprise, f.ID}] = b[:l:l]
			b = b[l:]
		}
		out = append(out, r)
	}
	return out, nil // what remains is padding
}

func beUint(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}

// RecordFromIPFIX turns a data record of Palisade's templates back into a
// flow-log record (the fields IPFIX carries).
func RecordFromIPFIX(d DataRecord) flowlog.Record {
	iana := func(id uint16) []byte { return d.Fields[FieldKey{0, id}] }
	pen := func(id uint16) string { return string(d.Fields[FieldKey{PEN, id}]) }
	addr := func(v4, v6 uint16) string {
		if b := iana(v4); len(b) == 4 {
			return netip.AddrFrom4([4]byte(b)).String()
		}
		if b := iana(v6); len(b) == 16 {
			return netip.AddrFrom16([16]byte(b)).String()
		}
		return ""
	}
	r := flowlog.Record{
		Bytes: beUint(iana(IEOctetDeltaCount)), Packets: beUint(iana(IEPacketDeltaCount)),
		Protocol: int(beUint(iana(IEProtocolIdentifier))), TCPFlags: int(beUint(iana(IETCPControlBits))),
		SrcPort: int(beUint(iana(IESourceTransportPort))), DstPort: int(beUint(iana(IEDestinationTransportPort))),
		SrcAddr: addr(IESourceIPv4Address, IESourceIPv6Address), DstAddr: addr(IEDestinationIPv4Address, IEDestinationIPv6Address),
		Start: int64(beUint(iana(IEFlowStartSeconds))), End: int64(beUint(iana(IEFlowEndSeconds))),
		ENIID: pen(IEPalisadeENIID), VpcID: pen(IEPalisadeVpcID), FlowLogID: pen(IEPalisadeFlowLogID), VSwitchID: pen(IEPalisadeVSwitchID),
		Direction: flowlog.DirIn, Action: flowlog.ActionAccept, LogStatus: flowlog.StatusOK,
	}
	if beUint(iana(IEFlowDirection)) == 1 {
		r.Direction = flowlog.DirOut
	}
	if beUint(iana(IEForwardingStatus))>>6 == 2 {
		r.Action = flowlog.ActionReject
	}
	return r
}
