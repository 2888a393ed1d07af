package scenarios

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	. "github.com/onsi/gomega"

	"github.com/netlab/netlab/browsers"
	"github.com/netlab/netlab/lab"
	"github.com/netlab/netlab/peer"
)

// The suite's browser: one Chromium per suite process, launched by the
// first case with a Chrome endpoint and closed after the suite (every tab
// is closed with its lab before that). Chrome scenarios always run: a
// machine without Chromium fails them with browsers.ErrNoChromium and its
// install hint (`make deps` installs it).
var (
	browserMu  sync.Mutex
	browserErr error
	suiteBr    *browsers.Browser // guarded by browserMu
	// launchFailures counts the launches that failed. Guarded by browserMu.
	launchFailures int
	// retired are the browsers that died mid-run and were replaced: their
	// Close errors, and their dirs, which the suite checks for leftover
	// processes at its end. Guarded by browserMu.
	retiredDirs []string
	retiredErrs []error
)

// browserLaunchTimeout bounds Chromium's start (0.3-0.45 s measured).
const browserLaunchTimeout = 30 * time.Second

// browserLaunches bounds the launches that fail for a reason other than a
// missing Chromium: one slow start on a loaded machine must not sink every
// Chrome case after it, and a browser that cannot start must not cost each
// of them browserLaunchTimeout.
const browserLaunches = 3

// suiteBrowser returns the suite's browser, launching it on first use and
// again after it died. A missing Chromium is not retried, nor a launch
// after browserLaunches have failed: every Chrome case reports the error.
func suiteBrowser() (*browsers.Browser, error) {
	browserMu.Lock()
	defer browserMu.Unlock()
	if suiteBr != nil && suiteBr.Lost() {
		// Killed or crashed mid-run: clean up what is left of it (its
		// processes, its dir) and start another, so that the next case
		// runs.
		retiredDirs = append(retiredDirs, suiteBr.UserDataDir())
		if err := suiteBr.Close(); err != nil {
			retiredErrs = append(retiredErrs, err)
		}
		suiteBr = nil
	}
	if suiteBr != nil {
		return suiteBr, nil
	}
	if browserErr != nil && (errors.Is(browserErr, browsers.ErrNoChromium) || launchFailures >= browserLaunches) {
		return nil, browserErr
	}
	ctx, cancel := context.WithTimeout(context.Background(), browserLaunchTimeout)
	defer cancel()
	suiteBr, browserErr = browsers.Launch(ctx, browsers.Config{})
	if browserErr != nil {
		launchFailures++
		browserErr = fmt.Errorf("launch %d of at most %d: %w", launchFailures, browserLaunches, browserErr)
	}
	return suiteBr, browserErr
}

// closeSuiteBrowser closes the browser if one was launched.
func closeSuiteBrowser() error {
	browserMu.Lock()
	defer browserMu.Unlock()
	if suiteBr == nil {
		return nil
	}
	err := suiteBr.Close()
	suiteBr = nil
	return err
}

// labOptions are the lab options a topology needs: the suite's browser
// when it has a Chrome endpoint.
func labOptions(topo lab.Topology) []lab.Option {
	for _, e := range topo.Endpoints {
		if e.Kind == peer.KindChrome {
			b, err := suiteBrowser()
			Expect(err).NotTo(HaveOccurred(), "launching the suite's Chromium")
			return []lab.Option{lab.WithBrowser(b)}
		}
	}
	return nil
}
