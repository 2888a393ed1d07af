package lab

import (
	"context"
	"testing"
	"time"

	"github.com/netlab/netlab/browsers"
	"github.com/netlab/netlab/peer"
)

// BenchmarkChromeEndpoint is a Go-Chrome case with the browser reused: a
// lab with a Go endpoint and a Chrome endpoint, a tab, a channel opened
// by the Go peer through the relay, and everything closed. ns/op is the
// per-case overhead of a Chrome endpoint (the target: 0.5 s);
// tab-ms is Connect (the tab opened, the page loaded and started, the Go
// peer made); connect-ms is the connection itself, the channel's creation
// to its open on both sides, through the relay (target 250 ms).
func BenchmarkChromeEndpoint(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	br, err := browsers.Launch(ctx, browsers.Config{})
	cancel()
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	topo := Topology{
		Endpoints: []EndpointConfig{{Name: "alice"}, {Name: "bob", Kind: peer.KindChrome}},
		STUN:      Server{Mode: ServerOff},
		Peer:      peer.Config{CandidateWaits: peer.CandidateWaits{Relay: 50 * time.Millisecond, Prflx: 50 * time.Millisecond}},
	}
	var tab, connect time.Duration
	for b.Loop() {
		l, err := New(topo, WithBrowser(br))
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		start := time.Now()
		a, z, err := l.Connect(ctx, "alice", "bob")
		if err != nil {
			b.Fatal(err)
		}
		tab += time.Since(start)
		start = time.Now()
		if _, err := a.CreateDataChannel(ctx, "x", peer.ChannelOptions{}); err != nil {
			b.Fatal(err)
		}
		if _, err := z.AcceptDataChannel(ctx, "x"); err != nil {
			b.Fatal(err)
		}
		connect += time.Since(start)
		cancel()
		if err := l.Close(); err != nil {
			b.Fatal(err)
		}
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(b.N) / float64(time.Millisecond) }
	b.ReportMetric(ms(tab), "tab-ms/op")
	b.ReportMetric(ms(connect), "connect-ms/op")
}
