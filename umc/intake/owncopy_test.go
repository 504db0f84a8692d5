//go:build linux

package intake

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A producer may keep its file open after writing it, or reach it again
// by name: once admitted, the queue holds a copy of what was checked,
// readable by the plugin's user only, so lines the producer writes later
// never reach tail.
func TestAProducerCannotGrowItsFileOnceAdmitted(t *testing.T) {
	queue, intake := dirs(t)
	w := open(t, queue, intake, 10)
	line := `{"username": "al"}` + "\n"
	f, err := os.OpenFile(filepath.Join(intake, "al.send"), os.O_WRONLY|os.O_CREATE, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString(line)
	if moved, err := w.TopUp(); moved != 1 || err != nil {
		t.Fatalf("moved %d: %v", moved, err)
	}
	f.WriteString(`{"username": "u1"}` + "\n" + `{"username": "u2"}` + "\n")
	queued := filepath.Join(queue, "al.send")
	if data, err := os.ReadFile(queued); err != nil || string(data) != line {
		t.Fatalf("the queue file holds %q (%v), want the line admitted alone", data, err)
	}
	if st, err := os.Stat(queued); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("the queue file's mode is %v (%v), want 0600", st.Mode(), err)
	}
}

// The admitted copy keeps the time its file arrived in the intake: a
// user's age (Max_Age, the oldest waiting user's metric) counts from its
// queue file's modification time, and a user who waited in a full window
// has waited since then, not since its admission.
func TestTheAdmittedCopyKeepsTheTimeTheUserArrived(t *testing.T) {
	queue, intake := dirs(t)
	w := open(t, queue, intake, 10)
	put(t, intake, "bob", 0) // arrived at base
	if n, err := w.TopUp(); n != 1 || err != nil {
		t.Fatalf("admitted %d, %v", n, err)
	}
	st, err := os.Stat(filepath.Join(queue, "bob.send"))
	if err != nil {
		t.Fatal(err)
	}
	if !st.ModTime().Equal(base) {
		t.Errorf("bob's queue file is modified at %s, want %s, when it arrived in the intake: his age restarts at admission", st.ModTime().UTC().Format(time.RFC3339), base.Format(time.RFC3339))
	}
}
