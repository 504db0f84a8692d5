package deadletters

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"umc-invite/umc/spool"
)

// Two overlapping `umc-invite requeue bob` runs (two operators, a cron job
// and a hand run): the second waits for the first, then finds bob queued.
// Without the lock both could check before either wrote, and with the
// plugin delivering the first file in between, bob would be mailed twice.
func TestOverlappingRequeueRunsQueueOnce(t *testing.T) {
	q := t.TempDir()
	dead := filepath.Join(q, "failed")
	in := filepath.Join(q, "incoming")
	os.MkdirAll(in, 0o755)
	dl, err := spool.OpenDeadLetters(nil, dead)
	if err != nil {
		t.Fatal(err)
	}
	defer dl.Close()
	if err := dl.Append(spool.DeadLetter{Time: time.Now().UTC().Add(-time.Hour), Kind: spool.KindRefused, Username: "bob", Reason: "refused"}); err != nil {
		t.Fatal(err)
	}
	type result struct {
		r   []Result
		err error
	}
	aDone := make(chan result, 1)
	a := &Requeuer{QueueDir: q}
	b := &Requeuer{QueueDir: q, Now: func() time.Time {
		// B holds the lock, has read the log and checked both directories.
		go func() { r, err := a.Requeue([]string{"bob"}, false); aDone <- result{r, err} }()
		select {
		case <-aDone:
			t.Error("A ran while B held the lock")
		case <-time.After(200 * time.Millisecond):
		}
		return time.Now()
	}}
	rb, err := b.Requeue([]string{"bob"}, false)
	if err != nil || !rb[0].Queued {
		t.Fatalf("B: %+v %v", rb, err)
	}
	ra := <-aDone
	if ra.err != nil || ra.r[0].Queued {
		t.Fatalf("A after B: %+v %v: bob queued twice", ra.r, ra.err)
	}
	if files, _ := filepath.Glob(filepath.Join(in, "*.send")); len(files) != 1 {
		t.Fatalf("queue files %v", files)
	}
}
