package invite

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"umc-invite/tests/umctest"
	"umc-invite/umc/config"
)

// A second Fluent Bit on a queue another process holds admits nothing (its
// log says so): an intake file the holder has just taken out of the
// producers' reach, hidden in the queue directory while it is checked, is
// the holder's to admit, not the waiting output's.
func TestAStandbyOutputAdmitsNothingOfTheHolders(t *testing.T) {
	q := t.TempDir()
	intake := filepath.Join(q, "incoming")
	if err := os.Mkdir(intake, 0o755); err != nil {
		t.Fatal(err)
	}
	// The holder, mid-admission: alice's file under its stage name.
	if err := os.Mkdir(filepath.Join(q, ".admitting"), 0o755); err != nil { // the intake's StageDir
		t.Fatal(err)
	}
	stage := filepath.Join(q, ".admitting", "alice.send")
	if err := os.WriteFile(stage, []byte(`{"username": "alice"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The holder's lock (another open file description: flock conflicts).
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
	if !strings.Contains(logs.String(), "admits nothing") {
		t.Fatalf("the second output does not say it waits: %s", logs.String())
	}
	if _, err := os.Lstat(filepath.Join(q, "alice.send")); err == nil {
		t.Fatal("the standby output admitted alice.send into the queue the holder sends from")
	}
	if _, err := os.Lstat(stage); err != nil {
		t.Fatalf("the holder's staged file was taken: %v", err)
	}
}
