package peer

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/netlab/netlab/peer/signaling"
)

// TestConfigValidation: New refuses configs that cannot work, with
// ErrBadConfig and a message saying what was expected.
func TestConfigValidation(t *testing.T) {
	c := loopClients(t, "a")[0]
	good := Config{ID: "a", RemoteID: "b", Signaling: c}
	cases := []struct {
		name string
		edit func(*Config)
		want string // in the message
	}{
		{"empty id", func(c *Config) { c.ID = "" }, "ID"},
		{"bad remote id", func(c *Config) { c.RemoteID = "x/y" }, "RemoteID"},
		{"same ids", func(c *Config) { c.RemoteID = "a" }, "must differ"},
		{"no signaling", func(c *Config) { c.Signaling = nil }, "Signaling"},
		{"someone else's client", func(c *Config) { c.ID, c.RemoteID = "z", "b" }, `"a"'s, want "z"'s`},
		{"glare", func(c *Config) { c.Glare = 7 }, "Glare"},
		{"negative lock timeout", func(c *Config) { c.LockTimeout = -time.Second }, "LockTimeout"},
		{"negative grace", func(c *Config) { c.Reconnect.DisconnectedGrace = -1 }, "DisconnectedGrace"},
		{"keepalive too long", func(c *Config) { c.ICE = ICETimeouts{Disconnected: time.Second, KeepAlive: 2 * time.Second} }, "KeepAlive"},
		{"heartbeat timeout", func(c *Config) { c.Heartbeat = HeartbeatConfig{Interval: 2 * time.Second, Timeout: time.Second} }, "heartbeat"},
		{"network type", func(c *Config) { c.NetworkTypes = []webrtc.NetworkType{webrtc.NetworkTypeUnknown} }, "NetworkTypes"},
		{"stun off loopback", func(c *Config) {
			c.ICEServers = []webrtc.ICEServer{{URLs: []string{"stun:stun.example.org:3478"}}}
		}, "loopback"},
		{"relay only without turn", func(c *Config) {
			c.RelayOnly = true
			c.ICEServers = []webrtc.ICEServer{{URLs: []string{"stun:127.0.0.1:3478"}}}
		}, "RelayOnly"},
		{"turn without credentials", func(c *Config) {
			c.ICEServers = []webrtc.ICEServer{{URLs: []string{"turn:127.0.0.1:3478"}}}
		}, "credentials"},
	}
	for _, tc := range cases {
		cfg := good
		tc.edit(&cfg)
		p, err := New(cfg)
		if err == nil {
			p.Close()
			t.Errorf("%s: New accepted it", tc.name)
			continue
		}
		if !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want ErrBadConfig saying %q", tc.name, err, tc.want)
		}
	}
	if _, err := New(good, nil); !errors.Is(err, ErrBadConfig) {
		t.Errorf("nil option: %v, want ErrBadConfig", err)
	}
	if _, err := New(good, WithLoggerFactory(nil)); !errors.Is(err, ErrBadConfig) {
		t.Errorf("nil logger: %v, want ErrBadConfig", err)
	}
	// Loopback STUN is fine with real sockets; anything goes on a vnet.
	ok := good
	ok.ICEServers = []webrtc.ICEServer{{URLs: []string{"stun:127.0.0.1:3478", "turn:localhost:3478?transport=udp"}, Username: "u", Credential: "p"}}
	p, err := New(ok)
	if err != nil {
		t.Fatalf("loopback ICE servers refused: %v", err)
	}
	p.Close()
}

func TestCheckLoopbackURL(t *testing.T) {
	for url, ok := range map[string]bool{
		"stun:127.0.0.1:3478":              true,
		"stun:127.0.0.1":                   true,
		"turn:[::1]:3478?transport=udp":    true,
		"turns:localhost:5349":             true,
		"stun:192.0.2.1:3478":              false,
		"stun:stun.l.google.com:19302":     false,
		"turn:10.0.0.1:3478?transport=tcp": false,
		"stun:127.0.0.1.example.org:3478":  false,
	} {
		if err := checkLoopbackURL(url); (err == nil) != ok {
			t.Errorf("checkLoopbackURL(%q) = %v, want ok=%v", url, err, ok)
		}
	}
}

// loopClients makes a loopback signaling medium and a client on it for
// each id, all closed when the test ends.
func loopClients(t *testing.T, ids ...string) []*signaling.Client {
	t.Helper()
	loop, err := signaling.NewLoopback()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = loop.Close() })
	cs := make([]*signaling.Client, len(ids))
	for i, id := range ids {
		c, err := signaling.NewClient(signaling.ClientConfig{ID: id, Transport: loop})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		cs[i] = c
	}
	return cs
}
