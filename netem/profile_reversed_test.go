package netem

import (
	"testing"
	"time"
)

func TestReversedSwapsDirections(t *testing.T) {
	src := "name: r\ndelay: 10ms\nup: {delay: 30ms}\ndown: {loss: {model: bernoulli, rate: 5%}}\n" +
		"schedule:\n  - {start: 1s, duration: 1s, up: {blackhole: true}}\n"
	p, err := ParseProfile("r.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	r := p.Reversed()
	if got := r.Effective(Down, -1).Delay; got == nil || time.Duration(got.Time) != 30*time.Millisecond {
		t.Errorf("reversed down delay = %+v, want the original up's 30ms", got)
	}
	if got := r.Effective(Up, -1).Loss; got == nil {
		t.Error("reversed up has no loss, want the original down's")
	}
	if r.Effective(Up, -1).Delay == nil {
		t.Error("the base link is lost")
	}
	if bh := r.Effective(Down, 0).Blackhole; bh == nil || !*bh {
		t.Error("the schedule's up blackhole is not the reversed down's")
	}
	if p.Effective(Up, 0).Blackhole == nil {
		t.Error("Reversed changed the original")
	}
}
