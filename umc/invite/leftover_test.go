package invite

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"umc-invite/tests/umctest"
	"umc-invite/umc/config"
	"umc-invite/umc/policy"
	"umc-invite/umc/record"
	"umc-invite/umc/spool"
)

// fsImmutableFL is FS_IMMUTABLE_FL of linux/fs.h.
const fsImmutableFL = 0x10

// setImmutable makes path impossible to remove (needs root), or undoes it.
func setImmutable(t *testing.T, path string, on bool) bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	flags, err := unix.IoctlGetInt(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	if err != nil {
		return false
	}
	if on {
		flags |= fsImmutableFL
	} else {
		flags &^= fsImmutableFL
	}
	return unix.IoctlSetPointerInt(int(f.Fd()), unix.FS_IOC_SETFLAGS, flags) == nil
}

// A delivered file whose removal fails is not sent again, is logged once,
// holds no place in the window, and is removed once it can be.
func TestDeliveredFileThatCannotBeRemoved(t *testing.T) {
	f, recs, path := bobDeliveredImmutable(t)
	for range 4 {
		f.flush(context.Background(), recs)
	}
	if a := f.stub.Attempts(); a["bob"] != 1 {
		t.Fatalf("calls %v: a delivered file was sent again", a)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the immutable file went: %v", err)
	}
	if n := strings.Count(f.logs.String(), "delivered queue file left in place"); n != 1 {
		t.Errorf("logged %d times, want once:\n%s", n, f.logs)
	}
	if q, _, err := f.out.window.Count(); err != nil || q != 0 {
		t.Errorf("the window counts %d queue files (%v): the stuck file holds a place", q, err)
	}
	setImmutable(t, path, false)
	f.flush(context.Background(), f.queueFiles(t, "carol"))
	if _, err := os.Stat(path); !os.IsNotExist(err) || !strings.Contains(f.logs.String(), "removed at last") {
		t.Fatalf("not removed once it could be: %v\n%s", err, f.logs)
	}
}

// An entry leaves with its file: a delivered file whose entry stayed (its
// removal failed), then gone, and a new user's file on the same inode: the
// new file is a new file, sent, not removed unsent.
func TestNewFileOnARecycledInodeIsNew(t *testing.T) {
	f := newFixture(t, &umctest.UMC{}, config.Map{})
	f.queueFile(t, "bob")
	oldFile, err := f.out.queue.Stat(filepath.Join(f.queue, "bob.send"))
	if err != nil {
		t.Fatal(err)
	}
	if oldFile.Born == 0 {
		t.Skip("no birth time on this file system")
	}
	// bob was delivered, its removal failed: the ledger says so.
	f.out.ledger.Settle(f.out.fileKey(oldFile), spool.Entry[policy.User]{Final: spool.Delivered})
	os.Remove(oldFile.Path)
	var rec record.Record
	reused := false
	for range 200 {
		rec = f.queueFile(t, "carol")
		nf, err := f.out.queue.Stat(filepath.Join(f.queue, "carol.send"))
		if err == nil && nf.Ino == oldFile.Ino {
			reused = true
			break
		}
		os.Remove(filepath.Join(f.queue, "carol.send"))
		f.queueFile(t, "filler") // take the next inode
	}
	if !reused {
		t.Skip("the file system did not reuse the inode")
	}
	f.flush(context.Background(), []record.Record{rec})
	if a := f.stub.Attempts(); a["carol"] != 1 {
		t.Fatalf("calls %v: carol's file on bob's old inode was taken for bob's", a)
	}
}

// bobDeliveredImmutable queues bob in a new fixture, his file made
// immutable so that its removal after the 200 fails (a sticky directory, a
// read-only remount); it skips where that cannot be done.
func bobDeliveredImmutable(t *testing.T) (*fixture, []record.Record, string) {
	t.Helper()
	f := newFixture(t, &umctest.UMC{}, config.Map{})
	recs := f.queueFiles(t, "bob")
	path := filepath.Join(f.queue, "bob.send")
	if !setImmutable(t, path, true) {
		t.Skip("cannot make a file immutable here (needs root and a file system that supports it)")
	}
	t.Cleanup(func() { setImmutable(t, path, false) })
	return f, recs, path
}

// restart plays a restart of Fluent Bit: the output closes and a new one
// starts with the same configuration on the same directories.
func (f *fixture) restart(t *testing.T) {
	t.Helper()
	cfg := f.out.cfg
	f.out.Close()
	out, err := New(cfg, NewLogger(&syncWriter{w: f.logs}, "test"), f.claims)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(out.Close)
	out.now, out.prober.now = f.now, f.now
	if f.fake != nil {
		out.client, out.prober.client = f.fake, f.fake
	}
	f.out = out
}
