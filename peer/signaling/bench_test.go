package signaling

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkRelayWS and BenchmarkRelaySSE: 100 peers connected to one
// server on loopback, each sending to the next in a ring at once (b.N
// messages in all); reported: messages relayed per second and the p99
// latency from Send to Recv. Each sender has one message in flight at a
// time: an SSE sender because a POST is answered once the message is
// written to the recipient's stream, a WebSocket sender because it waits
// for its recipient to have received the previous one (unbounded, the
// latency would only measure the depth of the queues).
func BenchmarkRelayWS(b *testing.B)  { benchRelay(b, "ws", true) }
func BenchmarkRelaySSE(b *testing.B) { benchRelay(b, "sse", false) }

func benchRelay(b *testing.B, kind string, window bool) {
	const peers = 100
	srv := startServer(b, ServerConfig{})
	tr := transportFor(b, kind, srv.URL())
	sessions := make([]Session, peers)
	for i := range sessions {
		sessions[i] = dialSession(b, tr, fmt.Sprintf("peer-%03d", i))
	}
	per := (b.N + peers - 1) / peers
	latencies := make([][]time.Duration, peers)
	credits := make([]chan struct{}, peers) // credits[i]: sender i's window
	for i := range credits {
		credits[i] = make(chan struct{}, 1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	errs := make(chan error, 2*peers)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for i, s := range sessions {
		to := fmt.Sprintf("peer-%03d", (i+1)%peers)
		wg.Add(2)
		go func() {
			defer wg.Done()
			for range per {
				if window {
					select {
					case credits[i] <- struct{}{}:
					case <-ctx.Done():
						errs <- ctx.Err()
						return
					}
				}
				m, _ := NewMessage(fmt.Sprintf("peer-%03d", i), to, "bench", time.Now().UnixNano())
				if err := s.Send(ctx, m); err != nil {
					errs <- err
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, per)
			for range per {
				m, err := recvSkipping(ctx, s)
				if err != nil {
					errs <- err
					return
				}
				var sent int64
				if err := m.DecodeData(&sent); err != nil {
					errs <- err
					return
				}
				lat = append(lat, time.Duration(time.Now().UnixNano()-sent))
				if window {
					<-credits[(i+peers-1)%peers] // the sender before i in the ring
				}
			}
			latencies[i] = lat
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	all := slices.Concat(latencies...)
	slices.Sort(all)
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "msg/s")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-us")
}

// BenchmarkDecode: what the server spends parsing one message before it
// forwards the original bytes: an ICE candidate (small) and an offer with
// a 3 KB SDP (the largest message of a negotiation).
func BenchmarkDecode(b *testing.B) {
	sdp := "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
		strings.Repeat("a=candidate:1 1 udp 2122260223 192.168.1.2 54321 typ host generation 0\r\n", 40)
	for _, tc := range []struct {
		name string
		m    Message
	}{
		{"candidate", msg("alice", "bob", TypeICECandidate, map[string]any{
			"candidate": "candidate:1 1 udp 2122260223 192.168.1.2 54321 typ host", "sdpMid": "0", "sdpMLineIndex": 0,
		})},
		{"offer", msg("alice", "bob", TypeOffer, map[string]string{"type": "offer", "sdp": sdp})},
	} {
		raw, err := tc.m.Encode()
		if err != nil {
			b.Fatal(err)
		}
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Decode(raw, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
