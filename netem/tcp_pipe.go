package netem

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// tcpMaxInFlight bounds the bytes a direction has read but not yet written.
// Past it the pipe stops reading, so a slow or held link pushes back on the
// sender through TCP flow control, as a real path does, instead of growing
// memory. 8 MiB covers a 10 ms delay at 800 MB/s.
const tcpMaxInFlight = 8 << 20

// tcpMaxBacklog bounds, in time, the backlog that the bandwidth limit and
// the slicer's spacing build up: the pipe reads no more while its last
// piece is due further ahead than this. Like TCP's congestion window it
// keeps the excess in the sender, so a profile change (a rate going back
// up) reaches the bytes not read yet instead of finding seconds of data
// already scheduled at the old rate.
const tcpMaxBacklog = time.Second

// tcpChunk is the most a pipe reads at once (io.Copy's buffer size).
const tcpChunk = 32 << 10

var tcpBufs = sync.Pool{New: func() any { b := make([]byte, tcpChunk); return &b }}

// tcpPipe is one direction of a connection: a reader goroutine that reads
// the source, decides when each piece leaves (tcpPlan) and hands it to a
// releaser, which writes it to the destination at that time. Pieces due at
// once are written by the reader itself when nothing is queued, which keeps
// an unimpaired stream as fast as io.Copy. Closes travel the same ordered
// stream as data.
type tcpPipe struct {
	c        *tcpConn
	dir      Direction
	src, dst net.Conn
	rel      *releaser[tcpItem]

	pending  atomic.Int64  // items scheduled and not yet written
	inflight atomic.Int64  // bytes scheduled and not yet written
	drained  chan struct{} // capacity 1: "inflight went down"

	// Used by the reader goroutine only.
	plan      tcpPlan
	pieces    []tcpPiece
	limitSet  bool
	limitVal  int64
	limitSent int64
}

type tcpItemKind uint8

const (
	tcpData      tcpItemKind = iota
	tcpCloseDir              // the source closed: close the destination for writing
	tcpCloseConn             // limit_data reached: close the connection
)

type tcpItem struct {
	kind tcpItemKind
	data []byte
	buf  *[]byte // the pool buffer to return after the write, on a chunk's last piece
}

func newTCPPipe(c *tcpConn, dir Direction, src, dst net.Conn) *tcpPipe {
	s := c.p.shaper
	p := &tcpPipe{
		c:       c,
		dir:     dir,
		src:     src,
		dst:     dst,
		drained: make(chan struct{}, 1),
		plan: tcpPlan{
			rngDelay: stream(s.seed, s.name, dir, fmt.Sprintf("tcp-delay:%d", c.id)),
			rngSlice: stream(s.seed, s.name, dir, fmt.Sprintf("tcp-slicer:%d", c.id)),
		},
	}
	p.rel = newReleaser(s.Clock(), p.deliverQueued)
	return p
}

func (p *tcpPipe) read() {
	for {
		if !p.waitRoom() {
			return
		}
		bp := tcpBufs.Get().(*[]byte)
		n, err := p.src.Read(*bp)
		if n > 0 {
			if !p.forward(bp, n) {
				return
			}
		} else {
			tcpBufs.Put(bp)
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			p.forwardClose()
			return
		default:
			// The source failed (reset by its peer, or closed by abort):
			// pass a reset on, as the other side would see one on a real path.
			p.c.abort(true)
			return
		}
	}
}

// waitRoom blocks while too much is in flight or scheduled too far ahead;
// false when aborted.
func (p *tcpPipe) waitRoom() bool {
	for p.inflight.Load() >= tcpMaxInFlight {
		select {
		case <-p.drained:
		case <-p.c.quit:
			return false
		}
	}
	clk := p.c.p.shaper.Clock()
	ahead, now := later(p.plan.busyUntil, p.plan.sliceNext), clk.Now()
	if !ahead.After(now.Add(tcpMaxBacklog)) { // (zero times: no backlog)
		return true
	}
	wait := ahead.Sub(now) - tcpMaxBacklog
	t := clk.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C():
		return true
	case <-p.c.quit:
		return false
	}
}

// forward schedules n bytes of *bp, read now. It returns false when the
// pipe must stop reading: aborted, or limit_data reached.
func (p *tcpPipe) forward(bp *[]byte, n int) bool {
	s := p.c.p.shaper
	read := s.Clock().Now()
	a, ok := p.hold(read)
	if !ok {
		return false
	}
	lp, phase, _, _ := s.linkAt(a, p.dir)
	data := (*bp)[:n]
	limited := p.limit(lp, &data)
	if len(data) > 0 {
		p.pieces = p.plan.schedule(a, len(data), lp, p.pieces[:0])
		last := p.pieces[len(p.pieces)-1].at
		s.recordChunk(read, p.dir, len(data), phase, last.Sub(read))
		for i, pc := range p.pieces {
			it := tcpItem{kind: tcpData, data: data[pc.off:pc.end]}
			if i == len(p.pieces)-1 {
				it.buf = bp
			}
			if !p.emit(pc.at, it) {
				return false
			}
		}
	} else {
		tcpBufs.Put(bp)
	}
	if limited {
		p.emit(p.plan.scheduleAfter(a), tcpItem{kind: tcpCloseConn})
		return false
	}
	return true
}

// limit applies limit_data to *data, counting bytes from when the limit
// came into force; it reports whether the limit is reached.
func (p *tcpPipe) limit(lp *linkParams, data *[]byte) bool {
	tc := lp.src.TCP
	if tc == nil || tc.LimitData == nil {
		p.limitSet = false
		return false
	}
	if v := int64(*tc.LimitData); !p.limitSet || p.limitVal != v {
		p.limitSet, p.limitVal, p.limitSent = true, v, 0
	}
	left := max(p.limitVal-p.limitSent, 0)
	if int64(len(*data)) >= left {
		*data = (*data)[:left]
	}
	p.limitSent += int64(len(*data))
	return p.limitSent >= p.limitVal
}

// forwardClose schedules the close that the source's EOF asks for.
func (p *tcpPipe) forwardClose() {
	s := p.c.p.shaper
	a, ok := p.hold(s.Clock().Now())
	if !ok {
		return
	}
	lp, _, _, _ := s.linkAt(a, p.dir)
	p.emit(p.plan.scheduleClose(a, lp), tcpItem{kind: tcpCloseDir})
}

// hold waits while the link is down for data (blackhole, the down part of
// a flap, a timeout in force) and returns the time it came up: the data's
// arrival as far as the rest of the link is concerned. It re-examines the
// link at every phase boundary and SetProfile; false when aborted.
func (p *tcpPipe) hold(a time.Time) (time.Time, bool) {
	s := p.c.p.shaper
	var timer Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		changed := s.profileChanged() // before looking, so no change is missed
		up, down := linkDownUntil(s, a, p.dir)
		if !down {
			return a, true
		}
		var tc <-chan time.Time
		if !up.IsZero() {
			d := up.Sub(s.Clock().Now())
			if timer == nil {
				timer = s.Clock().NewTimer(d)
			} else {
				timer.Reset(d)
			}
			tc = timer.C()
		}
		select {
		case <-tc:
			a = up // the exact instant, even if the timer fired late
		case <-changed:
			a = s.Clock().Now()
		case <-p.c.quit:
			return a, false
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// emit writes it at once when it is due and nothing waits before it, and
// queues it on the releaser otherwise. False when aborted.
func (p *tcpPipe) emit(at time.Time, it tcpItem) bool {
	if p.pending.Load() == 0 && !at.After(p.c.p.shaper.Clock().Now()) {
		return p.deliver(it)
	}
	p.pending.Add(1)
	p.inflight.Add(int64(len(it.data)))
	if !p.rel.schedule(at, it) {
		p.pending.Add(-1)
		return false
	}
	return true
}

// deliverQueued runs on the releaser's goroutine.
func (p *tcpPipe) deliverQueued(it tcpItem) {
	p.deliver(it)
	p.inflight.Add(-int64(len(it.data)))
	p.pending.Add(-1)
	select {
	case p.drained <- struct{}{}:
	default:
	}
}

// deliver acts on one item; false when the connection is over.
func (p *tcpPipe) deliver(it tcpItem) bool {
	select {
	case <-p.c.quit:
		return false
	default:
	}
	switch it.kind {
	case tcpData:
		_, err := p.dst.Write(it.data)
		if it.buf != nil {
			tcpBufs.Put(it.buf)
		}
		if err != nil {
			p.c.abort(false)
			return false
		}
	case tcpCloseDir:
		if cw, ok := p.dst.(interface{ CloseWrite() error }); ok {
			if err := cw.CloseWrite(); err != nil {
				p.c.abort(false)
				return false
			}
			p.c.directionDone()
		} else {
			p.c.abort(false) // no half-close: close the whole connection
		}
	case tcpCloseConn:
		p.c.abort(false)
		return false
	}
	return true
}
