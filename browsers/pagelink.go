package browsers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/netlab/netlab/internal/feed"
	"github.com/netlab/netlab/peer/signaling"
)

// pageLink is the Go end of the page in a tab, what ChromePeer and
// ChromeClient share: the tab's chromedp context, the tab's events taken
// in order (the page's events through the binding, its console, its
// uncaught exceptions), and on the bridge the two pumps between a Go
// signaling client and the page.
//
//	tab ─listener─▶ raw ─▶ loop ─▶ owner.pageEvent(payload)
//	                            └─▶ console, exceptions ─▶ logs, errs (owner.exception)
//	bridge: Bridge ─Subscribe─▶ bridgeIn ─▶ owner.call(netlab.deliver)
//	        out (the page's signal-out) ─▶ bridgeOut ─▶ Bridge.SendMessage ─▶ owner.bridgeSent
type pageLink struct {
	id    string    // read-only: the owner's id, for messages
	owner pageOwner // read-only

	ctx    context.Context // a chromedp context of the tab; canceled by stop
	cancel context.CancelFunc
	wg     sync.WaitGroup

	raw    *feed.Queue[any]        // from the listener: binding calls, console, exceptions
	out    *feed.Queue[bridgeItem] // bridge: the page's signal-out, for bridgeOut
	bridge *signaling.Client       // read-only: nil unless the page's signaling is the bridge
	sub    *signaling.Subscription // bridge: what the Bridge client receives
	loaded chan struct{}           // closed at the first page-load
	start  chan struct{}           // closed by started (bridgeIn waits for it)

	lmu   sync.Mutex
	loads int      // guarded by lmu: page-load events seen
	logs  []string // guarded by lmu: console messages, page errors, exceptions
	errs  []error  // guarded by lmu: uncaught exceptions
}

// pageOwner is what a pageLink hands the page's doings to.
type pageOwner interface {
	// pageEvent takes one event of the page (the binding's payload), in
	// order, on the link's loop.
	pageEvent(payload string)
	// exception is told of an uncaught exception, already in the logs.
	exception(err error)
	// call runs netlab.fn in the page, with the owner's error mapping.
	call(ctx context.Context, out any, fn string, args ...any) error
	// bridgeSent is told what sending a signal-out on the bridge gave.
	bridgeSent(it bridgeItem, err error)
	// undelivered is told of a message the page could not be handed.
	undelivered(m signaling.Message, err error)
}

// bridgeItem is a signal-out of the page for bridgeOut to send (seq is
// its event's), or (done set) a marker bridgeOut closes once everything
// before it was sent.
type bridgeItem struct {
	m    signaling.Message
	seq  int64
	done chan struct{}
}

// bridgeSendTimeout bounds one hop across the bridge, either way.
const bridgeSendTimeout = 10 * time.Second

// newLink is owner's link to tab; begin starts it. The owner keeps the
// bridge client (nil: the page's signaling is not the bridge).
func newLink(tab *Tab, id string, owner pageOwner, bridge *signaling.Client) *pageLink {
	ctx, cancel := context.WithCancel(tab.Context())
	return &pageLink{
		id: id, owner: owner, ctx: ctx, cancel: cancel, bridge: bridge,
		raw: feed.NewQueue[any](), out: feed.NewQueue[bridgeItem](),
		loaded: make(chan struct{}), start: make(chan struct{}),
	}
}

// begin listens to the tab and, with a bridge client, subscribes to it
// and starts the pumps. On error nothing is left running.
func (l *pageLink) begin() error {
	if err := chromedp.Listen(l.ctx, queueEvents(l.raw)); err != nil {
		l.cancel()
		return fmt.Errorf("listening to the tab: %w", err)
	}
	l.wg.Go(l.loop)
	if l.bridge != nil {
		l.sub = l.bridge.Subscribe(signaling.Filter{})
		l.wg.Go(l.bridgeOut)
		l.wg.Go(l.bridgeIn)
	}
	return nil
}

// runCtx is a chromedp context of the tab that ends with ctx (its
// deadline included) or at stop.
func (l *pageLink) runCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return within(l.ctx, ctx)
}

// started says the page's side is up: bridgeIn may deliver.
func (l *pageLink) started() { close(l.start) }

// isStarted reports whether started was called.
func (l *pageLink) isStarted() bool {
	select {
	case <-l.start:
		return true
	default:
		return false
	}
}

// pageLoaded counts a page-load event and reports whether it was the
// first (which closes loaded).
func (l *pageLink) pageLoaded() (first bool) {
	l.lmu.Lock()
	l.loads++
	first = l.loads == 1
	l.lmu.Unlock()
	if first {
		close(l.loaded)
	}
	return first
}

// log keeps a line of the page's (and err, an uncaught exception).
func (l *pageLink) log(s string, err error) {
	l.lmu.Lock()
	defer l.lmu.Unlock()
	l.logs = append(l.logs, s)
	if err != nil {
		l.errs = append(l.errs, err)
	}
}

// Logs returns the page's console messages, errors and uncaught
// exceptions so far.
func (l *pageLink) Logs() []string {
	l.lmu.Lock()
	defer l.lmu.Unlock()
	return append([]string(nil), l.logs...)
}

// Err returns the page's uncaught exceptions (joined), or nil: a spec
// must see them.
func (l *pageLink) Err() error {
	l.lmu.Lock()
	defer l.lmu.Unlock()
	return errors.Join(l.errs...)
}

// loop handles what the listener queued, in order.
func (l *pageLink) loop() {
	for {
		item, err := l.raw.Pop(l.ctx)
		if err != nil {
			return
		}
		switch e := item.(type) {
		case *runtime.EventBindingCalled:
			l.owner.pageEvent(e.Payload)
		case *runtime.EventConsoleAPICalled:
			var args []string
			for _, a := range e.Args {
				args = append(args, remoteText(a))
			}
			l.log(fmt.Sprintf("console.%s: %s", e.Type, strings.Join(args, " ")), nil)
		case *runtime.EventExceptionThrown:
			text := "uncaught exception"
			if d := e.ExceptionDetails; d != nil {
				text = (&chromedp.ExceptionError{ExceptionDetails: d}).Error()
			}
			err := fmt.Errorf("%w: %s: uncaught: %s", ErrPage, l.id, text)
			l.log(err.Error(), err)
			l.owner.exception(err)
		}
	}
}

// bridgeOut sends what the page emitted, in order, and tells the owner
// each outcome.
func (l *pageLink) bridgeOut() {
	for {
		it, err := l.out.Pop(l.ctx)
		if err != nil {
			return
		}
		if it.done != nil {
			close(it.done)
			continue
		}
		ctx, cancel := context.WithTimeout(l.ctx, bridgeSendTimeout)
		err = l.bridge.SendMessage(ctx, it.m)
		cancel()
		l.owner.bridgeSent(it, err)
	}
}

// flushBridge waits until every signal-out queued so far was sent, or ctx
// ends.
func (l *pageLink) flushBridge(ctx context.Context) {
	done := make(chan struct{})
	l.out.Push(bridgeItem{done: done})
	select {
	case <-done:
	case <-ctx.Done():
	case <-l.ctx.Done():
	}
}

// bridgeIn hands what the Bridge client received to the page, in order,
// once the page's side has started.
func (l *pageLink) bridgeIn() {
	select {
	case <-l.start:
	case <-l.ctx.Done():
		return
	}
	for {
		m, err := l.sub.Recv(l.ctx)
		if err != nil {
			return
		}
		b, err := m.Encode()
		if err != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(l.ctx, bridgeSendTimeout)
		err = l.owner.call(ctx, nil, "deliver", string(b))
		cancel()
		if err != nil && l.ctx.Err() == nil {
			l.owner.undelivered(m, err)
		}
	}
}

// stop ends the link: its context, its queues and its goroutines, and
// waits for them. The bridge client stays the owner's.
func (l *pageLink) stop() {
	l.cancel()
	l.raw.Close()
	l.out.Close()
	if l.sub != nil {
		l.sub.Close()
	}
	l.wg.Wait()
}
