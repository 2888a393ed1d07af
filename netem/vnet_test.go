package netem

import (
	"errors"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pion/logging"
	"github.com/pion/transport/v3"
	"github.com/pion/transport/v3/vnet"
	"go.uber.org/goleak"
)

// vnetWorld is a vnet WAN (RFC 5737 addresses, in memory only) with two
// hosts, alice and bob. Build it inside a synctest bubble.
type vnetWorld struct {
	router     *vnet.Router
	alice, bob *vnet.Net
}

const (
	vnetAliceIP = "203.0.113.10"
	vnetBobIP   = "203.0.113.20"
)

func newVnetWorld(t *testing.T) *vnetWorld {
	t.Helper()
	router, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "203.0.113.0/24", LoggerFactory: logging.NewDefaultLoggerFactory()})
	if err != nil {
		t.Fatal(err)
	}
	w := &vnetWorld{router: router}
	for _, h := range []struct {
		ip string
		n  **vnet.Net
	}{{vnetAliceIP, &w.alice}, {vnetBobIP, &w.bob}} {
		n, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{h.ip}})
		if err != nil {
			t.Fatal(err)
		}
		if err := router.AddNet(n); err != nil {
			t.Fatal(err)
		}
		*h.n = n
	}
	// Start before anything writes: earlier chunks are dropped silently.
	if err := router.Start(); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *vnetWorld) stop(t *testing.T) {
	if err := w.router.Stop(); err != nil {
		t.Error(err)
	}
}

// vnetEcho answers every packet on pc until pc is closed.
func vnetEcho(pc net.PacketConn) chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(buf[:n], from)
		}
	}()
	return done
}

// vnetPing sends one packet to to and returns how long the echo took.
func vnetPing(t *testing.T, pc net.PacketConn, to net.Addr) time.Duration {
	t.Helper()
	start := time.Now()
	if _, err := pc.WriteTo([]byte("ping"), to); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, from, err := pc.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "ping" || from.String() != to.String() {
		t.Fatalf("echo = %q from %v, %v", buf[:n], from, err)
	}
	return time.Since(start)
}

// TestWrapNetVnetRoundTrip: 50 ms up and 30 ms down on alice make her ping
// to bob take 80 ms of virtual time, on top of what vnet itself adds,
// measured here with an unshaped conn on the same Net: zero (the router's
// MinDelay defaults to 0 and in a bubble CPU time is free).
func TestWrapNetVnetRoundTrip(t *testing.T) {
	defer goleak.VerifyNone(t)
	synctest.Test(t, func(t *testing.T) {
		w := newVnetWorld(t)
		defer w.stop(t)
		sh := pcShaper(t, "alice", "up: {delay: 50ms}\ndown: {delay: 30ms}")
		shaped := WrapNet(w.alice, sh)

		bc, err := w.bob.ListenPacket("udp4", vnetBobIP+":5000")
		if err != nil {
			t.Fatal(err)
		}
		echoDone := vnetEcho(bc)

		raw, err := w.alice.ListenPacket("udp4", vnetAliceIP+":0")
		if err != nil {
			t.Fatal(err)
		}
		vnetOwn := vnetPing(t, raw, bc.LocalAddr())
		raw.Close()

		ac, err := shaped.ListenPacket("udp4", vnetAliceIP+":0")
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := ac.(*PacketConn); !ok {
			t.Fatalf("ListenPacket returned %T, want *PacketConn", ac)
		}
		got := vnetPing(t, ac, bc.LocalAddr())
		t.Logf("vnet's own round trip: %v; shaped: %v", vnetOwn, got)
		if vnetOwn != 0 {
			t.Errorf("vnet alone took %v, want 0 in virtual time", vnetOwn)
		}
		if want := 80*time.Millisecond + vnetOwn; got != want {
			t.Errorf("shaped round trip took %v, want exactly %v", got, want)
		}
		ac.Close()
		bc.Close()
		<-echoDone
	})
}

// TestWrapNetVnetLoss: with 10% Bernoulli loss each way, what arrives at
// each end is what the ledger says was delivered.
func TestWrapNetVnetLoss(t *testing.T) {
	defer goleak.VerifyNone(t)
	synctest.Test(t, func(t *testing.T) {
		w := newVnetWorld(t)
		defer w.stop(t)
		sh := pcShaper(t, "alice", "loss: 10%")
		shaped := WrapNet(w.alice, sh)
		ac, err := shaped.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(vnetAliceIP), Port: 4000})
		if err != nil {
			t.Fatal(err)
		}
		bc, err := w.bob.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(vnetBobIP), Port: 5000})
		if err != nil {
			t.Fatal(err)
		}
		const total = 1000
		count := func(c transport.UDPConn) chan int {
			got := make(chan int, 1)
			go func() {
				n := 0
				buf := make([]byte, 1500)
				for {
					if _, _, err := c.ReadFromUDP(buf); err != nil {
						got <- n
						return
					}
					n++
				}
			}()
			return got
		}
		send := func(c transport.UDPConn, to *net.UDPAddr) {
			for i := range total {
				if _, err := c.WriteToUDP([]byte{byte(i), byte(i >> 8)}, to); err != nil {
					t.Fatal(err)
				}
				time.Sleep(time.Millisecond) // virtual time: 1,000 packets/s
			}
			time.Sleep(time.Second) // virtual time: longer than any delay in flight
			synctest.Wait()
		}
		atBob, atAlice := count(bc), count(ac)
		send(ac, bc.LocalAddr().(*net.UDPAddr))
		send(bc, ac.LocalAddr().(*net.UDPAddr))
		ac.Close()
		bc.Close()
		gotBob, gotAlice := <-atBob, <-atAlice

		up, down := sh.Ledger(Up).Counters, sh.Ledger(Down).Counters
		t.Logf("bob got %d, up ledger %+v; alice got %d, down ledger %+v", gotBob, up, gotAlice, down)
		if up.Packets != total || uint64(gotBob) != up.Delivered {
			t.Errorf("bob got %d of %d; up ledger: %d packets, %d delivered", gotBob, total, up.Packets, up.Delivered)
		}
		if down.Packets != total || uint64(gotAlice) != down.Delivered {
			t.Errorf("alice got %d of %d; down ledger: %d packets, %d delivered", gotAlice, total, down.Packets, down.Delivered)
		}
		// 10% of 1000: mean 100, sd 9.5; 62..138 is four sd.
		for name, c := range map[string]Counters{"up": up, "down": down} {
			if c.Dropped < 62 || c.Dropped > 138 {
				t.Errorf("%s dropped %d of %d, want about 10%%", name, c.Dropped, total)
			}
		}
	})
}

// TestWrapNetDialAndConnected: DialUDP, Dial("udp") and CreateDialer hand
// out shaped conns too; TCP and the rest pass through to the Net.
func TestWrapNetDialAndConnected(t *testing.T) {
	defer goleak.VerifyNone(t)
	synctest.Test(t, func(t *testing.T) {
		w := newVnetWorld(t)
		defer w.stop(t)
		sh := pcShaper(t, "alice", "up: {delay: 20ms}")
		shaped := WrapNet(w.alice, sh)
		bc, err := w.bob.ListenPacket("udp4", vnetBobIP+":5000")
		if err != nil {
			t.Fatal(err)
		}
		echoDone := vnetEcho(bc)
		bobAddr := bc.LocalAddr().(*net.UDPAddr)

		dialUDP, err := shaped.DialUDP("udp4", nil, bobAddr)
		if err != nil {
			t.Fatal(err)
		}
		dial, err := shaped.Dial("udp4", bobAddr.String())
		if err != nil {
			t.Fatal(err)
		}
		dialer, err := shaped.CreateDialer(&net.Dialer{}).Dial("udp", bobAddr.String())
		if err != nil {
			t.Fatal(err)
		}
		for name, c := range map[string]net.Conn{"DialUDP": dialUDP.(net.Conn), "Dial": dial, "CreateDialer": dialer} {
			if _, ok := c.(*PacketConn); !ok {
				t.Errorf("%s returned %T, want *PacketConn", name, c)
				continue
			}
			start := time.Now()
			if _, err := c.Write([]byte(name)); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 64)
			n, err := c.Read(buf)
			if err != nil || string(buf[:n]) != name {
				t.Fatalf("%s: Read = %q, %v", name, buf[:n], err)
			}
			if got := time.Since(start); got != 20*time.Millisecond {
				t.Errorf("%s: echo took %v, want 20ms", name, got)
			}
			c.Close()
		}
		if err := dialUDP.SetReadBuffer(1 << 16); !errors.Is(err, transport.ErrNotSupported) {
			t.Errorf("SetReadBuffer on vnet = %v, want vnet's own transport.ErrNotSupported", err)
		}
		if c := sh.Ledger(Up).Counters; c.Packets != 3 {
			t.Errorf("up ledger saw %d packets, want 3", c.Packets)
		}

		// The rest is the Net's own.
		ifs, err := shaped.Interfaces()
		if err != nil || len(ifs) == 0 {
			t.Errorf("Interfaces = %v, %v", ifs, err)
		}
		if a, err := shaped.ResolveUDPAddr("udp4", vnetBobIP+":5000"); err != nil || a.String() != bobAddr.String() {
			t.Errorf("ResolveUDPAddr = %v, %v", a, err)
		}
		if _, err := shaped.InterfaceByName("eth0"); err != nil {
			t.Errorf("InterfaceByName: %v", err)
		}
		_, errWrapped := shaped.DialTCP("tcp", nil, &net.TCPAddr{IP: net.ParseIP(vnetBobIP), Port: 80})
		_, errRaw := w.alice.DialTCP("tcp", nil, &net.TCPAddr{IP: net.ParseIP(vnetBobIP), Port: 80})
		if (errWrapped == nil) != (errRaw == nil) {
			t.Errorf("DialTCP: wrapped %v, vnet %v; want the same", errWrapped, errRaw)
		}
		bc.Close()
		<-echoDone
	})
}

func TestWrapNetBadInput(t *testing.T) {
	defer goleak.VerifyNone(t)
	sh := pcShaper(t, "alice", "")
	for name, n := range map[string]transport.Net{"nil net": WrapNet(nil, sh), "nil shaper": WrapNet(&vnet.Net{}, nil)} {
		if _, err := n.ListenPacket("udp", "127.0.0.1:0"); !errors.Is(err, ErrBadConfig) {
			t.Errorf("%s: ListenPacket = %v, want ErrBadConfig", name, err)
		}
		if _, err := n.Interfaces(); !errors.Is(err, ErrBadConfig) {
			t.Errorf("%s: Interfaces = %v, want ErrBadConfig", name, err)
		}
		if _, err := n.CreateDialer(&net.Dialer{}).Dial("udp", "127.0.0.1:1"); !errors.Is(err, ErrBadConfig) {
			t.Errorf("%s: CreateDialer().Dial = %v, want ErrBadConfig", name, err)
		}
	}
}
