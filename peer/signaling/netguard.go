package signaling

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"
)

// ErrNotLoopback: a server address or a transport URL is not loopback and
// the AllowNonLoopback option was not given: the lab never reaches beyond
// the machine by mistake.
var ErrNotLoopback = errors.New("signaling: address is not loopback")

// checkLoopbackHostPort refuses a malformed host:port and, unless allow,
// one whose host is not a loopback IP or localhost. Other host names are
// refused rather than resolved (resolving already leaves the machine).
func checkLoopbackHostPort(what, hp string, allow bool) error {
	host, _, err := net.SplitHostPort(hp)
	if err != nil {
		return fmt.Errorf("signaling: %s: want host:port, got %q: %v", what, hp, err)
	}
	if allow || host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%w: %s: want 127.0.0.0/8, ::1 or localhost (or AllowNonLoopback), got %q", ErrNotLoopback, what, hp)
}

// loopbackDialer dials only loopback IPs unless allow: the check runs on
// the resolved address, so neither DNS nor a redirect can take a
// connection off the machine.
func loopbackDialer(timeout time.Duration, allow bool) *net.Dialer {
	d := &net.Dialer{Timeout: timeout}
	if !allow {
		d.Control = func(network, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return fmt.Errorf("%w: dial %s %q: %v", ErrNotLoopback, network, address, err)
			}
			if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
				return fmt.Errorf("%w: dial %s %s", ErrNotLoopback, network, address)
			}
			return nil
		}
	}
	return d
}
