package scenarios

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/netlab/netlab/internal/feed"
	"github.com/netlab/netlab/peer/signaling"
)

type feedQueue = feed.Queue[signaling.ClientEvent]

// startSignalingServer starts the lab's signaling server on 127.0.0.1.
func startSignalingServer(addr ...string) (*signaling.Server, error) {
	cfg := signaling.ServerConfig{}
	if len(addr) > 0 {
		cfg.Addr = addr[0]
	}
	srv, err := signaling.NewServer(cfg)
	if err != nil {
		return nil, err
	}
	if err := srv.Start(); err != nil {
		return nil, err
	}
	return srv, nil
}

// restartDelay is what the server tells clients when it goes away.
const restartDelay = 200 * time.Millisecond

// restartServer shuts the signaling server down gracefully (clients are
// told to come back after restartDelay) and starts a new one on the same
// address, as a deploy does.
func (w *world) restartServer(ctx context.Context) error {
	if w.server == nil {
		return fmt.Errorf("medium %s has no server", w.medium)
	}
	addr := w.server.Addr()
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := w.server.Shutdown(sctx, restartDelay); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	srv, err := startSignalingServer(addr)
	if err != nil {
		return fmt.Errorf("restart on %s: %w", addr, err)
	}
	w.server = srv
	w.defer_(srv.Close)
	return nil
}

// registered lists the ids the medium knows: the loopback's sessions, or
// the server's listing over HTTP.
func (w *world) registered(ctx context.Context) []string {
	GinkgoHelper()
	if w.loop != nil {
		return w.loop.Registered()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.server.URL()+"/listing", nil)
	Expect(err).NotTo(HaveOccurred())
	resp, err := listingClient.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	Expect(resp.StatusCode).To(Equal(http.StatusOK))
	var l signaling.Listing
	Expect(json.NewDecoder(resp.Body).Decode(&l)).To(Succeed())
	return l.Peers
}

// waitClientState pops client events until one reports st.
func waitClientState(ctx context.Context, q *feedQueue, st signaling.State) signaling.ClientEvent {
	GinkgoHelper()
	for {
		ev, err := q.Pop(ctx)
		Expect(err).NotTo(HaveOccurred(), "waiting for client state %v", st)
		if ev.Type == signaling.EventState && ev.State == st {
			return ev
		}
	}
}

// listingClient keeps no idle connection behind (goleak checks the suite).
var listingClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
