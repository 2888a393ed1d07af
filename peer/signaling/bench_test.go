package signaling

import (
	"context"
	"fmt"
	"slices"
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
