package deadletters

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"umc-invite/umc/record"
	"umc-invite/umc/spool"
)

// Requeuer re-queues users. Only QueueDir is required.
type Requeuer struct {
	QueueDir      string
	DeadLetterDir string // "": <QueueDir>/failed
	IntakeDir     string // where new files go; "": <QueueDir>/incoming if it exists, else QueueDir; "off": QueueDir
	UsernameKey   string // "": username
	Force         bool   // queue again although re-queued after the last dead letter
	Now           func() time.Time
}

// Result is what happened to one user.
type Result struct {
	Username string
	Queued   bool   // a new queue file was written
	Path     string // the new file, or the one already queued
	Note     string // why nothing was done, or what was done
	Err      error
}

// dirs are the queue, the dead letters (opened from it) and where new files go.
type dirs struct{ queue, dead, target *spool.Dir }

func (d dirs) close() {
	if d.target != d.queue {
		d.target.Close()
	}
	d.dead.Close()
	d.queue.Close()
}

func (r *Requeuer) open() (d dirs, err error) {
	if d.queue, err = spool.OpenDir(r.QueueDir); err != nil {
		return d, fmt.Errorf("queue directory: %w", err)
	}
	if d.dead, err = spool.OpenDirIn(d.queue, cmp.Or(r.DeadLetterDir, filepath.Join(d.queue.Configured, "failed")), true, 0o750); err != nil {
		d.queue.Close()
		return d, fmt.Errorf("dead-letter directory: %w", err)
	}
	d.target = d.queue
	switch r.IntakeDir {
	case "off":
	case "":
		if in, err := spool.OpenDirIn(d.queue, filepath.Join(d.queue.Configured, "incoming"), false, 0); err == nil {
			d.target = in
		}
	default:
		if d.target, err = spool.OpenDir(r.IntakeDir); err != nil {
			d.target = d.queue
			d.close()
			return d, fmt.Errorf("intake directory: %w", err)
		}
	}
	return d, nil
}

// pending is every named user whose newest letter is not re-queued since.
func pending(l *Log) []string {
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
	slices.Reverse(out) // oldest first, the order they were given up in
	return out
}

// Requeue re-queues users (all pending ones when all is set).
func (r *Requeuer) Requeue(users []string, all bool) ([]Result, error) {
	d, err := r.open()
	if err != nil {
		return nil, err
	}
	defer d.close()
	// One requeue at a time: two could each find the user neither queued
	// nor marked, one after the plugin took the other's file.
	lock, err := d.dead.OpenFile(".requeue.lock", unix.O_RDWR|unix.O_CREAT, 0o640)
	if err == nil {
		defer lock.Close()
		err = unix.Flock(int(lock.Fd()), unix.LOCK_EX)
	}
	if err != nil {
		return nil, fmt.Errorf("requeue lock: %w", err)
	}
	log, err := read(d.dead)
	if err != nil {
		return nil, err
	}
	if all {
		users = pending(log)
	}
	var out []Result
	for _, u := range users {
		out = append(out, r.one(log, u, d))
	}
	return out, nil
}

func (r *Requeuer) one(log *Log, user string, d dirs) Result {
	res := Result{Username: user}
	if err := CheckName(user); err != nil {
		res.Err = err
		return res
	}
	name := record.QueueFileName(user) // the listener module's name: "already queued" finds its file
	for _, dir := range []*spool.Dir{d.queue, d.target} {
		if _, err := dir.Lstat(name); err == nil {
			res.Path, res.Note = filepath.Join(dir.Configured, name), "already queued: nothing to do"
			return res
		}
	}
	if !r.Force {
		if m := log.LastMark(user); m != nil && !slices.ContainsFunc(log.Letters, func(d Letter) bool { return d.Username == user && d.Time.After(m.Time) }) {
			res.Path = m.File
			res.Note = fmt.Sprintf("re-queued already at %s, no dead letter since: nothing to do (--force queues again)", m.Time.UTC().Format(time.RFC3339))
			return res
		}
	}
	now := time.Now().UTC()
	if r.Now != nil {
		now = r.Now().UTC()
	}
	path, err := writeNew(d.target, name, r.line(user, now))
	if errors.Is(err, fs.ErrExist) {
		res.Path, res.Note = path, "queued meanwhile by someone else: nothing to do"
		return res
	}
	if err != nil {
		res.Err = err
		return res
	}
	res.Queued, res.Path = true, path
	// The file before the mark: a crash between risks a second mail, never
	// a user marked done but not queued.
	if err := appendMark(d.dead, Mark{Time: now, Kind: KindRequeued, Username: user, File: path, Reason: "re-queued by umc-invite requeue"}); err != nil {
		res.Err = fmt.Errorf("queued as %s, but not recorded: %w", path, err)
		return res
	}
	res.Note = "queued"
	return res
}

// line is new content, so that tail's DB (inodes, a hash of the bytes
// read) cannot take the file for one it has read. By hand for the order:
// the name first, as the listener writes.
func (r *Requeuer) line(user string, now time.Time) []byte {
	k, _ := json.Marshal(cmp.Or(r.UsernameKey, "username"))
	u, _ := json.Marshal(user)
	return fmt.Appendf(nil, "{%s:%s,\"requeued\":%q}\n", k, u, now.Format(time.RFC3339Nano))
}

// CheckName takes the names the plugin takes that make one file name.
func CheckName(user string) error {
	if strings.ContainsRune(user, '/') || strings.HasPrefix(user, ".") {
		return fmt.Errorf("%q: a queue file name cannot hold it (\"/\" or a leading \".\")", user)
	}
	r := record.New("requeue", time.Time{}, map[any]any{"username": user})
	_, err := record.Username(r, record.Keys{Username: "username", Path: "path"})
	return err
}

// writeNew writes and syncs a hidden temporary file (neither tail nor the
// intake sees it), links it to name (fs.ErrExist rather than replace a
// queued file) and syncs dir.
func writeNew(dir *spool.Dir, name string, content []byte) (string, error) {
	target := filepath.Join(dir.Configured, name)
	var b [8]byte
	_, _ = rand.Read(b[:])
	tmp := "." + name + "." + hex.EncodeToString(b[:]) + ".tmp"
	f, err := dir.OpenFile(tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o600)
	if err != nil {
		return target, fmt.Errorf("write queue file: %w", err)
	}
	defer unix.Unlinkat(dir.FD(), tmp, 0)
	// Group-writable: Fluent Bit's group appends carried-over lines.
	err = f.Chmod(0o664)
	if err == nil {
		_, err = f.Write(content)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return target, fmt.Errorf("write queue file: %w", err)
	}
	if err := unix.Linkat(dir.FD(), tmp, dir.FD(), name, 0); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return target, fs.ErrExist
		}
		return target, fmt.Errorf("link queue file: %w", err)
	}
	return target, dir.Sync()
}
