package peer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/netlab/netlab/peer/signaling"
)

// Ids: "alice" < "bob", so alice is the polite side.
const (
	lockAlice = "alice"
	lockBob   = "bob"
)

// lockSide is one pairLock on its own signaling client, with a glue
// goroutine that feeds it the remote's lock messages (what the GoPeer's
// dispatch does).
type lockSide struct {
	id     string
	lock   *pairLock
	client *signaling.Client
	glue   chan struct{} // closed when the glue goroutine has ended
}

func newLockSide(t *testing.T, lb *signaling.Loopback, local, remote string, timeout time.Duration) *lockSide {
	t.Helper()
	c, err := signaling.NewClient(signaling.ClientConfig{ID: local, Transport: lb})
	if err != nil {
		t.Fatal(err)
	}
	sub := c.Subscribe(signaling.Filter{From: remote, Types: []string{signaling.TypeLockRequest, signaling.TypeLockResponse}})
	s := &lockSide{id: local, client: c, glue: make(chan struct{})}
	s.lock = newPairLock(lockConfig{Local: local, Remote: remote, Timeout: timeout,
		Send: func(ctx context.Context, typ string, data any) error { return c.Send(ctx, remote, typ, data) }})
	go func() {
		defer close(s.glue)
		for {
			m, err := sub.Recv(context.Background())
			if err != nil {
				return
			}
			if !s.lock.Handle(m) {
				t.Errorf("%s: Handle refused %s from %s", local, m.Type, m.From)
			}
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *lockSide) close() {
	s.lock.Close()
	s.client.Close() // closes the subscription: the glue ends
	<-s.glue
}

// newLockPair connects alice and bob over lb.
func newLockPair(t *testing.T, lb *signaling.Loopback, timeout time.Duration) (a, b *lockSide) {
	t.Helper()
	a = newLockSide(t, lb, lockAlice, lockBob, timeout)
	b = newLockSide(t, lb, lockBob, lockAlice, timeout)
	for _, s := range []*lockSide{a, b} {
		if err := s.client.WaitConnected(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	return a, b
}

// lockMedia runs f in a synctest bubble once per loopback medium:
// immediate, and the seed's random delay (0-100 ms, in order).
func lockMedia(t *testing.T, f func(t *testing.T, lb *signaling.Loopback)) {
	media := []struct {
		name string
		opts []signaling.LoopbackOption
	}{
		{"loopback", nil},
		{"delayed", []signaling.LoopbackOption{signaling.WithDelay(signaling.DefaultLoopbackDelay, 7)}},
	}
	for _, m := range media {
		t.Run(m.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				lb, err := signaling.NewLoopback(m.opts...)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { lb.Close() })
				f(t, lb)
			})
		})
	}
}

// acquire runs l.Acquire(ctx, body) in a goroutine.
func lockAcquireAsync(ctx context.Context, l *pairLock, body func(context.Context) error) <-chan error {
	done := make(chan error, 1)
	go func() { done <- l.Acquire(ctx, body) }()
	return done
}

// settled waits until the bubble is idle and reports the result of done,
// if there is one.
func lockSettled(done <-chan error) (error, bool) {
	synctest.Wait()
	select {
	case err := <-done:
		return err, true
	default:
		return nil, false
	}
}

// holdBody is a body that closes entered and holds until release is
// closed (or its context ends).
func lockHoldBody(entered, release chan struct{}) func(context.Context) error {
	return func(ctx context.Context) error {
		close(entered)
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Seed spec 8: a second acquirer waits while the first holds.
func TestLockAcquiresAndReleasesWithWaiting(t *testing.T) {
	lockMedia(t, func(t *testing.T, lb *signaling.Loopback) {
		a, b := newLockPair(t, lb, DefaultLockTimeout)
		entered, release := make(chan struct{}), make(chan struct{})
		aDone := lockAcquireAsync(t.Context(), a.lock, lockHoldBody(entered, release))
		<-entered
		if !a.lock.Held() || b.lock.Held() {
			t.Fatalf("held: alice %v, bob %v; want alice only", a.lock.Held(), b.lock.Held())
		}

		var bobAt time.Time
		bDone := lockAcquireAsync(t.Context(), b.lock, func(context.Context) error { bobAt = time.Now(); return nil })
		time.Sleep(3 * time.Second) // virtual time in synctest: bob waits while alice holds
		if _, ok := lockSettled(bDone); ok || !bobAt.IsZero() {
			t.Fatal("bob ran while alice held the lock")
		}
		if n := b.lock.Waiting(); n != 1 {
			t.Fatalf("bob Waiting = %d, want 1", n)
		}
		releasedAt := time.Now()
		close(release)
		if err := <-aDone; err != nil {
			t.Fatalf("alice: %v", err)
		}
		if err := <-bDone; err != nil {
			t.Fatalf("bob: %v", err)
		}
		// alice answers at release; bob's body starts one signaling hop later.
		if d := bobAt.Sub(releasedAt); d < 0 || d > signaling.DefaultLoopbackDelay {
			t.Fatalf("bob started %v after alice released, want within one hop", d)
		}
		if a.lock.Held() || b.lock.Held() || a.lock.Waiting() != 0 || b.lock.Waiting() != 0 {
			t.Fatal("lock not idle on both sides after both released")
		}
	})
}

// Seed spec 9: bodies that resolve release the lock, from either side.
func TestLockAcquiresAndReleasesWithResolution(t *testing.T) {
	lockMedia(t, func(t *testing.T, lb *signaling.Loopback) {
		a, b := newLockPair(t, lb, DefaultLockTimeout)
		for i, s := range []*lockSide{a, b, a, b, b, a} {
			ran := false
			err := s.lock.Acquire(t.Context(), func(context.Context) error {
				ran = true
				if !s.lock.Held() {
					t.Errorf("call %d: %s runs its body without holding", i, s.id)
				}
				return nil
			})
			if err != nil || !ran {
				t.Fatalf("call %d by %s: err %v, ran %v", i, s.id, err, ran)
			}
			if s.lock.Held() {
				t.Fatalf("call %d: %s still holds after its body returned", i, s.id)
			}
		}
	})
}

// Seed spec 10: a body's error is returned as is, and releases the lock.
func TestLockAcquiresAndReleasesWithRejection(t *testing.T) {
	lockMedia(t, func(t *testing.T, lb *signaling.Loopback) {
		a, b := newLockPair(t, lb, DefaultLockTimeout)
		boom := errors.New("rejected on purpose")
		if err := a.lock.Acquire(t.Context(), func(context.Context) error { return boom }); err != boom {
			t.Fatalf("Acquire = %v, want the body's error itself", err)
		}
		start := time.Now()
		for _, s := range []*lockSide{b, a} {
			if err := s.lock.Acquire(t.Context(), func(context.Context) error { return nil }); err != nil {
				t.Fatalf("%s after a rejection: %v", s.id, err)
			}
		}
		// Released at once: no timeout was waited out.
		if d := time.Since(start); d > 4*signaling.DefaultLoopbackDelay {
			t.Fatalf("two acquires after a rejection took %v", d)
		}
	})
}

// Seed spec 11: bob holds past alice's timeout; alice gets ErrLockTimeout
// exactly Timeout after her request, her body never runs, and the pair
// works afterwards.
func TestLockTimesOut(t *testing.T) {
	const timeout = time.Second
	lockMedia(t, func(t *testing.T, lb *signaling.Loopback) {
		a, b := newLockPair(t, lb, timeout)
		entered, release := make(chan struct{}), make(chan struct{})
		bDone := lockAcquireAsync(t.Context(), b.lock, lockHoldBody(entered, release))
		<-entered

		start := time.Now()
		ran := false
		err := a.lock.Acquire(t.Context(), func(context.Context) error { ran = true; return nil })
		if waited := time.Since(start); waited != timeout {
			t.Fatalf("timed out after %v, want exactly %v (virtual time)", waited, timeout)
		}
		if !errors.Is(err, ErrLockTimeout) || ran {
			t.Fatalf("Acquire = %v (ran %v), want ErrLockTimeout without running", err, ran)
		}
		for _, want := range []string{lockAlice, lockBob, timeout.String()} {
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("error %q does not say %q", err, want)
			}
		}
		close(release)
		if err := <-bDone; err != nil {
			t.Fatal(err)
		}
		if err := a.lock.Acquire(t.Context(), func(context.Context) error { return nil }); err != nil {
			t.Fatalf("alice after her timeout: %v", err)
		}
		if err := b.lock.Acquire(t.Context(), func(context.Context) error { return nil }); err != nil {
			t.Fatalf("bob after alice's timeout: %v", err)
		}
	})
}

// A remote that never answers: ErrLockTimeout at exactly the default 5 s.
func TestLockTimesOutWhenRemoteIsSilent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, sent := newScriptedLock(t, lockBob, lockAlice, 0)
		start := time.Now()
		err := l.Acquire(t.Context(), func(context.Context) error { return nil })
		if !errors.Is(err, ErrLockTimeout) || time.Since(start) != DefaultLockTimeout {
			t.Fatalf("Acquire = %v after %v, want ErrLockTimeout after %v", err, time.Since(start), DefaultLockTimeout)
		}
		if m := lockNextSent(t, sent); m.typ != signaling.TypeLockRequest {
			t.Fatalf("sent %s, want a lockRequest", m.typ)
		}
	})
}

// Seed spec 12: calls on one side run one at a time, in call order.
func TestLockQueuesInOrderOnTheSameSide(t *testing.T) {
	lockMedia(t, func(t *testing.T, lb *signaling.Loopback) {
		a, _ := newLockPair(t, lb, DefaultLockTimeout)
		var log lockBodyLog
		entered, release := make(chan struct{}), make(chan struct{})
		dones := []<-chan error{lockAcquireAsync(t.Context(), a.lock, log.body("call-0", lockHoldBody(entered, release)))}
		<-entered
		want := []string{"call-0"}
		for i := 1; i <= 10; i++ {
			name := fmt.Sprintf("call-%d", i)
			dones = append(dones, lockAcquireAsync(t.Context(), a.lock, log.body(name, nil)))
			synctest.Wait() // the call is queued before the next is made
			if n := a.lock.Waiting(); n != i {
				t.Fatalf("Waiting = %d after %d queued calls", n, i)
			}
			want = append(want, name)
		}
		close(release)
		for i, d := range dones {
			if err := <-d; err != nil {
				t.Fatalf("call %d: %v", i, err)
			}
		}
		order, overlap := log.result()
		if overlap || !slices.Equal(order, want) {
			t.Fatalf("order %v (overlap %v), want %v", order, overlap, want)
		}
	})
}

// Seed spec 13, as the seed wrote it: while alice holds, bob queues two
// and alice one more; every body runs once, none overlap, each side in
// its call order.
func TestLockQueuesInOrderAcrossSides(t *testing.T) {
	lockMedia(t, func(t *testing.T, lb *signaling.Loopback) {
		a, b := newLockPair(t, lb, DefaultLockTimeout)
		var log lockBodyLog
		entered, release := make(chan struct{}), make(chan struct{})
		dones := []<-chan error{lockAcquireAsync(t.Context(), a.lock, log.body("alice-1", lockHoldBody(entered, release)))}
		<-entered
		for _, c := range []struct {
			s    *lockSide
			name string
		}{{b, "bob-1"}, {b, "bob-2"}, {a, "alice-2"}} {
			dones = append(dones, lockAcquireAsync(t.Context(), c.s.lock, log.body(c.name, nil)))
			synctest.Wait()
		}
		close(release)
		for _, d := range dones {
			if err := <-d; err != nil {
				t.Fatal(err)
			}
		}
		order, overlap := log.result()
		if overlap || len(order) != 4 || order[0] != "alice-1" ||
			slices.Index(order, "bob-1") > slices.Index(order, "bob-2") {
			t.Fatalf("order %v (overlap %v)", order, overlap)
		}
		// alice answers bob's deferred request at release, before her
		// own next request: bob goes next.
		if order[1] != "bob-1" {
			t.Fatalf("order %v: bob's deferred request should go before alice's later call", order)
		}
	})
}

// Glare: both sides request at the same instant over the delayed
// loopback, so both are waiting when the requests cross. The impolite
// side (bob) goes first, the polite one right after; neither deadlocks
// nor times out.
func TestLockGlareImpoliteFirst(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		synctest.Test(t, func(t *testing.T) {
			lb, err := signaling.NewLoopback(signaling.WithDelay(signaling.DefaultLoopbackDelay, seed))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { lb.Close() })
			a, b := newLockPair(t, lb, DefaultLockTimeout)
			var log lockBodyLog
			aDone := lockAcquireAsync(t.Context(), a.lock, log.body(lockAlice, nil))
			bDone := lockAcquireAsync(t.Context(), b.lock, log.body(lockBob, nil))
			synctest.Wait() // both requests are on the way; time has not moved
			if a.lock.Waiting() != 1 || b.lock.Waiting() != 1 {
				t.Fatalf("seed %d: waiting: alice %d, bob %d; want both", seed, a.lock.Waiting(), b.lock.Waiting())
			}
			for _, d := range []<-chan error{aDone, bDone} {
				if err := <-d; err != nil {
					t.Fatal(err)
				}
			}
			order, overlap := log.result()
			if overlap || !slices.Equal(order, []string{lockBob, lockAlice}) {
				t.Fatalf("seed %d: order %v (overlap %v), want bob (impolite) then alice", seed, order, overlap)
			}
		})
	}
}

// Both sides call many times at once over the delayed loopback, 100
// seeds: bodies never overlap across the pair (a shared counter, and
// Held on both sides), every call runs exactly once and returns nil (no
// deadlock, no timeout), and each side runs its calls in call order.
func TestLockManyCallsAcrossSides(t *testing.T) {
	for seed := uint64(1); seed <= 100; seed++ {
		synctest.Test(t, func(t *testing.T) { lockStressRound(t, seed, signaling.DefaultLoopbackDelay) })
	}
	for seed := uint64(101); seed <= 120; seed++ {
		synctest.Test(t, func(t *testing.T) { lockStressRound(t, seed, 0) })
	}
}

func lockStressRound(t *testing.T, seed uint64, delay time.Duration) {
	const calls = 8 // per side
	rng := rand.New(rand.NewPCG(seed, 13))
	var opts []signaling.LoopbackOption
	if delay > 0 {
		opts = append(opts, signaling.WithDelay(delay, seed))
	}
	lb, err := signaling.NewLoopback(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lb.Close() })
	a, b := newLockPair(t, lb, DefaultLockTimeout)
	sides := []*lockSide{a, b}
	other := map[*lockSide]*lockSide{a: b, b: a}
	// Odd seeds: every call made at the same instant (in a set order);
	// even seeds: calls spread over 400 ms.
	burst := seed%2 == 1
	type plan struct {
		at   time.Duration // when the call is made
		work time.Duration // how long the body runs
	}
	plans := map[*lockSide][]plan{}
	for _, s := range sides {
		at := time.Duration(0)
		for range calls {
			if !burst {
				at += time.Millisecond + time.Duration(rng.Int64N(int64(50*time.Millisecond)))
			}
			plans[s] = append(plans[s], plan{at: at, work: time.Duration(rng.Int64N(int64(30 * time.Millisecond)))})
		}
	}

	var inside atomic.Int32
	var mu sync.Mutex
	ran := map[string][]int{}
	errs := make(chan error, 2*calls)
	body := func(s *lockSide, i int, work time.Duration) func(context.Context) error {
		return func(ctx context.Context) error {
			if n := inside.Add(1); n != 1 {
				t.Errorf("seed %d: %s call %d runs with %d bodies inside", seed, s.id, i, n)
			}
			if !s.lock.Held() || other[s].lock.Held() {
				t.Errorf("seed %d: %s call %d: held by %s %v, by %s %v", seed, s.id, i, s.id, s.lock.Held(), other[s].id, other[s].lock.Held())
			}
			mu.Lock()
			ran[s.id] = append(ran[s.id], i)
			mu.Unlock()
			time.Sleep(work) // virtual time in synctest: the body's work
			inside.Add(-1)
			return nil
		}
	}
	start := time.Now()
	if burst {
		for i := range calls {
			for _, s := range sides {
				go func() { errs <- s.lock.Acquire(t.Context(), body(s, i, plans[s][i].work)) }()
				synctest.Wait() // call order is the order of this loop
			}
		}
	} else {
		for _, s := range sides {
			for i, p := range plans[s] {
				go func() {
					time.Sleep(p.at) // virtual time in synctest: the planned call time
					errs <- s.lock.Acquire(t.Context(), body(s, i, p.work))
				}()
			}
		}
	}
	for range 2 * calls {
		if err := <-errs; err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
	}
	want := []int{0, 1, 2, 3, 4, 5, 6, 7}
	for _, s := range sides {
		if !slices.Equal(ran[s.id], want) {
			t.Fatalf("seed %d: %s ran %v, want each call once in call order", seed, s.id, ran[s.id])
		}
		if s.lock.Held() || s.lock.Waiting() != 0 {
			t.Fatalf("seed %d: %s not idle at the end", seed, s.id)
		}
	}
	// 16 bodies of < 30 ms and a few hops each: far below one timeout.
	if d := time.Since(start); d > 2*DefaultLockTimeout {
		t.Fatalf("seed %d: took %v", seed, d)
	}
}

// bodyLog records bodies entering, and notices overlap.
type lockBodyLog struct {
	mu      sync.Mutex
	inside  int
	overlap bool
	order   []string
}

func (l *lockBodyLog) body(name string, work func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		l.mu.Lock()
		l.inside++
		l.overlap = l.overlap || l.inside > 1
		l.order = append(l.order, name)
		l.mu.Unlock()
		defer func() {
			l.mu.Lock()
			l.inside--
			l.mu.Unlock()
		}()
		if work != nil {
			return work(ctx)
		}
		return nil
	}
}

func (l *lockBodyLog) result() ([]string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.order), l.overlap
}

// A scripted remote: the test reads what the lock sends and hands it
// messages itself.

type lockSentMsg struct {
	typ  string
	data json.RawMessage // nil: sent without data
}

// newScriptedLock returns a lock whose messages land in sent; failSend,
// when set, makes Send fail.
func newScriptedLock(t *testing.T, local, remote string, timeout time.Duration) (*pairLock, chan lockSentMsg) {
	sent := make(chan lockSentMsg, 64)
	l := newPairLock(lockConfig{Local: local, Remote: remote, Timeout: timeout,
		Send: func(ctx context.Context, typ string, data any) error {
			var raw json.RawMessage
			if data != nil {
				b, err := json.Marshal(data)
				if err != nil {
					return err
				}
				raw = b
			}
			sent <- lockSentMsg{typ, raw}
			return nil
		}})
	t.Cleanup(l.Close)
	return l, sent
}

// nextSent returns the next message the lock sent, failing if there is
// none once the bubble is idle.
func lockNextSent(t *testing.T, sent chan lockSentMsg) lockSentMsg {
	t.Helper()
	synctest.Wait()
	select {
	case m := <-sent:
		return m
	default:
		t.Fatal("nothing sent")
		return lockSentMsg{}
	}
}

func lockNoneSent(t *testing.T, sent chan lockSentMsg) {
	t.Helper()
	synctest.Wait()
	select {
	case m := <-sent:
		t.Fatalf("sent %s %s, want nothing", m.typ, m.data)
	default:
	}
}

// from builds a message from the scripted remote to l.
func lockMsgFrom(l *pairLock, typ string, data json.RawMessage) signaling.Message {
	return signaling.Message{From: l.cfg.Remote, To: l.cfg.Local, Type: typ, Data: data}
}

// A response to a request that timed out must not grant a later request.
// The case that matters: bob (impolite) timed out on request 1, then
// answered alice's request (so alice will hold), then asked again; alice,
// polite and waiting, had answered request 1 late. Taking that answer
// for request 2 would have both sides hold.
func TestLockLateResponseDoesNotGrantLaterRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, sent := newScriptedLock(t, lockBob, lockAlice, time.Second)
		if err := l.Acquire(t.Context(), func(context.Context) error { return nil }); !errors.Is(err, ErrLockTimeout) {
			t.Fatalf("first Acquire = %v, want ErrLockTimeout", err)
		}
		req1 := lockNextSent(t, sent)

		aliceReq := json.RawMessage(`{"seq":1,"epoch":"alice-1"}`)
		l.Handle(lockMsgFrom(l, signaling.TypeLockRequest, aliceReq))
		if m := lockNextSent(t, sent); m.typ != signaling.TypeLockResponse || string(m.data) != string(aliceReq) {
			t.Fatalf("sent %s %s, want a lockResponse echoing %s", m.typ, m.data, aliceReq)
		}

		ran := false
		done := lockAcquireAsync(t.Context(), l, func(context.Context) error { ran = true; return nil })
		req2 := lockNextSent(t, sent)
		if string(req2.data) == string(req1.data) {
			t.Fatalf("two requests carry the same data %s", req1.data)
		}

		// The late answer to request 1, and answers with the right seq but
		// another epoch (an earlier instance of bob) or garbage.
		var d lockData
		if err := json.Unmarshal(req2.data, &d); err != nil {
			t.Fatal(err)
		}
		otherEpoch, _ := json.Marshal(lockData{Seq: d.Seq, Epoch: "someone-else"})
		for _, stale := range []json.RawMessage{req1.data, otherEpoch, json.RawMessage(`"garbage"`)} {
			if !l.Handle(lockMsgFrom(l, signaling.TypeLockResponse, stale)) {
				t.Fatal("Handle refused a lockResponse")
			}
			if _, ok := lockSettled(done); ok || ran || l.Held() {
				t.Fatalf("response %s granted request %s", stale, req2.data)
			}
		}

		l.Handle(lockMsgFrom(l, signaling.TypeLockResponse, req2.data))
		if err, ok := lockSettled(done); !ok || err != nil || !ran {
			t.Fatalf("the matching response: done %v, err %v, ran %v", ok, err, ran)
		}
	})
}

// Over the real pair: alice holds past bob's timeout, bob asks again;
// alice's release answers both requests, and only the second grants.
func TestLockLateResponseOverThePair(t *testing.T) {
	lockMedia(t, func(t *testing.T, lb *signaling.Loopback) {
		a, b := newLockPair(t, lb, time.Second)
		entered, release := make(chan struct{}), make(chan struct{})
		aDone := lockAcquireAsync(t.Context(), a.lock, lockHoldBody(entered, release))
		<-entered
		if err := b.lock.Acquire(t.Context(), func(context.Context) error { return nil }); !errors.Is(err, ErrLockTimeout) {
			t.Fatalf("bob's first Acquire = %v, want ErrLockTimeout", err)
		}
		var bobAt time.Time
		bDone := lockAcquireAsync(t.Context(), b.lock, func(context.Context) error { bobAt = time.Now(); return nil })
		time.Sleep(500 * time.Millisecond) // virtual time in synctest: inside bob's second timeout
		releasedAt := time.Now()
		close(release)
		if err := <-aDone; err != nil {
			t.Fatal(err)
		}
		if err := <-bDone; err != nil {
			t.Fatalf("bob's second Acquire: %v", err)
		}
		if bobAt.Before(releasedAt) {
			t.Fatal("bob ran before alice released")
		}
	})
}

// A lockResponse without data (the JavaScript reference echoes nothing)
// grants the request outstanding, and is ignored when none is.
func TestLockResponseWithoutData(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, sent := newScriptedLock(t, lockBob, lockAlice, 0)
		l.Handle(lockMsgFrom(l, signaling.TypeLockResponse, nil)) // nothing outstanding
		if l.Held() {
			t.Fatal("an unsolicited response took the lock")
		}
		lockNoneSent(t, sent)
		done := lockAcquireAsync(t.Context(), l, func(context.Context) error { return nil })
		if m := lockNextSent(t, sent); m.typ != signaling.TypeLockRequest {
			t.Fatalf("sent %s", m.typ)
		}
		l.Handle(lockMsgFrom(l, signaling.TypeLockResponse, json.RawMessage("null")))
		if err, ok := lockSettled(done); !ok || err != nil {
			t.Fatalf("a response without data: done %v, err %v", ok, err)
		}
		// A request without data is answered without data.
		l.Handle(lockMsgFrom(l, signaling.TypeLockRequest, nil))
		if m := lockNextSent(t, sent); m.typ != signaling.TypeLockResponse || m.data != nil {
			t.Fatalf("sent %s %s, want a lockResponse without data", m.typ, m.data)
		}
	})
}

// When a side answers a remote request: at once when idle, or when
// waiting and polite; after its release when holding, or when waiting
// and impolite; deferred requests in arrival order.
func TestLockAnswersPerProtocol(t *testing.T) {
	req := func(i int) json.RawMessage { return json.RawMessage(fmt.Sprintf(`{"seq":%d,"epoch":"r"}`, i)) }
	expectAnswers := func(t *testing.T, sent chan lockSentMsg, want ...json.RawMessage) {
		t.Helper()
		for _, w := range want {
			m := lockNextSent(t, sent)
			if m.typ != signaling.TypeLockResponse || string(m.data) != string(w) {
				t.Fatalf("sent %s %s, want lockResponse %s", m.typ, m.data, w)
			}
		}
		lockNoneSent(t, sent)
	}

	t.Run("idle", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l, sent := newScriptedLock(t, lockBob, lockAlice, 0)
			l.Handle(lockMsgFrom(l, signaling.TypeLockRequest, req(1)))
			expectAnswers(t, sent, req(1))
		})
	})
	t.Run("holding", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l, sent := newScriptedLock(t, lockAlice, lockBob, 0) // polite, but holding
			entered, release := make(chan struct{}), make(chan struct{})
			done := lockAcquireAsync(t.Context(), l, lockHoldBody(entered, release))
			r := lockNextSent(t, sent)
			l.Handle(lockMsgFrom(l, signaling.TypeLockResponse, r.data))
			<-entered
			l.Handle(lockMsgFrom(l, signaling.TypeLockRequest, req(1)))
			l.Handle(lockMsgFrom(l, signaling.TypeLockRequest, req(2)))
			time.Sleep(time.Minute) // virtual time in synctest: a long hold answers nothing
			lockNoneSent(t, sent)
			close(release)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			expectAnswers(t, sent, req(1), req(2))
		})
	})
	t.Run("waiting polite", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l, sent := newScriptedLock(t, lockAlice, lockBob, 0)
			done := lockAcquireAsync(t.Context(), l, func(context.Context) error { return nil })
			r := lockNextSent(t, sent)
			l.Handle(lockMsgFrom(l, signaling.TypeLockRequest, req(1)))
			expectAnswers(t, sent, req(1))
			l.Handle(lockMsgFrom(l, signaling.TypeLockResponse, r.data))
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	})
	t.Run("waiting impolite", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l, sent := newScriptedLock(t, lockBob, lockAlice, 0)
			var inBody []json.RawMessage
			done := lockAcquireAsync(t.Context(), l, func(context.Context) error {
				// Still deferred while the body runs.
				synctest.Wait()
				for len(sent) > 0 {
					inBody = append(inBody, (<-sent).data)
				}
				return nil
			})
			r := lockNextSent(t, sent)
			l.Handle(lockMsgFrom(l, signaling.TypeLockRequest, req(1)))
			lockNoneSent(t, sent)
			l.Handle(lockMsgFrom(l, signaling.TypeLockResponse, r.data))
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if len(inBody) != 0 {
				t.Fatalf("answered %s while holding", inBody)
			}
			expectAnswers(t, sent, req(1))
		})
	})
	t.Run("waiting impolite times out", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l, sent := newScriptedLock(t, lockBob, lockAlice, time.Second)
			done := lockAcquireAsync(t.Context(), l, func(context.Context) error { return nil })
			lockNextSent(t, sent)
			l.Handle(lockMsgFrom(l, signaling.TypeLockRequest, req(1)))
			lockNoneSent(t, sent)
			time.Sleep(time.Second) // virtual time in synctest: to the timeout
			if err, ok := lockSettled(done); !ok || !errors.Is(err, ErrLockTimeout) {
				t.Fatalf("done %v, err %v; want ErrLockTimeout", ok, err)
			}
			expectAnswers(t, sent, req(1)) // answered when it gave up
		})
	})
	t.Run("remote restarted", func(t *testing.T) {
		// The remote asks again with data we already answered (a new
		// instance counting from 1): it is a new request and is answered
		// again, by the same rules.
		synctest.Test(t, func(t *testing.T) {
			l, sent := newScriptedLock(t, lockBob, lockAlice, 0)
			l.Handle(lockMsgFrom(l, signaling.TypeLockRequest, req(1)))
			expectAnswers(t, sent, req(1))
			l.Handle(lockMsgFrom(l, signaling.TypeLockRequest, req(1)))
			expectAnswers(t, sent, req(1))
			if l.Held() || l.Waiting() != 0 {
				t.Fatal("answering changed our own state")
			}
		})
	})
	t.Run("not ours", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l, sent := newScriptedLock(t, lockBob, lockAlice, 0)
			for _, m := range []signaling.Message{
				{From: "carol", To: lockBob, Type: signaling.TypeLockRequest},
				{From: lockAlice, To: "carol", Type: signaling.TypeLockRequest},
				{From: lockAlice, To: lockBob, Type: signaling.TypeOffer},
			} {
				if l.Handle(m) {
					t.Fatalf("Handle took %+v", m)
				}
			}
			lockNoneSent(t, sent)
		})
	})
}

// The remote restarts (a new pairLock under the same id, a new epoch)
// while its request is deferred: the answer to the old instance's request
// does not grant the new one early, and the new one's request is granted.
func TestLockRemoteRestart(t *testing.T) {
	lockMedia(t, func(t *testing.T, lb *signaling.Loopback) {
		a, b := newLockPair(t, lb, DefaultLockTimeout)
		entered, release := make(chan struct{}), make(chan struct{})
		aDone := lockAcquireAsync(t.Context(), a.lock, lockHoldBody(entered, release))
		<-entered
		old := lockAcquireAsync(t.Context(), b.lock, func(context.Context) error { return nil })
		synctest.Wait() // bob's request reaches alice and is deferred
		b.close()
		if err := <-old; !errors.Is(err, ErrClosed) {
			t.Fatalf("old bob = %v, want ErrClosed", err)
		}
		b2 := newLockSide(t, lb, lockBob, lockAlice, DefaultLockTimeout)
		if err := b2.client.WaitConnected(t.Context()); err != nil {
			t.Fatal(err)
		}
		var bobAt time.Time
		bDone := lockAcquireAsync(t.Context(), b2.lock, func(context.Context) error { bobAt = time.Now(); return nil })
		time.Sleep(time.Second) // virtual time in synctest: alice still holds
		releasedAt := time.Now()
		close(release)
		if err := <-aDone; err != nil {
			t.Fatal(err)
		}
		if err := <-bDone; err != nil {
			t.Fatalf("new bob: %v", err)
		}
		if bobAt.Before(releasedAt) {
			t.Fatal("new bob ran while alice held")
		}
		if err := a.lock.Acquire(t.Context(), func(context.Context) error { return nil }); err != nil {
			t.Fatalf("alice after bob's restart: %v", err)
		}
	})
}

// A canceled context takes a call out of the queue, or out of waiting for
// a response (answering what was deferred meanwhile); its body never runs
// and the calls after it go on.
func TestLockContextCancel(t *testing.T) {
	t.Run("queued", func(t *testing.T) {
		lockMedia(t, func(t *testing.T, lb *signaling.Loopback) {
			a, _ := newLockPair(t, lb, DefaultLockTimeout)
			var log lockBodyLog
			entered, release := make(chan struct{}), make(chan struct{})
			first := lockAcquireAsync(t.Context(), a.lock, log.body("first", lockHoldBody(entered, release)))
			<-entered
			ctx, cancel := context.WithCancel(t.Context())
			second := lockAcquireAsync(ctx, a.lock, log.body("second", nil))
			synctest.Wait()
			third := lockAcquireAsync(t.Context(), a.lock, log.body("third", nil))
			synctest.Wait()
			cancel()
			if err, ok := lockSettled(second); !ok || !errors.Is(err, context.Canceled) {
				t.Fatalf("second: done %v, err %v; want context.Canceled at once", ok, err)
			}
			if n := a.lock.Waiting(); n != 1 {
				t.Fatalf("Waiting = %d after the cancel, want 1", n)
			}
			close(release)
			for _, d := range []<-chan error{first, third} {
				if err := <-d; err != nil {
					t.Fatal(err)
				}
			}
			if order, _ := log.result(); !slices.Equal(order, []string{"first", "third"}) {
				t.Fatalf("ran %v", order)
			}
		})
	})
	t.Run("waiting", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l, sent := newScriptedLock(t, lockBob, lockAlice, 0)
			ctx, cancel := context.WithCancel(t.Context())
			ran := false
			done := lockAcquireAsync(ctx, l, func(context.Context) error { ran = true; return nil })
			r1 := lockNextSent(t, sent)
			deferred := json.RawMessage(`{"seq":9,"epoch":"r"}`)
			l.Handle(lockMsgFrom(l, signaling.TypeLockRequest, deferred))
			lockNoneSent(t, sent)
			time.Sleep(time.Second) // virtual time in synctest
			cancel()
			if err, ok := lockSettled(done); !ok || !errors.Is(err, context.Canceled) || ran {
				t.Fatalf("done %v, err %v, ran %v; want context.Canceled without running", ok, err, ran)
			}
			if m := lockNextSent(t, sent); m.typ != signaling.TypeLockResponse || string(m.data) != string(deferred) {
				t.Fatalf("sent %s %s, want the deferred answer", m.typ, m.data)
			}
			// The late grant of the canceled request grants nothing.
			l.Handle(lockMsgFrom(l, signaling.TypeLockResponse, r1.data))
			if l.Held() {
				t.Fatal("a canceled request took the lock")
			}
			next := lockAcquireAsync(t.Context(), l, func(context.Context) error { return nil })
			r2 := lockNextSent(t, sent)
			l.Handle(lockMsgFrom(l, signaling.TypeLockResponse, r2.data))
			if err := <-next; err != nil {
				t.Fatal(err)
			}
		})
	})
	t.Run("already canceled", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l, sent := newScriptedLock(t, lockBob, lockAlice, 0)
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			if err := l.Acquire(ctx, func(context.Context) error { return nil }); !errors.Is(err, context.Canceled) {
				t.Fatalf("Acquire = %v", err)
			}
			lockNoneSent(t, sent)
		})
	})
}

// Close fails queued and waiting calls with ErrClosed, cancels a running
// body's context, refuses later calls, and can be called again.
func TestLockClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, sent := newScriptedLock(t, lockBob, lockAlice, 0)
		waiting := lockAcquireAsync(t.Context(), l, func(context.Context) error { return nil })
		lockNextSent(t, sent)
		queued := lockAcquireAsync(t.Context(), l, func(context.Context) error { return nil })
		synctest.Wait()
		l.Close()
		for name, d := range map[string]<-chan error{"waiting": waiting, "queued": queued} {
			if err, ok := lockSettled(d); !ok || !errors.Is(err, ErrClosed) {
				t.Fatalf("%s: done %v, err %v; want ErrClosed", name, ok, err)
			}
		}
		if err := l.Acquire(t.Context(), func(context.Context) error { return nil }); !errors.Is(err, ErrClosed) {
			t.Fatalf("Acquire after Close = %v", err)
		}
		l.Handle(lockMsgFrom(l, signaling.TypeLockRequest, nil))
		lockNoneSent(t, sent)
		l.Close()
	})
	t.Run("while holding", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l, sent := newScriptedLock(t, lockBob, lockAlice, 0)
			entered := make(chan struct{})
			done := lockAcquireAsync(t.Context(), l, func(ctx context.Context) error {
				close(entered)
				<-ctx.Done()
				return fmt.Errorf("body gave up: %w", ctx.Err())
			})
			l.Handle(lockMsgFrom(l, signaling.TypeLockResponse, lockNextSent(t, sent).data))
			<-entered
			l.Close()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Fatalf("Acquire = %v, want the body's error after its context ended", err)
			}
			if l.Held() {
				t.Fatal("held after the body returned")
			}
		})
	})
}

// A failed lockRequest fails the call at once with the send error (not a
// timeout later), and the lock goes on.
func TestLockSendFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var failing atomic.Bool
		failing.Store(true)
		refused := errors.New("recipient gone")
		l := newPairLock(lockConfig{Local: lockBob, Remote: lockAlice, Send: func(ctx context.Context, typ string, data any) error {
			if failing.Load() {
				return refused
			}
			return nil
		}})
		defer l.Close()
		start := time.Now()
		err := l.Acquire(t.Context(), func(context.Context) error { return nil })
		if !errors.Is(err, refused) || time.Since(start) != 0 {
			t.Fatalf("Acquire = %v after %v, want the send error at once", err, time.Since(start))
		}
		failing.Store(false)
		err = l.Acquire(t.Context(), func(context.Context) error { return nil })
		if !errors.Is(err, ErrLockTimeout) {
			t.Fatalf("Acquire = %v, want ErrLockTimeout (nobody answers)", err)
		}
	})
}

func TestLockBadConfig(t *testing.T) {
	send := func(context.Context, string, any) error { return nil }
	for _, c := range []lockConfig{
		{Local: lockAlice, Remote: lockBob},
		{Local: lockAlice, Remote: lockAlice, Send: send},
		{Local: "", Remote: lockBob, Send: send},
	} {
		l := newPairLock(c)
		err := l.Acquire(context.Background(), func(context.Context) error { return nil })
		l.Close()
		if !errors.Is(err, ErrBadConfig) {
			t.Fatalf("%+v: Acquire = %v, want ErrBadConfig", c, err)
		}
	}
}
