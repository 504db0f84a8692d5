//go:build linux

package intake

import (
	"strings"
	"testing"
)

// A queue file whose name fits a file name (the listener module writes
// <uid>.send for uids of up to 250 characters) is admitted like any other:
// its hidden stage name is longer, which is the intake's business, not the
// user's. Left in the intake it would never be sent nor dead-lettered.
func TestAQueueFileWithALongNameIsAdmitted(t *testing.T) {
	queue, intake := dirs(t)
	w := open(t, queue, intake, 10)
	long := strings.Repeat("a", 245) // long.send: 250 bytes
	put(t, intake, long, 1)
	put(t, intake, "bob", 2)
	for i := 0; i < 3; i++ {
		w.mu.Lock()
		w.stale = true
		w.mu.Unlock()
		if _, err := w.TopUp(); err != nil {
			t.Logf("top-up %d: %v", i, err)
		}
	}
	if got := join(names(t, queue)); got != long+",bob" { // sorted
		t.Fatalf("queue holds %q; want bob and the %d-character user", got, len(long))
	}
}
