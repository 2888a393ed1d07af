//go:build tools

// Package pins holds go.mod's pins of the WebRTC stack before the packages
// that import it land: pion/webrtc v4.2.1 is the newest on pion/transport/v3
// (v4.2.2 moved to transport/v4), and SettingEngine.SetNet needs a Net of
// the same transport major version, so webrtc v4.2.1, transport/v3 v3.1.1
// and turn/v4 v4.1.3 go together (FINDINGS.md, Dependencies). The build
// tag keeps this file out of every build; `go mod tidy` still sees it.
package pins

import (
	_ "github.com/chromedp/chromedp"
	_ "github.com/gorilla/websocket"
	_ "github.com/onsi/ginkgo/v2"
	_ "github.com/onsi/gomega"
	_ "github.com/pion/transport/v3"
	_ "github.com/pion/turn/v4"
	_ "github.com/pion/webrtc/v4"
)
