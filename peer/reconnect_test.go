package peer

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/netlab/netlab/peer/signaling"
)

// openChannel opens "data" from a and returns both ends.
func openChannel(t *testing.T, ctx context.Context, pr *pair) (Channel, Channel) {
	t.Helper()
	ca, err := pr.a.CreateDataChannel(ctx, "data", ChannelOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cb, err := pr.b.AcceptDataChannel(ctx, "data")
	if err != nil {
		t.Fatal(err)
	}
	return ca, cb
}

// TestRestart: explicit ICE restarts reconnect, both sides report them,
// every candidate on the wire follows the description of its ICE
// generation, and the open channel keeps working.
func TestRestart(t *testing.T) {
	for _, glare := range []GlareStrategy{GlareLock, GlarePerfect} {
		t.Run(glare.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				pr := newPair(t, pairOpts{delay: 100 * time.Millisecond, seed: 7, config: func(c *Config) { c.Glare = glare }})
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				// Taps: every message to a (from b) and to b (from a).
				toA := pr.ca.Subscribe(signaling.Filter{From: "b"})
				toB := pr.cb.Subscribe(signaling.Filter{From: "a"})
				defer toA.Close()
				defer toB.Close()
				ca, cb := openChannel(t, ctx, pr)
				ufragBefore := sdpUfrag(pr.a.currentPC().CurrentLocalDescription().SDP)
				// Three restarts. Under GlareLock either side may start
				// one; under GlarePerfect only the impolite side (b): a
				// polite pion could not survive a crossing offer.
				const restarts = 3
				for i := range restarts {
					p := pr.b
					if glare == GlareLock && i%2 == 1 {
						p = pr.a
					}
					start := time.Now()
					if err := p.Restart(ctx); err != nil {
						t.Fatal(err)
					}
					t.Logf("%s: restart %d by %s took %v of virtual time", glare, i+1, p.ID(), time.Since(start))
				}
				if after := sdpUfrag(pr.a.currentPC().CurrentLocalDescription().SDP); after == ufragBefore {
					t.Errorf("a's ICE ufrag is still %q after the restarts", after)
				}
				for _, p := range []*GoPeer{pr.a, pr.b} {
					if n := countEvents(p.EventHistory(), EventRestart, ""); n != restarts {
						t.Errorf("%s reported %d restarts (its own and the remote's), want %d", p.ID(), n, restarts)
					}
				}
				if n := countState(pr.b.EventHistory(), machineICE, "checking"); n != restarts+1 {
					t.Errorf("b's ICE went to checking %d times, want %d", n, restarts+1)
				}
				if err := expectMessage(ctx, ca, cb, "after restart"); err != nil {
					t.Fatal(err)
				}
				if err := expectMessage(ctx, cb, ca, "and back"); err != nil {
					t.Fatal(err)
				}
				// On the wire, each candidate follows the description of
				// its ICE generation (pion gathers a restart's candidates
				// before the description is even set).
				for from, sub := range map[string]*signaling.Subscription{"b": toA, "a": toB} {
					checkCandidateOrder(t, ctx, from, sub)
				}
			})
		})
	}
}

// checkCandidateOrder reads what sub holds and checks that every
// candidate carries the ufrag of the last description sent before it.
func checkCandidateOrder(t *testing.T, ctx context.Context, from string, sub *signaling.Subscription) {
	t.Helper()
	drained, stop := context.WithCancel(ctx)
	stop() // Recv returns what is queued, then the context's error
	ufrag, descs, cands := "", 0, 0
	for {
		m, err := sub.Recv(drained)
		if err != nil {
			break
		}
		switch m.Type {
		case signaling.TypeOffer, signaling.TypeAnswer:
			d, err := decodeDescription(m)
			if err != nil {
				t.Fatal(err)
			}
			ufrag = sdpUfrag(d.SDP)
			descs++
		case signaling.TypeICECandidate:
			c, err := decodeCandidate(m)
			if err != nil {
				t.Fatal(err)
			}
			cands++
			if c.ufrag() != ufrag {
				t.Errorf("%s sent candidate %q (ufrag %q) after a description with ufrag %q", from, c.Candidate, c.ufrag(), ufrag)
			}
		}
	}
	if descs < 2 || cands < 2 {
		t.Errorf("%s sent %d descriptions and %d candidates, want a restart's worth", from, descs, cands)
	}
}

// outageConfig makes ICE notice a cut within a second and give up within
// three.
func outageConfig(c *Config) {
	c.ICE = ICETimeouts{Disconnected: time.Second, Failed: 2 * time.Second, KeepAlive: 250 * time.Millisecond}
	c.Reconnect.DisconnectedGrace = 500 * time.Millisecond
}

// TestOutageRecovery: the link is cut for 8 s, long enough for ICE to
// fail and for restarts to fail too; once it is back, a restart
// reconnects and the channel opened before the cut carries data again.
// Times are virtual; the test logs the recovery figures.
func TestOutageRecovery(t *testing.T) {
	for _, glare := range []GlareStrategy{GlareLock, GlarePerfect} {
		for _, sm := range signalingModes {
			t.Run(glare.String()+"/"+sm.name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					pr := newPair(t, pairOpts{delay: sm.delay, seed: 8, config: func(c *Config) {
						outageConfig(c)
						c.Glare = glare
					}})
					ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
					defer cancel()
					ca, cb := openChannel(t, ctx, pr)
					qa, qb := pr.a.Events(), pr.b.Events()
					time.Sleep(time.Second) // virtual time: a steady session before the cut

					cutAt := time.Now()
					if err := pr.world.Cut(); err != nil {
						t.Fatal(err)
					}
					// Sent during the outage: reliable, so it must arrive after.
					if err := ca.Send(ctx, []byte("sent during the outage")); err != nil {
						t.Fatal(err)
					}
					for _, q := range []*EventQueue{qa, qb} {
						e, err := waitEvent(ctx, q, func(e Event) bool { return e.Type == EventDisconnected })
						if err != nil {
							t.Fatal(err)
						}
						t.Logf("%s: disconnected detected %v after the cut (reported detection time %v)", e.Peer, e.At.Sub(cutAt), e.Duration)
						// Detection is ICE's disconnected timeout (1 s) after
						// the last packet heard, which is at most a
						// keepalive interval before the cut.
						if e.Duration < time.Second || e.Duration > 1500*time.Millisecond {
							t.Errorf("%s: detection time %v, want 1 s to 1.5 s", e.Peer, e.Duration)
						}
					}
					time.Sleep(8*time.Second - time.Since(cutAt)) // virtual time: the outage lasts 8 s
					if countState(pr.a.EventHistory(), machineICE, "failed") == 0 {
						t.Errorf("ICE never failed during an 8 s outage with a 3 s budget")
					}
					restoreAt := time.Now()
					if err := pr.world.Restore(); err != nil {
						t.Fatal(err)
					}
					for _, q := range []*EventQueue{qa, qb} {
						e, err := waitEvent(ctx, q, func(e Event) bool { return e.Type == EventRecovered })
						if err != nil {
							t.Fatal(err)
						}
						t.Logf("%s: recovered %v after the link returned (%v after detection)", e.Peer, e.At.Sub(restoreAt), e.Duration)
						if e.At.Sub(restoreAt) > 10*time.Second {
							t.Errorf("%s: recovery took %v after the link returned", e.Peer, e.At.Sub(restoreAt))
						}
					}
					got, err := cb.Recv(ctx)
					if err != nil || string(got) != "sent during the outage" {
						t.Fatalf("after recovery b got %q, %v", got, err)
					}
					t.Logf("the message sent during the outage arrived %v after the link returned", time.Since(restoreAt))
					if err := expectMessage(ctx, cb, ca, "after the outage"); err != nil {
						t.Fatal(err)
					}
					restarts := countEvents(pr.a.EventHistory(), EventRestart, "") + countEvents(pr.b.EventHistory(), EventRestart, "")
					t.Logf("restart events (both sides): %d; packets dropped by the cut: %d", restarts, pr.world.Dropped())
					if restarts == 0 {
						t.Errorf("no ICE restart reported")
					}
				})
			})
		}
	}
}

// TestReconnectDisabled: with the policy off, a failed ICE stays failed.
func TestReconnectDisabled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pr := newPair(t, pairOpts{config: func(c *Config) {
			outageConfig(c)
			c.Reconnect.Disabled = true
		}})
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		openChannel(t, ctx, pr)
		if err := pr.world.Cut(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second) // virtual time: past ICE's failed timeout
		if err := pr.world.Restore(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second) // virtual time: a restart would have happened by now
		for _, p := range []*GoPeer{pr.a, pr.b} {
			if n := countEvents(p.EventHistory(), EventRestart, ""); n != 0 {
				t.Errorf("%s restarted %d times with the policy off", p.ID(), n)
			}
			if s := p.iceNow(); s != webrtc.ICEConnectionStateFailed {
				t.Errorf("%s: ICE %s, want failed (terminal without a restart)", p.ID(), s)
			}
		}
	})
}

// TestKillHeartbeatTimeout: when a dies without a word, b's heartbeats
// time out on both paths within [Timeout, Timeout+Interval] of the death
// (the heartbeat allows Timeout past the beat that was due, whatever the
// phase of the beats), and b hears no bye.
func TestKillHeartbeatTimeout(t *testing.T) {
	hb := HeartbeatConfig{Interval: time.Second, Timeout: 3 * time.Second}
	synctest.Test(t, func(t *testing.T) {
		pr := newPair(t, pairOpts{config: func(c *Config) { c.Heartbeat = hb }})
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		openChannel(t, ctx, pr)
		time.Sleep(2500 * time.Millisecond) // virtual time: beats flowing on both paths, off the beat
		qb := pr.b.Events()
		killAt := time.Now()
		pr.a.Kill()
		pr.a.Kill() // idempotent
		seen := map[string]time.Duration{}
		for len(seen) < 2 {
			e, err := waitEvent(ctx, qb, func(e Event) bool { return e.Type == EventHeartbeatTimeout || e.Type == EventBye })
			if err != nil {
				t.Fatalf("timeouts seen %v: %v", seen, err)
			}
			if e.Type == EventBye {
				t.Fatalf("b got a bye from a killed peer")
			}
			seen[e.Path] = e.At.Sub(killAt)
			lastBeat := killAt.Sub(e.Since)
			t.Logf("b: heartbeat timeout on %s %v after the kill; last beat heard %v before it; silence %v", e.Path, e.At.Sub(killAt), lastBeat, e.Duration)
			if lastBeat < 0 || lastBeat > hb.Interval || e.Duration != e.At.Sub(e.Since) {
				t.Errorf("%s: last beat %v before the kill, silence %v; want the last beat within one interval (%v) and the silence since it", e.Path, lastBeat, e.Duration, hb.Interval)
			}
		}
		for path, d := range seen {
			if d < hb.Timeout || d > hb.Timeout+hb.Interval {
				t.Errorf("timeout on %s %v after the kill, want within [%v, %v]", path, d, hb.Timeout, hb.Timeout+hb.Interval)
			}
		}
		if _, ok := seen[pathDataChannel]; !ok {
			t.Errorf("no timeout on the data channel path: %v", seen)
		}
	})
}

// TestCloseSaysBye: Close tells the remote (EventBye, its heartbeat
// stops), closes the local channels, is idempotent, and every call
// afterwards fails with ErrClosed.
func TestCloseSaysBye(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pr := newPair(t, pairOpts{delay: 100 * time.Millisecond, seed: 3})
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		ca, _ := openChannel(t, ctx, pr)
		qb := pr.b.Events()
		if err := pr.a.Close(); err != nil {
			t.Fatal(err)
		}
		if err := pr.a.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if _, err := waitEvent(ctx, qb, func(e Event) bool { return e.Type == EventBye }); err != nil {
			t.Fatal(err)
		}
		// b's channel usually closes too, but that is pion's SCTP ABORT
		// and DTLS close_notify, which pion v4.2.1 loses in about 1 close
		// in 50 (its association's read loop can end before the write
		// loop sends the ABORT): the bye is what b can count on.
		if _, err := ca.Recv(ctx); !errors.Is(err, ErrChannelClosed) {
			t.Errorf("a's channel after Close: %v, want ErrChannelClosed", err)
		}
		time.Sleep(10 * time.Second) // virtual time: longer than the heartbeat timeout
		if n := countEvents(pr.b.EventHistory(), EventHeartbeatTimeout, ""); n != 0 {
			t.Errorf("b raised %d heartbeat timeouts after a said bye", n)
		}
		for name, err := range map[string]error{
			"CreateDataChannel": func() error { _, err := pr.a.CreateDataChannel(ctx, "x", ChannelOptions{}); return err }(),
			"AcceptDataChannel": func() error { _, err := pr.a.AcceptDataChannel(ctx, "x"); return err }(),
			"AddMedia":          pr.a.AddMedia(ctx, MediaSpec{Kind: Audio}),
			"Restart":           pr.a.Restart(ctx),
			"Stats":             func() error { _, err := pr.a.Stats(ctx); return err }(),
			"AcquireLock":       pr.a.AcquireLock(ctx, func(context.Context) error { return nil }),
		} {
			if !errors.Is(err, ErrClosed) {
				t.Errorf("%s after Close = %v, want ErrClosed", name, err)
			}
		}
		if _, err := pr.a.Events().Pop(ctx); err == nil {
			t.Errorf("Events after Close delivered an event")
		}
	})
}

// TestOutageWithSignalingDown: link and signaling go down together; the
// link returns first, signaling 4 s later. No restart can happen without
// signaling, so recovery waits for it, then one restart reconnects.
func TestOutageWithSignalingDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pr := newPair(t, pairOpts{delay: 100 * time.Millisecond, seed: 9, config: outageConfig})
		ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
		defer cancel()
		ca, cb := openChannel(t, ctx, pr)
		qa := pr.a.Events()
		time.Sleep(time.Second) // virtual time: a steady session before the cut
		if err := pr.world.Cut(); err != nil {
			t.Fatal(err)
		}
		pr.loop.SetReachable(false)
		time.Sleep(8 * time.Second) // virtual time: ICE fails meanwhile
		if err := pr.world.Restore(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(4 * time.Second) // virtual time: link up, signaling still down
		if up, _, _ := pr.a.iceMarks(); up {
			t.Fatalf("ICE reconnected without signaling")
		}
		restartsWhileDown := countEvents(pr.a.EventHistory(), EventRestart, "") + countEvents(pr.b.EventHistory(), EventRestart, "")
		signalingBack := time.Now()
		pr.loop.SetReachable(true)
		e, err := waitEvent(ctx, qa, func(e Event) bool { return e.Type == EventRecovered })
		if err != nil {
			t.Fatal(err)
		}
		var redialed time.Time // the later of the two clients' reconnections
		for _, c := range []*signaling.Client{pr.ca, pr.cb} {
			for _, ev := range c.EventHistory() {
				if ev.Type == signaling.EventState && ev.State == signaling.StateConnected && ev.At.After(redialed) {
					redialed = ev.At
				}
			}
		}
		t.Logf("a recovered %v after signaling returned: both clients redialed after %v (their backoff), ICE restarted %v later; %v after detection; %d restarts tried while signaling was down",
			e.At.Sub(signalingBack), redialed.Sub(signalingBack), e.At.Sub(redialed), e.Duration, restartsWhileDown)
		if restartsWhileDown != 0 {
			t.Errorf("%d restarts began while signaling was down", restartsWhileDown)
		}
		if err := expectMessage(ctx, ca, cb, "after both outages"); err != nil {
			t.Fatal(err)
		}
	})
}
