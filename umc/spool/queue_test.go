package spool

import (
	"bufio"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func setup(t *testing.T) (root, outside string, d *Queue) {
	t.Helper()
	base := t.TempDir()
	root = filepath.Join(base, "queue")
	outside = filepath.Join(base, "elsewhere")
	for _, dir := range []string{root, outside, filepath.Join(root, "sub")} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	d, err := OpenQueue(root)
	if err != nil {
		t.Fatal(err)
	}
	return root, outside, d
}

func write(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func exists(path string) bool { _, err := os.Lstat(path); return err == nil }

func TestRemoveOnlyInsideQueueDir(t *testing.T) {
	root, outside, d := setup(t)
	victim := filepath.Join(outside, "victim.send")
	write(t, victim)
	write(t, filepath.Join(root, "sub", "deep.send"))
	if err := os.Symlink(victim, filepath.Join(root, "link.send")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "linkdir")); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{
		victim,
		filepath.Join(root, "..", "elsewhere", "victim.send"),
		filepath.Join(root, "linkdir", "victim.send"),
		filepath.Join(root, "sub", "deep.send"),
	} {
		if _, err := d.Stat(path); !errors.Is(err, ErrOutside) {
			t.Errorf("%s: %v, want ErrOutside", path, err)
		}
	}
	// Entries directly inside that are no regular file: named, never followed.
	for _, path := range []string{filepath.Join(root, "link.send"), filepath.Join(root, "sub")} {
		var notRegular *NotRegularError
		if _, err := d.Stat(path); !errors.As(err, &notRegular) {
			t.Errorf("%s: %v, want a NotRegularError", path, err)
		}
	}
	if !exists(victim) || !exists(filepath.Join(root, "link.send")) || !exists(filepath.Join(root, "sub", "deep.send")) {
		t.Fatal("a file outside the queue was touched")
	}
}

func stat(t *testing.T, d *Queue, path string) File {
	t.Helper()
	f, err := d.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestRemove(t *testing.T) {
	root, _, d := setup(t)
	file := filepath.Join(root, "alice.send")
	write(t, file)
	// The path as tail may write it: relative parts that stay inside.
	f := stat(t, d, filepath.Join(root, "sub", "..", "alice.send"))
	if err := d.Remove(f); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Stat(file); exists(file) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("not removed: %v", err)
	}
	if err := d.Remove(f); err != nil {
		t.Fatalf("removing a gone file: %v", err)
	}
}

// A file re-queued under the same name is a new file: the old one's
// removal or move must leave it alone.
func TestReplacedFileIsLeftAlone(t *testing.T) {
	root, _, d := setup(t)
	file := filepath.Join(root, "alice.send")
	write(t, file)
	old := stat(t, d, file)
	tmp := filepath.Join(root, ".alice.tmp")
	write(t, tmp)
	if err := os.Rename(tmp, file); err != nil {
		t.Fatal(err)
	}
	if same, err := d.Current(old); same || err != nil {
		t.Fatalf("replaced file taken for the old one: %v %v", same, err)
	}
	if err := d.Remove(old); err != nil || !exists(file) {
		t.Fatalf("the new file was removed: %v", err)
	}
	dead, err := OpenDeadLetters(d, filepath.Join(root, "failed"))
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	if _, err := d.MoveTo(old, dead); !errors.Is(err, fs.ErrNotExist) || !exists(file) {
		t.Fatalf("the new file was moved: %v", err)
	}
	if err := d.Append(old, []byte("x\n")); err == nil {
		t.Fatal("appended to the new file")
	}
}

func TestAppend(t *testing.T) {
	root, _, d := setup(t)
	file := filepath.Join(root, "bob.send")
	write(t, file)
	if err := d.Append(stat(t, d, file), []byte("{\"username\":\"bob\"}\n")); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(file); string(data) != "x\n{\"username\":\"bob\"}\n" {
		t.Fatalf("%q", data)
	}
}

func TestMoveTo(t *testing.T) {
	root, _, d := setup(t)
	file := filepath.Join(root, "bob.send")
	write(t, file)
	dead, err := OpenDeadLetters(d, filepath.Join(root, "failed"))
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	got, err := d.MoveTo(stat(t, d, file), dead)
	if err != nil || got != filepath.Join(dead.Dir(), "bob.send") || exists(file) || !exists(got) {
		t.Fatalf("%q %v", got, err)
	}
	write(t, file) // re-queued and failed again: replaces the old copy
	if _, err := d.MoveTo(stat(t, d, file), dead); err != nil {
		t.Fatal(err)
	}
}

func TestDeadLetterLog(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "failed")
	dl, err := OpenDeadLetters(nil, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer dl.Close()
	for _, u := range []string{"alice", "bob"} {
		if err := dl.Append(DeadLetter{Time: time.Now(), Username: u, Reason: "r", Status: 503, Tag: "t", Record: map[string]any{"log": u}}); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Open(filepath.Join(dir, DeadLetterLog))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var users []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l DeadLetter
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		users = append(users, l.Username)
	}
	if len(users) != 2 || users[0] != "alice" || users[1] != "bob" {
		t.Fatalf("%v", users)
	}
}

func TestHasLine(t *testing.T) {
	root, _, d := setup(t)
	file := filepath.Join(root, "a.send")
	os.WriteFile(file, []byte("alice\r\n{\"username\":\"alice\"}\n"), 0o644)
	f := stat(t, d, file)
	for _, c := range []struct {
		offset int64
		line   string
		want   bool
	}{
		{0, "alice", true}, // tail drops the carriage return
		{7, `{"username":"alice"}`, true},
		{0, "alic", false},
		{7, `{"username":"bob"}`, false},
		{1, "lice", true},
		{40, "x", false},
		{-1, "alice", false},
	} {
		if got, err := d.HasLine(f, c.offset, c.line); got != c.want || err != nil {
			t.Errorf("%d %q: %v %v", c.offset, c.line, got, err)
		}
	}
}

// A file's birth time tells it from a later file on the same inode; its
// modification time is when it was queued.
func TestBornAndModified(t *testing.T) {
	dir := t.TempDir()
	q, err := OpenQueue(dir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "alice.send")
	os.WriteFile(path, []byte("alice\n"), 0o644)
	f, err := q.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if m := time.Unix(0, f.Modified); time.Since(m) > time.Minute {
		t.Errorf("modified %v", m)
	}
	if f.Born == 0 {
		t.Skip("no birth time on this file system")
	}
	again, err := q.Stat(path)
	if err != nil || again.Born != f.Born || again.Modified != f.Modified {
		t.Errorf("times changed between two looks: %+v, %+v, %v", f, again, err)
	}
}

// A queue file not carried over yet is as old as its modification time
// (docs/delivery.md; Max_Age counts from it). When an output takes the
// queue over from another process (a rollout's surge, the lock), it
// replaces every queue file by a fresh copy for tail: the copy keeps the
// original's times, so the user's age in `umc-invite queue` and for
// Max_Age does not restart.
func TestATakeoverKeepsAQueuedUsersAge(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bob.send")
	if err := os.WriteFile(path, []byte("{\"username\": \"bob\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	queued := time.Now().Add(-3 * time.Hour)
	if err := os.Chtimes(path, queued, queued); err != nil {
		t.Fatal(err)
	}
	d, err := OpenQueue(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if n, err := d.RenewExcept(func(File) bool { return false }); err != nil || n != 1 {
		t.Fatalf("renewed %d: %v", n, err)
	}
	users, problems, err := ListWaiting(dir, func(string, []byte) WaitingUser { return WaitingUser{} }, time.Now())
	if err != nil || len(users) != 1 {
		t.Fatalf("users %+v problems %v: %v", users, problems, err)
	}
	if age := time.Duration(users[0].AgeSeconds * float64(time.Second)); age < 3*time.Hour-time.Minute {
		t.Fatalf("bob, queued 3h ago, is %s old after the takeover handed its file to tail again: the age restarted", age.Round(time.Second))
	}
}

// The queue command shows a delivered file whose removal failed as invited,
// not waiting: the same file on the leftovers journal, never another one
// that took its name.
func TestADeliveredFileLeftInPlaceIsNotListedAsWaiting(t *testing.T) {
	root, _, q := setup(t)
	write(t, filepath.Join(root, "a.send"))
	write(t, filepath.Join(root, "b.send"))
	dead, err := OpenDeadLetters(q, filepath.Join(root, "failed"))
	if err != nil {
		t.Fatal(err)
	}
	a := stat(t, q, filepath.Join(root, "a.send"))
	if err := dead.AppendLeftover(Leftover{Key: a.Key() + ":123", Name: "a.send", Modified: a.Modified}); err != nil {
		t.Fatal(err)
	}
	users, problems, err := ListWaiting(root, func(string, []byte) WaitingUser { return WaitingUser{} }, time.Now())
	if err != nil || len(problems) != 0 || len(users) != 2 {
		t.Fatalf("listed %v, problems %v, %v", users, problems, err)
	}
	waiting, delivered := SplitDelivered(users, dead.Dir())
	if len(waiting) != 1 || waiting[0].Username != "b" || len(delivered) != 1 || delivered[0].Username != "a" {
		t.Fatalf("waiting %v, delivered %v", waiting, delivered)
	}
	// A new file under the name is not the delivered one.
	if err := os.Remove(filepath.Join(root, "a.send")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(root, "c.send")) // holds the old inode number apart
	write(t, filepath.Join(root, "a.send"))
	users, _, _ = ListWaiting(root, func(string, []byte) WaitingUser { return WaitingUser{} }, time.Now())
	if _, delivered := SplitDelivered(users, dead.Dir()); len(delivered) != 0 && stat(t, q, filepath.Join(root, "a.send")).Ino != a.Ino {
		t.Fatalf("a new file taken for the delivered one: %v", delivered)
	}
}

// A dead-letter directory on another file system gets the file whole, with
// its age, and the queue loses it only then.
func TestMoveToAnotherFileSystemKeepsTheFileAndItsAge(t *testing.T) {
	root, _, q := setup(t)
	other, err := os.MkdirTemp("/dev/shm", "dead")
	if err != nil {
		t.Skip("no /dev/shm:", err)
	}
	defer os.RemoveAll(other)
	var a, b unix.Stat_t
	if unix.Stat(root, &a) != nil || unix.Stat(other, &b) != nil || a.Dev == b.Dev {
		t.Skip("/dev/shm is on the queue's file system")
	}
	path := filepath.Join(root, "bob.send")
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.WriteFile(path, []byte("{\"username\":\"bob\"}\n"), 0o600); err != nil || os.Chtimes(path, old, old) != nil {
		t.Fatal(err)
	}
	dead, err := OpenDeadLetters(q, other)
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	got, err := q.MoveTo(stat(t, q, path), dead)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(got)
	st, err := os.Stat(got)
	ents, _ := os.ReadDir(other)
	if err != nil || string(data) != "{\"username\":\"bob\"}\n" || !st.ModTime().Equal(old) || exists(path) || len(ents) != 1 {
		t.Fatalf("moved to %s: %q, %v, %d entries, original left: %t", got, data, err, len(ents), exists(path))
	}
}
