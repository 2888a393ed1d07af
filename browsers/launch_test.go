package browsers

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// testTimeout bounds each test's browser work.
const testTimeout = 60 * time.Second

// launchT launches a browser for a test and closes it at cleanup, failing
// when Close fails or anything of it is left.
func launchT(t testing.TB, ctx context.Context, cfg Config) *Browser {
	t.Helper()
	b, err := Launch(ctx, cfg)
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	t.Cleanup(func() { closeAndCheck(t, b) })
	return b
}

// closeAndCheck closes b and checks that no process names its dir and that
// the dir is gone.
func closeAndCheck(t testing.TB, b *Browser) {
	t.Helper()
	if err := b.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if b.remote {
		return
	}
	if pids, err := Leftovers(b.UserDataDir()); err != nil || len(pids) > 0 {
		t.Errorf("after Close: Leftovers(%s) = %v, %v; want none", b.UserDataDir(), pids, err)
	}
	if _, err := os.Stat(b.UserDataDir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after Close: user data dir %s: stat err %v, want not exist", b.UserDataDir(), err)
	}
	if b.singleton != "" {
		if _, err := os.Stat(b.singleton); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("after Close: Chromium's singleton dir %s: stat err %v, want not exist", b.singleton, err)
		}
	}
}

func newTabT(t testing.TB, ctx context.Context, b *Browser) *Tab {
	t.Helper()
	tab, err := b.NewTab(ctx)
	if err != nil {
		t.Fatalf("NewTab: %v", err)
	}
	t.Cleanup(func() {
		if err := tab.Close(); err != nil {
			t.Errorf("Tab.Close: %v", err)
		}
	})
	return tab
}

// eval evaluates expr (awaiting a promise) in tab within d.
func eval[T any](tab *Tab, d time.Duration, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(tab.Context(), d)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}

// servePage serves a trivial page on 127.0.0.1 (httptest binds loopback).
func servePage(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<!doctype html><title>netlab</title><p>hi</p>")
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/"
}

func navigate(tab *Tab, d time.Duration, u string) error {
	ctx, cancel := context.WithTimeout(tab.Context(), d)
	defer cancel()
	return chromedp.Do(ctx, chromedp.Navigate(u))
}

func TestLaunch(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	b := launchT(t, ctx, Config{})
	if b.PID() <= 0 {
		t.Fatalf("PID = %d, want > 0", b.PID())
	}
	if fi, err := os.Stat(b.UserDataDir()); err != nil || !fi.IsDir() {
		t.Fatalf("user data dir %q: %v", b.UserDataDir(), err)
	}
	pids, err := Leftovers(b.UserDataDir())
	if err != nil {
		t.Fatal(err)
	}
	if !containsInt(pids, b.PID()) {
		t.Errorf("Leftovers(%s) = %v, want it to hold the main pid %d", b.UserDataDir(), pids, b.PID())
	}
	// Chromium's singleton socket dir: found, so that closeAndCheck's check
	// that Close removed it is not vacuous.
	if fi, err := os.Stat(filepath.Join(b.singleton, singletonSocket)); b.singleton == "" || err != nil || fi.Mode()&fs.ModeSocket == 0 {
		t.Errorf("Chromium's singleton socket dir %q: %v; want a dir in %s holding the socket", b.singleton, err, os.TempDir())
	}
	cmdline, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(b.PID()), "cmdline"))
	if err != nil {
		t.Fatal(err)
	}
	args := strings.Split(string(cmdline), "\x00")
	for _, want := range []string{"--headless", "--no-sandbox", "--disable-quic", "--allow-loopback-in-peer-connection",
		"--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", "--remote-debugging-pipe"} {
		if !containsString(args, want) {
			t.Errorf("chromium command line lacks %s: %q", want, args)
		}
	}
	tab := newTabT(t, ctx, b)
	got, err := eval[int](tab, 10*time.Second, `Promise.resolve(40 + 2)`)
	if err != nil || got != 42 {
		t.Fatalf("Evaluate = %d, %v; want 42", got, err)
	}
}

func TestTabsIndependent(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	page := servePage(t)
	b := launchT(t, ctx, Config{})
	t1, t2 := newTabT(t, ctx, b), newTabT(t, ctx, b)
	for _, tab := range []*Tab{t1, t2} {
		if err := navigate(tab, 10*time.Second, page); err != nil {
			t.Fatalf("Navigate: %v", err)
		}
	}
	// Same origin in both tabs: storage must still not be shared (each tab
	// has its own browser context), and globals are per page.
	if _, err := eval[bool](t1, 5*time.Second, `window.v = "one"; localStorage.setItem("k", "one"); true`); err != nil {
		t.Fatal(err)
	}
	if _, err := eval[bool](t2, 5*time.Second, `window.v = "two"; true`); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		tab        *Tab
		expr, want string
	}{
		{t1, `window.v`, "one"},
		{t2, `window.v`, "two"},
		{t1, `String(localStorage.getItem("k"))`, "one"},
		{t2, `String(localStorage.getItem("k"))`, "null"},
	} {
		got, err := eval[string](c.tab, 5*time.Second, c.expr)
		if err != nil || got != c.want {
			t.Errorf("%s = %q, %v; want %q", c.expr, got, err, c.want)
		}
	}
	// Two evaluations at once, one per tab: each answers its own.
	errc := make(chan error, 2)
	for i, tab := range []*Tab{t1, t2} {
		go func() {
			got, err := eval[int](tab, 10*time.Second, fmt.Sprintf(`new Promise(r => setTimeout(() => r(%d), 50))`, i))
			if err == nil && got != i {
				err = fmt.Errorf("tab %d answered %d", i, got)
			}
			errc <- err
		}()
	}
	for range 2 {
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}
	// Closing one tab leaves the other working.
	if err := t1.Close(); err != nil {
		t.Fatalf("Tab.Close: %v", err)
	}
	if err := t1.Close(); err != nil {
		t.Fatalf("second Tab.Close: %v", err)
	}
	if _, err := eval[int](t1, 5*time.Second, `1`); err == nil {
		t.Error("Evaluate on a closed tab succeeded")
	}
	if got, err := eval[string](t2, 5*time.Second, `window.v`); err != nil || got != "two" {
		t.Errorf("other tab after Close: %q, %v", got, err)
	}
}

func TestCloseLeavesNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	b, err := Launch(ctx, Config{})
	if err != nil {
		t.Fatal(err)
	}
	tab, err := b.NewTab(ctx)
	if err != nil {
		b.Close()
		t.Fatal(err)
	}
	if _, err := eval[int](tab, 10*time.Second, `1`); err != nil {
		t.Fatal(err)
	}
	pids, _ := Leftovers(b.UserDataDir())
	if len(pids) < 2 {
		t.Errorf("Leftovers before Close = %v: want the browser's processes", pids)
	}
	start := time.Now()
	closeAndCheck(t, b) // the open tab is closed by Browser.Close
	t.Logf("Close with an open tab: %v (%d processes before)", time.Since(start), len(pids))
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); err == nil {
			if st, ok := procState(pid); ok && st != 'Z' {
				t.Errorf("process %d of the browser still alive (state %c)", pid, st)
			}
		}
	}
	select {
	case <-tab.Context().Done():
	default:
		t.Error("tab context not done after Browser.Close")
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := tab.Close(); err != nil {
		t.Errorf("Tab.Close after Browser.Close: %v", err)
	}
	if _, err := b.NewTab(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("NewTab after Close: %v, want ErrClosed", err)
	}
}

func TestKilledBrowser(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	b, err := Launch(ctx, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	tab, err := b.NewTab(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eval[int](tab, 10*time.Second, `1`); err != nil {
		t.Fatal(err)
	}
	killMidUse(t, b, tab)
	closeAndCheck(t, b)

	// A new browser afterwards works.
	b2 := launchT(t, ctx, Config{})
	tab2 := newTabT(t, ctx, b2)
	if got, err := eval[int](tab2, 10*time.Second, `6 * 7`); err != nil || got != 42 {
		t.Fatalf("after a killed browser, a new one evaluates %d, %v", got, err)
	}
}

// killMidUse SIGKILLs the browser while an evaluation is pending in tab and
// checks that it and a later one fail within a deadline, with chromedp's
// exit error of the main process (signal: killed: its exit status was not
// stolen by the reaper).
func killMidUse(t *testing.T, b *Browser, tab *Tab) {
	t.Helper()
	const deadline = 10 * time.Second
	pending := make(chan error, 1)
	go func() {
		_, err := eval[any](tab, 2*deadline, `new Promise(() => { window.pendingStarted = true })`) // never resolves
		pending <- err
	}()
	// The kill must find that evaluation in flight: wait until the page ran it.
	for started := false; !started; {
		var err error
		if started, err = eval[bool](tab, deadline, `window.pendingStarted === true`); err != nil {
			t.Fatal(err)
		}
		if !started {
			time.Sleep(5 * time.Millisecond) // polling the page: the pending call gives no other sign that it started
		}
	}
	start := time.Now()
	if err := syscall.Kill(b.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-pending:
		if err == nil {
			t.Fatal("pending Evaluate succeeded after SIGKILL")
		}
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("pending Evaluate ran into its deadline instead of failing: %v", err)
		}
		t.Logf("pending Evaluate failed after %v: %v", time.Since(start), err)
	case <-time.After(deadline):
		t.Fatalf("pending Evaluate still blocked %v after SIGKILL", deadline)
	}
	start = time.Now()
	_, err := eval[int](tab, deadline, `1`)
	if err == nil || errors.Is(err, context.DeadlineExceeded) || time.Since(start) > deadline/2 {
		t.Fatalf("Evaluate after SIGKILL: %v after %v; want a prompt failure", err, time.Since(start))
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		ws, _ := exit.Sys().(syscall.WaitStatus)
		if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Errorf("exit error %v, want signal: killed", exit)
		}
	} else if !errors.Is(err, context.Canceled) {
		t.Errorf("Evaluate after SIGKILL: %v; want the browser's exit error or context.Canceled", err)
	}
}

func TestNoChromium(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-chromium")
	_, err := Launch(context.Background(), Config{Exec: missing})
	if !errors.Is(err, ErrNoChromium) {
		t.Fatalf("Launch with a missing Exec: %v, want ErrNoChromium", err)
	}
	for _, want := range []string{missing, "apt-get install -y --no-install-recommends chromium", "make deps"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	// A file that is not executable is missing too.
	if err := os.WriteFile(missing, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Launch(context.Background(), Config{Exec: missing}); !errors.Is(err, ErrNoChromium) {
		t.Errorf("Launch with a non-executable Exec: %v, want ErrNoChromium", err)
	}
}

func TestBadFlags(t *testing.T) {
	for _, f := range []string{"nodash", "--user-data-dir=/tmp/x", "--remote-debugging-port=9222", "--"} {
		if _, err := Launch(context.Background(), Config{Flags: []string{f}}); err == nil {
			t.Errorf("Launch with flag %q succeeded", f)
		}
	}
}

func TestLaunchCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Launch(ctx, Config{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Launch with a canceled context: %v", err)
	}
	// A deadline that ends during the start: an error, and nothing left
	// (TestMain checks the dirs and processes).
	ctx, cancel = context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if b, err := Launch(ctx, Config{}); err == nil {
		t.Logf("Launch beat a 1 ms deadline") // possible on a fast machine
		closeAndCheck(t, b)
	}
}

func TestRemote(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	wsURL, cmd, dir := startRemoteChromium(t)
	u, err := url.Parse(wsURL)
	if err != nil || u.Hostname() != "127.0.0.1" {
		t.Fatalf("DevTools URL %q: want ws://127.0.0.1:port/... (%v)", wsURL, err)
	}

	b, err := Launch(ctx, Config{RemoteURL: wsURL})
	if err != nil {
		t.Fatal(err)
	}
	if b.PID() != 0 || b.UserDataDir() != "" {
		t.Errorf("remote browser: PID %d, UserDataDir %q; want 0, \"\"", b.PID(), b.UserDataDir())
	}
	tab, err := b.NewTab(ctx)
	if err != nil {
		b.Close()
		t.Fatal(err)
	}
	if got, err := eval[int](tab, 10*time.Second, `Promise.resolve(2 + 3)`); err != nil || got != 5 {
		t.Errorf("Evaluate = %d, %v; want 5", got, err)
	}
	before := pageTargets(t, u.Host)
	if err := b.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	// The process we launched lives on; our tab is gone.
	if err := cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("remote browser process after Close: %v", err)
	}
	if after := pageTargets(t, u.Host); after != before-1 {
		t.Errorf("page targets: %d with our tab, %d after Close; want one fewer", before, after)
	}
	stopRemoteChromium(t, cmd, dir)
}

// pageTargets counts the page targets of the browser at host (/json/list).
func pageTargets(t *testing.T, host string) int {
	t.Helper()
	resp, err := http.Get("http://" + host + "/json/list")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	http.DefaultClient.CloseIdleConnections()
	return strings.Count(string(body), `"type": "page"`)
}

// startRemoteChromium starts a browser with a DevTools port on 127.0.0.1 and
// returns the websocket URL it prints on stderr.
func startRemoteChromium(t *testing.T) (string, *exec.Cmd, string) {
	t.Helper()
	if _, err := findExec(""); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", tempPrefix())
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(DefaultExec, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
		"--user-data-dir="+dir, "about:blank")
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	setProcAttr(cmd.SysProcAttr)
	// As Launch does: the crash handler then names dir (Leftovers, the
	// reaper) and nothing lands in $HOME.
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+filepath.Join(dir, "xdg-config"), "XDG_CACHE_HOME="+filepath.Join(dir, "xdg-cache"))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// As PID 1 its orphans are ours to reap, as Launch's are.
	release := acquireReaper()
	urlc := make(chan string, 1)
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "DevTools listening on "); ok {
				urlc <- strings.TrimSpace(u)
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	t.Cleanup(func() {
		stopRemoteChromium(t, cmd, dir)
		<-drained
		if err := unwatchGroup(cmd.Process.Pid, leftoverLimit); err != nil {
			t.Error(err)
		}
		release()
	})
	select {
	case u := <-urlc:
		// Up: its crash handler, in a session of its own, is known by
		// the dir it names (as Launch does).
		watchGroup(cmd.Process.Pid, dir)
		return u, cmd, dir
	case <-time.After(20 * time.Second):
		t.Fatal("no DevTools URL on chromium's stderr within 20 s")
		return "", nil, ""
	}
}

// stopRemoteChromium kills the browser's process group, waits for it and
// anything naming its dir, and removes the dir and Chromium's singleton
// dir. Safe twice.
func stopRemoteChromium(t *testing.T, cmd *exec.Cmd, dir string) {
	t.Helper()
	if cmd.ProcessState == nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	}
	if err := killLeftovers(dir, 0); err != nil {
		t.Error(err)
	}
	if err := removeUserDataDir(dir, ""); err != nil { // as Close does
		t.Error(err)
	}
}

// procState is the state letter of /proc/<pid>/stat.
func procState(pid int) (byte, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, false
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+2 >= len(b) {
		return 0, false
	}
	return b[i+2], true
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func containsString(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestLeftoversMatching(t *testing.T) {
	dir := "/tmp/netlab-chrome-1-2"
	for arg, want := range map[string]bool{
		"--user-data-dir=/tmp/netlab-chrome-1-2":          true,
		"--database=/tmp/netlab-chrome-1-2/Crash Reports": true,
		"/tmp/netlab-chrome-1-2":                          true,
		"--user-data-dir=/tmp/netlab-chrome-1-23":         false,
		"--x=/tmp/netlab-chrome-1-2x/y":                   false,
		"--x=/other/tmp/netlab-chrome-1-2":                false,
	} {
		if got := namesDir([]byte(arg), dir); got != want {
			t.Errorf("namesDir(%q) = %v, want %v", arg, got, want)
		}
	}
	if _, err := Leftovers(""); err == nil {
		t.Error("Leftovers(\"\") succeeded")
	}
	if pids, err := Leftovers(t.TempDir()); err != nil || len(pids) != 0 {
		t.Errorf("Leftovers of a fresh dir = %v, %v", pids, err)
	}
}

// BenchmarkTab measures a Chrome endpoint's per-case overhead with the
// browser reused: open a tab, load a trivial page from 127.0.0.1, evaluate,
// close the tab. Issue 5's target is <= 0.5 s.
func BenchmarkTab(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	page := servePage(b)
	br := launchT(b, ctx, Config{})
	for b.Loop() {
		tab, err := br.NewTab(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if err := navigate(tab, 10*time.Second, page); err != nil {
			b.Fatal(err)
		}
		if got, err := eval[string](tab, 10*time.Second, `document.title`); err != nil || got != "netlab" {
			b.Fatalf("document.title = %q, %v", got, err)
		}
		if err := tab.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// Launch a browser, evaluate in a tab, close everything.
func ExampleLaunch() {
	ctx := context.Background()
	b, err := Launch(ctx, Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()
	tab, err := b.NewTab(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer tab.Close()
	tctx, cancel := context.WithTimeout(tab.Context(), 10*time.Second)
	defer cancel()
	n, err := chromedp.Run(tctx, chromedp.Evaluate[int](`1 + 1`))
	fmt.Println(n, err)
	// Output: 2 <nil>
}
