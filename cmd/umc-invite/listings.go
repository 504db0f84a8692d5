package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"umc-invite/umc/config"
	"umc-invite/umc/logtext"
	"umc-invite/umc/record"
	"umc-invite/umc/spool"
)

func runQueue(args []string, stdout, stderr io.Writer) int {
	queueDirs, asJSON, ok := listFlags("queue", args, stderr)
	if !ok {
		return exitUsage
	}
	now, users := time.Now(), []spool.WaitingUser{}
	for _, d := range queueDirs {
		found, problems, err := spool.ListWaiting(d.queue, waitingUser(d.usernameKey), now)
		if err != nil {
			fmt.Fprintf(stderr, "umc-invite queue: %v\n", err)
			return exitUsage
		}
		for _, p := range problems {
			fmt.Fprintln(stderr, "note:", p)
		}
		found, delivered := spool.SplitDelivered(found, d.deadLetter)
		for _, u := range delivered {
			fmt.Fprintf(stderr, "note: %s (%s) was invited; its file could not be removed and is retried by the plugin (%s): not waiting\n",
				logtext.Quote(u.Username), logtext.Quote(u.File), spool.LeftoverLog)
		}
		users = append(users, found...)
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return flushErr(enc.Encode(users), stderr)
	}
	if len(users) == 0 {
		fmt.Fprintln(stdout, "nobody waiting")
		return exitOK
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tAGE\tNEXT TRY (UTC)\tLAST ANSWER\tFILE")
	for _, u := range users {
		next, last := "due", cmp.Or(u.LastAnswer, "- (not asked yet, or not carried over yet)")
		if u.NextTry.After(now) {
			next = u.NextTry.UTC().Format(time.DateTime)
		}
		age := time.Duration(u.AgeSeconds * float64(time.Second)).Round(time.Second)
		// Quoted and cut as in the plugin's log, so that none forges a row.
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", logtext.Quote(u.Username), age, next, cell(last), logtext.Quote(u.File))
	}
	return flushErr(tw.Flush(), stderr)
}

// waitingUser reads a queue file as the plugin does: named by its first user, state from its newest carried line.
func waitingUser(usernameKey string) func(path string, data []byte) spool.WaitingUser {
	keys := record.Keys{Username: cmp.Or(usernameKey, "username"), Path: "path"}
	return func(path string, data []byte) spool.WaitingUser {
		var u spool.WaitingUser
		for _, line := range strings.Split(string(data), "\n") {
			if strings.TrimSpace(line) == "" && u.Username != "" {
				continue
			}
			r := record.New("", time.Time{}, map[any]any{"log": line, "path": path})
			if name, err := record.Username(r, keys); err == nil && u.Username == "" {
				u.Username = name
			}
			if c, ok := r.Carried(); ok {
				u.FirstSeen, u.LastAnswer, u.NextTry = c.FirstSeen, c.LastAnswer, c.NextTry
			}
		}
		return u
	}
}

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
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		if err == nil {
			fs.Usage()
		}
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

// kindRequeued is the kind of requeue's lines in the log (the plugin never reads it).
const kindRequeued = "requeued"

// Letter is one dead letter or refusal, as the plugin wrote it.
type Letter struct {
	spool.DeadLetter
	Requeued   *time.Time `json:"requeued"`             // nil: not re-queued since
	Duplicates int        `json:"duplicates,omitempty"` // earlier lines of the same file folded in
}

// deadLetterLog is what dead-letter.jsonl holds.
type deadLetterLog struct {
	Letters  []Letter           // newest first
	Marks    []spool.DeadLetter // requeue's lines, oldest first
	Problems []string           // lines skipped, told and never fatal
}

// readLog reads dead-letter.jsonl in h, opened with err, never through a link; missing is empty.
func readLog(h *spool.Dir, err error) (*deadLetterLog, error) {
	l, path := &deadLetterLog{}, spool.DeadLetterLog
	var f *os.File
	if err == nil {
		path = filepath.Join(h.Configured, path)
		f, err = h.OpenFile(spool.DeadLetterLog, unix.O_RDONLY, 0)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return l, nil
	}
	var raw []byte
	if err == nil {
		defer f.Close()
		if st, serr := f.Stat(); serr != nil || !st.Mode().IsRegular() {
			return nil, fmt.Errorf("read dead letters: %s is not a regular file", path)
		}
		raw, err = io.ReadAll(f)
	}
	if err != nil {
		return nil, fmt.Errorf("read dead letters: %w", err)
	}
	lines := bytes.Split(raw, []byte("\n"))
	for i, line := range lines {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var d spool.DeadLetter
		if err := json.Unmarshal(line, &d); err != nil {
			problem := "not a JSON object (a line cut short?)"
			if json.Valid(line) && bytes.HasPrefix(bytes.TrimSpace(line), []byte("{")) {
				problem = err.Error()
			} else if i == len(lines)-1 { // a writer's crash or a full disk
				problem = "last line incomplete (no newline)"
			}
			l.Problems = append(l.Problems, fmt.Sprintf("%s:%d: %s: skipped", path, i+1, problem))
		} else if d.Kind == kindRequeued {
			l.Marks = append(l.Marks, d)
		} else {
			l.Letters = append(l.Letters, Letter{DeadLetter: d})
		}
	}
	l.fold()
	return l, nil
}

// fold drops a letter repeated for one file with no re-queue between (a failed move), marks re-queued ones, sorts newest first.
func (l *deadLetterLog) fold() {
	byTime := func(a, b spool.DeadLetter) int { return a.Time.Compare(b.Time) }
	slices.SortStableFunc(l.Marks, byTime)
	slices.SortStableFunc(l.Letters, func(a, b Letter) int { return byTime(a.DeadLetter, b.DeadLetter) })
	latest := map[string]int{} // queue file → index in kept
	var kept []Letter
	for _, d := range l.Letters {
		// Letters without a file (an evicted FIFO, no Queue_Dir) stay apart.
		if i, ok := latest[d.File]; ok && d.File != "" && l.markBetween(d.Username, kept[i].Time, d.Time) == nil {
			d.Duplicates = kept[i].Duplicates + 1
			kept[i] = d
			continue
		}
		latest[d.File] = len(kept)
		kept = append(kept, d)
	}
	for i := range kept {
		if m := l.markBetween(kept[i].Username, kept[i].Time, time.Time{}); m != nil {
			kept[i].Requeued = &m.Time
		}
	}
	slices.SortStableFunc(kept, func(a, b Letter) int { return b.Time.Compare(a.Time) })
	l.Letters = kept
}

// markBetween is user's first re-queue in [from, to] (zero to: no end).
func (l *deadLetterLog) markBetween(user string, from, to time.Time) *spool.DeadLetter {
	i := slices.IndexFunc(l.Marks, func(m spool.DeadLetter) bool {
		return m.Username == user && !m.Time.Before(from) && (to.IsZero() || !m.Time.After(to))
	})
	if i < 0 {
		return nil
	}
	return &l.Marks[i]
}

// appendMark writes one synced line in one write, so the plugin can append too.
func appendMark(dir *spool.Dir, m map[string]any) error {
	if err := spool.AppendLine(dir, spool.DeadLetterLog, m); err != nil {
		return fmt.Errorf("write dead-letter log: %w", err)
	}
	return nil
}
