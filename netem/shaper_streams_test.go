package netem

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// flowFates shapes a flow of flowN packets of flowSize bytes, Up, one per
// millisecond; when mixed, other packets (other sizes, seeded positions)
// cross the same direction between them, as keepalives and SACKs do. It
// returns the flow's fates and how many packets crossed in all.
func flowFates(t *testing.T, prof string, mixed bool) ([]Drop, int) {
	t.Helper()
	const flowN, flowSize = 2000, 129
	sh, err := New(Config{Name: "alice", Seed: 7, Profile: mustParse(t, prof)}, WithEpoch(time.Unix(0, 0)))
	if err != nil {
		t.Fatal(err)
	}
	other := rand.New(rand.NewPCG(1, 2))
	at := time.Unix(0, 0)
	var fates []Drop
	total := 0
	for range flowN {
		for mixed && other.IntN(3) == 0 {
			size := 40 + other.IntN(1200)
			if size == flowSize {
				continue
			}
			sh.Shape(at, size, Up)
			total++
		}
		fates = append(fates, sh.Shape(at, flowSize, Up).Drop)
		total++
		at = at.Add(time.Millisecond)
	}
	return fates, total
}

// TestBernoulliLossFollowsTheFlow: under a memoryless loss model a flow of
// one packet size meets the same losses whatever else crosses the link, so
// a seeded run repeats its losses even where timing interleaves other
// traffic differently.
func TestBernoulliLossFollowsTheFlow(t *testing.T) {
	alone, _ := flowFates(t, "loss: {model: bernoulli, rate: 30%}", false)
	mixed, total := flowFates(t, "loss: {model: bernoulli, rate: 30%}", true)
	if total < len(alone)*5/4 {
		t.Fatalf("only %d packets for a flow of %d: the mix is too thin to mean anything", total, len(alone))
	}
	lost := 0
	for i := range alone {
		if alone[i] != mixed[i] {
			t.Fatalf("flow packet %d: %v alone, %v with other traffic interleaved", i, alone[i], mixed[i])
		}
		if alone[i] == DropLoss {
			lost++
		}
	}
	// The flow alone is a Bernoulli sample (seeded: this never changes).
	n, q := float64(len(alone)), 0.3
	if sigma := math.Sqrt(n * q * (1 - q)); math.Abs(float64(lost)-n*q) > 3*sigma {
		t.Errorf("flow lost %d of %.0f, want %.0f +/- %.0f (3 sigma)", lost, n, n*q, 3*sigma)
	}
}

// TestMarkovLossFollowsArrivalOrder: a Gilbert-Elliott burst spans
// consecutive packets on the link, whatever their sizes, so interleaved
// traffic does shift a flow's losses: the price of modelling bursts.
func TestMarkovLossFollowsArrivalOrder(t *testing.T) {
	const ge = "loss: {model: gilbert-elliott, p: 5%, r: 30%}"
	alone, _ := flowFates(t, ge, false)
	mixed, _ := flowFates(t, ge, true)
	same := 0
	for i := range alone {
		if alone[i] == mixed[i] {
			same++
		}
	}
	if same == len(alone) {
		t.Fatal("the flow's Gilbert-Elliott losses ignored the packets between them: a burst would not span the link's traffic")
	}
}

// TestStatBernoulliLossMixedSizes: one stream per size leaves the loss
// process what it was: over a mix of sizes, the rate and the mean burst
// length (1/(1-q) for independent losses) of the link's packet sequence.
func TestStatBernoulliLossMixedSizes(t *testing.T) {
	const n, q = 200_000, 0.2
	sh, err := New(Config{Name: "mix", Seed: 3, Profile: mustParse(t, "loss: {model: bernoulli, rate: 20%}")}, WithEpoch(time.Unix(0, 0)))
	if err != nil {
		t.Fatal(err)
	}
	sizes := rand.New(rand.NewPCG(3, 4))
	at := time.Unix(0, 0)
	lost, bursts := 0, 0
	prev := false
	for range n {
		l := sh.Shape(at, 40+sizes.IntN(64), Up).Drop == DropLoss
		if l {
			lost++
			if !prev {
				bursts++
			}
		}
		prev = l
		at = at.Add(time.Millisecond)
	}
	if sigma := math.Sqrt(n * q * (1 - q)); math.Abs(float64(lost)-n*q) > 3*sigma {
		t.Errorf("lost %d of %d, want %.0f +/- %.0f (3 sigma)", lost, n, n*q, 3*sigma)
	}
	// Bursts start where a kept packet is followed by a lost one: about
	// n q (1-q) of them, binomial to first order.
	wantB := n * q * (1 - q)
	if sigma := math.Sqrt(wantB); math.Abs(float64(bursts)-wantB) > 3*sigma {
		t.Errorf("%d loss bursts, want %.0f +/- %.0f (3 sigma): losses are not independent across sizes", bursts, wantB, 3*sigma)
	}
}

// TestMarkovChainSpansPhases: a phase that leaves loss alone keeps the
// link's chain, so a burst runs on across its boundaries; a phase with a
// loss of its own has its own chain, and the link's resumes after it.
func TestMarkovChainSpansPhases(t *testing.T) {
	// Good for one packet, then Bad for ever.
	const stuck = "loss: {model: gilbert-elliott, p: 100%, r: 0%}\n"
	// Lost once, then received for ever (1 -> 3 -> 2, and 2 stays).
	const once = "loss: {model: 4-state, p13: 100%, p31: 0%, p32: 100%, p23: 0%}\n"
	from1 := make([]int, 29)
	for i := range from1 {
		from1[i] = i + 1
	}
	for _, c := range []struct {
		name, prof string
		delivered  []int // Up, of 30 packets at 100 ms intervals
	}{
		{"gilbert-elliott, phase sets delay", stuck + "schedule:\n  - {start: 1s, duration: 1s, delay: 10ms}", []int{0}},
		{"gilbert-elliott, phase sets delay up", stuck + "schedule:\n  - {start: 1s, duration: 1s, up: {delay: 10ms}}", []int{0}},
		{"gilbert-elliott, phase sets loss down only", stuck + "schedule:\n  - {start: 1s, duration: 1s, down: {loss: 0%}}", []int{0}},
		{"4-state, phase sets rate", once + "schedule:\n  - {start: 1s, rate: 100Mbit}", from1},
		// The phase's own chain starts in Good: its first packet (10) is
		// delivered. After it the link's chain goes on, in Bad.
		{"gilbert-elliott, phase sets its own", stuck + "schedule:\n  - {start: 1s, duration: 1s, loss: {model: gilbert-elliott, p: 100%, r: 0%}}", []int{0, 10}},
	} {
		sh, err := New(Config{Name: "x", Seed: 1, Profile: mustParse(t, c.prof)}, WithEpoch(time.Unix(0, 0)))
		if err != nil {
			t.Fatal(err)
		}
		var delivered []int
		for i := range 30 {
			if !sh.Shape(time.Unix(0, 0).Add(time.Duration(i)*100*time.Millisecond), 100, Up).Dropped() {
				delivered = append(delivered, i)
			}
		}
		if !slices.Equal(delivered, c.delivered) {
			t.Errorf("%s: delivered %v, want %v", c.name, delivered, c.delivered)
		}
	}
}
