package scenarios

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/netlab/netlab/lab"
)

// What a case with Chrome endpoints reports, before its lab closes:
// every tab's console goes into the spec report (shown on failure), an
// uncaught exception in a page fails the spec, and a failed spec gets each
// tab's screenshot (a PNG beside run.json with -netlab.out, else in the
// temp dir) and stats history.

// chromeShotTimeout bounds one screenshot.
const chromeShotTimeout = 5 * time.Second

// reportChromes reports l's tabs; failed says the spec is failing (a
// Gomega failure is a panic that Ginkgo records only once it is
// recovered, so CurrentSpecReport does not know yet).
func reportChromes(l *lab.Lab, failed bool) {
	GinkgoHelper()
	chromes := l.Chromes()
	if len(chromes) == 0 {
		return
	}
	failed = failed || CurrentSpecReport().Failed()
	for _, cp := range chromes {
		if logs := cp.Logs(); len(logs) > 0 {
			AddReportEntry("chrome console: "+cp.ID(), strings.Join(logs, "\n"), ReportEntryVisibilityFailureOrVerbose)
		}
		if failed {
			if hist := cp.StatsHistory(); len(hist) > 0 {
				if b, err := json.Marshal(hist); err == nil {
					AddReportEntry("chrome stats history: "+cp.ID(), string(b), ReportEntryVisibilityFailureOrVerbose)
				}
			}
			AddReportEntry("chrome screenshot: "+cp.ID(), chromeScreenshot(cp.ID(), cp.Screenshot), ReportEntryVisibilityFailureOrVerbose)
		}
	}
	if failed {
		return // the spec already failed; exceptions are in the console entries
	}
	for _, cp := range chromes {
		Expect(cp.Err()).NotTo(HaveOccurred(), "an uncaught exception in %s's page", cp.ID())
	}
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// chromeScreenshot writes one tab's screenshot and says where, or why not.
func chromeScreenshot(id string, shoot func(context.Context) ([]byte, error)) string {
	ctx, cancel := context.WithTimeout(context.Background(), chromeShotTimeout)
	defer cancel()
	png, err := shoot(ctx)
	if err != nil {
		return "no screenshot: " + err.Error()
	}
	dir := *outDir
	if dir == "" {
		dir = os.TempDir()
	}
	dir = filepath.Join(dir, "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "no screenshot: " + err.Error()
	}
	name := unsafeName.ReplaceAllString(fmt.Sprintf("%s-%s-seed%d.png", CurrentSpecReport().FullText(), id, *seed), "_")
	if len(name) > 200 {
		name = name[len(name)-200:]
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		return "no screenshot: " + err.Error()
	}
	return path
}
