package lab

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/netlab/netlab/netem"
	"github.com/netlab/netlab/peer"
)

// An endpoint's Uplink and Downlink each give one direction of its link,
// in place of Profile's: Uplink's up and Downlink's down, never the other
// way round. Each of them here also carries a delay for the direction it
// must not give (999 ms and 555 ms), so taking the wrong one shows. Seen
// twice: in the profile the lab reports, and on the bubble's clock, where
// a message crosses in exactly its direction's delay.
func TestUplinkDownlink(t *testing.T) {
	parse := func(t *testing.T, y string) *netem.Profile {
		t.Helper()
		p, err := netem.ParseProfile("test.yaml", []byte(y))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name             string
		uplink, downlink string // YAML; "" for none
		wantName         string
		wantUp, wantDown time.Duration
	}{
		{"both", "name: up30\ndelay: 30ms\ndown: {delay: 999ms}\n", "name: down70\ndelay: 70ms\nup: {delay: 555ms}\n", "up30/down70", 30 * time.Millisecond, 70 * time.Millisecond},
		{"uplink only", "name: up30\ndelay: 30ms\ndown: {delay: 999ms}\n", "", "up30/base", 30 * time.Millisecond, 5 * time.Millisecond},
		{"downlink only", "", "name: down70\ndelay: 70ms\nup: {delay: 555ms}\n", "base/down70", 5 * time.Millisecond, 70 * time.Millisecond},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				alice := EndpointConfig{Name: "alice", Profile: parse(t, "name: base\ndelay: 5ms\n")}
				if c.uplink != "" {
					alice.Uplink = parse(t, c.uplink)
				}
				if c.downlink != "" {
					alice.Downlink = parse(t, c.downlink)
				}
				topo := Topology{
					Seed:      7,
					Endpoints: []EndpointConfig{alice, {Name: "bob"}},
					STUN:      Server{Mode: ServerOff},
					Peer:      quickICE,
				}
				ctx, l, a, b := connectedPair(t, topo)

				p, err := l.Profile("alice")
				if err != nil {
					t.Fatal(err)
				}
				if p.Name != c.wantName {
					t.Errorf("profile name %q, want %q", p.Name, c.wantName)
				}
				for _, d := range []struct {
					dir  netem.Direction
					want time.Duration
				}{{netem.Up, c.wantUp}, {netem.Down, c.wantDown}} {
					got := p.Effective(d.dir, -1).Delay
					if got == nil || time.Duration(got.Time) != d.want {
						t.Errorf("alice's %s delay %v, want %v", d.dir, got, d.want)
					}
				}

				out, err := a.CreateDataChannel(ctx, "timing", peer.ChannelOptions{})
				if err != nil {
					t.Fatal(err)
				}
				in, err := b.AcceptDataChannel(ctx, "timing")
				if err != nil {
					t.Fatal(err)
				}
				// bob is ideal, so alice's links alone set the delays.
				if got := oneWay(ctx, t, out, in); got != c.wantUp {
					t.Errorf("alice to bob took %v, want alice's up delay %v", got, c.wantUp)
				}
				if got := oneWay(ctx, t, in, out); got != c.wantDown {
					t.Errorf("bob to alice took %v, want alice's down delay %v", got, c.wantDown)
				}
			})
		})
	}
}

// oneWay is the time, on the bubble's clock, from a send on from to its
// arrival on to. Inside a bubble the peers' work takes no time, so it is
// the links' delay exactly.
func oneWay(ctx context.Context, t *testing.T, from, to peer.Channel) time.Duration {
	t.Helper()
	start := time.Now()
	if err := from.Send(ctx, []byte("ping")); err != nil {
		t.Fatal(err)
	}
	if _, err := to.Recv(ctx); err != nil {
		t.Fatal(err)
	}
	return time.Since(start)
}
