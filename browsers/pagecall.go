package browsers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/netlab/netlab/internal/feed"
)

// What ChromePeer and ChromeClient share: calling the page's window.netlab
// and taking its events.

// codeRE finds the page's error code: "[code] message".
var codeRE = regexp.MustCompile(`\[([a-z-]+)\] ([^\n]*)`)

// codedErr maps a page rejection to the caller's errors by its code
// (codes); an unknown code, or none, is ErrPage. Errors that are not the
// page's (a dead tab, a canceled context) come back as they are.
func codedErr(err error, codes map[string]error) error {
	var ex *chromedp.ExceptionError
	if !errors.As(err, &ex) {
		return err
	}
	m := codeRE.FindStringSubmatch(ex.Error())
	if m == nil {
		return fmt.Errorf("%w: %v", ErrPage, ex)
	}
	sentinel, ok := codes[m[1]]
	if !ok {
		sentinel = ErrPage
	}
	return fmt.Errorf("%w: page: %s", sentinel, m[2])
}

// within is a context of base (a tab's chromedp context) that also ends
// with ctx and at ctx's deadline: chromedp runs actions on base's target,
// and the caller's ctx bounds them.
func within(base, ctx context.Context) (context.Context, context.CancelFunc) {
	rctx, cancel := context.WithCancel(base)
	if dl, ok := ctx.Deadline(); ok {
		var c2 context.CancelFunc
		rctx, c2 = context.WithDeadline(rctx, dl)
		prev := cancel
		cancel = func() { c2(); prev() }
	}
	stop := context.AfterFunc(ctx, cancel)
	return rctx, func() { stop(); cancel() }
}

// pageCall runs netlab.fn(args...) in the tab of rctx, awaits its promise
// and decodes the result into out (nil: ignored). The error is chromedp's
// or the decoder's, unmapped: callers name their own closed states and
// codes.
func pageCall(rctx context.Context, out any, fn string, args ...any) error {
	parts := make([]string, len(args))
	for i, a := range args {
		b, err := json.Marshal(a)
		if err != nil {
			return fmt.Errorf("argument %d: %w", i, err)
		}
		parts[i] = string(b)
	}
	expr := fmt.Sprintf("netlab.%s(%s)", fn, strings.Join(parts, ","))
	raw, err := chromedp.Run(rctx, chromedp.Evaluate[[]byte](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		return err
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("result %s: %w", raw, err)
		}
	}
	return nil
}

// loadPage adds the event binding to the tab of rctx, loads url and waits
// (within ctx) for the page's page-load event, which closes loaded. The
// binding comes first so that no event of the page is missed.
func loadPage(ctx, rctx context.Context, url string, loaded <-chan struct{}) error {
	if _, err := chromedp.Call(rctx, runtime.AddBinding, runtime.AddBindingParams{Name: bindingName}); err != nil {
		return fmt.Errorf("adding the binding: %w", err)
	}
	if err := chromedp.Do(rctx, chromedp.Navigate(url)); err != nil {
		return fmt.Errorf("loading %s: %w", url, err)
	}
	select {
	case <-loaded:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("the page at %s never reported page-load: %w", url, ctx.Err())
	}
}

// queueEvents is a tab listener (it runs on the tab's read loop, so it only
// queues): the page's binding calls, console messages and exceptions go
// to raw.
func queueEvents(raw *feed.Queue[any]) func(ev any) {
	return func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventBindingCalled:
			if e.Name == bindingName {
				raw.Push(e)
			}
		case *runtime.EventConsoleAPICalled, *runtime.EventExceptionThrown:
			raw.Push(e)
		}
	}
}
