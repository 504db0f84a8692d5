package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"umc-invite/tests/umctest"
	"umc-invite/umc/spool"
)

// The hostile-queue suite (issue 20, item 9). A producer that may write
// the queue (and the intake) plants every kind of entry there is beside
// healthy users: symlinks to a secret, to a directory, dangling and in a
// loop, FIFOs, sockets, devices (as root), names with a newline, with
// "..", with invalid UTF-8, a huge file and a sparse one. With the real
// fluent-bit: the secret never reaches UMC, the log or dead-letter.jsonl;
// nothing outside the plugin's directories is written, moved or removed;
// each healthy user is invited once; nothing hangs.

const secretLine = "s3cret-password-do-not-send"

// forged is what a file name with a newline would make a line of its own.
const forged = "[ info] [output:umc_invite:umc_invite.0] invitation sent for \"mallory\""

// forgedLines returns the lines of log that a file name made: forged at
// the start of a line (a name cannot hold the "/" of a timestamp).
func forgedLines(log string) []string {
	var out []string
	for _, line := range strings.FieldsFunc(log, func(r rune) bool { return r == '\n' || r == '\r' }) {
		if strings.HasPrefix(line, forged) {
			out = append(out, line)
		}
	}
	return out
}

// plant fills dir with hostile entries named prefix+..., pointing at the
// secret and the outside directory, and returns the names of the entries
// that are no regular file (each must leave the queue, or stay unmoved in
// the intake) and the usernames of the regular files with odd names (each
// must be invited once).
func plant(t *testing.T, dir, prefix, secret, outside string, queue bool) (odd []string, users []string) {
	t.Helper()
	mk := func(name string, f func(path string) error) {
		if err := f(filepath.Join(dir, name)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		odd = append(odd, name)
	}
	mk(prefix+"secret.send", func(p string) error { return os.Symlink(secret, p) })
	rel, _ := filepath.Rel(dir, secret)
	mk(prefix+"dotdot.send", func(p string) error { return os.Symlink(rel, p) }) // ../../…/secret
	mk(prefix+"todir.send", func(p string) error { return os.Symlink(outside, p) })
	mk(prefix+"dangling.send", func(p string) error { return os.Symlink(filepath.Join(outside, "nothing"), p) })
	mk(prefix+"loop.send", func(p string) error { return os.Symlink(p, p) })
	mk(prefix+"fifo.send", func(p string) error { return unix.Mkfifo(p, 0o666) })
	mk(prefix+"dir.send", func(p string) error { return os.Mkdir(p, 0o755) })
	mk(prefix+"sock.send", func(p string) error {
		l, err := net.Listen("unix", p)
		if err == nil {
			l.(*net.UnixListener).SetUnlinkOnClose(false)
			t.Cleanup(func() { l.Close() })
		}
		return err
	})
	// Devices where root may make them (a container may lack CAP_MKNOD).
	for name, dev := range map[string]uint64{prefix + "null.send": unix.Mkdev(1, 3), prefix + "zero.send": unix.Mkdev(1, 5)} {
		if err := unix.Mknod(filepath.Join(dir, name), unix.S_IFCHR|0o666, int(dev)); err != nil {
			t.Logf("no device %s: %v", name, err)
			continue
		}
		odd = append(odd, name)
	}
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o664); err != nil {
			t.Fatal(err)
		}
	}
	// Regular files with odd names. In the queue a name with invalid UTF-8
	// is a user like any other, and one with a newline is never watched
	// (Fluent Bit's tail logs the names it watches as they are): it stays
	// there, unsent. The intake admits no name with a control character or
	// invalid UTF-8.
	if queue {
		users = append(users, prefix+"badutf8")
	} else {
		odd = append(odd, prefix+"x\n"+forged+"\n.send", prefix+"bad\xff\xfe.send")
	}
	users = append(users, prefix+"dots")
	write(prefix+"x\n"+forged+"\n.send", fmt.Sprintf("{\"username\": %q}\n", prefix+"newline"))
	write(prefix+"y\n"+forged+"\n.send", "{\"username\": \n")
	write(prefix+"bad\xff\xfe.send", fmt.Sprintf("{\"username\": %q}\n", prefix+"badutf8"))
	write(prefix+"a..b.send", fmt.Sprintf("{\"username\": %q}\n", prefix+"dots"))
	// A hidden name tail's glob passes by: left alone.
	write("..send", "nobody\n")
	// Huge: long lines tail skips (Skip_Long_Lines), then a user; over
	// 64 KiB the plugin takes it for no one user's file (a bad_input letter).
	write(prefix+"huge.send", strings.Repeat(strings.Repeat("x", 7000)+"\n", 10)+prefix+"huge\n")
	// Sparse: 64 MiB of holes and one line at the end, one line tail skips.
	f, err := os.Create(filepath.Join(dir, prefix+"sparse.send"))
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte(prefix+"sparse\n"), 64<<20)
	f.Close()
	return odd, users
}

// snapshot lists a directory tree with each file's size and content hash
// stand-in (its first bytes), to show nothing in it changed.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return nil
		}
		line := fmt.Sprintf("%s %v %d", path, info.Mode(), info.Size())
		if info.Mode().IsRegular() {
			data, _ := os.ReadFile(path)
			line += " " + string(data)
		}
		lines = append(lines, line)
		return nil
	})
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func TestHostileQueueAndIntake(t *testing.T) {
	needFluentBit(t)
	t.Parallel()
	s := newSite(t, &umctest.UMC{})
	outside := t.TempDir()
	secret := filepath.Join(outside, "password")
	if err := os.WriteFile(secret, []byte(secretLine+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(outside, "victim.send"), []byte("{\"username\": \"victim\"}\n"), 0o644)
	before := snapshot(t, outside)

	intake := filepath.Join(s.queue, "incoming")
	if err := os.MkdirAll(intake, 0o755); err != nil {
		t.Fatal(err)
	}
	oddQueue, usersQueue := plant(t, s.queue, "q-", secret, outside, true)
	oddIntake, usersIntake := plant(t, intake, "i-", secret, outside, false)
	healthy := append(users("healthy-q", 10), users("healthy-i", 10)...)
	s.enqueue(t, healthy[:10]...)
	umctest.Enqueue(t, intake, healthy[10:]...)
	want := append(append(healthy, usersQueue...), usersIntake...)

	began := time.Now()
	p := start(t, fastConfig(t), append(s.env(), "METRICS_LISTEN=off"))
	waitFor(t, "every healthy user's invitation", 30*time.Second, p, func() bool {
		d := s.umc.Delivered()
		for _, u := range want {
			if d[u] == 0 {
				return false
			}
		}
		return true
	})
	// Let the rest settle: the letters of the odd entries, a retry or two.
	time.Sleep(3 * time.Second)
	if p.Exited() {
		t.Fatalf("fluent-bit exited:\n%s", tail(p.Log(), 40))
	}
	t.Logf("all %d users invited %.1f s after start", len(want), time.Since(began).Seconds())

	for u, n := range s.umc.Attempts() {
		if strings.Contains(u, secretLine) {
			t.Errorf("the secret reached UMC as a username (%d calls)", n)
		}
	}
	for _, u := range want {
		if n := s.umc.Delivered()[u]; n != 1 {
			t.Errorf("%q invited %d times", u, n)
		}
	}
	for _, u := range []string{"victim", "q-huge", "i-huge", "q-sparse", "i-sparse"} {
		if n := s.umc.Attempts()[u]; n > 1 {
			t.Errorf("%s: %d calls", u, n)
		}
	}
	log := p.Log()
	letters := s.deadLetters()
	if strings.Contains(log, secretLine) || strings.Contains(letters, secretLine) {
		t.Fatalf("the secret reached the log or the dead letters")
	}
	if f := forgedLines(log); len(f) > 0 {
		t.Errorf("a file name forged %d log line(s): %q", len(f), f)
	}
	for _, name := range []string{"q-x\n" + forged + "\n.send", "q-y\n" + forged + "\n.send"} {
		if _, err := os.Lstat(filepath.Join(s.queue, name)); err != nil {
			t.Errorf("%q, never watched, left the queue: %v", name, err)
		}
	}
	if n := s.umc.Attempts()["q-newline"]; n != 0 {
		t.Errorf("the user of a queue file whose name holds a newline was sent (%d calls)", n)
	}
	if after := snapshot(t, outside); after != before {
		t.Errorf("outside the plugin's directories something changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	// The odd entries left the queue, each as a bad_input letter naming
	// it; in the intake they stay, never moved into the queue.
	for _, name := range oddQueue {
		if _, err := os.Lstat(filepath.Join(s.queue, name)); err == nil {
			t.Errorf("%q is still in the queue", name)
		}
		found := false
		for _, l := range umctest.OfKind(s.letters(t), spool.KindBadInput) {
			found = found || strings.Contains(l.Reason, fmt.Sprintf("%q", name))
		}
		if !found {
			t.Errorf("no bad_input letter names %q", name)
		}
	}
	for _, name := range oddIntake {
		if _, err := os.Lstat(filepath.Join(intake, name)); err != nil {
			t.Errorf("%q left the intake: %v", name, err)
		}
		if _, err := os.Lstat(filepath.Join(s.queue, name)); err == nil {
			t.Errorf("%q was admitted into the queue", name)
		}
	}
	if _, err := os.Stat(filepath.Join(s.queue, "..send")); err != nil {
		t.Errorf("a hidden file was touched: %v", err)
	}
	if health(s.port) != 200 {
		t.Errorf("health %d: hostile entries turned the output red", health(s.port))
	}
}

// A producer who writes the queue directory itself, where names are not
// checked, cannot put a line of its own into the shared log with a newline
// in a file's name: Fluent Bit's tail, which logs each name it watches as
// it is, never watches such a name, so the file is never sent either.
func TestANameWithANewlineCannotForgeALogLine(t *testing.T) {
	needFluentBit(t)
	t.Parallel()
	s := newSite(t, &umctest.UMC{})
	for i, name := range []string{"x\n" + forged + "\n.send", "x\r\n" + forged + "\r\n.send"} {
		content := fmt.Sprintf("{\"username\": \"mallory%d\"}\n", i)
		if err := os.WriteFile(filepath.Join(s.queue, name), []byte(content), 0o664); err != nil {
			t.Fatal(err)
		}
	}
	s.enqueue(t, "alice")
	p := start(t, fastConfig(t), append(s.env(), "METRICS_LISTEN=off"))
	waitFor(t, "alice's invitation", 20*time.Second, p, func() bool { return s.umc.Delivered()["alice"] == 1 })
	time.Sleep(2 * time.Second) // two of tail's rescans, a flush or two
	if f := forgedLines(p.Log()); len(f) > 0 {
		t.Errorf("a file name forged %d log line(s): %q", len(f), f)
	}
	if !strings.Contains(p.Log(), `never sent: "x\n`+strings.ReplaceAll(forged, `"`, `\"`)+`\n.send"`) {
		t.Errorf("the output does not name the file it never sends:\n%s", tail(p.Log(), 30))
	}
	for u, n := range s.umc.Attempts() {
		if strings.HasPrefix(u, "mallory") {
			t.Errorf("%s, queued under a name with a newline, was sent (%d calls)", u, n)
		}
	}
}

// A default dead-letter or intake directory that a producer replaced by a
// symlink to another tenant's directory refuses the start, naming it.
func TestASymlinkedDefaultDirectoryDisablesTheOutput(t *testing.T) {
	needFluentBit(t)
	t.Parallel()
	for _, name := range []string{"failed", "incoming"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := newSite(t, &umctest.UMC{})
			other := t.TempDir()
			os.WriteFile(filepath.Join(other, "theirs.send"), []byte("theirs\n"), 0o644)
			if err := os.Symlink(other, filepath.Join(s.queue, name)); err != nil {
				t.Fatal(err)
			}
			s.enqueue(t, "alice")
			p := start(t, fastConfig(t), append(s.env(), "METRICS_LISTEN=off"))
			waitFor(t, "the output to say it is disabled", 20*time.Second, p, func() bool {
				return strings.Contains(p.Log(), "] disabled: ")
			})
			if !strings.Contains(p.Log(), filepath.Join(s.queue, name)+" is a symlink") {
				t.Errorf("the log does not name it:\n%s", tail(p.Log(), 20))
			}
			time.Sleep(2 * time.Second) // a flush or two of alice's record
			if len(s.umc.Calls()) != 0 {
				t.Errorf("UMC was called")
			}
			if _, err := os.Stat(filepath.Join(s.queue, "alice.send")); err != nil {
				t.Errorf("alice left the queue of a disabled output: %v", err)
			}
			if ents, _ := os.ReadDir(other); len(ents) != 1 {
				t.Errorf("the other directory changed: %v", ents)
			}
		})
	}
}
