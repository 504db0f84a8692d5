package invite

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"umc-invite/umc"
	"umc-invite/umc/config"
	"umc-invite/umc/record"
)

// A big chunk is read as it is sent: while its users are called, the
// flush has taken at most one part of records more than it has answered,
// and every user is called once.
func TestABigChunkIsReadAsItIsSent(t *testing.T) {
	var taken, answered, mostAhead atomic.Int64
	fake := &fakeUMC{answer: func(string, int) umc.Answer {
		ahead := taken.Load() - answered.Load()
		for most := mostAhead.Load(); ahead > most && !mostAhead.CompareAndSwap(most, ahead); most = mostAhead.Load() {
		}
		answered.Add(1)
		return served()
	}}
	f := newFakeFixture(t, fake, config.Map{"Concurrency": "4", "Intake_Dir": "off"})
	users := names("u", 3*preparedAtOnce+10)
	recs := f.queueFiles(t, users...)
	chunk := func(yield func(record.Record) bool) {
		for _, r := range recs {
			taken.Add(1)
			if !yield(r) {
				return
			}
		}
	}
	if v := f.out.FlushEach(context.Background(), chunk); v != OK {
		t.Fatalf("verdict %v, want OK", v)
	}
	for _, u := range users {
		if n := fake.called(u); n != 1 {
			t.Fatalf("%s called %d times, want 1", u, n)
		}
	}
	// A part prepared, and the one before it in the senders' hands.
	if most, bound := mostAhead.Load(), int64(preparedAtOnce+2*4+1); most > bound {
		t.Errorf("%d records taken ahead of the answers at most, want at most %d: the flush read the chunk before sending it", most, bound)
	}
	if left := f.queued(t); len(left) != 0 {
		t.Errorf("still queued: %v", left)
	}
}

// A part's users are called never asked first, then the longest waiting;
// users whose last failure was their own last: they tell least of UMC.
func TestCallOrderNeverAskedFirstThenLongestWaitingFailingAloneLast(t *testing.T) {
	at := time.Unix(1700000000, 0)
	users := []struct {
		name string
		last time.Time
		own  bool
	}{
		{"own-old", at, true}, {"waiting-new", at.Add(2 * time.Minute), false}, {"never", time.Time{}, false},
		{"own-new", at.Add(time.Hour), true}, {"waiting-old", at.Add(time.Minute), false},
	}
	want := "never waiting-old waiting-new own-old own-new"
	for range 20 { // the shuffle must not matter
		var jobs []*job
		for _, u := range users {
			j := &job{username: u.name}
			j.entry.User.LastAt, j.entry.User.OwnFailure = u.last, u.own
			jobs = append(jobs, j)
		}
		var got []string
		for _, j := range inCallOrder(jobs) {
			got = append(got, j.username)
		}
		if strings.Join(got, " ") != want {
			t.Fatalf("called in order %v, want %s", got, want)
		}
	}
}

// A queue file's record met again in the same chunk, in the same part or
// a later one (tail read it anew after a restart), is still one call.
func TestARecordMetAgainLaterInTheChunkIsNotCalledAgain(t *testing.T) {
	fake := &fakeUMC{answer: func(string, int) umc.Answer { return served() }}
	f := newFakeFixture(t, fake, config.Map{"Concurrency": "2", "Intake_Dir": "off"})
	alice := f.queueFile(t, "alice")
	again := alice
	again.Time = again.Time.Add(time.Second)
	chunk := []record.Record{alice, again}
	chunk = append(chunk, f.queueFiles(t, names("u", preparedAtOnce+5)...)...)
	chunk = append(chunk, alice, again)
	if v := f.flush(context.Background(), chunk); v != OK {
		t.Fatalf("verdict %v, want OK", v)
	}
	if n := fake.called("alice"); n != 1 {
		t.Fatalf("alice called %d times, want 1", n)
	}
	if left := f.queued(t); len(left) != 0 {
		t.Errorf("still queued: %v", left)
	}
}
