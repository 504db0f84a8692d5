package invite

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"umc-invite/tests/umctest"
	"umc-invite/umc/config"
)

// deliveryRate is the invitations a second of flushes, each of perFlush users, with
// a UMC answering at once; every user must be delivered and gone.
func deliveryRate(t *testing.T, concurrency, flushes, perFlush int) float64 {
	t.Helper()
	stub := &umctest.UMC{}
	f := newFixture(t, stub, config.Map{"Concurrency": strconv.Itoa(concurrency)})
	batches := make([][]string, flushes)
	for i := range batches {
		for j := range perFlush {
			batches[i] = append(batches[i], fmt.Sprintf("u%d-%d", i, j))
		}
	}
	var took time.Duration
	for _, users := range batches {
		recs := f.queueFiles(t, users...)
		begin := time.Now()
		if v := f.flush(context.Background(), recs); v != OK {
			t.Fatalf("verdict %v\n%s", v, f.logs)
		}
		took += time.Since(begin)
	}
	if left := f.queued(t); len(left) != 0 {
		t.Fatalf("%d delivered file(s) still queued", len(left))
	}
	return float64(flushes*perFlush) / took.Seconds()
}

// A backlog of 200 users flushed at once is not slower with Concurrency 8
// than one after another: sharing the removals' directory sync must not cost
// more than the syncs it saves.
func TestBacklogFlushIsNotSlowerWithMoreConcurrency(t *testing.T) {
	one := deliveryRate(t, 1, 1, 200)
	eight := deliveryRate(t, 8, 1, 200)
	t.Logf("200 users in one flush: %.0f/s with Concurrency 1, %.0f/s with Concurrency 8", one, eight)
	if eight < one/2 {
		t.Fatalf("Concurrency 8 delivers %.0f users/s, under half of Concurrency 1's %.0f/s", eight, one)
	}
}

// Users arriving one at a time (a chunk of one record each, Fluent Bit's
// usual case for an invitation service) are not slowed by the default
// Concurrency: a lone removal waits RemovalLinger for removals that never
// come, Concurrency-1 of them, on every flush.
func TestLoneUsersAreNotSlowedByTheRemovalLinger(t *testing.T) {
	one := deliveryRate(t, 1, 40, 1)
	dflt := deliveryRate(t, 8, 40, 1)
	t.Logf("one user per flush: %.0f/s with Concurrency 1, %.0f/s with Concurrency 8 (the default)", one, dflt)
	if dflt < one/2 {
		t.Fatalf("with the default Concurrency 8, one-user flushes deliver %.0f users/s, under half of Concurrency 1's %.0f/s: each waits for removals that never come", dflt, one)
	}
}
