// Package peer is the reference WebRTC peer in Go (pion/webrtc) and the
// Endpoint interface that every scenario drives, for Go peers and Chrome
// tabs alike: data channels in the seven reliability configurations, media,
// the pair mutex and perfect negotiation against glare, heartbeats, and
// reconnect by ICE restart. Built in issue 3.
//
// # GoPeer
//
// New(Config) builds the pion (v4.2.1) implementation of Endpoint:
//
//	signaling.Client (shared by every peer of the id)
//	  │ Subscribe(From: RemoteID): one reader, in order
//	  ├─ offer, answer, icecandidate ─▶ negMu ─▶ pion RTCPeerConnection ─▶ Config.Net:
//	  ├─ lockRequest, lockResponse ──▶ pairLock        │                  vnet, netem.WrapNet(vnet)
//	  ├─ heartbeat ──────────────────▶ heartbeat ◀── channel 1023         or real sockets on 127.0.0.1
//	  └─ bye ────────────────────────▶ EventBye
//
// Media is generated Opus or VP8, and those (with VP8's RTX) are the only
// codecs a GoPeer offers or accepts (sendableCodecs). Its DTLS certificate
// is made once, or given (WithCertificate), and serves every pion peer it
// makes.
//
// Negotiation, GlareLock (default, the seed's): CreateDataChannel, AddMedia
// and Restart each run as one body under the pair lock that creates its
// thing, offers, waits for the answer and holds the lock for SettleDelay
// after stable; pion's negotiationneeded is folded into those bodies (or
// gets a locked negotiation of its own when nothing else will carry the
// change). The answering side answers whenever an offer comes.
//
// An offer that pion has set cannot be withdrawn (v4.2.1 has no
// rollback), so one that could not be sent, or whose answer never came,
// would block every later offer. It is sent again instead, the same offer
// with the same ICE credentials, before anything new is offered: under
// GlareLock by the body that made it (a failed send is retried with
// backoff while its context lasts, the lock kept), once more as a body
// gives up, by the next body on this side, and before this side grants
// the lock to the remote, so that the remote answers it rather than
// offering across it; the negotiator retries an offer that could not be
// sent until it is out. Under GlarePerfect only an offer that could not be
// sent is sent again (by the negotiator, with backoff): a duplicate could
// collide with a polite pion's own offer. A remote that has applied the
// offer already applies it again as a renegotiation that changes nothing;
// a second answer that cannot answer our current offer is dropped. Each
// re-send is an EventError whose Detail says "re-sent the unanswered
// offer".
//
// Negotiation, GlarePerfect: textbook perfect negotiation, politeness by
// id (ID < RemoteID is polite). Pion v4.2.1 cannot roll back: its
// SetLocalDescription rejects type rollback (signalingstate.go allows no
// have-local-offer -> stable transition by rollback). So the impolite
// side is textbook, and a polite pion side emulates the rollback only
// where it is lossless: on a collision before any exchange has completed
// it replaces its RTCPeerConnection with a fresh one, re-creates its
// pending channels and tracks on it (Channel handles keep working) and
// accepts the remote offer. A collision on a polite pion after the first
// exchange fails the operation with an error wrapping ErrUnsupported and
// leaves signaling wedged (the impolite side ignored our offer; we cannot
// take it back): use GlareLock for sessions that renegotiate from both
// sides. Every collision is reported as EventGlare (Detail: what was
// done). For the same reason only the impolite side restarts ICE on its
// own under GlarePerfect.
//
// Reconnect: after Reconnect.DisconnectedGrace in ICE disconnected, and at
// once on failed, a side restarts ICE under the pair lock (GlareLock: both
// sides may; one that finds ICE connected again when its turn comes does
// nothing), with backoff while it fails and waiting while signaling is
// down; events EventDisconnected, EventRestart, EventRecovered. SCTPRTOMax
// (1 s) keeps open channels quick to resume.
//
// Heartbeats run on the signaling path (message type "heartbeat", data the
// beat's JSON) and on a negotiated data channel "netlab-heartbeat" (id
// 1023, unordered, maxRetransmits 0) that both sides create with the first
// data section, before SCTP starts (see ensureHeartbeatChannel for the pion
// race this avoids). It never shows in AcceptDataChannel or the events.
// A signaling beat is sent only while the signaling client is connected:
// the client would keep it for the next connection, in the queue every
// peer of the id shares, crowding out lock requests and bye; a beat not
// sent is a beat lost, which is what the remote's heartbeat notices.
//
// A negotiated channel created after SCTP is up needs no signaling, but
// in pion v4.2.1 the remote must not send on it before this side has
// created it: pion reads an unknown incoming stream's first message as a
// DCEP OPEN and, finding data instead, stops accepting channels for good.
package peer
