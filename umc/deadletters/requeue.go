package deadletters

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"umc-invite/umc/record"
)

// Requeuer re-queues users. Only QueueDir is required.
type Requeuer struct {
	QueueDir      string
	DeadLetterDir string // "": <QueueDir>/failed
	// IntakeDir: where new files go; "": <QueueDir>/incoming when it
	// exists, else QueueDir; "off": always QueueDir.
	IntakeDir   string
	UsernameKey string // "": username
	// Force queues a user again although it was re-queued after its last
	// dead letter.
	Force bool
	Now   func() time.Time
}

// Result is what happened to one user.
type Result struct {
	Username string
	Queued   bool   // a new queue file was written
	Path     string // the new file, or the one already queued
	Note     string // why nothing was done, or what was done
	Err      error
}

func (r *Requeuer) dirs() (queue, dead, target string, err error) {
	// Absolute, so that the marks and messages name the files anywhere.
	if queue, err = filepath.Abs(r.QueueDir); err != nil {
		return "", "", "", fmt.Errorf("queue directory: %w", err)
	}
	if st, err := os.Stat(queue); err != nil || !st.IsDir() {
		return "", "", "", fmt.Errorf("queue directory %s: not a directory", queue)
	}
	dead = r.DeadLetterDir
	if dead != "" {
		if dead, err = filepath.Abs(dead); err != nil {
			return "", "", "", fmt.Errorf("dead-letter directory: %w", err)
		}
	} else {
		dead = filepath.Join(queue, "failed")
	}
	target = queue
	switch r.IntakeDir {
	case "off":
	case "":
		if st, err := os.Stat(filepath.Join(queue, "incoming")); err == nil && st.IsDir() {
			target = filepath.Join(queue, "incoming")
		}
	default:
		if st, err := os.Stat(r.IntakeDir); err != nil || !st.IsDir() {
			return "", "", "", fmt.Errorf("intake directory %s: not a directory", r.IntakeDir)
		}
		if target, err = filepath.Abs(r.IntakeDir); err != nil {
			return "", "", "", fmt.Errorf("intake directory: %w", err)
		}
	}
	return queue, dead, target, nil
}

// Pending is every user whose newest refusal or dead letter has not been
// re-queued since; bad input is left out, it has no name to queue.
func Pending(l *Log) []string {
	seen := map[string]bool{}
	var out []string
	// Letters are newest first: the first seen per user is its newest.
	for _, d := range l.Letters {
		if d.Username == "" || seen[d.Username] {
			continue
		}
		seen[d.Username] = true
		if d.Kind != "bad_input" && d.Requeued == nil {
			out = append(out, d.Username)
		}
	}
	// Oldest first, the order they were given up in.
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// Requeue re-queues users (all pending ones when all is set).
func (r *Requeuer) Requeue(users []string, all bool) ([]Result, error) {
	queueDir, deadDir, target, err := r.dirs()
	if err != nil {
		return nil, err
	}
	// One requeue at a time: two overlapping runs could each find the user
	// neither queued nor marked, one after the plugin took the other's file.
	unlock, err := lockDir(deadDir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	log, err := Read(deadDir)
	if err != nil {
		return nil, err
	}
	if all {
		users = Pending(log)
	}
	var out []Result
	for _, u := range users {
		out = append(out, r.one(log, u, queueDir, deadDir, target))
	}
	return out, nil
}

func (r *Requeuer) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Requeuer) one(log *Log, user, queueDir, deadDir, target string) Result {
	res := Result{Username: user}
	if err := checkName(user); err != nil {
		res.Err = err
		return res
	}
	name := record.QueueFileName(user) // the listener module's name: "already queued" finds its file
	for _, dir := range []string{queueDir, target} {
		p := filepath.Join(dir, name)
		if _, err := os.Lstat(p); err == nil {
			res.Path, res.Note = p, "already queued: nothing to do"
			return res
		}
	}
	if !r.Force {
		if m := log.LastMark(user); m != nil && !lettersAfter(log, user, m.Time) {
			res.Path = m.File
			res.Note = fmt.Sprintf("re-queued already at %s, no dead letter since: nothing to do (--force queues again)", m.Time.UTC().Format(time.RFC3339))
			return res
		}
	}
	now := r.now().UTC()
	path, err := writeNew(target, name, r.line(user, now))
	if errors.Is(err, fs.ErrExist) {
		res.Path, res.Note = path, "queued meanwhile by someone else: nothing to do"
		return res
	}
	if err != nil {
		res.Err = err
		return res
	}
	res.Queued, res.Path = true, path
	// The file first, then the mark: a crash in between leaves the user
	// queued but unmarked, so a second run would queue it once more (a
	// second mail), never leave it unqueued while marked as done.
	if err := appendMark(deadDir, Mark{Time: now, Kind: KindRequeued, Username: user, File: path, Reason: "re-queued by umc-invite requeue"}); err != nil {
		res.Err = fmt.Errorf("queued as %s, but not recorded: %w", path, err)
		return res
	}
	res.Note = "queued"
	return res
}

func lettersAfter(log *Log, user string, t time.Time) bool {
	for _, d := range log.Letters {
		if d.Username == user && d.Time.After(t) {
			return true
		}
	}
	return false
}

// line is the new file's one line: new content, so that tail's DB cannot
// take it for a file it has read (it remembers inodes and a hash of the
// bytes read).
func (r *Requeuer) line(user string, now time.Time) []byte {
	key := r.UsernameKey
	if key == "" {
		key = "username"
	}
	// Written by hand for the order: the name first, as the listener writes.
	k, _ := json.Marshal(key)
	u, _ := json.Marshal(user)
	return fmt.Appendf(nil, "{%s:%s,\"requeued\":%q}\n", k, u, now.Format(time.RFC3339Nano))
}

// checkName takes the names the plugin takes under its Username key, and
// that make one file name: no "/", no leading ".".
func checkName(user string) error {
	if strings.ContainsRune(user, '/') || strings.HasPrefix(user, ".") {
		return fmt.Errorf("%q: a queue file name cannot hold it (\"/\" or a leading \".\")", user)
	}
	r := record.New("requeue", time.Time{}, map[any]any{"username": user})
	if _, err := record.Username(r, record.Keys{Username: "username", Path: "path"}); err != nil {
		return err
	}
	return nil
}

// writeNew writes a hidden temporary file in dir, syncs it, and links it
// to name, which fails with fs.ErrExist rather than replace a queued
// file; then syncs the directory. tail reads *.send only, and the intake
// moves only non-hidden *.send files, so neither sees the temporary file.
func writeNew(dir, name string, content []byte) (string, error) {
	target := filepath.Join(dir, name)
	f, err := os.CreateTemp(dir, "."+name+".*.tmp")
	if err != nil {
		return target, fmt.Errorf("write queue file: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	// Group-writable: Fluent Bit's group must be able to append a
	// carried-over line to it, as to any queue file.
	if err := f.Chmod(0o664); err != nil {
		f.Close()
		return target, fmt.Errorf("write queue file: %w", err)
	}
	if _, err := f.Write(content); err != nil {
		f.Close()
		return target, fmt.Errorf("write queue file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return target, fmt.Errorf("sync queue file: %w", err)
	}
	if err := f.Close(); err != nil {
		return target, fmt.Errorf("write queue file: %w", err)
	}
	if err := os.Link(tmp, target); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return target, fs.ErrExist
		}
		return target, fmt.Errorf("link queue file: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return target, fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return target, fmt.Errorf("sync %s: %w", dir, err)
	}
	return target, nil
}

// lockDir takes an exclusive lock on dir's .requeue.lock, waiting for it.
func lockDir(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, ".requeue.lock"), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("requeue lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("requeue lock: %w", err)
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}
