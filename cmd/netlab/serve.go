package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/netlab/netlab/peer/signaling"
)

// runServe runs the signaling server until SIGINT or SIGTERM, then shuts
// it down gracefully: clients are told when to come back.
func runServe(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var (
		addr     = fs.String("addr", "127.0.0.1:8443", "address to listen on (loopback unless --allow-non-loopback; port 0 picks one)")
		version  = fs.String("version", signaling.ProtocolVersion, "server version reported in every listing")
		maxBytes = fs.Int("max-message-bytes", signaling.DefaultMaxMessageBytes, "size limit of one message")
		ping     = fs.Duration("ping-interval", 10*time.Second, "how often clients are pinged; an SSE client that misses a pong is dropped")
		retry    = fs.Duration("retry-after", time.Second, "on shutdown, how long clients are told to wait before reconnecting")
		grace    = fs.Duration("shutdown-timeout", 10*time.Second, "on shutdown, how long to wait for clients to leave before cutting them")
		allow    = fs.Bool("allow-non-loopback", false, "allow an --addr that is not loopback")
		strict   = fs.Bool("require-session-token", false, "refuse an SSE POST without its stream's X-Netlab-Session header (the reference clients send none)")
		verbose  = fs.Bool("verbose", false, "log every connection and refusal to stderr")
	)
	rest, err := parseFlagsOrHelp(fs, args, stdout, "usage: netlab serve [--addr HOST:PORT] [--version V] [--max-message-bytes N] [--ping-interval D] [--retry-after D] [--shutdown-timeout D] [--allow-non-loopback] [--require-session-token] [--verbose]")
	if err != nil {
		return err
	}
	switch {
	case len(rest) > 0:
		return badUsagef("unexpected argument %q", rest[0])
	case *maxBytes <= 0:
		return badUsagef("--max-message-bytes must be positive, got %d", *maxBytes)
	case *ping <= 0:
		return badUsagef("--ping-interval must be positive, got %v", *ping)
	case *retry < 0:
		return badUsagef("--retry-after must not be negative, got %v", *retry)
	case *grace <= 0:
		return badUsagef("--shutdown-timeout must be positive, got %v", *grace)
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	srv, err := signaling.NewServer(signaling.ServerConfig{
		Addr:                *addr,
		Version:             *version,
		MaxMessageBytes:     *maxBytes,
		PingInterval:        *ping,
		AllowNonLoopback:    *allow,
		RequireSessionToken: *strict,
	}, signaling.WithLogger(logger))
	if err != nil {
		return badUsage(err)
	}
	// Registered before the server starts, so that a signal from the
	// moment "listening" is printed is ours to handle.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	if err := srv.Start(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "netlab serve: listening on %s (version %s)\n", srv.URL(), srv.Version())
	sig := <-sigs
	fmt.Fprintf(stdout, "netlab serve: %v: shutting down; clients retry after %v\n", sig, *retry)
	ctx, cancel := context.WithTimeout(context.Background(), *grace)
	defer cancel()
	if err := srv.Shutdown(ctx, *retry); err != nil {
		fmt.Fprintf(stderr, "netlab serve: %v\n", err)
	}
	m := srv.Metrics()
	fmt.Fprintf(stdout, "netlab serve: stopped: %d ws + %d sse connects, %d relayed (%d bytes), %d refused%s, %d dropped for missed pongs\n",
		m.WSConnects, m.SSEConnects, m.Relayed, m.RelayedBytes, m.RefusedTotal(), byReason(m.Refused), m.PingsDropped)
	return nil
}

// byReason is " (reason n, ...)" in reason order, or "" when there is none.
func byReason(m map[string]int64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if m[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}
