package main

import (
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"umc-invite/umc/logtext"
	"umc-invite/umc/spool"
)

func runDeadLetters(args []string, stdout, stderr io.Writer) int {
	outs, asJSON, ok := parseListFlags("dead-letters", "Dead_Letter_Dir", "one JSON object per line, newest first, for scripts", "", args, stderr,
		nil, func(dir string) dirs { return dirs{deadLetter: dir} })
	if !ok {
		return exitUsage
	}
	status := exitOK
	for _, d := range outs {
		if len(outs) > 1 && !asJSON {
			fmt.Fprintf(stdout, "%s (%s):\n", d.output, d.deadLetter)
		}
		status = max(status, listDeadLetters(d.deadLetter, asJSON, stdout, stderr))
	}
	return status
}

func listDeadLetters(dir string, asJSON bool, stdout, stderr io.Writer) int {
	log, err := readDeadLetters(dir)
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
	now := time.Now()
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WHEN (UTC)\tAGE\tKIND\tUSER\tLAST ANSWER\tRE-QUEUED\tWHY")
	for _, l := range log.Letters {
		requeued := "-"
		if l.Requeued != nil {
			requeued = l.Requeued.UTC().Format(time.DateTime)
		}
		user := "-"
		if l.Username != "" {
			user = logtext.Quote(l.Username)
		}
		why := l.Reason
		if l.Duplicates > 0 {
			why += " (" + strconv.Itoa(l.Duplicates+1) + " lines)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", l.Time.UTC().Format(time.DateTime), letterAge(now.Sub(l.Time)), l.Kind, user,
			lastAnswer(l.DeadLetter), requeued, cell(why))
	}
	return flushErr(tw.Flush(), stderr)
}

// lastAnswer is the status and UMC's message or the call's error; "-": no call.
func lastAnswer(d spool.DeadLetter) string {
	var parts []string
	if d.Status != 0 {
		parts = append(parts, "HTTP "+strconv.Itoa(d.Status))
	}
	if m := cmp.Or(d.Message, d.Error); m != "" {
		parts = append(parts, m)
	}
	if len(parts) == 0 {
		return "-"
	}
	return cell(strings.Join(parts, ": "))
}

// cell is a text as it is, or quoted where it could break the table.
func cell(s string) string {
	if utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) || r == 0x2028 || r == 0x2029 }) {
		return s
	}
	return logtext.Quote(s)
}

// letterAge is to the minute (the second under a minute, days from 48h).
func letterAge(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < 48*time.Hour:
		return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	}
	return strconv.Itoa(int(d/(24*time.Hour))) + "d"
}

func flushErr(err error, stderr io.Writer) int {
	if err != nil {
		fmt.Fprintf(stderr, "umc-invite: %v\n", err)
		return exitUsage
	}
	return exitOK
}

// parseListFlags parses --dir, --json and extra's flags (more: their usage);
// the directories are given(--dir), or else every configured output's.
func parseListFlags(name, key, jsonHelp, more string, args []string, stderr io.Writer, extra func(*flag.FlagSet), given func(dir string) dirs) ([]dirs, bool, bool) {
	fs := newFlags(name, "usage: umc-invite "+name+" [--dir DIR"+more+"] [--json]", stderr)
	dir := fs.String("dir", "", "the "+key+" (default: every umc_invite output's "+key+" in the container's config, "+DefaultConfig+" or $UMC_INVITE_CONFIG)")
	asJSON := fs.Bool("json", false, jsonHelp)
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		return nil, false, false
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return nil, false, false
	}
	if *dir != "" {
		return []dirs{given(*dir)}, *asJSON, true
	}
	outs, err := configuredDirs()
	if err != nil {
		fmt.Fprintf(stderr, "umc-invite %s: %v\n", name, err)
	}
	return outs, *asJSON, err == nil
}
