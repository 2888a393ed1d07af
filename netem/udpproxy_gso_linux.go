//go:build linux

package netem

import (
	"encoding/binary"
	"errors"
	"net"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// UDP generic segmentation offload (Linux 4.18+): one sendmsg carries a run
// of equal-size datagrams (the last may be shorter) to one destination and
// crosses the stack once; the kernel cuts it into datagrams at the
// receiving socket (or the NIC). On loopback the stack, not the copy, is
// what a datagram costs, so this is most of the proxy's throughput.
const (
	maxGSOSegments = 64          // UDP_MAX_SEGMENTS
	maxGSOBytes    = 65507 - 100 // one IP packet, with room for headers
)

// gsoSupported reports whether the kernel takes UDP_SEGMENT on c.
func gsoSupported(c *net.UDPConn) bool {
	rc, err := c.SyscallConn()
	if err != nil {
		return false
	}
	ok := false
	_ = rc.Control(func(fd uintptr) {
		_, err := unix.GetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_SEGMENT)
		ok = err == nil
	})
	return ok
}

// gsoCmsgLen is the size of a UDP_SEGMENT control message.
var gsoCmsgLen = unix.CmsgSpace(2)

// putGSOCmsg writes a UDP_SEGMENT control message for segments of size
// bytes into b (len gsoCmsgLen) and returns it.
func putGSOCmsg(b []byte, size int) []byte {
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level = unix.SOL_UDP
	h.Type = unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	binary.NativeEndian.PutUint16(b[unix.CmsgLen(0):], uint16(size))
	return b
}

// gsoRefused: the path cannot segment (no checksum offload on a real NIC,
// or an old kernel); the caller falls back to one datagram per message.
func gsoRefused(err error) bool {
	return errors.Is(err, syscall.EIO) || errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.EOPNOTSUPP)
}
