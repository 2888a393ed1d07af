package netem

import (
	"net"
	"net/netip"
	"time"

	"golang.org/x/net/ipv4"
)

// Batch sizes: a listener slot and a session slot each hold a whole
// datagram (64 KiB), so the listener reserves 2 MiB and a session 512 KiB.
const (
	listenBatch  = 32
	sessionBatch = 8
)

// proxyPacket is a delayed, duplicated or corrupted packet in a lane.
type proxyPacket struct {
	buf *[]byte
	s   *udpSession
}

func newInBatch(n int) []ipv4.Message {
	ms := make([]ipv4.Message, n)
	for i := range ms {
		ms[i].Buffers = [][]byte{make([]byte, maxDatagram)}
	}
	return ms
}

// listen is the listener goroutine: client -> target.
func (p *UDPProxy) listen() {
	defer p.wg.Done()
	in := newInBatch(listenBatch)
	out := newOutBatch(listenBatch, p.gso)
	for {
		n, err := p.lnb.ReadBatch(in, 0)
		if err != nil {
			if p.stopping() || !transientReadError(err) {
				return
			}
			continue
		}
		now := p.clock.Now()
		var cur *udpSession
		var curAddr netip.AddrPort
		for i := range in[:n] {
			m := &in[i]
			ua, ok := m.Addr.(*net.UDPAddr)
			if !ok {
				continue
			}
			ap := ua.AddrPort() // as the kernel reports it, so replies go back the same way
			if cur == nil || ap != curAddr {
				if cur != nil {
					out.flush(cur.cb, &p.writeErrors)
				}
				cur, curAddr = p.session(ap, now), ap
				if cur == nil {
					continue
				}
			}
			p.forward(p.up, Up, now, m.Buffers[0][:m.N], cur, nil, out, cur.cb)
		}
		if cur != nil {
			out.flush(cur.cb, &p.writeErrors)
		}
	}
}

// serveSession is a session's reader goroutine: target -> client.
func (p *UDPProxy) serveSession(s *udpSession) {
	defer p.wg.Done()
	in := newInBatch(sessionBatch)
	out := newOutBatch(sessionBatch, p.gso)
	for {
		n, err := s.cb.ReadBatch(in, 0)
		if err != nil {
			if s.closed.Load() || p.stopping() {
				return
			}
			if transientReadError(err) {
				continue // the target is not listening (yet): ICMP
			}
			p.drop(s)
			return
		}
		now := p.clock.Now()
		s.touch(p, now)
		for i := range in[:n] {
			p.forward(p.down, Down, now, in[i].Buffers[0][:in[i].N], s, s.clientAddr, out, p.lnb)
		}
		out.flush(p.lnb, &p.writeErrors)
	}
}

// forward shapes one packet. One due now, with nothing waiting in its
// lane, joins the outgoing batch uncopied; any other is copied into the
// lane, after the batch is flushed so that nothing is overtaken.
func (p *UDPProxy) forward(l *lane[proxyPacket], dir Direction, now time.Time, data []byte, s *udpSession, addr net.Addr, out *outBatch, bc batchConn) {
	f := p.sh.Shape(now, len(data), dir)
	if f.Dropped() {
		return
	}
	if f.Delay <= 0 && !f.Corrupt && !f.Dup && l.clear() {
		out.add(data, addr)
		return
	}
	out.flush(bc, &p.writeErrors)
	b := copyBuf(data)
	f.Apply(*b)
	if !l.send(now, f.Delay, proxyPacket{buf: b, s: s}) {
		putBuf(b)
		return
	}
	if f.Dup {
		d := copyBuf(data)
		if !l.send(now, f.DupDelay, proxyPacket{buf: d, s: s}) {
			putBuf(d)
		}
	}
}

func (p *UDPProxy) deliverUp(pk proxyPacket) {
	if _, err := pk.s.conn.Write(*pk.buf); err != nil {
		p.writeErrors.Add(1)
	}
	putBuf(pk.buf)
}

func (p *UDPProxy) deliverDown(pk proxyPacket) {
	if _, err := p.ln.WriteToUDPAddrPort(*pk.buf, pk.s.client); err != nil {
		p.writeErrors.Add(1)
	}
	putBuf(pk.buf)
}

func (p *UDPProxy) stopping() bool {
	select {
	case <-p.quit:
		return true
	default:
		return false
	}
}

// drop forgets a session whose socket failed.
func (p *UDPProxy) drop(s *udpSession) {
	p.mu.Lock()
	if p.sessions[s.client] == s {
		delete(p.sessions, s.client)
	}
	p.mu.Unlock()
	s.close()
}
