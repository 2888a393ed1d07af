// Command netlab is the lab's command line: impairment figures for a
// profile (impair), the presets (profiles) and the signaling server
// (serve).
//
// Exit status: 0 on success, 1 when a command fails, 2 for bad usage or bad
// input (an unknown flag, a profile that does not parse).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// errUsage marks an error as the caller's: exit status 2.
var errUsage = errors.New("usage")

type command struct {
	name, args, summary string
	run                 func(args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"impair", "--profile NAME|FILE --packets N [flags]", "drive synthetic packets through a profile on a virtual clock and print what they measured", runImpair},
		{"profiles", "[list | show NAME | check FILE...]", "list the presets, show one, or check profile files", runProfiles},
		{"serve", "[--addr HOST:PORT] [flags]", "run the signaling server (WebSocket and SSE) until SIGINT or SIGTERM", runServe},
	}
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(args[1:], stdout, stderr)
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			printError(stderr, "netlab "+c.name, unwrapUsage(err))
			return 2
		default:
			printError(stderr, "netlab "+c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "netlab: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "netlab: a network-fuzzing test lab for WebRTC")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  netlab %s %s\n      %s\n", c.name, c.args, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'netlab COMMAND -h' for a command's flags.")
}

// printError writes err after prefix, one line per line of err: a profile
// with several problems is one report, one problem a line, each line
// standing on its own (as in a CI log or a grep).
func printError(w io.Writer, prefix string, err error) {
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintf(w, "%s: %s\n", prefix, line)
	}
}

// usageError wraps err so that run exits 2 with err's text.
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() []error {
	return []error{errUsage, u.err}
}

func badUsage(err error) error { return usageError{err} }

func badUsagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

func unwrapUsage(err error) error {
	var u usageError
	if errors.As(err, &u) {
		return u.err
	}
	return err
}

// parseFlagsOrHelp is parseFlags for a command whose --help prints usage
// and the flags' defaults to stdout (and still returns flag.ErrHelp).
func parseFlagsOrHelp(fs *flag.FlagSet, args []string, stdout io.Writer, usage string) ([]string, error) {
	rest, err := parseFlags(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stdout, usage)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
	}
	return rest, err
}

// parseFlags parses flags wherever they stand among the positional
// arguments ("show wifi --json" as well as "--json show wifi").
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, badUsage(err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}
