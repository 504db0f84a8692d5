package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"umc-invite/umc/deadletters"
)

func runDeadLetters(args []string, stdout, stderr io.Writer) int {
	dir, asJSON, ok := parseListFlags("dead-letters", "Dead_Letter_Dir", "one JSON object per line, newest first, for scripts", args, stderr)
	if !ok {
		return exitUsage
	}
	if *dir == "" {
		outs, _, err := configuredDirs()
		if err != nil {
			fmt.Fprintf(stderr, "umc-invite dead-letters: %v\n", err)
			return exitUsage
		}
		status := exitOK
		for _, d := range outs {
			if len(outs) > 1 && !*asJSON {
				fmt.Fprintf(stdout, "%s (%s):\n", d.output, d.deadLetter)
			}
			status = max(status, listDeadLetters(d.deadLetter, *asJSON, stdout, stderr))
		}
		return status
	}
	return listDeadLetters(*dir, *asJSON, stdout, stderr)
}

func listDeadLetters(dir string, asJSON bool, stdout, stderr io.Writer) int {
	log, err := deadletters.Read(dir)
	if err != nil {
		fmt.Fprintf(stderr, "umc-invite dead-letters: %v\n", err)
		return exitUsage
	}
	for _, p := range log.Problems {
		fmt.Fprintln(stderr, "note:", p)
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		for _, l := range log.Letters {
			if err := enc.Encode(l); err != nil {
				fmt.Fprintf(stderr, "umc-invite dead-letters: %v\n", err)
				return exitUsage
			}
		}
		return exitOK
	}
	if len(log.Letters) == 0 {
		fmt.Fprintln(stdout, "no dead letters")
		return exitOK
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WHEN (UTC)\tKIND\tUSER\tRE-QUEUED\tWHY")
	for _, l := range log.Letters {
		requeued := "-"
		if l.Requeued != nil {
			requeued = l.Requeued.UTC().Format(time.DateTime)
		}
		user := l.Username
		if user == "" {
			user = "-"
		}
		why := l.Reason
		if l.Duplicates > 0 {
			why += " (" + strconv.Itoa(l.Duplicates+1) + " lines)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", l.Time.UTC().Format(time.DateTime), l.Kind, user, requeued, why)
	}
	return flushErr(tw.Flush(), stderr)
}

func flushErr(err error, stderr io.Writer) int {
	if err != nil {
		fmt.Fprintf(stderr, "umc-invite: %v\n", err)
		return exitUsage
	}
	return exitOK
}

// parseListFlags parses the flags the listing commands share: --dir (a
// directory, by default the one of every output in the container's
// config) and --json, and no arguments.
func parseListFlags(name, key, jsonHelp string, args []string, stderr io.Writer) (dir *string, asJSON *bool, ok bool) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir = fs.String("dir", "", "the "+key+" (default: every umc_invite output's "+key+" in the container's config, "+DefaultConfig+" or $UMC_INVITE_CONFIG)")
	asJSON = fs.Bool("json", false, jsonHelp)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: umc-invite %s [--dir DIR] [--json]\n", name)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, nil, false
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return nil, nil, false
	}
	return dir, asJSON, true
}
