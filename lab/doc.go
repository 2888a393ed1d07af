// Package lab turns a declarative topology into a running lab and tears it
// down: a pion vnet WAN, one LAN per Go endpoint behind its NAT (RFC 4787
// mapping x filtering), STUN and TURN on the WAN (or external ones on
// 127.0.0.1 through a gateway), the signaling server,
// Chrome endpoints bridged in through TURN on 127.0.0.1, link control (cut,
// restore, flap, profile changes mid-run) and the event timeline.
//
//	 Go endpoint        Go endpoint            Chrome tab
//	     |                  |                      |
//	[netem up/down]    [netem up/down]     127.0.0.1 TURN listener
//	     |                  |                 [netem leg]
//	 LAN + NAT          LAN + NAT                  |
//	     \__________________|___ vnet WAN ___ TURN relays, STUN
//	                                     \__ gateway ═ 127.0.0.1 external STUN/TURN
//
// Impairment comes from package netem; the lab only places it. Built in
// issue 4 (topologies, NAT matrix, virtual time) and issue 5 (Chrome).
package lab
