package invite

import (
	"testing"
	"time"

	"umc-invite/tests/umctest"
	"umc-invite/umc/config"
)

// Fluent Bit stopped right after the output took over its queue (a quick
// restart, a failed start of another plugin) must not hang on shutdown:
// the wait for tail to bring the queued files ends with the output.
func TestStoppingRightAfterTheQueueIsTakenOverReturns(t *testing.T) {
	f := newFixture(t, &umctest.UMC{}, config.Map{})
	for i := range 50 {
		var r rehand
		r.start(f.out, nil, time.Hour)
		closed := make(chan struct{})
		go func() {
			r.close()
			close(closed)
		}()
		select {
		case <-closed:
		case <-time.After(5 * time.Second):
			t.Fatalf("stop %d right after a start still waits after 5s: Fluent Bit hangs on shutdown", i+1)
		}
	}
}
