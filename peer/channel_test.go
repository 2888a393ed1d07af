package peer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pion/transport/v3/vnet"

	"github.com/netlab/netlab/netem"
)

// signalingModes are the two in-memory signaling media the seed tests
// with: direct hand-over and a seeded random delay of up to 100 ms.
var signalingModes = []struct {
	name  string
	delay time.Duration
}{
	{"loopback", 0},
	{"delayed", 100 * time.Millisecond},
}

// TestChannelModes: a channel in each of the seven reliability modes of
// seeds/002, and a negotiated one, opens on both sides and carries
// messages both ways; the remote side sees the same options; each side
// reports the channel open exactly once and never shows the heartbeat
// channel.
func TestChannelModes(t *testing.T) {
	type mode struct {
		name string
		opts ChannelOptions
	}
	var modes []mode
	for _, m := range ReliabilityModes() {
		modes = append(modes, mode{m.Name, m.Opts})
	}
	modes = append(modes, mode{"negotiated-id7", ChannelOptions{Negotiated: true, ID: u16(7)}})
	for _, sm := range signalingModes {
		for i, m := range modes {
			t.Run(sm.name+"/"+m.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					pr := newPair(t, pairOpts{delay: sm.delay, seed: uint64(100 + i)})
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					start := time.Now()
					var ca, cb Channel
					var err error
					if m.opts.Negotiated {
						// Both sides create it, at once; the first channel
						// still needs one negotiation.
						done := make(chan error, 1)
						go func() {
							var err error
							cb, err = pr.b.CreateDataChannel(ctx, m.name, m.opts)
							done <- err
						}()
						ca, err = pr.a.CreateDataChannel(ctx, m.name, m.opts)
						if errB := <-done; errB != nil {
							t.Fatal(errB)
						}
					} else {
						ca, err = pr.a.CreateDataChannel(ctx, m.name, m.opts)
					}
					if err != nil {
						t.Fatal(err)
					}
					opened := time.Since(start)
					if !m.opts.Negotiated {
						if cb, err = pr.b.AcceptDataChannel(ctx, m.name); err != nil {
							t.Fatal(err)
						}
					}
					t.Logf("%s/%s: open after %v of virtual time, id %d", sm.name, m.name, opened, ca.ID())
					for i := range 5 {
						if err := expectMessage(ctx, ca, cb, fmt.Sprintf("a->b %d", i)); err != nil {
							t.Fatal(err)
						}
						if err := expectMessage(ctx, cb, ca, fmt.Sprintf("b->a %d", i)); err != nil {
							t.Fatal(err)
						}
					}
					if ca.ID() != cb.ID() {
						t.Errorf("channel ids differ: a %d, b %d", ca.ID(), cb.ID())
					}
					if m.opts.Negotiated && ca.ID() != 7 {
						t.Errorf("negotiated channel id %d, want 7", ca.ID())
					}
					if got, want := fmt.Sprint(optView(cb.Options())), fmt.Sprint(optView(m.opts)); got != want {
						t.Errorf("b sees options %s, want %s", got, want)
					}
					for _, p := range []*GoPeer{pr.a, pr.b} {
						h := p.EventHistory()
						if n := countEvents(h, EventChannelOpen, m.name); n != 1 {
							t.Errorf("%s: %d channel-open events for %q, want 1", p.ID(), n, m.name)
						}
						if n := countEvents(h, EventChannelOpen, heartbeatChannelLabel); n != 0 {
							t.Errorf("%s: the heartbeat channel shows in the events", p.ID())
						}
						if errs := errorEvents(h); len(errs) > 0 {
							t.Errorf("%s: error events: %v", p.ID(), errs)
						}
					}
				})
			})
		}
	}
}

// optView renders options with pointers dereferenced.
func optView(o ChannelOptions) string {
	d := func(p *uint16) string {
		if p == nil {
			return "-"
		}
		return fmt.Sprint(*p)
	}
	return fmt.Sprintf("unordered=%v rexmit=%s lifetime=%s negotiated=%v id=%s", o.Unordered, d(o.MaxRetransmits), d(o.MaxPacketLifeTime), o.Negotiated, d(o.ID))
}

// TestChannelFromAnsweringSide (seed spec 15): after a's first channel,
// b (the side that answered) opens one of its own, without a new
// negotiation.
func TestChannelFromAnsweringSide(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pr := newPair(t, pairOpts{delay: 100 * time.Millisecond, seed: 15})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := pr.a.CreateDataChannel(ctx, "first", ChannelOptions{}); err != nil {
			t.Fatal(err)
		}
		offersBefore := countState(pr.b.EventHistory(), machineSignaling, "have-local-offer")
		cb, err := pr.b.CreateDataChannel(ctx, "second", ChannelOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ca, err := pr.a.AcceptDataChannel(ctx, "second")
		if err != nil {
			t.Fatal(err)
		}
		if err := expectMessage(ctx, cb, ca, "from the answering side"); err != nil {
			t.Fatal(err)
		}
		if got := countState(pr.b.EventHistory(), machineSignaling, "have-local-offer"); got != offersBefore {
			t.Errorf("b offered %d times for a channel over an existing association, want 0", got-offersBefore)
		}
	})
}

func countState(evs []Event, machine, state string) int {
	n := 0
	for _, e := range evs {
		if e.Type == EventState && e.Machine == machine && e.State == state {
			n++
		}
	}
	return n
}

// TestTwoChannelsAtOnce (seed spec 16): two channels opened at once from
// one side both open and both carry data.
func TestTwoChannelsAtOnce(t *testing.T) {
	for _, sm := range signalingModes {
		t.Run(sm.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				pr := newPair(t, pairOpts{delay: sm.delay, seed: 16})
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				type res struct {
					ch  Channel
					err error
				}
				results := make(chan res, 2)
				for _, label := range []string{"one", "two"} {
					go func() {
						ch, err := pr.a.CreateDataChannel(ctx, label, ChannelOptions{})
						results <- res{ch, err}
					}()
				}
				for range 2 {
					r := <-results
					if r.err != nil {
						t.Fatal(r.err)
					}
					cb, err := pr.b.AcceptDataChannel(ctx, r.ch.Label())
					if err != nil {
						t.Fatal(err)
					}
					if err := expectMessage(ctx, r.ch, cb, "on "+r.ch.Label()); err != nil {
						t.Fatal(err)
					}
				}
			})
		})
	}
}

// TestChannelClose: closing one end closes the other; what was sent
// before is still read; Recv then says ErrChannelClosed; Close twice is
// fine; both sides report the close once.
func TestChannelClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pr := newPair(t, pairOpts{})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		ca, err := pr.a.CreateDataChannel(ctx, "c", ChannelOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cb, err := pr.b.AcceptDataChannel(ctx, "c")
		if err != nil {
			t.Fatal(err)
		}
		if err := ca.Send(ctx, []byte("last words")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond) // virtual time: the message lands before the close
		if err := ca.Close(); err != nil {
			t.Fatal(err)
		}
		if err := ca.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if got, err := cb.Recv(ctx); err != nil || string(got) != "last words" {
			t.Fatalf("Recv = %q, %v; want the message sent before the close", got, err)
		}
		if _, err := cb.Recv(ctx); !errors.Is(err, ErrChannelClosed) {
			t.Fatalf("Recv after the remote closed = %v, want ErrChannelClosed", err)
		}
		if err := ca.Send(ctx, []byte("x")); !errors.Is(err, ErrChannelClosed) {
			t.Errorf("Send after Close = %v, want ErrChannelClosed", err)
		}
		for _, p := range []*GoPeer{pr.a, pr.b} {
			if n := countEvents(p.EventHistory(), EventChannelClose, "c"); n != 1 {
				t.Errorf("%s: %d channel-close events, want 1", p.ID(), n)
			}
		}
	})
}

// TestChannelBadOptions: options that cannot work are refused up front.
func TestChannelBadOptions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pr := newPair(t, pairOpts{})
		ctx := context.Background()
		for name, o := range map[string]ChannelOptions{
			"both limits":           {MaxRetransmits: u16(1), MaxPacketLifeTime: u16(100)},
			"negotiated without id": {Negotiated: true},
			"id not negotiated":     {ID: u16(3)},
			"heartbeat id":          {Negotiated: true, ID: u16(heartbeatChannelID)},
			"reserved id":           {Negotiated: true, ID: u16(65535)},
		} {
			if _, err := pr.a.CreateDataChannel(ctx, "bad", o); !errors.Is(err, ErrBadConfig) {
				t.Errorf("%s: err = %v, want ErrBadConfig", name, err)
			}
		}
		if _, err := pr.a.CreateDataChannel(ctx, heartbeatChannelLabel, ChannelOptions{}); !errors.Is(err, ErrBadConfig) {
			t.Errorf("heartbeat label: err = %v, want ErrBadConfig", err)
		}
	})
}

// TestLossyLink: with netem dropping 10% of a's packets each way, a
// reliable ordered channel still delivers everything in order, and an
// unreliable one (maxRetransmits 0) loses about a tenth of what a sends.
func TestLossyLink(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		prof, err := netem.ParseProfile("loss.yaml", []byte("loss: 10%"))
		if err != nil {
			t.Fatal(err)
		}
		pr := newPair(t, pairOpts{seed: 10, shapeA: prof})
		ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
		defer cancel()
		const n = 300
		for _, m := range []ReliabilityMode{ReliabilityModes()[0], ReliabilityModes()[6]} {
			ca, err := pr.a.CreateDataChannel(ctx, m.Name, m.Opts)
			if err != nil {
				t.Fatal(err)
			}
			cb, err := pr.b.AcceptDataChannel(ctx, m.Name)
			if err != nil {
				t.Fatal(err)
			}
			for i := range n {
				if err := ca.Send(ctx, []byte(fmt.Sprint(i))); err != nil {
					t.Fatal(err)
				}
				time.Sleep(10 * time.Millisecond) // virtual time: 100 messages a second
			}
			time.Sleep(5 * time.Second) // virtual time: retransmissions finish
			var got []string
			drained, stop := context.WithCancel(ctx)
			stop() // Recv returns what is queued, then the context's error
			for {
				b, err := cb.Recv(drained)
				if err != nil {
					break
				}
				got = append(got, string(b))
			}
			t.Logf("%s over 10%% loss: %d of %d delivered", m.Name, len(got), n)
			if m.Opts.Reliable() {
				if len(got) != n {
					t.Errorf("%s: %d of %d delivered, want all", m.Name, len(got), n)
				}
				for i, s := range got {
					if s != fmt.Sprint(i) {
						t.Errorf("%s: message %d is %q: out of order", m.Name, i, s)
						break
					}
				}
			} else if len(got) < n*80/100 || len(got) > n*98/100 {
				// 10% of 300: mean 30 lost, sd 5.2: 6 to 60 lost is
				// beyond four sd either way.
				t.Errorf("%s: %d of %d delivered, want about 90%%", m.Name, len(got), n)
			}
		}
	})
}

// TestDTLSHandshakeLoss: the first HelloVerifyRequest and the first
// ServerHello of the DTLS handshake are lost; the handshake still
// completes. pion/dtls v3.0.9 as server never answers a retransmitted
// ClientHello once its HelloVerifyRequest is lost (pion/dtls issue 479),
// which is why the peer skips the cookie exchange.
func TestDTLSHandshakeLoss(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pr := newPair(t, pairOpts{})
		dropped := map[byte]int{}
		var mu sync.Mutex
		pr.world.AddFilter(func(c vnet.Chunk) bool {
			d := c.UserData()
			// DTLS record: type 22 (handshake), 13-byte header, then the
			// handshake type: 3 HelloVerifyRequest, 2 ServerHello.
			if len(d) < 14 || d[0] != 22 || (d[13] != 2 && d[13] != 3) {
				return true
			}
			mu.Lock()
			defer mu.Unlock()
			dropped[d[13]]++
			return dropped[d[13]] > 1
		})
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		start := time.Now()
		ca, err := pr.a.CreateDataChannel(ctx, "x", ChannelOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cb, err := pr.b.AcceptDataChannel(ctx, "x")
		if err != nil {
			t.Fatal(err)
		}
		if err := expectMessage(ctx, ca, cb, "through"); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		t.Logf("open after %v with the first ServerHello lost (HelloVerifyRequests seen: %d)", time.Since(start), dropped[3])
		if dropped[2] == 0 {
			t.Errorf("no ServerHello was dropped: the filter missed the handshake")
		}
	})
}
