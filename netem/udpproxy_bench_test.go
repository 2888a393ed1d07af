package netem

import (
	"encoding/binary"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/net/ipv4"
)

// The benchmarks run in real time on loopback: they measure the proxy, not
// the shaper's arithmetic. Payloads carry a sequence number and a send
// stamp (nanoseconds since a shared monotonic base), so the receiving end
// measures one-way latency on the same clock.

const benchPayload = 200

// benchStamp writes seq and the time since base into p.
func benchStamp(p []byte, seq uint64, base time.Time) {
	binary.BigEndian.PutUint64(p, seq)
	binary.BigEndian.PutUint64(p[8:], uint64(time.Since(base)))
}

// benchOneWay reads a stamped packet's one-way latency.
func benchOneWay(p []byte, base time.Time) (uint64, time.Duration) {
	return binary.BigEndian.Uint64(p), time.Since(base) - time.Duration(binary.BigEndian.Uint64(p[8:]))
}

// benchStealMS returns the CPU time the hypervisor took from this VM
// (/proc/stat "steal", in ms), or -1 where there is none to read. Stolen
// time arrives in multi-millisecond stalls, and a timer armed on a stalled
// vCPU fires late: it is the floor under the delay error's tail.
func benchStealMS() int64 {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return -1
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return -1
	}
	ticks, err := strconv.ParseInt(f[8], 10, 64)
	if err != nil {
		return -1
	}
	return ticks * 10 // USER_HZ is 100 on Linux
}

func benchShaper(b *testing.B, yaml string) *Shaper {
	b.Helper()
	return pcShaper(b, "bench", yaml)
}

func benchProxy(b *testing.B, target net.Addr, sh *Shaper) *UDPProxy {
	b.Helper()
	p, err := NewUDPProxy(UDPProxyConfig{Target: target.String(), Shaper: sh})
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// benchQuantileUS returns the q-quantile (0..1) of sorted ds, in microseconds.
func benchQuantileUS(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q * float64(len(sorted)-1))
	return float64(sorted[i]) / 1e3
}

// BenchmarkUDPProxyDelay50ms: a client sends 2,000 stamped packets at
// 1,000 packets/s through a proxy whose uplink delays exactly 50 ms; the
// sink measures each one-way latency. Reported: the error against 50 ms
// (p50, p99, max, min) in microseconds, and how many arrived.
func BenchmarkUDPProxyDelay50ms(b *testing.B) {
	defer goleak.VerifyNone(b, goleak.IgnoreCurrent()) // the benchmark runner's own goroutines stay
	const (
		packets = 2000
		want    = 50 * time.Millisecond
	)
	var errs []time.Duration
	received := 0
	steal0 := benchStealMS()
	for range b.N {
		sink := listenLoopUDP(b)
		p := benchProxy(b, sink.LocalAddr(), benchShaper(b, "up: {delay: 50ms}"))
		client := dialLoopUDP(b, p.Addr())
		base := time.Now()

		got := make(chan []time.Duration, 1)
		go func() {
			lat := make([]time.Duration, 0, packets)
			buf := make([]byte, 1500)
			for len(lat) < packets {
				n, err := sink.Read(buf)
				if err != nil {
					break // the deadline below: report what arrived
				}
				if n == benchPayload {
					_, d := benchOneWay(buf, base)
					lat = append(lat, d)
				}
			}
			got <- lat
		}()

		msg := make([]byte, benchPayload)
		tick := time.NewTicker(time.Second / 1000)
		for i := range packets {
			<-tick.C
			benchStamp(msg, uint64(i), base)
			if _, err := client.Write(msg); err != nil {
				b.Fatal(err)
			}
		}
		tick.Stop()
		sink.SetReadDeadline(time.Now().Add(want + time.Second))
		lat := <-got
		client.Close()
		p.Close()
		sink.Close()

		received += len(lat)
		for _, d := range lat {
			errs = append(errs, d-want)
		}
	}
	slices.Sort(errs)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(benchQuantileUS(errs, 0.5), "p50-err-us")
	b.ReportMetric(benchQuantileUS(errs, 0.9), "p90-err-us")
	b.ReportMetric(benchQuantileUS(errs, 0.99), "p99-err-us")
	b.ReportMetric(benchQuantileUS(errs, 1), "max-err-us")
	b.ReportMetric(benchQuantileUS(errs, 0), "min-err-us")
	b.ReportMetric(float64(received)/float64(b.N), "received/op")
	if steal0 >= 0 {
		b.ReportMetric(float64(benchStealMS()-steal0)/float64(b.N), "steal-ms/op")
	}
	if received != packets*b.N {
		b.Errorf("received %d of %d packets on a lossless profile", received, packets*b.N)
	}
}

// BenchmarkUDPProxyPassthrough measures a proxy with no impairment:
//   - added latency: 2,000 stamped packets one at a time (each sent when
//     the previous echo is back, so the path is idle), direct to an echo
//     server and through the proxy, alternating in blocks of 100; the
//     echo server measures one-way latency. p50-added-us is the p50
//     one-way latency through the proxy minus the direct one;
//     p50-added-rtt-us the same for the round trip the client sees.
//   - throughput: a client floods 200-byte packets for 1.5 s (with UDP
//     GSO where the kernel has it, so that the load generator outruns the
//     proxy); pps is what the sink received per second, sent-pps what the
//     client sent.
func BenchmarkUDPProxyPassthrough(b *testing.B) {
	defer goleak.VerifyNone(b, goleak.IgnoreCurrent()) // the benchmark runner's own goroutines stay
	var direct, proxied, rttDirect, rttProxied []time.Duration
	var pps, sentPPS float64
	for range b.N {
		d, p, rd, rp := benchLatency(b)
		direct, proxied = append(direct, d...), append(proxied, p...)
		rttDirect, rttProxied = append(rttDirect, rd...), append(rttProxied, rp...)
		r, s := benchFlood(b, 1500*time.Millisecond)
		pps += r
		sentPPS += s
	}
	for _, s := range [][]time.Duration{direct, proxied, rttDirect, rttProxied} {
		slices.Sort(s)
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(benchQuantileUS(direct, 0.5), "p50-direct-us")
	b.ReportMetric(benchQuantileUS(proxied, 0.5), "p50-proxied-us")
	b.ReportMetric(benchQuantileUS(proxied, 0.5)-benchQuantileUS(direct, 0.5), "p50-added-us")
	b.ReportMetric(benchQuantileUS(proxied, 0.99)-benchQuantileUS(direct, 0.99), "p99-added-us")
	b.ReportMetric(benchQuantileUS(rttProxied, 0.5)-benchQuantileUS(rttDirect, 0.5), "p50-added-rtt-us")
	b.ReportMetric(pps/float64(b.N), "pps")
	b.ReportMetric(sentPPS/float64(b.N), "sent-pps")
}

// benchLatency returns one-way and round-trip latencies, direct and
// through a passthrough proxy.
func benchLatency(b *testing.B) (direct, proxied, rttDirect, rttProxied []time.Duration) {
	const (
		packets = 2000
		block   = 100
	)
	echo := listenLoopUDP(b)
	base := time.Now()
	oneWay := make(chan time.Duration, packets)
	echoDone := make(chan struct{})
	go func() {
		defer close(echoDone)
		buf := make([]byte, 1500)
		for {
			n, from, err := echo.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			_, d := benchOneWay(buf, base)
			oneWay <- d
			echo.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	p := benchProxy(b, echo.LocalAddr(), benchShaper(b, ""))
	viaDirect, viaProxy := dialLoopUDP(b, echo.LocalAddr()), dialLoopUDP(b, p.Addr())
	defer func() {
		viaDirect.Close()
		viaProxy.Close()
		p.Close()
		echo.Close()
		<-echoDone
	}()

	msg, buf := make([]byte, benchPayload), make([]byte, 1500)
	for i := range packets {
		c, ow, rtt := viaDirect, &direct, &rttDirect
		if (i/block)%2 == 1 {
			c, ow, rtt = viaProxy, &proxied, &rttProxied
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		start := time.Now()
		benchStamp(msg, uint64(i), base)
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Read(buf); err != nil {
			b.Fatalf("echo %d: %v", i, err)
		}
		*rtt = append(*rtt, time.Since(start))
		*ow = append(*ow, <-oneWay)
	}
	return direct, proxied, rttDirect, rttProxied
}

// benchFlood floods the proxy for d and returns what the sink received
// per second, and what the client sent per second.
func benchFlood(b *testing.B, d time.Duration) (recvPPS, sentPPS float64) {
	const batch = 64
	sink := listenLoopUDP(b)
	p := benchProxy(b, sink.LocalAddr(), benchShaper(b, ""))
	client := dialLoopUDP(b, p.Addr())
	defer func() {
		client.Close()
		p.Close()
	}()

	var received atomic.Int64
	var last atomic.Int64 // when the last packet arrived, since start
	start := time.Now()
	sinkDone := make(chan struct{})
	go func() {
		defer close(sinkDone)
		ms := newInBatch(batch)
		for i := range ms {
			ms[i].Buffers[0] = make([]byte, 1500)
		}
		pc := ipv4.NewPacketConn(sink)
		for {
			n, err := pc.ReadBatch(ms, 0)
			if err != nil {
				return
			}
			received.Add(int64(n))
			last.Store(int64(time.Since(start)))
		}
	}()

	// The client must outrun the proxy, so it sends like the proxy does:
	// with UDP GSO where the kernel has it (64 datagrams per message,
	// segmented before the proxy's socket), else 64 datagrams per sendmmsg.
	payload := make([]byte, benchPayload)
	var out []ipv4.Message
	if gsoSupported(client) {
		out = make([]ipv4.Message, 8)
		for i := range out {
			out[i].Buffers = make([][]byte, maxGSOSegments)
			for j := range out[i].Buffers {
				out[i].Buffers[j] = payload
			}
			out[i].OOB = putGSOCmsg(make([]byte, gsoCmsgLen), benchPayload)
		}
	} else {
		out = make([]ipv4.Message, batch)
		for i := range out {
			out[i].Buffers = [][]byte{payload}
		}
	}
	pc := ipv4.NewPacketConn(client)
	sent := 0
	for time.Since(start) < d {
		n, err := pc.WriteBatch(out, 0)
		if err != nil {
			b.Fatal(err)
		}
		for _, m := range out[:n] {
			sent += len(m.Buffers)
		}
	}
	sendTime := time.Since(start)
	// Drain: wait until the sink has been quiet for 100 ms.
	for {
		before := received.Load()
		time.Sleep(100 * time.Millisecond) // real time: after a UDP flood, quiet is the only end signal (losses are allowed)
		if received.Load() == before {
			break
		}
	}
	sink.Close()
	<-sinkDone
	elapsed := time.Duration(last.Load())
	if elapsed <= 0 {
		b.Fatal("the sink received nothing")
	}
	return float64(received.Load()) / elapsed.Seconds(), float64(sent) / sendTime.Seconds()
}
