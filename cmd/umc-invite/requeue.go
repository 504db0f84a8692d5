package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"umc-invite/umc/intake"
	"umc-invite/umc/record"
	"umc-invite/umc/spool"
)

func runRequeue(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("requeue", "usage: umc-invite requeue [--queue-dir Q [--dead-letter-dir D] [--intake-dir I|off] | --output NAME] USER... | --all", stderr)
	var d dirs
	fs.StringVar(&d.queue, "queue-dir", "", "the queue directory (default: the umc_invite output's Queue_Dir, and its Dead_Letter_Dir, Intake_Dir and Username_Key, in the container's config, "+DefaultConfig+" or $UMC_INVITE_CONFIG)")
	output := fs.String("output", "", "with several umc_invite outputs in the container's config: the one (Output_Name) to re-queue for")
	fs.StringVar(&d.deadLetter, "dead-letter-dir", "", "the dead-letter directory (default <queue-dir>/failed)")
	fs.StringVar(&d.intake, "intake-dir", "", "where new files go (default <queue-dir>/incoming when it exists, else the queue directory; off: the queue directory)")
	fs.StringVar(&d.usernameKey, "username-key", "", "the output's Username_Key (default: the output's in the container's config; with --queue-dir: username)")
	force := fs.Bool("force", false, "queue users again although they were re-queued after their last dead letter")
	all := fs.Bool("all", false, "every user whose newest dead letter or refusal is not re-queued yet")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	users := fs.Args()
	if *all == (len(users) > 0) {
		fs.Usage()
		return exitUsage
	}
	if d.queue == "" {
		outs, err := configuredDirs()
		if err != nil {
			fmt.Fprintf(stderr, "umc-invite requeue: %v\n", err)
			return exitUsage
		}
		outs = slices.DeleteFunc(outs, func(d dirs) bool { return *output != "" && d.output != *output })
		if len(outs) != 1 {
			fmt.Fprintf(stderr, "umc-invite requeue: %s has %d umc_invite outputs matching %q: name one with --output (or give --queue-dir)\n", configPath(), len(outs), *output)
			return exitUsage
		}
		c := outs[0]
		d = dirs{queue: c.queue, deadLetter: cmp.Or(d.deadLetter, c.deadLetter), intake: cmp.Or(d.intake, c.intake), usernameKey: cmp.Or(d.usernameKey, c.usernameKey)}
	}
	h, log, err := openRequeue(d)
	defer h.close()
	if err != nil {
		fmt.Fprintf(stderr, "umc-invite requeue: %v\n", err)
		return exitUsage
	}
	if *all {
		if users = log.pending(); len(users) == 0 {
			fmt.Fprintln(stdout, "nothing to re-queue: every dead letter is re-queued already")
		}
	}
	status := exitOK
	for _, u := range users {
		if msg, err := h.requeue(log, u, d.usernameKey, *force); err != nil {
			fmt.Fprintf(stdout, "%s: not re-queued: %v\n", u, err)
			status = exitFindings
		} else {
			fmt.Fprintf(stdout, "%s: %s\n", u, msg)
		}
	}
	return status
}

// requeueDirs are the queue, its dead letters, where new files go, the
// plugin's stage (a file the intake was admitting at a crash), and the lock held meanwhile.
type requeueDirs struct {
	queue, dead, target, stage *spool.Dir
	lock                       *os.File
}

func (h *requeueDirs) close() { // each nil or closed is a no-op
	h.lock.Close()
	h.stage.Close()
	h.target.Close()
	h.dead.Close()
	h.queue.Close()
}

// openRequeue opens d, locks, then reads the log: else two runs could each find a user neither queued nor marked.
func openRequeue(d dirs) (h *requeueDirs, log *deadLetterLog, err error) {
	h = &requeueDirs{}
	if h.queue, err = spool.OpenDir(d.queue); err != nil {
		return h, nil, fmt.Errorf("queue directory: %w", err)
	}
	if h.dead, err = spool.OpenDirIn(h.queue, cmp.Or(d.deadLetter, filepath.Join(h.queue.Configured, "failed")), true, 0o750); err != nil {
		return h, nil, fmt.Errorf("dead-letter directory: %w", err)
	}
	h.target = h.queue
	if d.intake == "" {
		if in, err := spool.OpenDirIn(h.queue, filepath.Join(h.queue.Configured, "incoming"), false, 0); err == nil {
			h.target = in
		}
	} else if d.intake != "off" {
		// As the plugin opens it: a symlink inside the queue could point at another tenant's queue.
		if h.target, err = spool.OpenDirIn(h.queue, d.intake, false, 0); err != nil {
			return h, nil, fmt.Errorf("intake directory: %w", err)
		}
	}
	if stage, err := spool.OpenDirIn(h.queue, filepath.Join(h.queue.Configured, intake.StageDir), false, 0); err == nil {
		h.stage = stage
	}
	if h.lock, err = h.dead.OpenFile(".requeue.lock", unix.O_RDWR|unix.O_CREAT, 0o640); err == nil {
		err = unix.Flock(int(h.lock.Fd()), unix.LOCK_EX)
	}
	if err != nil {
		return h, nil, fmt.Errorf("requeue lock: %w", err)
	}
	log, err = readLog(h.dead, nil)
	return h, log, err
}

// pending is every named user whose newest letter is not re-queued since, oldest first.
func (l *deadLetterLog) pending() []string {
	seen := map[string]bool{}
	var out []string
	for _, d := range l.Letters { // newest first: the first seen per user is its newest
		if d.Username != "" && !seen[d.Username] {
			seen[d.Username] = true
			if d.Kind != spool.KindBadInput && d.Requeued == nil {
				out = append(out, d.Username)
			}
		}
	}
	slices.Reverse(out)
	return out
}

// requeue queues user again unless queued or (without force) re-queued after its newest letter.
func (h *requeueDirs) requeue(log *deadLetterLog, user, usernameKey string, force bool) (string, error) {
	if err := checkName(user); err != nil {
		return "", err
	}
	name := record.QueueFileName(user) // the listener module's name: "already queued" finds its file
	// As files move, intake → stage → queue: one moving meanwhile is found.
	for _, dir := range []*spool.Dir{h.target, h.stage, h.queue} {
		if dir == nil {
			continue
		}
		if _, err := dir.Lstat(name); err == nil {
			return fmt.Sprintf("already queued: nothing to do (%s)", filepath.Join(dir.Configured, name)), nil
		}
	}
	from := time.Time{} // the user's newest letter, if any: letters are newest first
	if i := slices.IndexFunc(log.Letters, func(d Letter) bool { return d.Username == user }); i >= 0 {
		from = log.Letters[i].Time
	}
	if m := log.markBetween(user, from, time.Time{}); m != nil && !force {
		return fmt.Sprintf("re-queued already at %s, no dead letter since: nothing to do (--force queues again) (%s)", m.Time.UTC().Format(time.RFC3339), m.File), nil
	}
	now := time.Now().UTC()
	// New content, so that tail's DB cannot take it for a file it has read; the name first, as the listener writes.
	k, _ := json.Marshal(cmp.Or(usernameKey, "username"))
	u, _ := json.Marshal(user)
	path, err := writeNew(h.target, name, fmt.Appendf(nil, "{%s:%s,\"requeued\":%q}\n", k, u, now.Format(time.RFC3339Nano)))
	if errors.Is(err, fs.ErrExist) {
		return fmt.Sprintf("queued meanwhile by someone else: nothing to do (%s)", path), nil
	} else if err != nil {
		return "", err
	}
	// The file before the mark: a crash between risks a second mail, never a user marked but not queued.
	if err := appendMark(h.dead, map[string]any{"time": now, "kind": kindRequeued, "username": user, "file": path, "reason": "re-queued by umc-invite requeue"}); err != nil {
		return "", fmt.Errorf("queued as %s, but not recorded: %w", path, err)
	}
	return "queued as " + path, nil
}

// checkName takes the names the plugin takes that make one file name.
func checkName(user string) error {
	if strings.ContainsRune(user, '/') || strings.HasPrefix(user, ".") {
		return fmt.Errorf("%q: a queue file name cannot hold it (\"/\" or a leading \".\")", user)
	}
	r := record.New("requeue", time.Time{}, map[any]any{"username": user})
	_, err := record.Username(r, record.Keys{Username: "username", Path: "path"})
	return err
}

// writeNew writes a synced hidden file (tail and the intake skip it), links it
// to name (fs.ErrExist rather than replace a queued file) and syncs dir.
func writeNew(dir *spool.Dir, name string, content []byte) (string, error) {
	target := filepath.Join(dir.Configured, name)
	// Group-writable: Fluent Bit's group appends carried-over lines.
	tmp, err := spool.WriteHidden(dir, "."+name+".", 0o600, content, true, func(f *os.File, _ string) error { return f.Chmod(0o664) })
	if err != nil {
		return target, fmt.Errorf("write queue file: %w", err)
	}
	defer unix.Unlinkat(dir.FD(), tmp, 0)
	if err := unix.Linkat(dir.FD(), tmp, dir.FD(), name, 0); errors.Is(err, unix.EEXIST) {
		return target, fs.ErrExist
	} else if err != nil {
		return target, fmt.Errorf("link queue file: %w", err)
	}
	return target, dir.Sync()
}
