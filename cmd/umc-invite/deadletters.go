package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"umc-invite/umc/config"
	"umc-invite/umc/logtext"
	"umc-invite/umc/spool"
)

func runDeadLetters(args []string, stdout, stderr io.Writer) int {
	outs, asJSON, ok := listFlags("dead-letters", args, stderr)
	if !ok {
		return exitUsage
	}
	now, status := time.Now(), exitOK
	for _, d := range outs {
		if len(outs) > 1 && !asJSON {
			fmt.Fprintf(stdout, "%s (%s):\n", d.output, d.deadLetter)
		}
		h, err := spool.OpenDir(d.deadLetter)
		log, err := readLog(h, err)
		h.Close()
		if err != nil {
			fmt.Fprintf(stderr, "umc-invite dead-letters: %v\n", err)
			status = exitUsage
			continue
		}
		for _, p := range log.Problems {
			fmt.Fprintln(stderr, "note:", p)
		}
		if len(log.Letters) == 0 && !asJSON {
			fmt.Fprintln(stdout, "no dead letters")
			continue
		}
		enc, tw := json.NewEncoder(stdout), tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		if !asJSON {
			fmt.Fprintln(tw, "WHEN (UTC)\tAGE\tKIND\tUSER\tLAST ANSWER\tRE-QUEUED\tWHY")
		}
		for _, l := range log.Letters {
			if asJSON {
				err = cmp.Or(err, enc.Encode(l))
				continue
			}
			requeued, user, why := "-", "-", l.Reason
			if l.Requeued != nil {
				requeued = l.Requeued.UTC().Format(time.DateTime)
			}
			if l.Username != "" {
				user = logtext.Quote(l.Username)
			}
			if l.Duplicates > 0 {
				why += " (" + strconv.Itoa(l.Duplicates+1) + " lines)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", l.Time.UTC().Format(time.DateTime), letterAge(now.Sub(l.Time)), l.Kind, user,
				lastAnswer(l.DeadLetter), requeued, cell(why))
		}
		status = max(status, flushErr(cmp.Or(err, tw.Flush()), stderr))
	}
	return status
}

// lastAnswer is the status and UMC's message or the call's error; "-": no call.
func lastAnswer(d spool.DeadLetter) string {
	status := ""
	if d.Status != 0 {
		status = "HTTP " + strconv.Itoa(d.Status)
	}
	parts := slices.DeleteFunc([]string{status, cmp.Or(d.Message, d.Error)}, func(s string) bool { return s == "" })
	return cell(cmp.Or(strings.Join(parts, ": "), "-"))
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
	switch d = max(d, 0); {
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

// listFlags parses --dir (default: every configured output's), --json and (queue) --username-key.
func listFlags(name string, args []string, stderr io.Writer) ([]dirs, bool, bool) {
	key, jsonHelp, more := "Dead_Letter_Dir", "one JSON object per line, newest first, for scripts", ""
	if name == "queue" {
		key, jsonHelp, more = "Queue_Dir", "a JSON array of the waiting users, oldest first, for scripts", " [--username-key KEY]"
	}
	fs := newFlags(name, "usage: umc-invite "+name+" [--dir DIR"+more+"] [--json]", stderr)
	dir := fs.String("dir", "", "the "+key+" (default: every umc_invite output's "+key+" in the container's config, "+DefaultConfig+" or $UMC_INVITE_CONFIG)")
	asJSON := fs.Bool("json", false, jsonHelp)
	var given dirs
	if name == "queue" {
		fs.StringVar(&given.usernameKey, "username-key", "username", "with --dir: the output's Username_Key (without --dir: each output's, from the container's config)")
	}
	if err := fs.Parse(args); err != nil {
		return nil, false, false
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return nil, false, false
	}
	if *dir != "" {
		given.queue, given.deadLetter = *dir, *dir
		if name == "queue" {
			given.deadLetter = config.DefaultDeadLetterDir(*dir)
		}
		return []dirs{given}, *asJSON, true
	}
	outs, err := configuredDirs()
	if err != nil {
		fmt.Fprintf(stderr, "umc-invite %s: %v\n", name, err)
	}
	return outs, *asJSON, err == nil
}
