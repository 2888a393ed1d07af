package peer

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/pion/logging"
	"github.com/pion/transport/v3"
	"github.com/pion/webrtc/v4"

	"github.com/netlab/netlab/peer/signaling"
)

// GlareStrategy says how a GoPeer keeps the two sides' offers from
// crossing (glare).
type GlareStrategy int

const (
	// GlareLock (the default, the seed's answer): every signal-producing
	// operation runs under the pair mutex (PROTOCOL.md), so only one side
	// offers at a time.
	GlareLock GlareStrategy = iota
	// GlarePerfect is perfect negotiation (politeness by id: ID <
	// RemoteID is polite). A polite pion side cannot roll back; see the
	// package documentation for what it does instead.
	GlarePerfect
)

func (g GlareStrategy) String() string {
	switch g {
	case GlareLock:
		return "lock"
	case GlarePerfect:
		return "perfect"
	}
	return fmt.Sprintf("GlareStrategy(%d)", int(g))
}

// Defaults of Config.
const (
	DefaultDisconnectedGrace   = 2 * time.Second
	DefaultSCTPRTOMax          = time.Second
	DefaultSettleDelay         = 50 * time.Millisecond
	DefaultICEDisconnected     = 5 * time.Second  // pion's default
	DefaultICEFailed           = 25 * time.Second // pion's default
	DefaultICEKeepAlive        = 2 * time.Second  // pion's default
	DefaultByeTimeout          = time.Second
	heartbeatChannelLabel      = "netlab-heartbeat"
	heartbeatChannelID         = uint16(1023)
	defaultMaxBufferedAmount   = 1 << 20
	defaultBufferedLowAmount   = 256 << 10
	maxBufferedRemoteCandidate = 512
)

// ReconnectConfig is the reconnect policy: ICE restarts after a
// disconnection.
type ReconnectConfig struct {
	// DisconnectedGrace is how long ICE may stay disconnected before an
	// ICE restart (default 2 s); a failed ICE restarts at once.
	DisconnectedGrace time.Duration
	// Disabled turns the policy off: only Restart restarts.
	Disabled bool
}

// ICETimeouts are pion's ICE agent timers (SettingEngine.SetICETimeouts).
// Zero fields take pion's defaults.
type ICETimeouts struct {
	// Disconnected: silence before ICE goes disconnected (default 5 s).
	Disconnected time.Duration
	// Failed: further silence, after disconnected, before failed (default
	// 25 s).
	Failed time.Duration
	// KeepAlive: how often a binding request goes out on an idle pair
	// (default 2 s).
	KeepAlive time.Duration
}

// CandidateWaits are how long the ICE agent waits before accepting a pair
// with each local candidate type (SettingEngine.SetXxxAcceptanceMinWait).
// Zero fields take pion's defaults (host 0, srflx 500 ms, prflx 1 s,
// relay 2 s).
type CandidateWaits struct {
	Host, Srflx, Prflx, Relay time.Duration
}

// Config configures a GoPeer. New copies and validates it.
type Config struct {
	// ID is this endpoint's signaling id; RemoteID the peer it talks to.
	// ID < RemoteID (string order) makes this side the polite one.
	ID, RemoteID string
	// Signaling is the client of ID, shared by every peer of that id; the
	// peer subscribes to the messages from RemoteID. The caller owns it
	// (Close does not close it).
	Signaling *signaling.Client
	// Glare is how glare is avoided (default GlareLock).
	Glare GlareStrategy
	// LockTimeout bounds the wait for a lockResponse (default 5 s).
	LockTimeout time.Duration
	// SettleDelay is how long a lock body keeps the lock after signaling
	// is stable again (default 50 ms; the seed releases "a short delay
	// after stable").
	SettleDelay time.Duration
	// Heartbeat configures the heartbeats on signaling and on the data
	// channel "netlab-heartbeat" (defaults 1 s / 5 s).
	Heartbeat HeartbeatConfig
	// Reconnect is the ICE restart policy.
	Reconnect ReconnectConfig
	// ICEServers are the STUN/TURN servers. With Net nil each must be on
	// a loopback address.
	ICEServers []webrtc.ICEServer
	// RelayOnly is iceTransportPolicy "relay": only relay candidates are
	// gathered and paired (needs a TURN server in ICEServers).
	RelayOnly bool
	// DTLSClient makes this peer the DTLS client whoever offers: its
	// offers say a=setup:active (pion's answers already do). For a
	// remote that is Chrome: pion keeps no DTLS role across
	// renegotiations (its answers always say active), which Chrome
	// refuses once pion was the server ("Failed to set SSL role"), and
	// pion as the server misses Chrome's first ClientHello (sent before
	// pion's DTLS is up) and waits a second for the resend. Not for a
	// pion remote: pion answers active whatever the offer says.
	DTLSClient bool
	// Net is the network pion uses: a vnet.Net (optionally shaped with
	// netem.WrapNet). Nil means real UDP sockets restricted to 127.0.0.1:
	// nothing binds, dials or sends elsewhere.
	Net transport.Net
	// ICE are pion's ICE timers.
	ICE ICETimeouts
	// SCTPRTOMax caps SCTP's retransmission timeout (default 1 s), which
	// is what makes channels recover within moments of the link returning
	// (FINDINGS.md); pion's own default is 60 s.
	SCTPRTOMax time.Duration
	// CandidateWaits are the candidate acceptance waits.
	CandidateWaits CandidateWaits
	// NetworkTypes are the candidate network types (default UDP4).
	NetworkTypes []webrtc.NetworkType
	// Seed drives the generated media payloads and the jitter of the
	// reconnect backoff; 0 derives one from the ids.
	Seed uint64
	// ByeTimeout bounds the bye that Close sends (default 1 s).
	ByeTimeout time.Duration
}

// Option adjusts a GoPeer beyond its Config.
type Option func(*options) error

type options struct {
	logger logging.LoggerFactory
	cert   *webrtc.Certificate
}

// WithCertificate gives the peer its DTLS certificate (default: one made
// by New, ECDSA P-256 as pion makes them). The peer uses it for every
// pion peer it makes, as an app that keeps its certificate does
// (RTCPeerConnection.generateCertificate): a lab that makes fresh peers
// round after round on one endpoint gives them that endpoint's, which
// spares each round the key and the signature (about 0.16 ms each).
func WithCertificate(c webrtc.Certificate) Option {
	return func(o *options) error {
		if !c.Expires().After(time.Now()) {
			return fmt.Errorf("%w: WithCertificate: the certificate expired at %s", ErrBadConfig, c.Expires().Format(time.RFC3339))
		}
		o.cert = &c
		return nil
	}
}

// WithLoggerFactory sets pion's logger (default: pion's default factory,
// errors only, to stderr).
func WithLoggerFactory(f logging.LoggerFactory) Option {
	return func(o *options) error {
		if f == nil {
			return fmt.Errorf("%w: WithLoggerFactory needs a factory, got nil", ErrBadConfig)
		}
		o.logger = f
		return nil
	}
}

// withDefaults validates c and fills its zero fields.
func (c Config) withDefaults() (Config, error) {
	bad := func(format string, args ...any) (Config, error) {
		return c, fmt.Errorf("%w: %s", ErrBadConfig, fmt.Sprintf(format, args...))
	}
	if err := signaling.ValidateID(c.ID); err != nil {
		return bad("ID: want a signaling id, got %q (%v)", c.ID, err)
	}
	if err := signaling.ValidateID(c.RemoteID); err != nil {
		return bad("RemoteID: want a signaling id, got %q (%v)", c.RemoteID, err)
	}
	if c.ID == c.RemoteID {
		return bad("ID and RemoteID must differ (politeness is by id), got %q twice", c.ID)
	}
	if c.Signaling == nil {
		return bad("Signaling: want the signaling client of %q, got nil", c.ID)
	}
	if c.Signaling.ID() != c.ID {
		return bad("Signaling: the client is %q's, want %q's", c.Signaling.ID(), c.ID)
	}
	if c.Glare != GlareLock && c.Glare != GlarePerfect {
		return bad("Glare: want GlareLock or GlarePerfect, got %v", c.Glare)
	}
	durations := []struct {
		name string
		d    *time.Duration
		def  time.Duration
	}{
		{"LockTimeout", &c.LockTimeout, DefaultLockTimeout},
		{"SettleDelay", &c.SettleDelay, DefaultSettleDelay},
		{"Reconnect.DisconnectedGrace", &c.Reconnect.DisconnectedGrace, DefaultDisconnectedGrace},
		{"ICE.Disconnected", &c.ICE.Disconnected, DefaultICEDisconnected},
		{"ICE.Failed", &c.ICE.Failed, DefaultICEFailed},
		{"ICE.KeepAlive", &c.ICE.KeepAlive, DefaultICEKeepAlive},
		{"SCTPRTOMax", &c.SCTPRTOMax, DefaultSCTPRTOMax},
		{"ByeTimeout", &c.ByeTimeout, DefaultByeTimeout},
		{"CandidateWaits.Host", &c.CandidateWaits.Host, 0},
		{"CandidateWaits.Srflx", &c.CandidateWaits.Srflx, 0},
		{"CandidateWaits.Prflx", &c.CandidateWaits.Prflx, 0},
		{"CandidateWaits.Relay", &c.CandidateWaits.Relay, 0},
	}
	for _, d := range durations {
		if *d.d < 0 {
			return bad("%s: want a duration >= 0 (0 for the default), got %v", d.name, *d.d)
		}
		if *d.d == 0 {
			*d.d = d.def
		}
	}
	if c.ICE.KeepAlive >= c.ICE.Disconnected {
		return bad("ICE.KeepAlive (%v) must be shorter than ICE.Disconnected (%v), or an idle pair goes disconnected between keepalives", c.ICE.KeepAlive, c.ICE.Disconnected)
	}
	hb, err := c.Heartbeat.withDefaults()
	if err != nil {
		return c, err
	}
	c.Heartbeat = hb
	if len(c.NetworkTypes) == 0 {
		c.NetworkTypes = []webrtc.NetworkType{webrtc.NetworkTypeUDP4}
	}
	for _, nt := range c.NetworkTypes {
		switch nt {
		case webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6, webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6:
		default:
			return bad("NetworkTypes: want udp4, udp6, tcp4 or tcp6, got %v", nt)
		}
	}
	c.NetworkTypes = append([]webrtc.NetworkType(nil), c.NetworkTypes...)
	c.ICEServers = append([]webrtc.ICEServer(nil), c.ICEServers...)
	if c.RelayOnly && !hasTURN(c.ICEServers) {
		return bad("RelayOnly needs a turn: or turns: URL in ICEServers")
	}
	if c.Net == nil {
		for _, s := range c.ICEServers {
			for _, u := range s.URLs {
				if err := checkLoopbackURL(u); err != nil {
					return bad("ICEServers: with Net nil every server must be on loopback: %v", err)
				}
			}
		}
	}
	return c, nil
}

// hasTURN says whether any server is a TURN server.
func hasTURN(servers []webrtc.ICEServer) bool {
	for _, s := range servers {
		for _, u := range s.URLs {
			if strings.HasPrefix(u, "turn:") || strings.HasPrefix(u, "turns:") {
				return true
			}
		}
	}
	return false
}

// checkLoopbackURL checks that a stun:/turn: URL names a loopback host.
func checkLoopbackURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q: %v", raw, err)
	}
	hostport := u.Opaque
	if hostport == "" {
		hostport = u.Host
	}
	if i := strings.IndexByte(hostport, '?'); i >= 0 {
		hostport = hostport[:i]
	}
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q: host %q is not a loopback address", raw, host)
	}
	return nil
}
