package scenarios

import (
	"strings"
	"sync"
	"time"

	"github.com/netlab/netlab/netem"
	"github.com/netlab/netlab/peer"
	"github.com/netlab/netlab/peer/peertest"
	"github.com/netlab/netlab/peer/signaling"
	"github.com/netlab/netlab/reports"
)

// goNet is the network of a case's Go peers: a peertest world (one vnet
// router on 192.0.2.0/24, RFC 5737: in memory only, never routable), one
// host per name, each host's link shaped by its own netem.Shaper (ideal
// until a spec changes it). The lab package (issue 4) grows this into
// NATs, TURN and Chrome.
//
//	alice ─[shaper: up/down]─┐
//	                         ├─ vnet router 192.0.2.0/24
//	bob   ─[shaper: up/down]─┘
type goNet struct {
	seed  uint64
	world *peertest.World

	mu     sync.Mutex
	hosts  map[string]*peertest.Host // guarded by mu
	order  []string                  // guarded by mu: host names, in creation order
	shaped map[string]*netem.Profile // guarded by mu: each host's profile
}

func newGoNet(seed uint64) (*goNet, error) {
	w, err := peertest.New()
	if err != nil {
		return nil, err
	}
	return &goNet{seed: seed, world: w, hosts: map[string]*peertest.Host{}, shaped: map[string]*netem.Profile{}}, nil
}

// hostName maps a peer id to its host: "alice-007" lives on "alice".
func hostName(id string) string {
	name, _, _ := strings.Cut(id, "-")
	return name
}

func (n *goNet) host(name string) (*peertest.Host, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if h := n.hosts[name]; h != nil {
		return h, nil
	}
	ideal, _ := netem.Preset("ideal")
	h, err := n.world.AddHost(name, peertest.WithProfile(ideal, n.seed))
	if err != nil {
		return nil, err
	}
	n.hosts[name] = h
	n.shaped[name] = ideal
	n.order = append(n.order, name)
	return h, nil
}

// config is the peer.Config of a Go peer id talking to remote.
func (n *goNet) config(id, remote string, c *signaling.Client, o pairOptions) peer.Config {
	h, err := n.host(hostName(id))
	if err != nil {
		panic(err) // the world was built wrong; nothing to recover
	}
	return peer.Config{
		ID: id, RemoteID: remote, Signaling: c,
		Glare: o.glare, LockTimeout: o.lockTimeout,
		Heartbeat: o.heartbeat, Reconnect: o.reconnect, ICE: o.ice,
		Net:  h.Net,
		Seed: n.seed,
	}
}

// shape puts prof on host name's link, both directions, from now on.
func (n *goNet) shape(name string, prof *netem.Profile) error {
	h, err := n.host(name)
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.shaped[name] = prof
	n.mu.Unlock()
	return h.Shaper.SetProfile(prof)
}

// cut takes every host's link down, or brings them back.
func (n *goNet) cut(down bool) {
	var err error
	if down {
		err = n.world.Cut()
	} else {
		err = n.world.Restore()
	}
	if err != nil {
		panic(err)
	}
}

// oneWay bounds the one-way delay the hosts' shapers add now (zero while
// ideal): how long an event may lag the instant that caused it.
func (n *goNet) oneWay() time.Duration {
	n.mu.Lock()
	defer n.mu.Unlock()
	var d time.Duration
	for _, p := range n.shaped {
		if p.Delay != nil {
			d = max(d, time.Duration(p.Delay.Time)+4*time.Duration(p.Delay.Jitter))
		}
	}
	return d
}

// ledgers are every host's shaper ledgers, for the report.
func (n *goNet) ledgers() []reports.Ledger {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []reports.Ledger
	for _, name := range n.order {
		out = append(out, ledgers(n.hosts[name].Shaper)...)
	}
	return out
}

// Close stops the world (peers are closed before it, by the world of the
// case).
func (n *goNet) Close() error { return n.world.Close() }
