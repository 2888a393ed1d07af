// Package peertest is a tiny vnet world for peer tests: one vnet router on
// 192.0.2.0/24 (RFC 5737, in memory only) and a host per peer, each
// optionally shaped by netem, with a switch that cuts hosts off.
//
//	host "a" 192.0.2.10 ─[netem a]─┐
//	host "b" 192.0.2.11 ─[netem b]─┼── router 192.0.2.0/24 ── chunk filter: Cut / Restore
//	...                            ┘
//
// It works inside a testing/synctest bubble (build it and Close it inside
// the bubble) and in real time alike. Nothing here touches a real socket.
package peertest

import (
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/pion/logging"
	"github.com/pion/transport/v3"
	"github.com/pion/transport/v3/vnet"

	"github.com/netlab/netlab/netem"
)

// CIDR is the world's network: RFC 5737 TEST-NET-1, never routed.
const CIDR = "192.0.2.0/24"

// firstHost is the last octet of the first host's address.
const firstHost = 10

// ErrBadConfig: a world or host option is unusable.
var ErrBadConfig = errors.New("peertest: bad config")

// ErrClosed: the world is closed.
var ErrClosed = errors.New("peertest: closed")

// World is the router and its hosts.
type World struct {
	router *vnet.Router // read-only

	mu      sync.Mutex
	hosts   map[string]*Host // guarded by mu: by name
	byIP    map[string]*Host // guarded by mu
	cutAll  bool             // guarded by mu
	next    int              // guarded by mu: last octet of the next host
	dropped uint64           // guarded by mu: chunks the cut dropped
	filters []Filter         // guarded by mu
	closed  bool             // guarded by mu
}

// Filter sees every packet crossing the router (after Cut) and returns
// false to drop it. It runs under the world's lock on the router's
// goroutine: be quick, never block, never call the World.
type Filter func(c vnet.Chunk) bool

// Host is one endpoint's place in the world.
type Host struct {
	Name string
	IP   string
	// Net is what to give a peer (Config.Net): the host's vnet.Net, or
	// netem.WrapNet of it when the host is shaped.
	Net transport.Net
	// Shaper is the host's impairment point (nil when unshaped); Up is
	// from the host into the world.
	Shaper *netem.Shaper
	// Vnet is the host's unshaped vnet.Net.
	Vnet *vnet.Net

	cut bool // guarded by World.mu
}

// Option configures a World.
type Option func(*options) error

type options struct {
	logger logging.LoggerFactory
}

// WithLoggerFactory sets the router's logger (default: pion's default,
// errors only). vnet requires one.
func WithLoggerFactory(f logging.LoggerFactory) Option {
	return func(o *options) error {
		if f == nil {
			return fmt.Errorf("%w: WithLoggerFactory needs a factory, got nil", ErrBadConfig)
		}
		o.logger = f
		return nil
	}
}

// New starts a world with no hosts. Inside synctest, call it inside the
// bubble.
func New(opts ...Option) (*World, error) {
	o := options{logger: logging.NewDefaultLoggerFactory()}
	for i, opt := range opts {
		if opt == nil {
			return nil, fmt.Errorf("%w: option %d is nil", ErrBadConfig, i)
		}
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	router, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: CIDR, LoggerFactory: o.logger})
	if err != nil {
		return nil, fmt.Errorf("peertest: router: %w", err)
	}
	w := &World{router: router, hosts: map[string]*Host{}, byIP: map[string]*Host{}, next: firstHost}
	router.AddChunkFilter(w.filter)
	// Start before anything writes: earlier chunks vanish (FINDINGS.md).
	if err := router.Start(); err != nil {
		return nil, fmt.Errorf("peertest: starting the router: %w", err)
	}
	return w, nil
}

// HostOption configures a host.
type HostOption func(*hostOptions) error

type hostOptions struct {
	profile *netem.Profile
	seed    uint64
	shaped  bool
}

// WithProfile shapes the host's traffic with a netem profile (nil: a
// perfect link, still through netem), drawing from seed.
func WithProfile(p *netem.Profile, seed uint64) HostOption {
	return func(o *hostOptions) error {
		o.profile, o.seed, o.shaped = p, seed, true
		return nil
	}
}

// AddHost adds a host named name at the next free address
// (192.0.2.10, .11, ...).
func (w *World) AddHost(name string, opts ...HostOption) (*Host, error) {
	var o hostOptions
	for i, opt := range opts {
		if opt == nil {
			return nil, fmt.Errorf("%w: host %q: option %d is nil", ErrBadConfig, name, i)
		}
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if name == "" {
		return nil, fmt.Errorf("%w: a host needs a name", ErrBadConfig)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil, ErrClosed
	}
	if w.hosts[name] != nil {
		return nil, fmt.Errorf("%w: host %q exists", ErrBadConfig, name)
	}
	if w.next > 254 {
		return nil, fmt.Errorf("%w: no address left in %s for host %q", ErrBadConfig, CIDR, name)
	}
	ip := net.IPv4(192, 0, 2, byte(w.next)).String()
	vn, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{ip}})
	if err != nil {
		return nil, fmt.Errorf("peertest: host %q: %w", name, err)
	}
	if err := w.router.AddNet(vn); err != nil {
		return nil, fmt.Errorf("peertest: host %q: %w", name, err)
	}
	w.next++
	h := &Host{Name: name, IP: ip, Net: vn, Vnet: vn}
	if o.shaped {
		sh, err := netem.New(netem.Config{Name: name, Profile: o.profile, Seed: o.seed})
		if err != nil {
			return nil, fmt.Errorf("peertest: host %q: %w", name, err)
		}
		h.Shaper = sh
		h.Net = netem.WrapNet(vn, sh)
	}
	w.hosts[name] = h
	w.byIP[ip] = h
	return h, nil
}

// Cut drops everything from or to the named hosts (all traffic when no
// name is given) until Restore: a link outage.
func (w *World) Cut(names ...string) error { return w.setCut(true, names) }

// Restore undoes Cut for the named hosts (every cut when no name is given).
func (w *World) Restore(names ...string) error { return w.setCut(false, names) }

func (w *World) setCut(cut bool, names []string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(names) == 0 {
		w.cutAll = cut
		if !cut {
			for _, h := range w.hosts {
				h.cut = false
			}
		}
		return nil
	}
	for _, n := range names {
		h := w.hosts[n]
		if h == nil {
			return fmt.Errorf("%w: no host %q", ErrBadConfig, n)
		}
		h.cut = cut
	}
	return nil
}

// Dropped counts the packets Cut dropped (not those of filters).
func (w *World) Dropped() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.dropped
}

// filter runs on the router goroutine under its mutex: fast, never blocks
// for long.
func (w *World) filter(c vnet.Chunk) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	drop := w.cutAll || w.isCutLocked(c.SourceAddr()) || w.isCutLocked(c.DestinationAddr())
	if drop {
		w.dropped++
		return false
	}
	for _, f := range w.filters {
		if !f(c) {
			return false
		}
	}
	return true
}

// AddFilter adds a filter that may drop packets (a targeted loss).
func (w *World) AddFilter(f Filter) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.filters = append(w.filters, f)
}

func (w *World) isCutLocked(a net.Addr) bool {
	var ip net.IP
	switch a := a.(type) {
	case *net.UDPAddr:
		ip = a.IP
	case *net.TCPAddr:
		ip = a.IP
	default:
		return false
	}
	h := w.byIP[ip.String()]
	return h != nil && h.cut
}

// Close stops the router. Close the peers first. Idempotent.
func (w *World) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	return w.router.Stop()
}
