package peer

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/netlab/netlab/peer/signaling"
)

// hbEvents collects what a heartbeat emits.
type hbEvents struct {
	mu  sync.Mutex
	evs []Event
}

func (e *hbEvents) emit(ev Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.evs = append(e.evs, ev)
}

func (e *hbEvents) list() []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Event(nil), e.evs...)
}

// hbLink carries beats from one heartbeat's path to another heartbeat,
// at once, until cut; it remembers when it last delivered one.
type hbLink struct {
	mu            sync.Mutex
	to            *heartbeat
	path          string
	cut           bool
	sent          int       // beats handed to the link
	lastDelivered time.Time // when the last beat went through
}

func (l *hbLink) send(ctx context.Context, p []byte) error {
	l.mu.Lock()
	l.sent++
	if l.cut {
		l.mu.Unlock()
		return nil
	}
	l.lastDelivered = time.Now()
	to := l.to
	l.mu.Unlock()
	to.Received(l.path, p)
	return nil
}

func (l *hbLink) setCut(cut bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cut = cut
}

func (l *hbLink) stats() (sent int, last time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sent, l.lastDelivered
}

// hbPair is two heartbeats joined by a link per path and direction.
type hbPair struct {
	a, b     *heartbeat
	aEv, bEv *hbEvents
	ab, ba   map[string]*hbLink // ab[path] carries a's beats to b
}

func newHBPair(t *testing.T, cfg HeartbeatConfig, paths ...string) *hbPair {
	t.Helper()
	if _, err := cfg.withDefaults(); err != nil {
		t.Fatal(err)
	}
	p := &hbPair{aEv: &hbEvents{}, bEv: &hbEvents{}, ab: map[string]*hbLink{}, ba: map[string]*hbLink{}}
	p.a = newHeartbeat(cfg, p.aEv.emit)
	p.b = newHeartbeat(cfg, p.bEv.emit)
	for _, path := range paths {
		p.ab[path] = &hbLink{to: p.b, path: path}
		p.ba[path] = &hbLink{to: p.a, path: path}
		p.a.AddPath(path, p.ab[path].send)
		p.b.AddPath(path, p.ba[path].send)
	}
	t.Cleanup(func() { p.a.Close(); p.b.Close() })
	return p
}

func (p *hbPair) start() { p.a.Start(); p.b.Start() }

// The timeout fires exactly at lastHeard+Interval+Timeout (Timeout past
// the beat that was due), once per silence, and recovery reports the
// silence; every beat moves the deadline.
func TestHeartbeatTimeoutAfterMissedBeatPlusTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev hbEvents
		h := newHeartbeat(HeartbeatConfig{}, ev.emit) // 1 s, 5 s
		defer h.Close()
		var sends int
		var mu sync.Mutex
		h.AddPath("signaling", func(context.Context, []byte) error { mu.Lock(); sends++; mu.Unlock(); return nil })
		t0 := time.Now()
		h.Start()
		at := func(d time.Duration) {
			time.Sleep(time.Until(t0.Add(d))) // virtual time in synctest: to the scripted instant
		}
		at(1300 * time.Millisecond)
		h.Received("signaling", []byte(`{}`))
		at(2900 * time.Millisecond)
		h.Received("signaling", []byte(`{}`))
		at(8899 * time.Millisecond)
		synctest.Wait()
		if evs := ev.list(); len(evs) != 0 {
			t.Fatalf("events before lastHeard+Interval+Timeout: %+v", evs)
		}
		at(10 * time.Second)
		h.Received("signaling", []byte(`{}`))
		at(17 * time.Second)
		synctest.Wait()

		want := []Event{
			{Type: EventHeartbeatTimeout, At: t0.Add(8900 * time.Millisecond), Path: "signaling", Since: t0.Add(2900 * time.Millisecond), Duration: 6 * time.Second},
			{Type: EventHeartbeatRecovered, At: t0.Add(10 * time.Second), Path: "signaling", Since: t0.Add(2900 * time.Millisecond), Duration: 7100 * time.Millisecond},
			{Type: EventHeartbeatTimeout, At: t0.Add(16 * time.Second), Path: "signaling", Since: t0.Add(10 * time.Second), Duration: 6 * time.Second},
		}
		checkEvents(t, ev.list(), want)
		mu.Lock()
		defer mu.Unlock()
		if sends != 18 { // at 0, 1, ..., 17 s
			t.Fatalf("sent %d beats in 17 s, want 18 (one per Interval, from Start)", sends)
		}
	})
}

func checkEvents(t *testing.T, got, want []Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d events %+v, want %d %+v", len(got), got, len(want), want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Type != w.Type || !g.At.Equal(w.At) || g.Path != w.Path || !g.Since.Equal(w.Since) || g.Duration != w.Duration {
			t.Fatalf("event %d: got %+v, want %+v", i, g, w)
		}
	}
}

// Two peers, two paths each: beats flow, no events; one direction of one
// path breaks, and only that receiver raises a timeout, on that path,
// exactly Interval+Timeout after the last beat it heard; recovery when it
// heals.
func TestHeartbeatDetectsOnePathOneWay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newHBPair(t, HeartbeatConfig{}, "signaling", "datachannel")
		t0 := time.Now()
		p.start()
		time.Sleep(10500 * time.Millisecond) // virtual time in synctest
		if evs := append(p.aEv.list(), p.bEv.list()...); len(evs) != 0 {
			t.Fatalf("events while beats flow: %+v", evs)
		}
		p.ab["datachannel"].setCut(true)
		time.Sleep(10 * time.Second) // virtual time in synctest
		p.ab["datachannel"].setCut(false)
		time.Sleep(5 * time.Second) // virtual time in synctest
		synctest.Wait()

		if evs := p.aEv.list(); len(evs) != 0 {
			t.Fatalf("alice heard bob all along, but got %+v", evs)
		}
		last := t0.Add(10 * time.Second) // a's last beat through before the cut
		checkEvents(t, p.bEv.list(), []Event{
			{Type: EventHeartbeatTimeout, At: last.Add(6 * time.Second), Path: "datachannel", Since: last, Duration: 6 * time.Second},
			{Type: EventHeartbeatRecovered, At: t0.Add(21 * time.Second), Path: "datachannel", Since: last, Duration: 11 * time.Second},
		})
	})
}

// Both directions of every path go silent at a seeded instant: each side
// raises one timeout per path, exactly Interval+Timeout after the last
// beat the other sent through, so within (Timeout, Timeout+Interval] of
// the cut: the window the issue asks for, whatever the phase of the cut.
func TestHeartbeatBothSidesDetectSilence(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		synctest.Test(t, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 29))
			cfg := HeartbeatConfig{Interval: 700 * time.Millisecond, Timeout: 2 * time.Second}
			p := newHBPair(t, cfg, "signaling", "datachannel")
			p.start()
			cutAt := time.Now().Add(2*time.Second + time.Duration(rng.Int64N(int64(7*time.Second))))
			time.Sleep(time.Until(cutAt)) // virtual time in synctest: to the cut
			for _, links := range []map[string]*hbLink{p.ab, p.ba} {
				for _, l := range links {
					l.setCut(true)
				}
			}
			time.Sleep(cfg.Timeout + cfg.Interval + time.Second) // virtual time in synctest
			synctest.Wait()
			for _, side := range []struct {
				name string
				ev   *hbEvents
				in   map[string]*hbLink // what this side hears
			}{{"a", p.aEv, p.ba}, {"b", p.bEv, p.ab}} {
				evs := side.ev.list()
				if len(evs) != 2 {
					t.Fatalf("seed %d: %s: events %+v, want one timeout per path", seed, side.name, evs)
				}
				for _, e := range evs {
					_, last := side.in[e.Path].stats()
					after := e.At.Sub(last)
					if e.Type != EventHeartbeatTimeout || after != cfg.Interval+cfg.Timeout || !e.Since.Equal(last) {
						t.Fatalf("seed %d: %s: %+v; last beat heard at %v, want a timeout exactly %v later", seed, side.name, e, last, cfg.Interval+cfg.Timeout)
					}
					if d := e.At.Sub(cutAt); d <= cfg.Timeout || d > cfg.Timeout+cfg.Interval {
						t.Fatalf("seed %d: %s detected %v after the cut, want in (%v, %v]", seed, side.name, d, cfg.Timeout, cfg.Timeout+cfg.Interval)
					}
				}
			}
		})
	}
}

// sigBeats runs a heartbeat's "signaling" path over a signaling client:
// beats go out as messages of type "heartbeat", a glue goroutine feeds
// those from the remote to Received. It records when each beat was sent
// (by seq) and the sending time of the last one heard.
type sigBeats struct {
	h      *heartbeat
	ev     *hbEvents
	client *signaling.Client
	glue   chan struct{}
	remote *sigBeats

	mu            sync.Mutex
	sentAt        map[uint64]time.Time
	lastHeardSent time.Time // when the remote sent the last beat we heard
	lastHeard     time.Time
	heard         int
}

const hbTestMsgType = "heartbeat"

func newSigBeats(t *testing.T, lb *signaling.Loopback, local, remote string, cfg HeartbeatConfig) *sigBeats {
	t.Helper()
	c, err := signaling.NewClient(signaling.ClientConfig{ID: local, Transport: lb})
	if err != nil {
		t.Fatal(err)
	}
	s := &sigBeats{ev: &hbEvents{}, client: c, glue: make(chan struct{}), sentAt: map[uint64]time.Time{}}
	s.h = newHeartbeat(cfg, s.ev.emit)
	s.h.AddPath("signaling", func(ctx context.Context, p []byte) error {
		var b beat
		if err := json.Unmarshal(p, &b); err != nil {
			return err
		}
		s.mu.Lock()
		s.sentAt[b.Seq] = time.Now()
		s.mu.Unlock()
		return c.Send(ctx, remote, hbTestMsgType, json.RawMessage(p))
	})
	sub := c.Subscribe(signaling.Filter{From: remote, Types: []string{hbTestMsgType}})
	go func() {
		defer close(s.glue)
		for {
			m, err := sub.Recv(context.Background())
			if err != nil {
				return
			}
			var b beat
			if err := json.Unmarshal(m.Data, &b); err != nil {
				t.Errorf("%s: beat %s: %v", local, m.Data, err)
				continue
			}
			sentAt := s.remote.sentTime(b.Seq) // not under s.mu: the remote's glue locks the other way
			s.mu.Lock()
			s.lastHeardSent = sentAt
			s.lastHeard = time.Now()
			s.heard++
			s.mu.Unlock()
			s.h.Received("signaling", m.Data)
		}
	}()
	t.Cleanup(func() {
		s.h.Close()
		c.Close()
		<-s.glue
	})
	return s
}

func (s *sigBeats) sentTime(seq uint64) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sentAt[seq]
}

func (s *sigBeats) last() (heard int, lastHeard, lastHeardSent time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.heard, s.lastHeard, s.lastHeardSent
}

func newSigPair(t *testing.T, lb *signaling.Loopback, cfg HeartbeatConfig) (a, b *sigBeats) {
	t.Helper()
	a = newSigBeats(t, lb, lockAlice, lockBob, cfg)
	b = newSigBeats(t, lb, lockBob, lockAlice, cfg)
	a.remote, b.remote = b, a
	for _, s := range []*sigBeats{a, b} {
		if err := s.client.WaitConnected(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	a.h.Start()
	b.h.Start()
	return a, b
}

// Over the delayed signaling loopback, a signaling outage: both sides
// time out exactly Interval+Timeout after the last beat heard, which is
// that plus at most the loopback's delay (100 ms) after the other sent
// it; both recover once signaling is back.
func TestHeartbeatOverSignalingOutage(t *testing.T) {
	for seed := uint64(1); seed <= 10; seed++ {
		synctest.Test(t, func(t *testing.T) {
			lb, err := signaling.NewLoopback(signaling.WithDelay(signaling.DefaultLoopbackDelay, seed))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { lb.Close() })
			cfg, _ := HeartbeatConfig{}.withDefaults()
			a, b := newSigPair(t, lb, cfg)
			rng := rand.New(rand.NewPCG(seed, 31))
			time.Sleep(3*time.Second + time.Duration(rng.Int64N(int64(5*time.Second)))) // virtual time in synctest
			lb.SetReachable(false)
			time.Sleep(cfg.Timeout + cfg.Interval + time.Second) // virtual time in synctest
			synctest.Wait()
			for _, s := range []*sigBeats{a, b} {
				evs := s.ev.list()
				_, lastHeard, lastSent := s.last()
				if len(evs) != 1 || evs[0].Type != EventHeartbeatTimeout || evs[0].Path != "signaling" {
					t.Fatalf("seed %d: %s: events %+v, want one signaling timeout", seed, s.client.ID(), evs)
				}
				if d := evs[0].At.Sub(lastHeard); d != cfg.Interval+cfg.Timeout {
					t.Fatalf("seed %d: %s: timeout %v after the last beat heard, want exactly %v", seed, s.client.ID(), d, cfg.Interval+cfg.Timeout)
				}
				if d := evs[0].At.Sub(lastSent); d < cfg.Interval+cfg.Timeout || d > cfg.Interval+cfg.Timeout+signaling.DefaultLoopbackDelay {
					t.Fatalf("seed %d: %s: timeout %v after the remote sent its last beat, want in [%v, %v]", seed, s.client.ID(), d,
						cfg.Interval+cfg.Timeout, cfg.Interval+cfg.Timeout+signaling.DefaultLoopbackDelay)
				}
			}
			lb.SetReachable(true)
			back := time.Now()
			time.Sleep(15 * time.Second) // virtual time in synctest: reconnect backoff, then beats
			synctest.Wait()
			for _, s := range []*sigBeats{a, b} {
				evs := s.ev.list()
				if len(evs) < 2 || evs[1].Type != EventHeartbeatRecovered || evs[1].At.Before(back) || evs[1].Duration != evs[1].At.Sub(evs[1].Since) {
					t.Fatalf("seed %d: %s: events %+v, want a recovery after signaling came back", seed, s.client.ID(), evs)
				}
			}
		})
	}
}

// Beats that arrive with seeded jitter of up to Interval/2 (the delayed
// loopback keeps them in order) never raise a timeout with Timeout =
// 2*Interval. The control: delays of up to 3*Interval with Timeout =
// 1.2*Interval do (an arrival gap past 2.2 Interval), so the check can
// fail.
func TestHeartbeatJitterNoFalseTimeout(t *testing.T) {
	const interval = time.Second
	run := func(t *testing.T, seed uint64, maxDelay, timeout time.Duration) (events int, heard int) {
		lb, err := signaling.NewLoopback(signaling.WithDelay(maxDelay, seed))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { lb.Close() })
		a, b := newSigPair(t, lb, HeartbeatConfig{Interval: interval, Timeout: timeout})
		time.Sleep(time.Minute) // virtual time in synctest
		synctest.Wait()
		for _, s := range []*sigBeats{a, b} {
			events += len(s.ev.list())
			n, _, _ := s.last()
			heard += n
		}
		return events, heard
	}
	for seed := uint64(1); seed <= 10; seed++ {
		synctest.Test(t, func(t *testing.T) {
			events, heard := run(t, seed, interval/2, 2*interval)
			if events != 0 {
				t.Fatalf("seed %d: %d events with jitter below Timeout-Interval", seed, events)
			}
			if heard < 2*59 {
				t.Fatalf("seed %d: heard %d beats in a minute on two sides, want about 120", seed, heard)
			}
		})
		synctest.Test(t, func(t *testing.T) {
			if events, _ := run(t, seed, 3*interval, 1200*time.Millisecond); events == 0 {
				t.Fatalf("seed %d: control: no event with delays up to 3 Interval and Timeout 1.2 Interval; the check cannot fail", seed)
			}
		})
	}
}

// Stop (the remote said bye) ends sending and detection: no event after
// it, whatever is heard or not; the other side sees the silence.
func TestHeartbeatStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newHBPair(t, HeartbeatConfig{}, "signaling")
		t0 := time.Now()
		p.start()
		time.Sleep(2500 * time.Millisecond) // virtual time in synctest
		p.b.Stop()
		p.b.Stop() // idempotent
		sentAtStop, _ := p.ba["signaling"].stats()
		p.ab["signaling"].setCut(true) // b hears nothing either: no timeout, since stopped
		time.Sleep(20 * time.Second)   // virtual time in synctest
		p.b.Received("signaling", []byte(`{}`))
		synctest.Wait()
		if evs := p.bEv.list(); len(evs) != 0 {
			t.Fatalf("stopped side emitted %+v", evs)
		}
		if sent, _ := p.ba["signaling"].stats(); sent != sentAtStop || sent != 3 {
			t.Fatalf("stopped side sent %d beats (%d at Stop), want 3 (0, 1, 2 s) and none after", sent, sentAtStop)
		}
		checkEvents(t, p.aEv.list(), []Event{
			{Type: EventHeartbeatTimeout, At: t0.Add(8 * time.Second), Path: "signaling", Since: t0.Add(2 * time.Second), Duration: 6 * time.Second},
		})
		p.b.Close()
		p.b.Close()
	})
}

// A path added later starts its silence clock when added and sends at
// once; a removed path sends and watches no more.
func TestHeartbeatAddRemovePath(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev hbEvents
		h := newHeartbeat(HeartbeatConfig{}, ev.emit)
		defer h.Close()
		var mu sync.Mutex
		sent := map[string][]time.Duration{}
		t0 := time.Now()
		sender := func(path string) func(context.Context, []byte) error {
			return func(_ context.Context, p []byte) error {
				var b beat
				if err := json.Unmarshal(p, &b); err != nil || b.Path != path {
					t.Errorf("payload %s on %s", p, path)
				}
				mu.Lock()
				sent[path] = append(sent[path], time.Since(t0))
				mu.Unlock()
				return nil
			}
		}
		h.AddPath("signaling", sender("signaling"))
		h.Start()
		feed := func(until time.Duration) {
			for time.Since(t0) < until {
				h.Received("signaling", nil)
				time.Sleep(500 * time.Millisecond) // virtual time in synctest: signaling keeps beating
			}
		}
		feed(3 * time.Second)
		h.AddPath("datachannel", sender("datachannel"))
		feed(8500 * time.Millisecond) // between beats: a removal at a beat's instant races it
		h.RemovePath("signaling")
		time.Sleep(20 * time.Second) // virtual time in synctest
		synctest.Wait()
		checkEvents(t, ev.list(), []Event{
			{Type: EventHeartbeatTimeout, At: t0.Add(9 * time.Second), Path: "datachannel", Since: t0.Add(3 * time.Second), Duration: 6 * time.Second},
		})
		mu.Lock()
		defer mu.Unlock()
		if got := sent["datachannel"]; len(got) == 0 || got[0] != 3*time.Second || got[1] != 4*time.Second {
			t.Fatalf("datachannel beats at %v, want from 3 s every second", got)
		}
		if got := sent["signaling"]; len(got) != 9 || got[len(got)-1] != 8*time.Second {
			t.Fatalf("signaling beats at %v, want 0..8 s and none after removal", got)
		}
	})
}

// A send that blocks is given up after one Interval (so detection is late
// by at most that), and Close does not wait for it to return on its own.
func TestHeartbeatBlockedSend(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev hbEvents
		h := newHeartbeat(HeartbeatConfig{Interval: time.Second, Timeout: 3 * time.Second}, ev.emit)
		var mu sync.Mutex
		var gaveUp []time.Duration
		t0 := time.Now()
		h.AddPath("datachannel", func(ctx context.Context, _ []byte) error {
			<-ctx.Done()
			mu.Lock()
			gaveUp = append(gaveUp, time.Since(t0))
			mu.Unlock()
			return ctx.Err()
		})
		h.Start()
		time.Sleep(5500 * time.Millisecond) // virtual time in synctest
		synctest.Wait()
		evs := ev.list()
		if len(evs) != 1 || evs[0].Type != EventHeartbeatTimeout {
			t.Fatalf("events %+v, want one timeout", evs)
		}
		if late := evs[0].At.Sub(t0.Add(4 * time.Second)); late < 0 || late > time.Second {
			t.Fatalf("timeout %v late, want at most one Interval", late)
		}
		closing := time.Now()
		h.Close()
		if time.Since(closing) != 0 {
			t.Fatal("Close waited for the blocked send")
		}
		mu.Lock()
		defer mu.Unlock()
		if len(gaveUp) < 4 || gaveUp[0] != time.Second {
			t.Fatalf("sends given up at %v, want after one Interval each", gaveUp)
		}
	})
}

// A send that ignores its context and stalls for 2.5 Intervals: the beats
// it missed are not sent in a burst afterwards; the schedule restarts.
func TestHeartbeatStallDoesNotBurst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHeartbeat(HeartbeatConfig{}, nil)
		defer h.Close()
		var at []time.Duration
		t0 := time.Now()
		h.AddPath("signaling", func(context.Context, []byte) error {
			at = append(at, time.Since(t0)) // only run's goroutine calls send
			if len(at) == 1 {
				time.Sleep(2500 * time.Millisecond) // virtual time in synctest: a stalled send
			}
			return nil
		})
		h.Start()
		time.Sleep(5 * time.Second) // virtual time in synctest
		h.Close()
		want := []time.Duration{0, 2500 * time.Millisecond, 3500 * time.Millisecond, 4500 * time.Millisecond}
		if !slices.Equal(at, want) {
			t.Fatalf("beats at %v, want %v", at, want)
		}
	})
}

func TestHeartbeatDisabled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ev hbEvents
		h := newHeartbeat(HeartbeatConfig{Disabled: true}, ev.emit)
		sends := 0
		h.AddPath("signaling", func(context.Context, []byte) error { sends++; return nil })
		h.Start()
		time.Sleep(time.Minute) // virtual time in synctest
		synctest.Wait()
		if sends != 0 || len(ev.list()) != 0 {
			t.Fatalf("disabled heartbeat sent %d beats, emitted %+v", sends, ev.list())
		}
		h.Close()
	})
}

func TestHeartbeatConfig(t *testing.T) {
	got, err := HeartbeatConfig{}.withDefaults()
	if err != nil || got.Interval != time.Second || got.Timeout != 5*time.Second {
		t.Fatalf("defaults: %+v, %v", got, err)
	}
	for _, c := range []struct {
		cfg  HeartbeatConfig
		says string
	}{
		{HeartbeatConfig{Interval: -time.Second}, "-1s"},
		{HeartbeatConfig{Timeout: -time.Second}, "-1s"},
		{HeartbeatConfig{Interval: time.Second, Timeout: time.Second}, "timeout 1s, interval 1s"},
		{HeartbeatConfig{Interval: 2 * time.Second, Timeout: time.Second}, "timeout 1s, interval 2s"},
		{HeartbeatConfig{Interval: 6 * time.Second}, "timeout 5s, interval 6s"}, // against the default timeout
	} {
		_, err := c.cfg.withDefaults()
		if !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), c.says) {
			t.Fatalf("%+v: %v, want ErrBadConfig saying %q", c.cfg, err, c.says)
		}
	}
	// Handed a bad config anyway, the heartbeat says so on Start and
	// runs nothing.
	synctest.Test(t, func(t *testing.T) {
		var ev hbEvents
		h := newHeartbeat(HeartbeatConfig{Interval: time.Second, Timeout: time.Second}, ev.emit)
		defer h.Close()
		sends := 0
		h.AddPath("signaling", func(context.Context, []byte) error { sends++; return nil })
		h.Start()
		time.Sleep(10 * time.Second) // virtual time in synctest
		synctest.Wait()
		evs := ev.list()
		if len(evs) != 1 || evs[0].Type != EventError || !errors.Is(evs[0].Err, ErrBadConfig) || sends != 0 {
			t.Fatalf("events %+v, sends %d; want one EventError with ErrBadConfig and nothing sent", evs, sends)
		}
	})
}
