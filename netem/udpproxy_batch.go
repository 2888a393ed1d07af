package netem

import (
	"net"
	"sync/atomic"

	"golang.org/x/net/ipv4"
)

// outBatch gathers the packets a reader forwards uncopied, for one
// sendmmsg. With GSO, each run of equal-size packets to one destination
// (the last may be shorter) goes as one segmented message; the payloads
// are passed as an iovec, never copied.
type outBatch struct {
	ms  []ipv4.Message // one per packet
	n   int
	gso bool // coalesce runs with UDP GSO; cleared if the kernel refuses

	sup   []ipv4.Message // what sendmmsg gets: a packet or a GSO run each
	start []int          // sup[k] begins at ms[start[k]]
	oob   []byte         // a UDP_SEGMENT control message per sup entry
}

func newOutBatch(n int, gso bool) *outBatch {
	o := &outBatch{ms: make([]ipv4.Message, n), gso: gso}
	for i := range o.ms {
		o.ms[i].Buffers = make([][]byte, 1)
	}
	if gso {
		o.sup = make([]ipv4.Message, n)
		for i := range o.sup {
			o.sup[i].Buffers = make([][]byte, 0, n)
		}
		o.start = make([]int, n)
		o.oob = make([]byte, n*gsoCmsgLen)
	}
	return o
}

func (o *outBatch) add(b []byte, addr net.Addr) {
	m := &o.ms[o.n]
	m.Buffers[0], m.Addr = b, addr
	o.n++
}

// flush sends what was gathered. A packet the socket refuses is counted
// and skipped, as a network loses it.
func (o *outBatch) flush(bc batchConn, errs *atomic.Uint64) {
	from := 0
	if o.gso && o.n > 1 {
		from = o.flushGSO(bc, errs)
	}
	ms := o.ms[from:o.n]
	for len(ms) > 0 {
		k, err := bc.WriteBatch(ms, 0)
		if err != nil {
			errs.Add(1)
			k++
		}
		ms = ms[min(k, len(ms)):]
	}
	for i := range o.ms[:o.n] {
		o.ms[i].Buffers[0], o.ms[i].Addr = nil, nil
	}
	for i := range o.sup {
		clear(o.sup[i].Buffers[:cap(o.sup[i].Buffers)])
		o.sup[i].Buffers, o.sup[i].Addr = o.sup[i].Buffers[:0], nil
	}
	o.n = 0
}

// flushGSO sends the batch as GSO runs. It returns o.n, or the index of
// the first packet still to send one by one if the kernel refused GSO.
func (o *outBatch) flushGSO(bc batchConn, errs *atomic.Uint64) int {
	k := 0
	for i := 0; i < o.n; k++ {
		size := len(o.ms[i].Buffers[0])
		j := i + 1
		for size > 0 && j < o.n && j-i < maxGSOSegments && (j-i+1)*size <= maxGSOBytes && o.ms[j].Addr == o.ms[i].Addr {
			l := len(o.ms[j].Buffers[0])
			if l == 0 || l > size {
				break
			}
			j++
			if l < size {
				break // a shorter packet ends a run
			}
		}
		m := &o.sup[k]
		for x := i; x < j; x++ {
			m.Buffers = append(m.Buffers, o.ms[x].Buffers[0])
		}
		m.Addr, m.OOB = o.ms[i].Addr, nil
		if j-i > 1 {
			m.OOB = putGSOCmsg(o.oob[k*gsoCmsgLen:(k+1)*gsoCmsgLen], size)
		}
		o.start[k] = i
		i = j
	}
	sup := o.sup[:k]
	for len(sup) > 0 {
		n, err := bc.WriteBatch(sup, 0)
		if err != nil {
			if n < len(sup) && sup[n].OOB != nil && gsoRefused(err) {
				o.gso = false
				return o.start[k-len(sup)+n]
			}
			errs.Add(uint64(len(sup[min(n, len(sup)-1)].Buffers)))
			n++
		}
		sup = sup[min(n, len(sup)):]
	}
	return o.n
}
