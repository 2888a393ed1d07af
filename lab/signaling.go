package lab

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/netlab/netlab/netem"
	"github.com/netlab/netlab/peer/signaling"
)

// sigMedium is the lab's signaling: an in-memory Loopback, or the
// signaling server on 127.0.0.1 behind a netem.TCPProxy (the clients'
// TCP path, impaired and droppable):
//
//	clients ── ws/sse ── TCPProxy 127.0.0.1:p [netem "signaling"] ── Server 127.0.0.1:s
type sigMedium struct {
	transport signaling.Transport // read-only
	loop      *signaling.Loopback // read-only; loopback and delayed
	proxy     *netem.TCPProxy     // read-only; ws and sse

	mu          sync.Mutex
	server      *signaling.Server // guarded by mu; replaced by a restart
	addr        string            // guarded by mu: the server's address, kept across restarts
	blackholed  bool              // guarded by mu
	beforeBlack *netem.Profile    // guarded by mu: the proxy's profile before a blackhole
}

// signalingPoint names the signaling path's impairment point.
const signalingPoint = "signaling"

func (l *Lab) buildSignaling() (*sigMedium, error) {
	sc := l.topo.Signaling
	switch sc.Transport {
	case TransportLoopback, TransportDelayed:
		var opts []signaling.LoopbackOption
		if sc.Transport == TransportDelayed {
			opts = append(opts, signaling.WithDelay(sc.MaxDelay, l.topo.Seed))
		}
		loop, err := signaling.NewLoopback(opts...)
		if err != nil {
			return nil, err
		}
		l.onClose(loop.Close)
		return &sigMedium{transport: loop, loop: loop}, nil
	}
	scfg := sc.Server
	scfg.Addr = "127.0.0.1:0"
	// Every client of a lab's server is the lab's own (a Go SSE transport
	// or the page), and both send the stream's session token.
	scfg.RequireSessionToken = true
	srv, err := startServer(scfg)
	if err != nil {
		return nil, fmt.Errorf("lab: signaling server: %w", err)
	}
	m := &sigMedium{server: srv, addr: srv.Addr()}
	l.onClose(m.closeServer)
	prof := sc.Profile
	if prof == nil {
		prof = &netem.Profile{Name: "ideal"}
	}
	sh, err := netem.New(netem.Config{Name: signalingPoint, Profile: prof, Seed: l.topo.Seed}, l.shaperOptions()...)
	if err != nil {
		return nil, err
	}
	proxy, err := netem.NewTCPProxy(netem.TCPProxyConfig{Upstream: m.addr, Shaper: sh})
	if err != nil {
		return nil, fmt.Errorf("lab: signaling proxy: %w", err)
	}
	m.proxy = proxy
	l.onClose(proxy.Close)
	url := "http://" + proxy.Addr().String()
	if sc.Transport == TransportWS {
		m.transport, err = signaling.NewWSTransport(url)
	} else {
		m.transport, err = signaling.NewSSETransport(url)
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

func startServer(cfg signaling.ServerConfig) (*signaling.Server, error) {
	srv, err := signaling.NewServer(cfg)
	if err != nil {
		return nil, err
	}
	if err := srv.Start(); err != nil {
		return nil, err
	}
	return srv, nil
}

func (m *sigMedium) closeServer() error {
	m.mu.Lock()
	srv := m.server
	m.server = nil
	m.mu.Unlock()
	if srv == nil {
		return nil
	}
	return srv.Close()
}

// Server returns the signaling server (nil for in-memory transports). A
// restart replaces it.
func (l *Lab) Server() *signaling.Server {
	l.sig.mu.Lock()
	defer l.sig.mu.Unlock()
	return l.sig.server
}

// Loopback returns the in-memory signaling medium (nil for ws and sse).
func (l *Lab) Loopback() *signaling.Loopback { return l.sig.loop }

// SignalingProxy returns the TCP proxy in front of the server (nil for
// in-memory transports).
func (l *Lab) SignalingProxy() *netem.TCPProxy { return l.sig.proxy }

// SignalingURL is the URL clients dial (the proxy's), or "" in memory.
func (l *Lab) SignalingURL() string {
	if l.sig.proxy == nil {
		return ""
	}
	return "http://" + l.sig.proxy.Addr().String()
}

// DropMode is how DropSignaling breaks the signaling path.
type DropMode string

const (
	// DropReset resets every connection now (TCP RST; in memory, every
	// session ends). Clients redial at once, with their backoff.
	DropReset DropMode = "reset"
	// DropBlackhole stops every byte, both ways, without closing, until
	// RestoreSignaling. In memory, where a session cannot be stalled, the
	// relay goes unreachable instead: every session ends and every dial
	// is refused, of ids registered when it began and of any that
	// (re)dials while it lasts.
	DropBlackhole DropMode = "blackhole"
)

// DropSignaling breaks the signaling path of every client.
func (l *Lab) DropSignaling(mode DropMode) error {
	if err := l.checkOpen(); err != nil {
		return err
	}
	m := l.sig
	switch mode {
	case DropReset:
		if m.loop != nil {
			for _, id := range m.loop.Registered() {
				m.loop.Disconnect(id)
			}
		} else {
			m.proxy.ResetAll()
		}
	case DropBlackhole:
		m.mu.Lock()
		if m.blackholed {
			m.mu.Unlock()
			return nil
		}
		m.blackholed = true
		if m.loop != nil {
			// Not Isolate of the ids registered now: an id between
			// sessions (redialing after a reset) or new would slip in.
			m.loop.SetReachable(false)
		} else {
			m.beforeBlack = m.proxy.Shaper().Profile()
			black := m.beforeBlack.Clone()
			on := true
			black.Blackhole = &on
			black.Up, black.Down, black.Schedule = nil, nil, nil
			if err := m.proxy.Shaper().SetProfile(black); err != nil {
				m.mu.Unlock()
				return err
			}
		}
		m.mu.Unlock()
	default:
		return fmt.Errorf("%w: drop mode %q: want reset or blackhole", ErrBadTopology, mode)
	}
	l.note(signalingPoint, "signaling-drop", string(mode))
	return nil
}

// RestoreSignaling ends a blackhole.
func (l *Lab) RestoreSignaling() error {
	if err := l.checkOpen(); err != nil {
		return err
	}
	m := l.sig
	m.mu.Lock()
	if !m.blackholed {
		m.mu.Unlock()
		return nil
	}
	m.blackholed = false
	var err error
	if m.loop != nil {
		m.loop.SetReachable(true)
	} else {
		err = m.proxy.Shaper().SetProfile(m.beforeBlack)
	}
	m.mu.Unlock()
	if err != nil {
		return err
	}
	l.note(signalingPoint, "signaling-restore", "")
	return nil
}

// RestartServer shuts the signaling server down gracefully, telling
// clients to come back after retryAfter, and starts a new one on the same
// address, as a deploy does. In memory, every session ends (the relay
// forgets every registration) and the clients redial.
func (l *Lab) RestartServer(ctx context.Context, retryAfter time.Duration) error {
	if err := l.checkOpen(); err != nil {
		return err
	}
	m := l.sig
	if m.loop != nil {
		for _, id := range m.loop.Registered() {
			m.loop.Disconnect(id)
		}
		l.note(signalingPoint, "server-restart", "in-memory relay: every session ended")
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.server == nil {
		return ErrClosed
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := m.server.Shutdown(sctx, retryAfter); err != nil {
		return fmt.Errorf("lab: signaling shutdown: %w", err)
	}
	_ = m.server.Close()
	cfg := l.topo.Signaling.Server
	cfg.Addr = m.addr
	srv, err := startServer(cfg)
	if err != nil {
		m.server = nil
		return fmt.Errorf("lab: signaling restart on %s: %w", m.addr, err)
	}
	m.server = srv
	l.note(signalingPoint, "server-restart", fmt.Sprintf("on %s, clients told to retry after %v", m.addr, retryAfter))
	return nil
}
