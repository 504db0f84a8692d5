package invite

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"umc-invite/tests/umctest"
	"umc-invite/umc/config"
	"umc-invite/umc/record"
	"umc-invite/umc/spool"
)

const secret = "s3cret-password-of-another-tenant"

// recordOf is the record tail makes of a line read through path.
func recordOf(path, line string) record.Record {
	return record.New("umc_invite", time.Unix(1700000000, 0), map[any]any{
		"log": []byte(line), "path": []byte(path), "offset": int64(0)})
}

// Issue 20, item 2: tail follows a symlink queued as x.send and hands the
// plugin the first line of its target (a password). The entry is never
// read or sent: it becomes a bad_input dead letter naming the entry and
// its type, holding nothing of the target, and leaves the queue; the
// record is dropped by name; the target is untouched. Healthy users in the
// same chunk are invited, and the chunk's verdict does not count against
// Fluent Bit's health.
func TestASymlinkQueueFileIsNeverSentNorLogged(t *testing.T) {
	stub := &umctest.UMC{}
	f := newFixture(t, stub, config.Map{})
	secretFile := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(f.queue, "x.send")
	if err := os.Symlink(secretFile, link); err != nil {
		t.Fatal(err)
	}
	recs := append(f.queueFiles(t, "alice"), recordOf(link, secret))
	v := f.out.Flush(context.Background(), recs)
	if stub.Attempts()[secret] != 0 || len(stub.Calls()) != 1 || stub.Delivered()["alice"] != 1 {
		t.Fatalf("calls %v (verdict %v)", stub.Attempts(), v)
	}
	if v != OK {
		t.Errorf("verdict %v: a hostile queue entry must not count against the output's health", v)
	}
	letters, _ := os.ReadFile(filepath.Join(umctest.DeadLetterDir(f.queue), spool.DeadLetterLog))
	if strings.Contains(string(letters), secret) || strings.Contains(f.logs.String(), secret) {
		t.Fatalf("the symlink's target reached the dead letters or the log:\n%s\n%s", letters, f.logs.String())
	}
	ls := f.deadLetters(t)
	if len(ls) != 1 || ls[0].Kind != spool.KindBadInput || !strings.Contains(ls[0].Reason, `"x.send"`) || !strings.Contains(ls[0].Reason, "symlink") {
		t.Fatalf("want one bad_input letter naming \"x.send\" and its type: %+v", ls)
	}
	if _, err := os.Lstat(link); !os.IsNotExist(err) {
		t.Errorf("the symlink is still in the queue: %v", err)
	}
	if data, err := os.ReadFile(secretFile); err != nil || string(data) != secret+"\n" {
		t.Errorf("the target was touched: %q %v", data, err)
	}
	// The same entry's other records (tail read more lines) go silently.
	if v := f.out.Flush(context.Background(), []record.Record{recordOf(link, "line 2")}); v != OK || len(f.deadLetters(t)) != 1 {
		t.Errorf("a second record of the entry: verdict %v, %d letters", v, len(f.deadLetters(t)))
	}
}

// Issue 20, item 2: the other kinds of entry are never opened (a FIFO
// would block the worker), each named with its type.
func TestEntriesThatAreNoRegularFileLeaveWithTheirType(t *testing.T) {
	stub := &umctest.UMC{}
	f := newFixture(t, stub, config.Map{})
	elsewhere := t.TempDir()
	makers := map[string]func(string) error{
		"FIFO":      func(p string) error { return syscall.Mkfifo(p, 0o644) },
		"directory": func(p string) error { return os.Mkdir(p, 0o755) },
		"socket": func(p string) error {
			l, err := net.Listen("unix", p)
			if err == nil {
				t.Cleanup(func() { l.Close() })
			}
			return err
		},
		"symlink": func(p string) error { return os.Symlink(elsewhere, p) },
	}
	var recs []record.Record
	for kind, mk := range makers {
		path := filepath.Join(f.queue, strings.ToLower(kind)+".send")
		if err := mk(path); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, recordOf(path, "bob"))
	}
	done := make(chan Verdict)
	go func() { done <- f.out.Flush(context.Background(), recs) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the flush hangs on an entry that is no regular file")
	}
	if n := len(stub.Calls()); n != 0 {
		t.Fatalf("%d calls for entries that are no regular file", n)
	}
	letters := f.deadLetters(t)
	for kind := range makers {
		found := false
		for _, l := range letters {
			found = found || (strings.Contains(l.Reason, fmt.Sprintf("%q", strings.ToLower(kind)+".send")) && strings.Contains(l.Reason, kind) && l.Kind == spool.KindBadInput)
		}
		if !found {
			t.Errorf("no bad_input letter names the %s: %+v", kind, letters)
		}
		if _, err := os.Lstat(filepath.Join(f.queue, strings.ToLower(kind)+".send")); !os.IsNotExist(err) {
			t.Errorf("the %s is still in the queue", kind)
		}
	}
}

// Issue 20, item 1: a FIFO swapped in after the file was looked at never
// blocks a worker: the queue files are opened O_NONBLOCK|O_NOFOLLOW and
// fstat'ed before they are read or written.
func TestAFIFOSwappedInDoesNotBlock(t *testing.T) {
	d, err := spool.OpenQueue(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(d.Root(), "alice.send")
	if err := os.WriteFile(path, []byte("alice\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	file, err := d.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(path)
	if err := syscall.Mkfifo(path, 0o666); err != nil {
		t.Fatal(err)
	}
	for name, op := range map[string]func() error{
		"HasLine": func() error { _, err := d.HasLine(file, 0, "alice"); return err },
		"Read":    func() error { _, err := d.Read(file); return err },
		"Append":  func() error { return d.Append(file, []byte("x\n")) },
	} {
		done := make(chan error, 1)
		go func() { done <- op() }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			t.Errorf("%s blocks on a FIFO swapped in for the queue file", name)
			// Unblock it: open the other end.
			if fh, err := os.OpenFile(path, os.O_RDWR, 0); err == nil {
				fh.Close()
			}
		}
	}
}

// Issue 20, item 1: the default dead-letter and intake directories are
// inside the queue directory, which producers write: either one replaced
// by a symlink to another tenant's directory refuses the start, naming it.
func TestADefaultDirectoryThatIsASymlinkRefusesTheStart(t *testing.T) {
	for _, name := range []string{"failed", "incoming"} {
		q := t.TempDir()
		other := t.TempDir()
		os.WriteFile(filepath.Join(other, "victim.send"), []byte("victim\n"), 0o644)
		if err := os.Symlink(other, filepath.Join(q, name)); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(config.Map{"UMC_URL": umctest.NewServer(t, &umctest.UMC{}), "Queue_Dir": q, "Metrics_Listen": "off"})
		if err != nil {
			t.Fatal(err)
		}
		var logs bytes.Buffer
		out, err := New(cfg, NewLogger(&logs, "test"), nil)
		if err == nil {
			out.Close()
			t.Errorf("%s a symlink to another directory: the output started", name)
			continue
		}
		if !strings.Contains(err.Error(), filepath.Join(q, name)) || !strings.Contains(err.Error(), "symlink") {
			t.Errorf("%s: %v; want the message to name it as a symlink", name, err)
		}
		if ents, _ := os.ReadDir(other); len(ents) != 1 {
			t.Errorf("%s: the other directory was written: %v", name, ents)
		}
	}
}

// Issue 20, item 6: directories that are one only once their symlinks
// are resolved are refused too, naming both.
func TestDirectoriesThatAreOneThroughASymlinkAreRefused(t *testing.T) {
	q := t.TempDir()
	base := t.TempDir()
	dead := filepath.Join(base, "dead")
	os.Mkdir(dead, 0o750)
	alias := filepath.Join(base, "alias")
	os.Symlink(dead, alias)
	qalias := filepath.Join(base, "qalias")
	os.Symlink(q, qalias)
	for _, keys := range []config.Map{
		{"Dead_Letter_Dir": dead, "Intake_Dir": alias},
		{"Dead_Letter_Dir": qalias},
	} {
		keys["UMC_URL"], keys["Queue_Dir"], keys["Metrics_Listen"] = "http://umc", q, "off"
		cfg, err := config.Load(keys)
		if err != nil {
			t.Fatal(err)
		}
		out, err := New(cfg, NewLogger(&bytes.Buffer{}, "t"), nil)
		if err == nil {
			out.Close()
			t.Errorf("%v: started", keys)
			continue
		}
		if !strings.Contains(err.Error(), filepath.Base(keys["Dead_Letter_Dir"])) {
			t.Errorf("%v: %v", keys, err)
		}
	}
}
