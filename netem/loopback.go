package netem

import (
	"fmt"
	"net"
)

// checkHostPort refuses a malformed address and, unless nonLoopback (the
// proxy's option, named for the error), one that is not loopback. Host
// names other than localhost are refused rather than resolved: resolving
// would already leave the machine.
func checkHostPort(what, hp string, nonLoopback bool, option string) error {
	host, _, err := net.SplitHostPort(hp)
	if err != nil {
		return fmt.Errorf("%w: %s address: want host:port, got %q", ErrBadConfig, what, hp)
	}
	if nonLoopback || host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%w: %s address: want 127.0.0.0/8, ::1 or localhost (or the option %s), got %q",
		ErrNotLoopback, what, option, hp)
}
