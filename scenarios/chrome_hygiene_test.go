package scenarios

import (
	"context"
	"errors"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/netlab/netlab/browsers"
	"github.com/netlab/netlab/lab"
	"github.com/netlab/netlab/peer"
)

// The suite's browser killed mid-spec: that spec's Chrome calls fail at
// once rather than hang, its lab still closes, nothing of the killed
// browser is left, and the next spec runs on a fresh browser.

// chromeCallBound is how long a call on a dead browser may take to fail.
const chromeCallBound = 5 * time.Second

func hygieneTopo() lab.Topology {
	return lab.Topology{
		Name:      "chrome-hygiene",
		Endpoints: []lab.EndpointConfig{{Name: "alice"}, {Name: "bob", Kind: peer.KindChrome}},
		STUN:      lab.Server{Mode: lab.ServerOff},
	}
}

var _ = Describe("a browser killed mid-spec", Ordered, Label("chrome", "go-chrome", "loopback"), func() {
	var killed *browsers.Browser

	It("fails that spec's Chrome calls at once, and its lab still closes", func() {
		runLab(labCase{Family: "chrome", Pair: "go-chrome", Profile: "browser killed"}, hygieneTopo(), func(ctx context.Context, l *lab.Lab, rec *caseRecord) {
			_, b, _, in := openPair(ctx, l, "x")

			br, err := suiteBrowser()
			Expect(err).NotTo(HaveOccurred())
			killed = br
			Expect(syscall.Kill(br.PID(), syscall.SIGKILL)).To(Succeed())
			Eventually(ctx, br.Lost).WithTimeout(chromeCallBound).Should(BeTrue(), "the browser is not seen as lost")

			cctx, cancel := context.WithTimeout(ctx, chromeCallBound)
			defer cancel()
			start := time.Now()
			err = in.Send(cctx, []byte("into a dead browser"))
			Expect(err).To(HaveOccurred(), "a send through a killed browser succeeded")
			Expect(errors.Is(err, context.DeadlineExceeded)).To(BeFalse(), "the send waited for its deadline: %v", err)
			rec.Metric("dead_call_ms", float64(time.Since(start).Milliseconds()))
			_, err = b.Stats(cctx)
			Expect(err).To(HaveOccurred(), "stats from a killed browser")
		})
	})

	It("leaves nothing of the killed browser, and the next spec runs on a fresh one", func() {
		Expect(killed).NotTo(BeNil(), "the previous spec did not run")
		runLab(labCase{Family: "chrome", Pair: "go-chrome", Profile: "after a browser kill"}, hygieneTopo(), func(ctx context.Context, l *lab.Lab, _ *caseRecord) {
			_, _, out, in := openPair(ctx, l, "x")
			echoOnce(ctx, in, out, "after")
		})
		br, err := suiteBrowser()
		Expect(err).NotTo(HaveOccurred())
		Expect(br).NotTo(BeIdenticalTo(killed), "the killed browser was reused")
		pids, err := browsers.Leftovers(killed.UserDataDir())
		Expect(err).NotTo(HaveOccurred())
		Expect(pids).To(BeEmpty(), "processes of the killed browser are left")
	})
})
