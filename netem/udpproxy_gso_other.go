//go:build !linux

package netem

import "net"

const (
	maxGSOSegments = 1
	maxGSOBytes    = 0
)

var gsoCmsgLen = 0

func gsoSupported(*net.UDPConn) bool { return false }

func putGSOCmsg(b []byte, _ int) []byte { return b }

func gsoRefused(error) bool { return false }
