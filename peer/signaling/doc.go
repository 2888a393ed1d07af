// Package signaling is the signaling wire protocol of PROTOCOL.md: a server
// (WebSocket at /<id>, SSE at /messages/<id> with POST /message, presence
// and version listing, ping/pong) and clients (ws, sse, loopback, delayed
// loopback) that reconnect with backoff. Built in issue 3; its TCP path is
// impaired by netem.TCPProxy.
package signaling
