package signaling

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// sseEvent is one dispatched server-sent event.
type sseEvent struct {
	ID   string // the last event id seen so far (it carries over)
	Type string // the event name, "message" when none was given
	Data string // data lines joined with "\n"
}

// sseReader parses a text/event-stream as the HTML standard says: lines
// end in CRLF, LF or CR; a blank line dispatches; ':' starts a comment;
// "field: value" loses one space after the colon; data lines join with
// LF; id sets the last event id (unless it holds NUL); retry sets the
// reconnection time (digits only); other fields are ignored; an event
// with no data is not dispatched; a partial event at the end is dropped.
type sseReader struct {
	r       *bufio.Reader
	maxLine int // a longer line ends the stream with ErrTooLarge

	lastID   string
	retry    time.Duration
	retrySet bool

	started bool // the leading BOM has been looked for
	line    []byte
}

func newSSEReader(r io.Reader, maxLine int) *sseReader {
	return &sseReader{r: bufio.NewReaderSize(&crNormalizer{r: r}, 32<<10), maxLine: maxLine}
}

// next returns the next event with data; io.EOF at a clean end of the
// stream.
func (p *sseReader) next() (sseEvent, error) {
	var data strings.Builder
	hasData := false
	typ := ""
	for {
		line, err := p.readLine()
		if err != nil {
			return sseEvent{}, err
		}
		if len(line) == 0 {
			if !hasData {
				typ = ""
				continue
			}
			if typ == "" {
				typ = "message"
			}
			return sseEvent{ID: p.lastID, Type: typ, Data: strings.TrimSuffix(data.String(), "\n")}, nil
		}
		if line[0] == ':' {
			continue
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			value = bytes.TrimPrefix(value, []byte{' '})
		}
		switch string(field) {
		case "event":
			typ = string(value)
		case "data":
			data.Write(value)
			data.WriteByte('\n')
			hasData = true
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				p.lastID = string(value)
			}
		case "retry":
			if ms, ok := digits(value); ok {
				p.retry = time.Duration(ms) * time.Millisecond
				p.retrySet = true
			}
		}
	}
}

func digits(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || n > int64(time.Duration(1<<62)/time.Millisecond) {
		return 0, false
	}
	return n, true
}

// readLine returns the next line without its end; the slice is valid
// until the next call.
func (p *sseReader) readLine() ([]byte, error) {
	p.line = p.line[:0]
	for {
		chunk, err := p.r.ReadSlice('\n')
		p.line = append(p.line, chunk...)
		if len(p.line) > p.maxLine+1 {
			return nil, fmt.Errorf("%w: event stream line over %d bytes", ErrTooLarge, p.maxLine)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if err == io.EOF && len(p.line) > 0 {
				err = io.ErrUnexpectedEOF // a partial line: the stream was cut
			}
			return nil, err
		}
		line := p.line[:len(p.line)-1]
		if !p.started {
			p.started = true
			line = bytes.TrimPrefix(line, []byte("\xEF\xBB\xBF"))
		}
		return line, nil
	}
}

// crNormalizer turns CRLF and lone CR into LF as it reads, so lines can
// be split on LF alone without waiting to see what follows a CR.
type crNormalizer struct {
	r      io.Reader
	prevCR bool // the last byte read was a CR (already turned into LF)
}

func (n *crNormalizer) Read(b []byte) (int, error) {
	for {
		k, err := n.r.Read(b)
		j := 0
		for _, c := range b[:k] {
			switch {
			case c == '\n' && n.prevCR:
				n.prevCR = false // the LF of a CRLF: already ended the line
				continue
			case c == '\r':
				n.prevCR = true
				c = '\n'
			default:
				n.prevCR = false
			}
			b[j] = c
			j++
		}
		if j > 0 || err != nil || k == 0 {
			return j, err
		}
		// Only the LF of a CRLF came: read on rather than return 0, nil.
	}
}
