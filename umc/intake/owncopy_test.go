//go:build linux

package intake

import (
	"os"
	"path/filepath"
	"testing"
)

// A producer may keep its file open after writing it, or reach it again
// by name: once admitted, the queue holds a copy of what was checked,
// readable by the plugin's user only, so lines the producer writes later
// never reach tail.
func TestAProducerCannotGrowItsFileOnceAdmitted(t *testing.T) {
	queue, intake := dirs(t)
	w := open(t, queue, intake, 10)
	line := `{"username": "al"}` + "\n"
	f, err := os.OpenFile(filepath.Join(intake, "al"+Suffix), os.O_WRONLY|os.O_CREATE, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString(line)
	if moved, err := w.TopUp(); moved != 1 || err != nil {
		t.Fatalf("moved %d: %v", moved, err)
	}
	f.WriteString(`{"username": "u1"}` + "\n" + `{"username": "u2"}` + "\n")
	queued := filepath.Join(queue, "al"+Suffix)
	if data, err := os.ReadFile(queued); err != nil || string(data) != line {
		t.Fatalf("the queue file holds %q (%v), want the line admitted alone", data, err)
	}
	if st, err := os.Stat(queued); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("the queue file's mode is %v (%v), want 0600", st.Mode(), err)
	}
}
