//go:build linux

package intake

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The listener module writes a queue file as a hidden temporary file that
// it links to <uid>.send and then unlinks: between the two, the user's own
// file has two names. inotify wakes the window at the link, so a top-up
// sees exactly that. It is an ordinary user on the way in, not a file the
// operator must be told stays in the intake; it is admitted once, at
// the link or after the unlink.
func TestAFileTheProducerIsStillLinkingIsNotReportedAsRefused(t *testing.T) {
	queue, intake := dirs(t)
	w := open(t, queue, intake, 10)
	tmp := filepath.Join(intake, ".tmpk3j9x2.tmp") // tempfile.mkstemp(prefix='.', suffix='.tmp')
	if err := os.WriteFile(tmp, []byte(`{"username": "alice"}`+"\n"), 0o664); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(tmp, filepath.Join(intake, "alice.send")); err != nil {
		t.Fatal(err)
	}
	// The wake-up of the link.
	first, err := w.TopUp()
	if err != nil {
		t.Errorf("the producer's file, while it is being linked, is reported: %v", err)
	}
	if err := os.Remove(tmp); err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	w.stale = true // whatever the timestamp granularity
	w.mu.Unlock()
	if moved, err := w.TopUp(); first+moved != 1 || err != nil || join(names(t, queue)) != "alice" {
		t.Fatalf("moved %d at the link, %d after the unlink (%v), queue %v; want alice admitted once", first, moved, err, names(t, queue))
	}
}

// The same, as it happens: the background loop, woken by inotify at each
// link of users written the listener module's way, tells the operator
// about none of them.
func TestUsersWrittenTheListenerModulesWayAreNotReported(t *testing.T) {
	queue, intake := dirs(t)
	w := open(t, queue, intake, 1000)
	var mu sync.Mutex
	var reports []string
	w.Start(func(err error) {
		mu.Lock()
		reports = append(reports, err.Error())
		mu.Unlock()
	})
	defer w.Close()
	const n = 200
	for i := range n {
		u := fmt.Sprintf("user%03d", i)
		f, err := os.CreateTemp(intake, ".*.tmp")
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(`{"username": "` + u + `"}` + "\n")
		f.Sync()
		f.Close()
		if err := os.Link(f.Name(), filepath.Join(intake, u+".send")); err != nil {
			t.Fatal(err)
		}
		os.Remove(f.Name())
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(names(t, queue)) < n && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	refused := 0
	for _, r := range reports {
		if strings.Contains(r, "stays in the intake") {
			refused++
		}
	}
	if refused > 0 {
		t.Errorf("%d of %d users written the module's way were reported as staying in the intake, e.g. %s", refused, n, reports[0])
	}
	if got := len(names(t, queue)); got != n {
		t.Errorf("%d of %d admitted", got, n)
	}
}
