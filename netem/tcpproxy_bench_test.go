package netem

import (
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"
)

// BenchmarkTCPProxy runs netem's TCPProxy and Shopify's toxiproxy v2.5.0
// side by side in one run, in front of the same TCP echo server on
// 127.0.0.1, and reports netlab/toxiproxy ratios (below 1: netlab is
// faster for latency, above 1: netlab moves more bytes).
//
// The toxic is toxiproxy's latency toxic as it is by default: 10 ms, no
// jitter, on the downstream (upstream -> client) link, where it delays
// each chunk by 10 ms from the moment the chunk was read, chunks staying
// in order. netem's equivalent is `down: {delay: 10ms}`: one delay draw per
// chunk read, never released before the previous chunk.
func BenchmarkTCPProxy(b *testing.B) {
	defer goleak.VerifyNone(b, goleak.IgnoreCurrent()) // the benchmark runner's own goroutines are not ours
	b.Run("latency-10ms", func(b *testing.B) { benchTCPLatency(b, true) })
	b.Run("latency", func(b *testing.B) { benchTCPLatency(b, false) })
	// Throughput without a toxic measures the proxies' own cost per byte.
	// With the latency toxic it measures mostly how much each buffers in
	// flight (netem: 4 MiB per direction; toxiproxy: 1024 chunks of up to
	// 32 KiB), i.e. a window over the delay, not the engine.
	b.Run("throughput", func(b *testing.B) { benchTCPThroughput(b, false) })
	b.Run("throughput-10ms", func(b *testing.B) { benchTCPThroughput(b, true) })
}

// tcpBenchPair is one connection through each proxy to one echo server.
type tcpBenchPair struct {
	netlab, toxi net.Conn
	stop         func()
}

func newTCPBenchPair(b *testing.B, latency bool) *tcpBenchPair {
	b.Helper()
	echo, stopEcho := tcpStartEcho(b)

	var prof *Profile
	if latency {
		prof = tcpProfile(b, "down: {delay: 10ms}\n")
	}
	sh, err := New(Config{Name: "signaling", Profile: prof, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	px, err := NewTCPProxy(TCPProxyConfig{Upstream: echo, Shaper: sh})
	if err != nil {
		b.Fatal(err)
	}

	server := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	tp := toxiproxy.NewProxy(server, "bench", "127.0.0.1:0", echo)
	if err := tp.Start(); err != nil {
		b.Fatal(err)
	}
	if latency {
		_, err := tp.Toxics.AddToxicJson(strings.NewReader(
			`{"name": "latency", "type": "latency", "stream": "downstream", "attributes": {"latency": 10, "jitter": 0}}`))
		if err != nil {
			b.Fatal(err)
		}
	}

	p := &tcpBenchPair{}
	if p.netlab, err = net.Dial("tcp", px.Addr().String()); err != nil {
		b.Fatal(err)
	}
	if p.toxi, err = net.Dial("tcp", tp.Listen); err != nil {
		b.Fatal(err)
	}
	p.stop = func() {
		p.netlab.Close()
		p.toxi.Close()
		px.Close()
		tp.Stop()
		stopEcho()
	}
	return p
}

// roundTrip sends msg and waits for its echo.
func roundTrip(c net.Conn, msg, buf []byte) (time.Duration, error) {
	start := time.Now()
	if _, err := c.Write(msg); err != nil {
		return 0, err
	}
	if _, err := io.ReadFull(c, buf); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

func benchTCPLatency(b *testing.B, latency bool) {
	p := newTCPBenchPair(b, latency)
	defer p.stop()
	msg, buf := make([]byte, 64), make([]byte, 64)
	conns := [2]net.Conn{p.netlab, p.toxi}
	for _, c := range conns { // warm up: connections established upstream
		if _, err := roundTrip(c, msg, buf); err != nil {
			b.Fatal(err)
		}
	}
	const rounds = 25 // per iteration and proxy, interleaved so drift hits both
	var rtt [2][]time.Duration
	for b.Loop() {
		for range rounds {
			for i, c := range conns {
				d, err := roundTrip(c, msg, buf)
				if err != nil {
					b.Fatal(err)
				}
				rtt[i] = append(rtt[i], d)
			}
		}
	}
	p50 := func(ds []time.Duration) float64 {
		slices.Sort(ds)
		return float64(ds[len(ds)/2]) / float64(time.Microsecond)
	}
	nl, tx := p50(rtt[0]), p50(rtt[1])
	b.ReportMetric(nl, "netlab-p50-us")
	b.ReportMetric(tx, "toxiproxy-p50-us")
	if latency {
		b.ReportMetric(nl-10000, "netlab-extra-us") // above the 10 ms toxic
		b.ReportMetric(tx-10000, "toxiproxy-extra-us")
	}
	b.ReportMetric(nl/tx, "latency-ratio")
}

func benchTCPThroughput(b *testing.B, latency bool) {
	p := newTCPBenchPair(b, latency)
	defer p.stop()
	const size = 32 << 20 // each way: the echo sends it back
	data := make([]byte, size)
	buf := make([]byte, size)
	conns := [2]net.Conn{p.netlab, p.toxi}
	var took [2]time.Duration
	it := 0
	for b.Loop() {
		for k := range conns {
			i := (k + it) % 2 // alternate which goes first
			d, err := bulkEcho(conns[i], data, buf)
			if err != nil {
				b.Fatal(err)
			}
			took[i] += d
		}
		it++
	}
	mbps := func(d time.Duration) float64 { return float64(it) * size / 1e6 / d.Seconds() }
	nl, tx := mbps(took[0]), mbps(took[1])
	b.ReportMetric(nl, "netlab-MB/s")
	b.ReportMetric(tx, "toxiproxy-MB/s")
	b.ReportMetric(nl/tx, "throughput-ratio")
}

// bulkEcho writes data and reads its echo into buf concurrently.
func bulkEcho(c net.Conn, data, buf []byte) (time.Duration, error) {
	start := time.Now()
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		werr <- err
	}()
	_, rerr := io.ReadFull(c, buf[:len(data)])
	if err := <-werr; err != nil {
		return 0, fmt.Errorf("write: %w", err)
	}
	if rerr != nil {
		return 0, fmt.Errorf("read: %w", rerr)
	}
	return time.Since(start), nil
}
