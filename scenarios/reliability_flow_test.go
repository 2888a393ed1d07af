package scenarios

import (
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/netlab/netlab/netem"
)

// relDataChunk is the bytes one message adds to an SCTP packet: a DATA
// chunk's 16-byte header and the message, padded to 4 bytes (RFC 9260
// 3.3.1). pion bundles chunks that wait together (behind a full
// congestion window, say) into one packet, which then grows by this much
// per message.
const relDataChunk = 16 + (relSize+3)/4*4

// relFlow is what the two shapers on the message path decided about the
// messages' packets, once the cell's profile was in force. Counts are of
// messages: a packet that bundles k of them counts k.
type relFlow struct {
	size       int // bytes on the wire of a packet of one message
	bundled    int // packets of more than one message, on alice's uplink
	sent       int // messages in packets alice's uplink saw
	leftAlice  int // ... and delivered
	reachedBob int // messages in packets bob's downlink saw
	crossed    int // ... and delivered: the messages the network delivered
}

// relFlowFrom reads the flow off the ledgers of a lab with LedgerEvents
// (appliedLedgerEvents), from the switch to the cell's profile on, which
// came before the first message. A packet of one message is the
// commonest size on alice's uplink (some 300 of 330 there; keepalives and
// FORWARD-TSNs, which pion sends in packets of their own, are other
// sizes), and one of k messages is relDataChunk*(k-1) bytes larger. The
// checks in relAssertSentOnce fail loudly if another kind of packet ever
// takes one of those sizes.
func relFlowFrom(ledgers []netem.Ledger) relFlow {
	GinkgoHelper()
	find := func(point, dir string) []netem.Event {
		for _, lg := range ledgers {
			if lg.Point == point && lg.Direction == dir {
				return sinceSwitch(lg)
			}
		}
		Fail(fmt.Sprintf("no ledger for %s %s among %d", point, dir, len(ledgers)))
		return nil
	}
	up, down := find("alice", netem.Up.String()), find("bob", netem.Down.String())
	bySize := map[int]int{}
	for _, e := range up {
		bySize[e.Size]++
	}
	var f relFlow
	for size, n := range bySize {
		if n > bySize[f.size] || (n == bySize[f.size] && size < f.size) {
			f.size = size
		}
	}
	// messages is how many messages a packet of this size carries (0: not
	// one of theirs).
	messages := func(size int) int {
		if size < f.size || (size-f.size)%relDataChunk != 0 {
			return 0
		}
		return 1 + (size-f.size)/relDataChunk
	}
	count := func(events []netem.Event) (seen, delivered, bundled int) {
		for _, e := range events {
			k := messages(e.Size)
			if k == 0 {
				continue
			}
			seen += k
			if e.Drop == "" {
				delivered += k
			}
			if k > 1 {
				bundled++
			}
		}
		return seen, delivered, bundled
	}
	f.sent, f.leftAlice, f.bundled = count(up)
	f.reachedBob, f.crossed, _ = count(down)
	return f
}

// relAssertSentOnce checks a sent-once channel against what the network
// did, packet by packet: each message is sent once, so bob gets exactly
// the messages whose packet crossed both lossy links. The count is exact
// for the seed's draws; how those draws spread over seeds is netem's to
// check (TestStatBernoulliLoss), not this channel's. A binomial 3-sigma
// band around (1-L)^2 allowed some 20 messages either way and failed
// seeds whose draws fall outside it (seed 21: 0.73 at 10% loss, -3.5
// sigma) with nothing wrong.
func relAssertSentOnce(res relResult, f relFlow) {
	GinkgoHelper()
	Expect(f.sent).To(Equal(relMessages), "alice's uplink saw packets of %d messages (%d bytes for one, %d more for each one bundled; %d bundled) after the profile, "+
		"want each message once: %d", f.sent, f.size, relDataChunk, f.bundled, relMessages)
	Expect(f.reachedBob).To(Equal(f.leftAlice), "bob's downlink saw packets of %d messages, alice's uplink delivered %d: the WAN between them loses nothing", f.reachedBob, f.leftAlice)
	Expect(res.delivered).To(Equal(f.crossed), "sent once: bob got %d messages, and the packets of %d crossed both links (of %d sent): "+
		"each one that crossed must be delivered, and no other", res.delivered, f.crossed, f.sent)
}
