package netem

import (
	"math"
	"math/rand/v2"
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
