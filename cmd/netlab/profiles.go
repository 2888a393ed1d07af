package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/netlab/netlab/netem"
)

func runProfiles(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("profiles", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "show: print the resolved profile as JSON")
	resolved := fs.Bool("resolved", false, "show: print the resolved profile (every default written out) as YAML")
	rest, err := parseFlags(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stdout, "usage: netlab profiles [list]            list the presets")
		fmt.Fprintln(stdout, "       netlab profiles show NAME|FILE [--resolved | --json]")
		fmt.Fprintln(stdout, "       netlab profiles check FILE...      check profile files; exit 2 if any is bad")
		return err
	}
	if err != nil {
		return err
	}
	verb := "list"
	if len(rest) > 0 {
		verb, rest = rest[0], rest[1:]
	}
	switch verb {
	case "list":
		if len(rest) > 0 {
			return badUsagef("list takes no argument, got %q", rest[0])
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		for _, n := range netem.PresetNames() {
			p, _ := netem.Preset(n)
			fmt.Fprintf(tw, "%s\t%s\n", n, p.Description)
		}
		return tw.Flush()
	case "show":
		if len(rest) != 1 {
			return badUsagef("show takes one preset name or file")
		}
		return showProfile(stdout, rest[0], *resolved, *asJSON)
	case "check":
		if len(rest) == 0 {
			return badUsagef("check takes one or more files")
		}
		// Every file is checked, as a linter would: one bad file does not
		// hide what is wrong with the next.
		bad := 0
		for _, f := range rest {
			p, err := netem.LoadProfile(f)
			if err != nil && len(rest) == 1 {
				return badUsage(err)
			}
			if err != nil {
				bad++
				printError(stderr, "netlab profiles", err)
				continue
			}
			for _, w := range p.Warnings() {
				fmt.Fprintf(stderr, "netlab profiles: %s: warning: %s\n", f, w)
			}
			fmt.Fprintf(stdout, "%s: ok\n", f)
		}
		if bad > 0 {
			return badUsagef("%d of %d files are not valid profiles", bad, len(rest))
		}
		return nil
	}
	return badUsagef("unknown verb %q (want list, show or check)", verb)
}

func showProfile(w io.Writer, name string, resolved, asJSON bool) error {
	if !resolved && !asJSON {
		if src, ok := netem.PresetSource(name); ok {
			_, err := w.Write(src)
			return err
		}
	}
	p, err := netem.LookupProfile(name)
	if err != nil {
		return badUsage(err)
	}
	r := p.Resolved()
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	y, err := r.MarshalYAMLText()
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, strings.TrimRight(string(y), "\n")+"\n")
	return err
}
