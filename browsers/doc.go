// Package browsers drives real headless Chromium (Debian's package, through
// chromedp) as netlab endpoints: one browser per suite process, a fresh tab
// per endpoint, an embedded page holding the JS reference peer, and
// ChromePeer implementing peer.Endpoint. Chrome joins the vnet world through
// the lab's TURN server on 127.0.0.1 with iceTransportPolicy "relay", so it
// never sends anywhere else. Built in issue 5.
package browsers
