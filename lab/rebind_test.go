package lab

import (
	"errors"
	"net"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/netlab/netlab/netem"
	"github.com/pion/logging"
	"github.com/pion/transport/v3"
	"github.com/pion/transport/v3/vnet"
	"go.uber.org/goleak"
)

// rebindWorld: a vnet WAN with a server, and one client Net behind a NAT
// (or on the WAN) whose UDP goes through a rebindNet. Build it inside a
// synctest bubble; stop it there too.
type rebindWorld struct {
	wan      *vnet.Router
	server   *vnet.Net
	client   *rebindNet
	clientIP string // the client's own address (LAN, or WAN without NAT)
	publicIP string // where the server sees the client's packets come from
}

const (
	rbServerIP = "198.51.100.2"
	rbClientIP = "10.0.1.2"
)

var rbServerAddr = &net.UDPAddr{IP: net.ParseIP(rbServerIP), Port: 3478}

// rbNAT is a client placement: behind a vnet NAT, or on the WAN.
type rbNAT struct {
	name      string
	natType   *vnet.NATType // nil: no NAT, the client sits on the WAN
	staticIPs []string      // the LAN router's WAN address(es)
	publicIP  string
}

var (
	rbPortRestricted = rbNAT{
		name: "port-restricted",
		natType: &vnet.NATType{
			Mode:              vnet.NATModeNormal,
			MappingBehavior:   vnet.EndpointIndependent,
			FilteringBehavior: vnet.EndpointAddrPortDependent,
		},
		staticIPs: []string{"198.51.100.11"},
		publicIP:  "198.51.100.11",
	}
	rbOneToOne = rbNAT{
		name:      "1:1",
		natType:   &vnet.NATType{Mode: vnet.NATModeNAT1To1},
		staticIPs: []string{"198.51.100.12/" + rbClientIP},
		publicIP:  "198.51.100.12",
	}
	rbNoNAT = rbNAT{name: "none", publicIP: "198.51.100.3"}
)

func newRebindWorld(t *testing.T, placement rbNAT) *rebindWorld {
	t.Helper()
	lf := logging.NewDefaultLoggerFactory()
	wan, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "198.51.100.0/24", LoggerFactory: lf})
	if err != nil {
		t.Fatal(err)
	}
	server, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{rbServerIP}})
	if err != nil {
		t.Fatal(err)
	}
	if err := wan.AddNet(server); err != nil {
		t.Fatal(err)
	}
	w := &rebindWorld{wan: wan, server: server, publicIP: placement.publicIP}
	if placement.natType == nil {
		w.clientIP = placement.publicIP
		client, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{w.clientIP}})
		if err != nil {
			t.Fatal(err)
		}
		if err := wan.AddNet(client); err != nil {
			t.Fatal(err)
		}
		w.client = newRebindNet(client)
	} else {
		w.clientIP = rbClientIP
		lan, err := vnet.NewRouter(&vnet.RouterConfig{
			CIDR:          "10.0.1.0/24",
			StaticIPs:     placement.staticIPs,
			NATType:       placement.natType,
			LoggerFactory: lf,
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := wan.AddRouter(lan); err != nil {
			t.Fatal(err)
		}
		client, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{w.clientIP}})
		if err != nil {
			t.Fatal(err)
		}
		if err := lan.AddNet(client); err != nil {
			t.Fatal(err)
		}
		w.client = newRebindNet(client)
	}
	// Start before anything writes: earlier chunks are dropped silently.
	// Starting the WAN starts the LAN router too.
	if err := wan.Start(); err != nil {
		t.Fatal(err)
	}
	return w
}

// stop stops the WAN and its LAN router, so the bubble can end.
func (w *rebindWorld) stop(t *testing.T) {
	if err := w.wan.Stop(); err != nil {
		t.Error(err)
	}
}

func (w *rebindWorld) listenServer(t *testing.T) transport.UDPConn {
	t.Helper()
	c, err := w.server.ListenUDP("udp4", &net.UDPAddr{IP: rbServerAddr.IP, Port: rbServerAddr.Port})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// listenClient opens a client socket through the rebinding Net; the
// caller closes it.
func (w *rebindWorld) listenClient(t *testing.T) net.PacketConn {
	t.Helper()
	c, err := w.client.ListenPacket("udp4", rbClientIP+":0")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// rbRecv reads one packet within d of virtual time.
func rbRecv(t *testing.T, c net.PacketConn, d time.Duration) (string, *net.UDPAddr) {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(d)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	n, from, err := c.ReadFrom(buf)
	if err != nil {
		t.Fatalf("read on %s: %v", c.LocalAddr(), err)
	}
	ua, ok := from.(*net.UDPAddr)
	if !ok {
		t.Fatalf("read on %s: source %T, want *net.UDPAddr", c.LocalAddr(), from)
	}
	return string(buf[:n]), ua
}

// rbExpectNothing checks that nothing arrives within d of virtual time.
func rbExpectNothing(t *testing.T, c net.PacketConn, d time.Duration) {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(d)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	n, from, err := c.ReadFrom(buf)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read on %s: got %q from %v (err %v), want a timeout", c.LocalAddr(), buf[:max(n, 0)], from, err)
	}
}

func rbSend(t *testing.T, c net.PacketConn, msg string, to net.Addr) {
	t.Helper()
	if _, err := c.WriteTo([]byte(msg), to); err != nil {
		t.Fatalf("write %q to %s: %v", msg, to, err)
	}
}

// rbCurPort is the port of the socket a conn uses now (not the one its
// LocalAddr reports).
func rbCurPort(t *testing.T, c any) int {
	t.Helper()
	rc, ok := c.(*rebindConn)
	if !ok {
		t.Fatalf("conn is %T, want *rebindConn", c)
	}
	rc.mu.RLock()
	defer rc.mu.RUnlock()
	return rc.cur.LocalAddr().(*net.UDPAddr).Port
}

// readResult is what a ReadFrom on another goroutine returned.
type readResult struct {
	msg  string
	from net.Addr
	err  error
}

func rbReadAsync(c net.PacketConn) <-chan readResult {
	got := make(chan readResult, 1)
	go func() {
		buf := make([]byte, 1500)
		n, from, err := c.ReadFrom(buf)
		got <- readResult{msg: string(buf[:max(n, 0)]), from: from, err: err}
	}()
	return got
}

// rbWait waits up to d of virtual time for the read to return.
func rbWait(t *testing.T, got <-chan readResult, d time.Duration) readResult {
	t.Helper()
	select {
	case r := <-got:
		return r
	case <-time.After(d):
		t.Fatalf("read still blocked after %v", d)
		return readResult{}
	}
}

// TestRebindPortRestricted: behind a port-restricted NAT, Rebind moves
// the client to a new external port (same IP); the old mapping stops
// delivering, the new one delivers; LocalAddr does not move.
func TestRebindPortRestricted(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	synctest.Test(t, func(t *testing.T) {
		w := newRebindWorld(t, rbPortRestricted)
		defer w.stop(t)
		srv := w.listenServer(t)
		defer srv.Close()
		cc := w.listenClient(t)
		defer cc.Close()
		local := cc.LocalAddr().String()
		oldPort := rbCurPort(t, cc)

		rbSend(t, cc, "hello-1", rbServerAddr)
		msg, p1 := rbRecv(t, srv, time.Second)
		if msg != "hello-1" || p1.IP.String() != w.publicIP {
			t.Fatalf("server got %q from %s, want hello-1 from %s", msg, p1, w.publicIP)
		}
		// Control: before the rebind the mapping delivers.
		rbSend(t, srv, "to-p1-before", p1)
		if msg, from := rbRecv(t, cc, time.Second); msg != "to-p1-before" || from.String() != rbServerAddr.String() {
			t.Fatalf("client got %q from %s, want to-p1-before from %s", msg, from, rbServerAddr)
		}

		n, err := w.client.Rebind()
		if err != nil || n != 1 {
			t.Fatalf("Rebind() = %d, %v; want 1, nil", n, err)
		}
		if got := cc.LocalAddr().String(); got != local {
			t.Errorf("LocalAddr moved from %s to %s", local, got)
		}
		if newPort := rbCurPort(t, cc); newPort == oldPort {
			t.Errorf("the fresh socket kept local port %d", oldPort)
		}

		rbSend(t, cc, "hello-2", rbServerAddr)
		msg, p2 := rbRecv(t, srv, time.Second)
		t.Logf("mapped %s -> %s after Rebind (local port %d -> %d, reported %s)", p1, p2, oldPort, rbCurPort(t, cc), local)
		if msg != "hello-2" || !p2.IP.Equal(p1.IP) || p2.Port == p1.Port {
			t.Fatalf("server got %q from %s, want hello-2 from %s on a port other than %d", msg, p2, p1.IP, p1.Port)
		}

		// The old mapping still translates, to a port nobody listens on.
		rbSend(t, srv, "to-p1-after", p1)
		rbExpectNothing(t, cc, time.Second)
		// Lost because nobody listens there: the old port is free again.
		probe, err := w.client.inner.ListenPacket("udp4", net.JoinHostPort(rbClientIP, strconv.Itoa(oldPort)))
		if err != nil {
			t.Fatalf("the old local port %d is still taken: %v", oldPort, err)
		}
		probe.Close()
		rbSend(t, srv, "to-p2", p2)
		if msg, _ := rbRecv(t, cc, time.Second); msg != "to-p2" {
			t.Fatalf("client got %q, want to-p2", msg)
		}
	})
}

// TestRebindBlockedRead: a ReadFrom parked on the old socket during Rebind
// does not return; it gets the next packet, which comes through the new
// mapping.
func TestRebindBlockedRead(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	synctest.Test(t, func(t *testing.T) {
		w := newRebindWorld(t, rbPortRestricted)
		defer w.stop(t)
		srv := w.listenServer(t)
		defer srv.Close()
		cc := w.listenClient(t)
		defer cc.Close()
		rbSend(t, cc, "hello-1", rbServerAddr)
		_, p1 := rbRecv(t, srv, time.Second)

		got := rbReadAsync(cc)
		synctest.Wait() // the reader is parked on the old socket
		if n, err := w.client.Rebind(); err != nil || n != 1 {
			t.Fatalf("Rebind() = %d, %v; want 1, nil", n, err)
		}
		synctest.Wait() // the reader saw its socket close and went on
		select {
		case r := <-got:
			t.Fatalf("ReadFrom returned during Rebind: %q, %v", r.msg, r.err)
		default:
		}

		rbSend(t, cc, "hello-2", rbServerAddr)
		_, p2 := rbRecv(t, srv, time.Second)
		if p2.Port == p1.Port {
			t.Fatalf("mapped port stayed %d", p1.Port)
		}
		rbSend(t, srv, "after", p2)
		r := rbWait(t, got, time.Second)
		if r.err != nil || r.msg != "after" || r.from.String() != rbServerAddr.String() {
			t.Fatalf("ReadFrom = %q from %v, %v; want after from %s", r.msg, r.from, r.err, rbServerAddr)
		}
	})
}

// TestRebindKeepsDeadline: a read deadline set before Rebind still ends a
// read blocked across it, at the same instant.
func TestRebindKeepsDeadline(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	synctest.Test(t, func(t *testing.T) {
		w := newRebindWorld(t, rbPortRestricted)
		defer w.stop(t)
		cc, err := w.client.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(rbClientIP)})
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close() // also ends the reader if the deadline is lost
		start := time.Now()
		if err := cc.SetReadDeadline(start.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		got := rbReadAsync(cc)
		synctest.Wait()
		if n, err := w.client.Rebind(); err != nil || n != 1 {
			t.Fatalf("Rebind() = %d, %v; want 1, nil", n, err)
		}
		r := rbWait(t, got, 5*time.Second)
		var ne net.Error
		if !errors.As(r.err, &ne) || !ne.Timeout() {
			t.Fatalf("ReadFrom = %q, %v; want a timeout", r.msg, r.err)
		}
		if took := time.Since(start); took != time.Second {
			t.Errorf("the read timed out after %v, want the deadline's 1s", took)
		}
	})
}

// TestRebindClose: Close unblocks a read with net.ErrClosed, is
// idempotent, and a closed conn is neither readable, writable nor rebound.
func TestRebindClose(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	synctest.Test(t, func(t *testing.T) {
		w := newRebindWorld(t, rbPortRestricted)
		defer w.stop(t)
		cc := w.listenClient(t)
		got := rbReadAsync(cc)
		synctest.Wait()
		if err := cc.Close(); err != nil {
			t.Fatalf("first Close: %v", err)
		}
		if r := rbWait(t, got, time.Second); !errors.Is(r.err, net.ErrClosed) {
			t.Errorf("blocked ReadFrom after Close = %q, %v; want net.ErrClosed", r.msg, r.err)
		}
		if err := cc.Close(); err != nil {
			t.Errorf("second Close: %v, want nil", err)
		}
		if _, _, err := cc.ReadFrom(make([]byte, 10)); !errors.Is(err, net.ErrClosed) {
			t.Errorf("ReadFrom after Close: %v, want net.ErrClosed", err)
		}
		if _, err := cc.WriteTo([]byte("x"), rbServerAddr); !errors.Is(err, net.ErrClosed) {
			t.Errorf("WriteTo after Close: %v, want net.ErrClosed", err)
		}
		if n, err := w.client.Rebind(); err != nil || n != 0 {
			t.Errorf("Rebind() with only a closed conn = %d, %v; want 0, nil", n, err)
		}
		// The closed conn gave its port back: binding it again works.
		again, err := w.client.ListenPacket("udp4", cc.LocalAddr().String())
		if err != nil {
			t.Fatalf("rebinding the closed conn's address: %v", err)
		}
		again.Close()
	})
}

// TestRebindEveryConnKind: every way of getting a UDP conn gives a
// rebindable one, connected conns re-dial their remote, and each still
// talks to the server after Rebind.
func TestRebindEveryConnKind(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	kinds := []struct {
		name      string
		open      func(*rebindNet) (net.Conn, error)
		connected bool
	}{
		{"ListenPacket", func(r *rebindNet) (net.Conn, error) {
			pc, err := r.ListenPacket("udp4", rbClientIP+":0")
			if err != nil {
				return nil, err
			}
			return pc.(net.Conn), nil
		}, false},
		{"ListenUDP", func(r *rebindNet) (net.Conn, error) {
			return r.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(rbClientIP)})
		}, false},
		{"DialUDP", func(r *rebindNet) (net.Conn, error) {
			return r.DialUDP("udp4", nil, rbServerAddr)
		}, true},
		{"Dial", func(r *rebindNet) (net.Conn, error) {
			return r.Dial("udp", rbServerAddr.String())
		}, true},
		{"CreateDialer", func(r *rebindNet) (net.Conn, error) {
			return r.CreateDialer(&net.Dialer{}).Dial("udp4", rbServerAddr.String())
		}, true},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w := newRebindWorld(t, rbPortRestricted)
				defer w.stop(t)
				srv := w.listenServer(t)
				defer srv.Close()
				c, err := k.open(w.client)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if _, ok := c.(*rebindConn); !ok {
					t.Fatalf("got %T, want *rebindConn", c)
				}
				pc := c.(net.PacketConn)
				send := func(msg string) {
					t.Helper()
					if k.connected {
						if _, err := c.Write([]byte(msg)); err != nil {
							t.Fatal(err)
						}
						return
					}
					rbSend(t, pc, msg, rbServerAddr)
				}
				local := c.LocalAddr().String()

				send("a")
				_, p1 := rbRecv(t, srv, time.Second)
				if n, err := w.client.Rebind(); err != nil || n != 1 {
					t.Fatalf("Rebind() = %d, %v; want 1, nil", n, err)
				}
				send("b")
				msg, p2 := rbRecv(t, srv, time.Second)
				if msg != "b" || p2.Port == p1.Port {
					t.Fatalf("server got %q from %s after Rebind, want b from a port other than %d", msg, p2, p1.Port)
				}
				if got := c.LocalAddr().String(); got != local {
					t.Errorf("LocalAddr moved from %s to %s", local, got)
				}
				if k.connected && c.RemoteAddr().String() != rbServerAddr.String() {
					t.Errorf("RemoteAddr = %v, want %s", c.RemoteAddr(), rbServerAddr)
				}
				rbSend(t, srv, "reply", p2)
				if err := c.SetReadDeadline(time.Now().Add(time.Second)); err != nil {
					t.Fatal(err)
				}
				buf := make([]byte, 100)
				n, err := c.Read(buf)
				if err != nil || string(buf[:n]) != "reply" {
					t.Fatalf("Read = %q, %v; want reply", buf[:max(n, 0)], err)
				}
			})
		})
	}
}

// TestRebindWithoutNAT: behind a 1:1 NAT or on the WAN, Rebind changes
// the source port the server sees (ports are preserved there, so it is
// the fresh socket's port) and nothing breaks.
func TestRebindWithoutNAT(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	for _, placement := range []rbNAT{rbOneToOne, rbNoNAT} {
		t.Run(placement.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w := newRebindWorld(t, placement)
				defer w.stop(t)
				srv := w.listenServer(t)
				defer srv.Close()
				cc, err := w.client.ListenPacket("udp4", w.clientIP+":0")
				if err != nil {
					t.Fatal(err)
				}
				defer cc.Close()

				for i, msg := range []string{"before", "after"} {
					if i == 1 {
						if n, err := w.client.Rebind(); err != nil || n != 1 {
							t.Fatalf("Rebind() = %d, %v; want 1, nil", n, err)
						}
					}
					rbSend(t, cc, msg, rbServerAddr)
					got, from := rbRecv(t, srv, time.Second)
					if want := (&net.UDPAddr{IP: net.ParseIP(w.publicIP), Port: rbCurPort(t, cc)}); got != msg || from.String() != want.String() {
						t.Fatalf("server got %q from %s, want %q from %s", got, from, msg, want)
					}
					rbSend(t, srv, "re-"+msg, from)
					if got, _ := rbRecv(t, cc, time.Second); got != "re-"+msg {
						t.Fatalf("client got %q, want re-%s", got, msg)
					}
				}
			})
		})
	}
}

// TestRebindUnderTraffic: a client echoing with the server every 10 ms
// for 1 s while Rebind runs 9 times: the reader never sees an error, every
// echo comes back (vnet adds no delay, so none is in flight at a rebind),
// and the server sees 10 mapped ports. Run with -race.
func TestRebindUnderTraffic(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	synctest.Test(t, func(t *testing.T) {
		w := newRebindWorld(t, rbPortRestricted)
		defer w.stop(t)
		srv := w.listenServer(t)
		cc := w.listenClient(t)

		ports := make(chan map[int]int, 1)
		go func() { // echo server, counting source ports
			seen := map[int]int{}
			buf := make([]byte, 1500)
			for {
				n, from, err := srv.ReadFromUDP(buf)
				if err != nil {
					ports <- seen
					return
				}
				seen[from.Port]++
				_, _ = srv.WriteToUDP(buf[:n], from)
			}
		}()
		type readEnd struct {
			echoes int
			err    error
		}
		reads := make(chan readEnd, 1)
		go func() { // client reader: stops at the first error
			n := 0
			buf := make([]byte, 1500)
			for {
				if _, _, err := cc.ReadFrom(buf); err != nil {
					reads <- readEnd{n, err}
					return
				}
				n++
			}
		}()
		const sends, rebinds = 100, 9
		writes := make(chan error, 1)
		go func() { // client writer
			for range sends {
				if _, err := cc.WriteTo([]byte("ping"), rbServerAddr); err != nil {
					writes <- err
					return
				}
				time.Sleep(10 * time.Millisecond) // virtual time: the send rate
			}
			writes <- nil
		}()
		time.Sleep(5 * time.Millisecond) // virtual time: rebind between sends, never at the same instant
		for range rebinds {
			time.Sleep(100 * time.Millisecond) // virtual time: the rebind rate
			if n, err := w.client.Rebind(); err != nil || n != 1 {
				t.Errorf("Rebind() = %d, %v; want 1, nil", n, err)
			}
		}
		select {
		case err := <-writes:
			if err != nil {
				t.Errorf("write: %v", err)
			}
		case <-time.After(time.Minute):
			t.Error("writer still running after a minute")
		}
		synctest.Wait() // the last echo is back
		cc.Close()
		srv.Close()
		end := rbWaitEnd(t, reads)
		seen := <-ports
		t.Logf("client got %d/%d echoes; server saw ports %v", end.echoes, sends, seen)
		if !errors.Is(end.err, net.ErrClosed) {
			t.Errorf("the reader ended with %v, want net.ErrClosed from the final Close", end.err)
		}
		if end.echoes != sends {
			t.Errorf("client got %d echoes, want %d", end.echoes, sends)
		}
		if len(seen) != rebinds+1 {
			t.Errorf("server saw %d mapped ports, want %d", len(seen), rebinds+1)
		}
	})
}

func rbWaitEnd[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(time.Second):
		t.Fatal("reader still running a second after Close")
		var zero T
		return zero
	}
}

// TestRebindUnderNetem: the lab's stack, netem.WrapNet over a rebindNet.
// netem's reader goroutine sits in ReadFrom across the Rebind; if the swap
// surfaced an error there, the reply after it would never arrive.
func TestRebindUnderNetem(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	synctest.Test(t, func(t *testing.T) {
		w := newRebindWorld(t, rbPortRestricted)
		defer w.stop(t)
		srv := w.listenServer(t)
		defer srv.Close()
		sh, err := netem.New(netem.Config{Name: "client", Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		shaped := netem.WrapNet(w.client, sh)
		cc, err := shaped.ListenPacket("udp4", rbClientIP+":0")
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()

		var mapped []int
		for _, msg := range []string{"before", "after"} {
			if msg == "after" {
				synctest.Wait() // netem's reader is parked in ReadFrom
				if n, err := w.client.Rebind(); err != nil || n != 1 {
					t.Fatalf("Rebind() = %d, %v; want 1, nil", n, err)
				}
			}
			rbSend(t, cc, msg, rbServerAddr)
			_, from := rbRecv(t, srv, time.Second)
			mapped = append(mapped, from.Port)
			rbSend(t, srv, "re-"+msg, from)
			if got, _ := rbRecv(t, cc, time.Second); got != "re-"+msg {
				t.Fatalf("client got %q, want re-%s", got, msg)
			}
		}
		if mapped[0] == mapped[1] {
			t.Errorf("mapped port stayed %d across Rebind", mapped[0])
		}
	})
}

// rbScriptedNet hands out the listed ports, in order, to ListenUDP calls
// that ask for any port; the rest is the wrapped Net's.
type rbScriptedNet struct {
	transport.Net
	ports []int // guarded by being used from one goroutine only
}

func (s *rbScriptedNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	if laddr.Port == 0 && len(s.ports) > 0 {
		laddr.Port, s.ports = s.ports[0], s.ports[1:]
	}
	return s.Net.ListenUDP(network, laddr)
}

// TestRebindSkipsUsedPorts: a second Rebind offered the first socket's
// port (free again, but its NAT mapping is still alive) refuses it and
// takes the next, so the server sees three mapped ports, not two.
func TestRebindSkipsUsedPorts(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	synctest.Test(t, func(t *testing.T) {
		w := newRebindWorld(t, rbPortRestricted)
		defer w.stop(t)
		srv := w.listenServer(t)
		defer srv.Close()
		scripted := &rbScriptedNet{Net: w.client.inner, ports: []int{5001, 5002, 5001, 5003}}
		w.client = newRebindNet(scripted)
		cc, err := w.client.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(rbClientIP)})
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()

		var mapped []int
		for i, wantLocal := range []int{5001, 5002, 5003} {
			if i > 0 {
				if n, err := w.client.Rebind(); err != nil || n != 1 {
					t.Fatalf("Rebind() = %d, %v; want 1, nil", n, err)
				}
			}
			if got := rbCurPort(t, cc); got != wantLocal {
				t.Fatalf("socket %d is on port %d, want %d", i, got, wantLocal)
			}
			rbSend(t, cc, "hi", rbServerAddr)
			_, from := rbRecv(t, srv, time.Second)
			mapped = append(mapped, from.Port)
		}
		t.Logf("local 5001, 5002, 5003 mapped to %v", mapped)
		if mapped[0] == mapped[1] || mapped[1] == mapped[2] || mapped[0] == mapped[2] {
			t.Errorf("mapped ports %v, want three different ones", mapped)
		}
		if len(scripted.ports) != 0 {
			t.Errorf("ports %v left unused in the script", scripted.ports)
		}
	})
}
