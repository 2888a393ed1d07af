package browsers

// Launching Chromium and opening tabs.
//
//	Launch ──exec──> /usr/bin/chromium --remote-debugging-pipe (own process group,
//	   │              fresh --user-data-dir, killed with us: Pdeathsig)
//	   │  or
//	   └──remote───> a running browser's ws://127.0.0.1:P/devtools/browser/ID
//	Browser ── NewTab ──> Tab (own target in its own browser context: no shared
//	                      storage; Tab.Context is the chromedp context)
//	Close: tabs, graceful Browser.close (bounded), kill what is left of the tree
//	(by --user-data-dir in /proc), reap orphans when we are PID 1, remove the dir
//	and Chromium's singleton socket dir in $TMPDIR.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/remote"
)

// DefaultExec is the Chromium binary Launch runs when Config.Exec is empty
// (Debian's package chromium).
const DefaultExec = "/usr/bin/chromium"

// InstallHint says how to get DefaultExec; ErrNoChromium errors carry it.
const InstallHint = "install Debian's chromium: run `make deps` (as root), or as root " +
	"`apt-get update && apt-get install -y --no-install-recommends chromium`"

var (
	// ErrNoChromium: the Chromium binary (Config.Exec) is missing or not
	// executable. The wrapping error names the path and InstallHint.
	ErrNoChromium = errors.New("browsers: chromium not found")
	// ErrClosed: the Browser (or Tab) is closed.
	ErrClosed = errors.New("browsers: closed")
)

// Timeouts of Close.
const (
	// gracefulClose bounds Browser.close (chromedp.Cancel) before we kill.
	gracefulClose = 3 * time.Second
	// leftoverLimit bounds the hunt for leftover processes of a browser.
	leftoverLimit = 5 * time.Second
	// removeLimit bounds the retries of removing the user data dir (a dying
	// child can still write into it).
	removeLimit = 5 * time.Second
)

// tempPrefix names the user data dirs of this process:
// $TMPDIR/netlab-chrome-<pid>-<token>-*, the token because pids repeat
// across PID namespaces (every one has a PID 1) sharing /tmp. TestMain looks
// for leftovers by it.
func tempPrefix() string { return "netlab-chrome-" + strconv.Itoa(os.Getpid()) + "-" + procToken + "-" }

var procToken = func() string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand: never fails on Linux
	return hex.EncodeToString(b[:])
}()

// Config says which browser Launch starts or connects to.
type Config struct {
	// Exec is the browser binary; default DefaultExec. A name without a
	// slash is looked up in PATH.
	Exec string
	// RemoteURL is a CDP websocket URL (ws://127.0.0.1:P/devtools/browser/ID,
	// or ws://127.0.0.1:P/ to look the browser up): connect to a running
	// browser instead of starting one (remote allocator). No process and no
	// temp dir is ours then: Close closes our tabs and the connection only.
	RemoteURL string
	// Flags are extra command line flags ("--name" or "--name=value"), after
	// the defaults (launchFlags); a flag given again replaces the default,
	// except --enable-features and --disable-features, whose lists are
	// merged. Ignored with RemoteURL.
	Flags []string
}

// Browser is one Chromium, started by Launch or attached to with
// Config.RemoteURL. Safe for concurrent use.
type Browser struct {
	remote bool   // read-only
	pid    int    // read-only; 0 for remote
	failed bool   // read-only; the start failed (Close kills, no graceful close)
	dir    string // read-only; "" for remote
	// singleton is Chromium's socket dir in $TMPDIR (singleton.go), read
	// once started; "" for remote or when there is none.
	singleton string // read-only after Launch

	allocCancel context.CancelFunc // read-only; cancels the allocator and waits for it
	ctx         context.Context    // read-only; the chromedp browser context
	cancel      context.CancelFunc // read-only; chromedp's cancel-and-wait of ctx
	release     func()             // read-only; releases the reaper (no-op unless PID 1)

	mu     sync.Mutex
	tabs   map[*Tab]struct{} // guarded by mu
	closed bool              // guarded by mu

	closeOnce sync.Once
	closeErr  error // written once in closeOnce
}

// Tab is one page target of a Browser in a browser context of its own.
type Tab struct {
	b      *Browser           // read-only
	ctx    context.Context    // read-only; the chromedp tab context
	cancel context.CancelFunc // read-only; chromedp's cancel-and-wait of ctx

	closeOnce sync.Once
	closeErr  error // written once in closeOnce
}

// Launch starts Chromium with the netlab flags and a fresh user data dir (or
// attaches to cfg.RemoteURL) and returns once the browser answers over CDP.
// ctx bounds the start only: the browser lives until Close. A missing
// binary gives an error wrapping ErrNoChromium with InstallHint.
func Launch(ctx context.Context, cfg Config) (*Browser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if cfg.RemoteURL != "" {
		return launchRemote(ctx, cfg.RemoteURL)
	}
	execPath, err := findExec(cfg.Exec)
	if err != nil {
		return nil, err
	}
	flags, err := launchFlags(cfg.Flags)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", tempPrefix())
	if err != nil {
		return nil, fmt.Errorf("browsers: user data dir: %w", err)
	}
	// libpulse wants its runtime dir to exist and be private (0700).
	runDir := filepath.Join(dir, "xdg-runtime")
	if err := os.Mkdir(runDir, 0o700); err != nil {
		return nil, errors.Join(fmt.Errorf("browsers: runtime dir: %w", err), os.RemoveAll(dir))
	}
	release := acquireReaper()
	// The command, to know its process even when the start fails (the
	// allocation runs in b.start's call, on this goroutine).
	var started *exec.Cmd
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(execPath),
		chromedp.UserDataDir(dir),
		chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
			if cmd.SysProcAttr == nil {
				cmd.SysProcAttr = new(syscall.SysProcAttr)
			}
			setProcAttr(cmd.SysProcAttr)
			started = cmd
		}),
	}
	// The crash handler's database lives under $XDG_CONFIG_HOME/chromium
	// whatever --user-data-dir says: keep it inside dir too, so that it
	// names dir (Leftovers, Close kill it) and nothing lands in $HOME.
	// PulseAudio's client (Chrome's audio service loads it) makes its
	// runtime dir in $XDG_RUNTIME_DIR, or else a /tmp/pulse-* that nobody
	// removes: it gets one inside dir (made above).
	opts = append(opts, chromedp.Env("XDG_CONFIG_HOME="+filepath.Join(dir, "xdg-config"),
		"XDG_CACHE_HOME="+filepath.Join(dir, "xdg-cache"), "XDG_RUNTIME_DIR="+runDir))
	opts = append(opts, flags...)
	allocCtx, allocCancel := chromedp.NewExecAllocator(context.Background(), opts...)
	b := &Browser{dir: dir, allocCancel: allocCancel, release: release, tabs: map[*Tab]struct{}{}}
	b.ctx, b.cancel = newContext(allocCtx, browserLogs()...)
	if err := b.start(ctx); err != nil {
		err = fmt.Errorf("browsers: launching %s: %w", execPath, err)
		if started != nil && started.Process != nil {
			// A start cut short (canceled, bad flags) still forked: as
			// PID 1 its orphans are ours to reap (Close unwatches).
			b.pid, b.failed = started.Process.Pid, true
			watchGroup(b.pid, dir)
		}
		return nil, errors.Join(err, b.Close())
	}
	if p := chromedp.FromContext(b.ctx).Browser.Process(); p != nil {
		b.pid = p.Pid
		watchGroup(b.pid, dir)
	}
	b.singleton = singletonDir(dir)
	return b, nil
}

// launchRemote attaches to a running browser.
func launchRemote(ctx context.Context, url string) (*Browser, error) {
	allocCtx, allocCancel := remote.NewAllocator(context.Background(), url)
	a := chromedp.FromContext(allocCtx).Allocator
	b := &Browser{
		remote:  true,
		release: func() {},
		tabs:    map[*Tab]struct{}{},
		allocCancel: func() {
			allocCancel()
			a.Wait()
		},
	}
	b.ctx, b.cancel = newContext(allocCtx, browserLogs()...)
	if err := b.start(ctx); err != nil {
		err = fmt.Errorf("browsers: attaching to %s: %w", url, err)
		return nil, errors.Join(err, b.Close())
	}
	return b, nil
}

// start allocates the browser (starts the process or dials) without opening a
// tab. The browser's lifetime is b.ctx; ctx only bounds the start.
func (b *Browser) start(ctx context.Context) error {
	// The allocation binds the browser to the context of the first call, so
	// that call runs on b.ctx; ctx ending meanwhile cancels b.ctx.
	stop := context.AfterFunc(ctx, b.cancel)
	_, err := chromedp.Targets(b.ctx)
	if !stop() {
		return fmt.Errorf("start: %w", context.Cause(ctx))
	}
	return err
}

// newContext is chromedp.NewContext with a cancel that is safe to call more
// than once and from two goroutines at a time (chromedp's waits for the
// allocation token, which a second call would wait for forever when the
// browser was never allocated); later calls wait for the first.
func newContext(parent context.Context, opts ...chromedp.ContextOption) (context.Context, context.CancelFunc) {
	ctx, cancel := chromedp.NewContext(parent, opts...)
	return ctx, sync.OnceFunc(cancel)
}

// browserLogs keeps chromedp's chatter (it logs with log.Printf by default)
// to errors only.
func browserLogs() []chromedp.ContextOption {
	return []chromedp.ContextOption{
		chromedp.WithLogf(func(string, ...any) {}),
		chromedp.WithErrorf(func(format string, args ...any) {
			log.Printf("browsers: chromedp: "+format, args...)
		}),
	}
}

// findExec resolves the binary or returns an error wrapping ErrNoChromium.
func findExec(p string) (string, error) {
	if p == "" {
		p = DefaultExec
	}
	path, err := exec.LookPath(p)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v; %s", ErrNoChromium, p, err, InstallHint)
	}
	return path, nil
}

// launchFlags turns the netlab flag set plus the extra flags into allocator
// options, starting from chromedp's defaults (headless, background
// throttling off, ...). FINDINGS.md (Chrome) has the reasons.
func launchFlags(extra []string) ([]chromedp.ExecAllocatorOption, error) {
	type flag struct {
		name  string
		value any
	}
	fs := []flag{
		{"headless", true},
		{"no-sandbox", true},
		{"disable-gpu", true},
		{"disable-quic", true},
		{"no-first-run", true},
		{"disable-background-networking", true},
		{"disable-component-update", true},
		{"disable-sync", true},
		{"allow-loopback-in-peer-connection", true},
		{"use-fake-ui-for-media-stream", true},
		{"use-fake-device-for-media-stream", true},
	}
	features := map[string][]string{
		// chromedp's DefaultExecAllocatorOptions values; a flag given again
		// would overwrite them (FINDINGS.md, Dependencies).
		"enable-features":  {"NetworkService", "NetworkServiceInProcess"},
		"disable-features": {"Translate", "BlinkGenPropertyTrees"},
	}
	for _, f := range extra {
		name, value, hasValue := strings.Cut(strings.TrimLeft(f, "-"), "=")
		if !strings.HasPrefix(f, "--") || name == "" {
			return nil, fmt.Errorf("browsers: flag %q: want --name or --name=value", f)
		}
		switch {
		case name == "user-data-dir" || strings.HasPrefix(name, "remote-debugging"):
			return nil, fmt.Errorf("browsers: flag %q: Launch owns it", f)
		case features[name] != nil && hasValue:
			features[name] = append(features[name], strings.Split(value, ",")...)
		case hasValue:
			fs = append(fs, flag{name, value})
		default:
			fs = append(fs, flag{name, true})
		}
	}
	opts := slices.Clone(chromedp.DefaultExecAllocatorOptions[:])
	for _, f := range fs {
		opts = append(opts, chromedp.Flag(f.name, f.value))
	}
	for _, name := range []string{"enable-features", "disable-features"} {
		opts = append(opts, chromedp.Flag(name, strings.Join(slices.Compact(features[name]), ",")))
	}
	return opts, nil
}

// PID is the browser's main process id (0 when attached with RemoteURL).
func (b *Browser) PID() int { return b.pid }

// UserDataDir is the browser's user data dir, removed by Close ("" when
// attached with RemoteURL).
func (b *Browser) UserDataDir() string { return b.dir }

// Context is the chromedp context of the browser itself (for browser-level
// calls such as chromedp.Targets). Do not run page actions on it: use a Tab.
func (b *Browser) Context() context.Context { return b.ctx }

// NewTab opens a fresh page target (about:blank) in a new browser context of
// its own, so tabs share no cookies or storage. ctx bounds the opening only;
// the tab lives until Tab.Close or Browser.Close.
func (b *Browser) NewTab(ctx context.Context) (*Tab, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, ErrClosed
	}
	t := &Tab{b: b}
	t.ctx, t.cancel = newContext(b.ctx, chromedp.WithNewBrowserContext())
	b.tabs[t] = struct{}{}
	b.mu.Unlock()

	// As in start: the target's handler lives on the context of the first
	// Run, so that Run uses t.ctx and ctx only cancels it meanwhile.
	stop := context.AfterFunc(ctx, t.cancel)
	err := chromedp.Do(t.ctx)
	if !stop() {
		err = fmt.Errorf("opening a tab: %w", context.Cause(ctx))
	} else if err != nil {
		err = fmt.Errorf("opening a tab: %w", err)
	}
	if err != nil {
		return nil, errors.Join(err, t.Close())
	}
	return t, nil
}

// Close closes the open tabs and the browser: Browser.close first (bounded by
// gracefulClose), then SIGKILL to every process still naming the user data
// dir, until none is left; it reaps the tree's orphans when we are PID 1 and
// removes the user data dir and Chromium's singleton socket dir in $TMPDIR
// (singleton.go). For a remote browser it closes our tabs and the
// connection and leaves the process alone. Safe to call twice; later calls
// return the first result.
func (b *Browser) Close() error {
	b.closeOnce.Do(func() { b.closeErr = b.close() })
	return b.closeErr
}

func (b *Browser) close() error {
	b.mu.Lock()
	b.closed = true
	tabs := make([]*Tab, 0, len(b.tabs))
	for t := range b.tabs {
		tabs = append(tabs, t)
	}
	b.mu.Unlock()

	var errs []error
	for _, t := range tabs {
		errs = append(errs, t.Close())
	}
	if !b.remote && b.pid != 0 && !b.failed && !b.lost() {
		// Browser.close: Chrome stops its children itself. Its error only
		// means we kill below.
		gctx, cancel := context.WithTimeout(b.ctx, gracefulClose)
		_ = chromedp.Cancel(gctx)
		cancel()
	}
	b.cancel()      // kills the main process if still there; waits for chromedp's wait
	b.allocCancel() // waits for the allocator's goroutines
	if !b.remote {
		errs = append(errs, killLeftovers(b.dir, b.pid))
		if b.pid != 0 {
			errs = append(errs, unwatchGroup(b.pid, leftoverLimit))
		}
		b.release()
		errs = append(errs, removeUserDataDir(b.dir, b.singleton))
	}
	return errors.Join(errs...)
}

// Lost reports whether the browser died or was killed (its connection is
// gone): its tabs fail, and only Close is left to do.
func (b *Browser) Lost() bool { return b.lost() }

// lost reports whether the connection to the browser is gone (it died or
// was killed).
func (b *Browser) lost() bool {
	c := chromedp.FromContext(b.ctx)
	if c == nil || c.Browser == nil {
		return true
	}
	select {
	case <-c.Browser.LostConnection:
		return true
	default:
		return false
	}
}

// Context is the chromedp context of the tab: run actions on it (with
// chromedp.Run), and derive per-call deadlines from it. It is done once the
// tab or its browser is closed, or the browser died.
func (t *Tab) Context() context.Context { return t.ctx }

// Close closes the target and disposes of its browser context. Safe to call
// twice. Closing a tab of a browser that died is not an error.
func (t *Tab) Close() error {
	t.closeOnce.Do(func() {
		err := chromedp.Cancel(t.ctx)
		if errors.Is(err, chromedp.ErrInvalidContext) || t.b.lost() {
			err = nil
		}
		if err != nil {
			err = fmt.Errorf("browsers: closing a tab: %w", err)
		}
		t.closeErr = err
		t.cancel() // already done; returns at once
		t.b.mu.Lock()
		delete(t.b.tabs, t)
		t.b.mu.Unlock()
	})
	return t.closeErr
}

// Leftovers returns the ids of the processes whose command line names
// userDataDir: an argument that is the dir or a path under it, alone or
// after "=" (--user-data-dir=<dir>, and the crash handler's
// --database=<dir>/...), read from /proc; the calling process excluded.
// Zombies have no command line and are not listed.
func Leftovers(userDataDir string) ([]int, error) {
	dir := filepath.Clean(userDataDir)
	if userDataDir == "" || dir == "/" {
		return nil, fmt.Errorf("browsers: Leftovers: bad user data dir %q", userDataDir)
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("browsers: Leftovers: %w", err)
	}
	self := os.Getpid()
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue // gone meanwhile, or not ours to read
		}
		// Chrome's children rewrite their title as one string with
		// spaces, so split on both.
		for _, arg := range bytes.FieldsFunc(cmdline, func(r rune) bool { return r == 0 || r == ' ' }) {
			if namesDir(arg, dir) {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids, nil
}

// namesDir reports whether arg is dir or a path under it, alone or as the
// value of a flag (after '=').
func namesDir(arg []byte, dir string) bool {
	if _, v, ok := bytes.Cut(arg, []byte("=")); ok && bytes.HasPrefix(v, []byte("/")) {
		arg = v
	}
	rest, ok := bytes.CutPrefix(arg, []byte(dir))
	return ok && (len(rest) == 0 || rest[0] == '/')
}

// killLeftovers SIGKILLs every process naming dir until a few passes in a row
// find none (a child can fork while its parent dies), within leftoverLimit.
// The pids it meets besides main (the browser's main pid, or 0) go to the
// reaper (watchPids: a no-op unless we are PID 1).
func killLeftovers(dir string, main int) error {
	const quietPasses = 3
	deadline := time.Now().Add(leftoverLimit)
	var last []int
	for quiet := 0; quiet < quietPasses; {
		pids, err := Leftovers(dir)
		if err != nil {
			return err
		}
		if len(pids) == 0 {
			quiet++
		} else {
			quiet = 0
			last = pids
			watchPids(main, pids)
			for _, pid := range pids {
				_ = syscall.Kill(pid, syscall.SIGKILL) // may be gone already
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("browsers: processes of %s still alive after %v: %v", dir, leftoverLimit, last)
		}
		time.Sleep(10 * time.Millisecond) // polling /proc: there is no event for "no process names dir"
	}
	return nil
}

// removeAll removes dir, retrying while a dying child still writes into it.
func removeAll(dir string) error {
	deadline := time.Now().Add(removeLimit)
	for {
		err := os.RemoveAll(dir)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("browsers: removing %s: %w", dir, err)
		}
		time.Sleep(20 * time.Millisecond) // retry pause: no event tells when the last writer is gone
	}
}
