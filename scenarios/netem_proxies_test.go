package scenarios

import (
	"encoding/binary"
	"errors"
	"io"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/netlab/netlab/netem"
	"github.com/netlab/netlab/reports"
)

func ledgers(sh *netem.Shaper) []reports.Ledger {
	var out []reports.Ledger
	for _, l := range sh.Ledgers() {
		out = append(out, reportLedger(l))
	}
	return out
}

func reportLedger(l netem.Ledger) reports.Ledger {
	return reports.Ledger{Point: l.Point, Direction: l.Direction, Packets: l.Counters.Packets,
		Delivered: l.Counters.Delivered, Dropped: l.Counters.Dropped, DroppedBy: l.Counters.DroppedBy, SHA256: l.SHA256}
}

// Real sockets on 127.0.0.1, real time: what the profile promises must
// hold through the kernel too. Only bounds physics guarantees are asserted
// on time (nothing arrives before its delay); counts are exact.
var _ = Describe("netem proxies on loopback", Label("netem"), func() {
	It("carries UDP through wifi-lossy: every packet accounted for, none early", Label("udp"), func() {
		prof, _ := netem.Preset("wifi-lossy")
		sh, err := netem.New(netem.Config{Name: "udp-proxy", Profile: prof, Seed: *seed})
		Expect(err).NotTo(HaveOccurred())

		sink, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(sink.Close)
		proxy, err := netem.NewUDPProxy(netem.UDPProxyConfig{Target: sink.LocalAddr().String(), Shaper: sh})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(proxy.Close)
		client, err := net.DialUDP("udp", nil, proxy.Addr().(*net.UDPAddr))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(client.Close)

		const n = 2000
		received := make(chan time.Duration, n)
		var arrived atomic.Int64 // datagrams the sink has read
		go func() {
			defer GinkgoRecover()
			buf := make([]byte, 2048)
			for {
				_, err := sink.Read(buf)
				if err != nil {
					return // closed by the cleanup
				}
				sent := time.Unix(0, int64(binary.BigEndian.Uint64(buf[:8])))
				arrived.Add(1)
				received <- time.Since(sent)
			}
		}()
		up := func() netem.Counters { return sh.Ledger(netem.Up).Counters }
		// The sender keeps at most window datagrams between its socket and
		// the sink's reader (in a socket buffer, in the proxy or in its
		// delay line): sent, less what the ledger dropped, less what the
		// sink read. 32 of 200 bytes fit a default socket buffer (Linux's
		// 208 KiB holds over a hundred, at some 1.3 KiB of kernel memory
		// each), so a stalled proxy or reader makes the sender wait
		// rather than the kernel drop what the ledger never sees.
		const window = 32
		inFlight := func(sent int) int64 { return int64(sent) - int64(up().Dropped) - arrived.Load() }
		payload := make([]byte, 200)
		for i := 0; i < n; i++ {
			Eventually(inFlight).WithArguments(i).WithTimeout(5*time.Second).WithPolling(time.Millisecond).
				Should(BeNumerically("<", window), "datagram %d: the proxy or the sink stopped reading", i)
			binary.BigEndian.PutUint64(payload, uint64(time.Now().UnixNano()))
			_, err := client.Write(payload)
			Expect(err).NotTo(HaveOccurred())
		}
		Eventually(func() uint64 { return up().Packets }).WithTimeout(5 * time.Second).Should(Equal(uint64(n)))
		want := up().Delivered
		var got uint64
		minDelay := time.Hour
		Eventually(func() uint64 {
			for {
				select {
				case d := <-received:
					got++
					minDelay = min(minDelay, d)
				default:
					return got
				}
			}
		}).WithTimeout(5*time.Second).Should(Equal(want), "the sink got what the ledger says was delivered")
		Consistently(received).WithTimeout(100 * time.Millisecond).ShouldNot(Receive())

		Expect(minDelay).To(BeNumerically(">=", 20*time.Millisecond), "nothing beats the 20 ms delay")
		q := 0.05
		Expect(up().Dropped).To(beWithinSigma(n*q, math.Sqrt(n*q*(1-q))), "wifi-lossy up: dropped %d of %.0f", up().Dropped, n)
		record(&caseData{Family: "netem", Profile: "wifi-lossy", Ledgers: ledgers(sh), Metrics: map[string]float64{
			"received": float64(got), "min_delay_ms": float64(minDelay.Microseconds()) / 1000}})
	})

	It("delays the signaling path over TCP, then resets it on schedule", Label("tcp"), func() {
		prof, err := netem.ParseProfile("signaling.yaml", []byte("delay: 15ms\nschedule:\n  - {name: drop, start: 1h, tcp: {reset_peer: 0s}}\n"))
		Expect(err).NotTo(HaveOccurred())
		sh, err := netem.New(netem.Config{Name: "signaling", Profile: prof, Seed: *seed})
		Expect(err).NotTo(HaveOccurred())

		echo := startEcho()
		proxy, err := netem.NewTCPProxy(netem.TCPProxyConfig{Upstream: echo, Shaper: sh})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(proxy.Close)
		conn, err := net.Dial("tcp", proxy.Addr().String())
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(conn.Close)

		msg := []byte(`{"from":"a","to":"b","type":"offer","data":{}}`)
		buf := make([]byte, len(msg))
		for i := 0; i < 10; i++ {
			start := time.Now()
			_, err := conn.Write(msg)
			Expect(err).NotTo(HaveOccurred())
			Expect(conn.SetReadDeadline(time.Now().Add(5 * time.Second))).To(Succeed())
			_, err = io.ReadFull(conn, buf)
			Expect(err).NotTo(HaveOccurred())
			Expect(buf).To(Equal(msg))
			Expect(time.Since(start)).To(BeNumerically(">=", 30*time.Millisecond), "15 ms each way")
		}
		// The signaling drop, now rather than in an hour: a live profile change.
		prof.Schedule[0].Start = 0
		Expect(sh.SetProfile(prof)).To(Succeed())
		Expect(conn.SetReadDeadline(time.Now().Add(5 * time.Second))).To(Succeed())
		_, err = conn.Read(buf)
		Expect(errors.Is(err, syscall.ECONNRESET)).To(BeTrue(), "want a reset, got %v", err)
		record(&caseData{Family: "netem", Profile: "signaling", Ledgers: ledgers(sh)})
	})
})

// startEcho serves TCP echo on 127.0.0.1 until the spec ends.
func startEcho() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	DeferCleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() { defer wg.Done(); _, _ = io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}
