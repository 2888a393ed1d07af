// Package bubble looks inside the caller's testing/synctest bubble: which
// of its goroutines are still there. A test uses it to check that a Close
// waited for what it started, at the instant it returns (goleak's retries
// would let a late goroutine finish first, and in a bubble they would
// move the clock).
package bubble

import (
	"bytes"
	"regexp"
	"runtime"
)

// header matches a goroutine's header in a stack dump and takes its
// bubble's number (printed since Go 1.25).
var header = regexp.MustCompile(`^goroutine \d+ \[[^\]]*synctest bubble (\d+)\]:`)

// Others returns the stacks of the goroutines of the caller's bubble
// other than the caller and the bubble's own machinery (synctest.Run and
// the testing wrapper waiting for the body); nil outside a bubble.
func Others() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	blocks := bytes.Split(buf, []byte("\n\n"))
	// runtime.Stack puts the caller's goroutine first.
	m := header.FindSubmatch(blocks[0])
	if m == nil {
		return nil
	}
	var out []string
	for _, b := range blocks[1:] {
		h := header.FindSubmatch(b)
		if h == nil || !bytes.Equal(h[1], m[1]) {
			continue
		}
		if bytes.Contains(b, []byte("\ninternal/synctest.Run(")) ||
			bytes.Contains(b, []byte("\ntesting/synctest.testingSynctestTest(")) {
			continue
		}
		out = append(out, string(b))
	}
	return out
}
