package lab

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/netlab/netlab/peer"
)

// The CPU cost of a lab case is what bounds virtual-time speedup: a case
// costs its setup (BenchmarkCase) plus its traffic, and an idle call's
// traffic (BenchmarkIdleMinute) is the floor of the latter. README,
// "Benchmarks", carries the figures.

// BenchmarkCase is one case's setup in virtual time: build a lab of two
// endpoints (on the WAN, as the reliability family's, or NATed, as the
// nat family's), pair them, open a channel and send one message, close.
func BenchmarkCase(b *testing.B) {
	for _, bc := range []struct {
		name string
		a, z NAT
		turn ServerMode
	}{
		{"none_x_none", NATNone, NATNone, ServerOff}, // the reliability family's pair
		{"full-cone_x_port-restricted_stun", NATFullCone, NATPortRestricted, ServerOff},
		{"port-restricted_x_symmetric_turn", NATPortRestricted, NATSymmetric, ServerOn},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := benchCall(twoBehind(bc.a, bc.z, bc.turn), 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkIdleMinute is the cost of a minute of idle call (ICE
// keepalives every 500 ms, the heartbeat's beat every second) on top of
// BenchmarkCase's first variant.
func BenchmarkIdleMinute(b *testing.B) {
	b.ReportAllocs()
	topo := twoBehind(NATFullCone, NATPortRestricted, ServerOff)
	for b.Loop() {
		if err := benchCall(topo, time.Minute); err != nil {
			b.Fatal(err)
		}
	}
}

// benchCall runs one call in a bubble of its own and holds it for hold.
// Errors come back rather than failing from the bubble's goroutine.
func benchCall(topo Topology, hold time.Duration) (err error) {
	synctest.Test(&testing.T{}, func(*testing.T) {
		l, e := New(topo)
		if e != nil {
			err = e
			return
		}
		defer l.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second+hold)
		defer cancel()
		a, z, e := l.Pair(ctx, "alice", "bob")
		if e != nil {
			err = e
			return
		}
		out, e := a.CreateDataChannel(ctx, "x", peer.ChannelOptions{})
		if e != nil {
			err = fmt.Errorf("channel: %w", e)
			return
		}
		in, e := z.AcceptDataChannel(ctx, "x")
		if e != nil {
			err = fmt.Errorf("accept: %w", e)
			return
		}
		time.Sleep(hold) // virtual: the idle call
		if e := out.Send(ctx, []byte("hi")); e != nil {
			err = e
			return
		}
		if _, e := in.Recv(ctx); e != nil {
			err = e
		}
	})
	return err
}
