package netem

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// replayLive shapes n packets of mixed sizes through a live shaper that
// starts on a perfect link and switches to p at packet n/4, and returns
// its ledger events for dir from the switch on.
func replayLive(t *testing.T, p *Profile, dir Direction, n int) []Event {
	t.Helper()
	epoch := time.Unix(1000, 0)
	s, err := New(Config{Name: "bob", Seed: 9}, WithEpoch(epoch), WithEvents(n))
	if err != nil {
		t.Fatal(err)
	}
	sizes := []int{129, 64, 129, 300, 1200}
	for i := range n {
		if i == n/4 {
			if err := s.SetProfile(p); err != nil {
				t.Fatal(err)
			}
		}
		s.Shape(epoch.Add(time.Duration(i)*7*time.Millisecond), sizes[i%len(sizes)], dir)
	}
	lg := s.Ledger(dir)
	if want := []uint64{0, uint64(n / 4)}; !slices.Equal(lg.Switches, want) {
		t.Fatalf("profile switches at %v, want %v", lg.Switches, want)
	}
	return lg.Events[n/4:]
}

func mustProfile(t *testing.T, src string) *Profile {
	t.Helper()
	p, err := ParseProfile("replay.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReplayMatchesTheLiveShaper(t *testing.T) {
	p := mustProfile(t, "delay: {time: 40ms, jitter: 15ms, distribution: normal}\nloss: {model: bernoulli, rate: 20%}\nduplicate: 1%\nreorder: {probability: 5%}\n")
	for _, dir := range Directions {
		live := replayLive(t, p, dir, 4000)
		got, err := Replay(Config{Name: "bob", Seed: 9, Profile: p}, dir, live)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(live) {
			t.Fatalf("%v: replayed %d events of %d", dir, len(got), len(live))
		}
		drops := 0
		for i := range live {
			if got[i] != live[i] {
				t.Fatalf("%v: event %d differs:\nlive   %+v\nreplay %+v", dir, i, live[i], got[i])
			}
			if live[i].Drop != "" {
				drops++
			}
		}
		if drops == 0 {
			t.Fatalf("%v: nothing dropped at 20%%: the comparison says nothing", dir)
		}
	}
}

// TestReplayTellsProfilesApart: a replay under another profile, seed or
// point, or the other direction, does not match; that is what makes it a
// check that a link applied a profile.
func TestReplayTellsProfilesApart(t *testing.T) {
	p := mustProfile(t, "loss: {model: bernoulli, rate: 5%}\n")
	live := replayLive(t, p, Up, 2000)
	for _, c := range []struct {
		name string
		cfg  Config
		dir  Direction
	}{
		{"another rate", Config{Name: "bob", Seed: 9, Profile: mustProfile(t, "loss: {model: bernoulli, rate: 6%}\n")}, Up},
		{"another seed", Config{Name: "bob", Seed: 10, Profile: p}, Up},
		{"another point", Config{Name: "alice", Seed: 9, Profile: p}, Up},
		{"the other direction", Config{Name: "bob", Seed: 9, Profile: p}, Down},
		{"a perfect link", Config{Name: "bob", Seed: 9}, Up},
	} {
		got, err := Replay(c.cfg, c.dir, live)
		if err != nil {
			t.Fatal(err)
		}
		same := len(got) == len(live)
		for i := 0; same && i < len(got); i++ {
			same = got[i] == live[i]
		}
		if same {
			t.Errorf("%s: the replay matched the live shaper", c.name)
		}
	}
}

func TestReplayRejectsBadInput(t *testing.T) {
	if _, err := Replay(Config{Name: "bob"}, Direction(7), nil); !errors.Is(err, ErrBadDirection) {
		t.Errorf("direction 7: %v, want ErrBadDirection", err)
	}
	if _, err := Replay(Config{}, Up, nil); !errors.Is(err, ErrBadConfig) {
		t.Errorf("no name: %v, want ErrBadConfig", err)
	}
	_, err := Replay(Config{Name: "bob"}, Up, []Event{{Index: 3, Size: 10}, {Index: 4, At: -time.Second, Size: 10}})
	if !errors.Is(err, ErrBadConfig) || err.Error() != "bad config: replay event 1 (index 4): time -1s and size 10 must not be negative" {
		t.Errorf("negative time: %v", err)
	}
}
