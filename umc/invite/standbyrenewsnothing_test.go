package invite

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"umc-invite/tests/umctest"
	"umc-invite/umc/config"
)

// A second Fluent Bit on a queue another process holds touches none of the
// holder's files, also when the queue directory was moved away and back: a
// queue file replaced by a copy under the holder's feet is a new file to the
// holder's tail and ledger, and its user is invited a second time.
func TestAStandbyOutputDoesNotReplaceTheHoldersFilesWhenTheQueueComesBack(t *testing.T) {
	base := t.TempDir()
	q := filepath.Join(base, "queue")
	if err := os.Mkdir(q, 0o755); err != nil {
		t.Fatal(err)
	}
	bob := filepath.Join(q, "bob.send")
	if err := os.WriteFile(bob, []byte(`{"username": "bob"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var before unix.Stat_t
	if err := unix.Stat(bob, &before); err != nil {
		t.Fatal(err)
	}
	holder, err := os.Open(q)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if err := unix.Flock(int(holder.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(config.Map{"UMC_URL": umctest.NewServer(t, &umctest.UMC{}), "Queue_Dir": q, "Metrics_Listen": "off"})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	out, err := New(cfg, NewLogger(&logs, "second"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	away := filepath.Join(base, "away")
	if err := os.Rename(q, away); err != nil {
		t.Fatal(err)
	}
	time.Sleep(dirCheckEvery + dirCheckEvery/2) // the standby's directory check sees it gone
	if err := os.Rename(away, q); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(2*dirCheckEvery + time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var now unix.Stat_t
		if err := unix.Stat(bob, &now); err != nil || now.Ino != before.Ino {
			t.Fatalf("the standby output replaced the holder's bob.send (inode %d, now %d, %v): the holder invites bob again; log: %s", before.Ino, now.Ino, err, logs.String())
		}
	}
}
