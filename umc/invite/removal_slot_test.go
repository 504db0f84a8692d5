package invite

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"umc-invite/tests/umctest"
	"umc-invite/umc/config"
)

// While a backlog is flushed, a kill at any moment finds at most
// Concurrency users answered by UMC and still queued (each invited again
// after a restart): a delivered file is removed before its call slot is
// free, though its directory sync now comes after. And never more than
// Concurrency calls are in flight.
func TestAKillFindsAtMostConcurrencyUsersAnsweredAndStillQueued(t *testing.T) {
	const concurrency, users = 2, 60
	stub := &umctest.UMC{Latency: time.Millisecond}
	var (
		mu        sync.Mutex
		answered  = map[string]bool{}
		inFlight  atomic.Int32
		worstQ    int
		worstCall int32
		queueDir  string
	)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		mu.Lock()
		worstCall = max(worstCall, n)
		still := 0
		for u := range answered {
			if _, err := os.Lstat(filepath.Join(queueDir, u+".send")); err == nil {
				still++
			}
		}
		worstQ = max(worstQ, still)
		mu.Unlock()
		rec := &recorder{ResponseWriter: w}
		stub.ServeHTTP(rec, r)
		if rec.status == 0 || rec.status == http.StatusOK {
			mu.Lock()
			for _, c := range stub.Calls() {
				answered[c.Username] = true
			}
			mu.Unlock()
		}
	})
	f := newFixtureWith(t, h, config.Map{"Concurrency": fmt.Sprint(concurrency)})
	f.stub = stub
	queueDir = f.queue
	var names []string
	for i := range users {
		names = append(names, fmt.Sprintf("u%02d", i))
	}
	if v := f.flush(context.Background(), f.queueFiles(t, names...)); v != OK {
		t.Fatalf("verdict %v\n%s", v, f.logs)
	}
	if left := f.queued(t); len(left) != 0 {
		t.Fatalf("still queued after delivery: %v", left)
	}
	for u, n := range stub.Attempts() {
		if n != 1 {
			t.Errorf("%s invited %d times", u, n)
		}
	}
	if worstCall > concurrency {
		t.Errorf("%d calls in flight at once, Concurrency %d", worstCall, concurrency)
	}
	if worstQ > concurrency {
		t.Errorf("a new call found %d users answered and still queued, Concurrency %d: a kill then invites them all again", worstQ, concurrency)
	}
}

type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(s int) { r.status = s; r.ResponseWriter.WriteHeader(s) }
