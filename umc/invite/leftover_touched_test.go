package invite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"umc-invite/tests/umctest"
	"umc-invite/umc/config"
)

// A delivered file whose removal failed, and whose modification time moved
// while its user was being invited (touched, same content, same inode), is
// still not sent again after a restart: the journal remembers the file as
// it is when its removal failed, not as it was listed before the call.
func TestLeftoverTouchedDuringItsCallIsNotSentAgainAfterARestart(t *testing.T) {
	stub := &umctest.UMC{}
	f := newFixture(t, stub, config.Map{})
	path := filepath.Join(f.queue, "bob.send")
	immutable := false
	stub.OnCall = func(c umctest.Call) {
		if c.Username != "bob" || immutable {
			return
		}
		later := time.Now().Add(time.Hour)
		if err := unix.UtimesNano(path, []unix.Timespec{unix.NsecToTimespec(later.UnixNano()), unix.NsecToTimespec(later.UnixNano())}); err != nil {
			t.Errorf("touch: %v", err)
		}
		immutable = setImmutable(t, path, true)
	}
	recs := f.queueFiles(t, "bob")
	t.Cleanup(func() { setImmutable(t, path, false) })
	f.flush(context.Background(), recs)
	if !immutable {
		t.Skip("cannot make a file immutable here (needs root and a file system that supports it)")
	}
	if !strings.Contains(f.logs.String(), "delivered queue file left in place") {
		t.Fatalf("the removal did not fail as staged:\n%s", f.logs)
	}
	f.restart(t)
	f.flush(context.Background(), recs)
	if a := f.stub.Attempts(); a["bob"] != 1 {
		t.Fatalf("bob invited %d times: a delivered file left in place was sent again after a restart\n%s", a["bob"], f.logs)
	}
}
