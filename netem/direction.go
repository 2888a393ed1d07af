package netem

import "fmt"

// Direction is one way through an impairment point. Up is from the endpoint
// into the network (its sends), Down is towards the endpoint (its receives).
// Each direction has its own parameters, RNG streams, queue and ledger.
type Direction uint8

// The two directions.
const (
	Up Direction = iota
	Down
)

// Directions lists both, in ledger order.
var Directions = [2]Direction{Up, Down}

func (d Direction) String() string {
	switch d {
	case Up:
		return "up"
	case Down:
		return "down"
	}
	return fmt.Sprintf("Direction(%d)", uint8(d))
}

// ParseDirection reads "up" or "down".
func ParseDirection(s string) (Direction, error) {
	switch s {
	case "up":
		return Up, nil
	case "down":
		return Down, nil
	}
	return 0, fmt.Errorf("%w: want \"up\" or \"down\", got %q", ErrBadDirection, s)
}
