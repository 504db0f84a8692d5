package main

import (
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

	"umc-invite/umc/deadletters"
	"umc-invite/umc/logtext"
	"umc-invite/umc/spool"
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

// lastAnswer is UMC's last answer as the letter carries it: the status and
// UMC's message, or the error of a call that got no answer; "-" for a
// letter decided without a call (bad input).
func lastAnswer(d spool.DeadLetter) string {
	var parts []string
	if d.Status != 0 {
		parts = append(parts, "HTTP "+strconv.Itoa(d.Status))
	}
	if d.Message != "" {
		parts = append(parts, d.Message)
	} else if d.Error != "" {
		parts = append(parts, d.Error)
	}
	if len(parts) == 0 {
		return "-"
	}
	return cell(strings.Join(parts, ": "))
}

// cell is a text as it is, or quoted where it holds a control character
// or invalid UTF-8, which could break the table (names in the plugin's
// reasons are quoted already).
func cell(s string) string {
	if utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) || r == 0x2028 || r == 0x2029 }) {
		return s
	}
	return logtext.Quote(s)
}

// letterAge is how long ago a letter was written, to the minute (to the
// second under a minute).
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

// parseListFlags parses the flags the listing commands share: --dir (a
// directory, by default the one of every output in the container's
// config) and --json, and no arguments.
// extra adds a command's own flags, and their usage text.
func parseListFlags(name, key, jsonHelp string, args []string, stderr io.Writer, extra ...func(*flag.FlagSet) string) (dir *string, asJSON *bool, ok bool) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir = fs.String("dir", "", "the "+key+" (default: every umc_invite output's "+key+" in the container's config, "+DefaultConfig+" or $UMC_INVITE_CONFIG)")
	asJSON = fs.Bool("json", false, jsonHelp)
	more := ""
	for _, add := range extra {
		more += " " + add(fs)
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: umc-invite %s [--dir DIR%s] [--json]\n", name, more)
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
