package signaling_test

import (
	"context"
	"fmt"
	"time"

	"github.com/netlab/netlab/peer/signaling"
)

// A server on loopback, a WebSocket client and an SSE client talking
// through it.
func ExampleServer() {
	srv, err := signaling.NewServer(signaling.ServerConfig{}) // 127.0.0.1:0
	if err != nil {
		panic(err)
	}
	if err := srv.Start(); err != nil {
		panic(err)
	}
	defer srv.Close()

	ws, _ := signaling.NewWSTransport(srv.URL())
	sse, _ := signaling.NewSSETransport(srv.URL())
	alice, _ := signaling.NewClient(signaling.ClientConfig{ID: "alice", Transport: ws})
	defer alice.Close()
	bob, _ := signaling.NewClient(signaling.ClientConfig{ID: "bob", Transport: sse})
	defer bob.Close()
	inbox := bob.Subscribe(signaling.Filter{From: "alice"})

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	alice.WaitConnected(ctx)
	bob.WaitConnected(ctx)
	if err := alice.Send(ctx, "bob", signaling.TypeOffer, "hello"); err != nil {
		panic(err)
	}
	m, err := inbox.Recv(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s -> %s over %s: %s %s\n", m.From, m.To, bob.Transport(), m.Type, m.Data)
	// Output: alice -> bob over sse: offer "hello"
}
