package invite

import (
	"context"
	"testing"
	"time"
)

// While UMC fails for everyone: one call at a time, one a second; a call
// that finds the one call in flight waits for its answer and goes if UMC
// served it; a 200 closing an outage of Backoff_Min or longer releases
// everyone waiting.
func TestGate(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	now := t0
	clock := func() time.Time { return now }
	g := &gate{releaseMin: 5 * time.Second}
	ctx := context.Background()
	if ok, probe, _ := g.admit(ctx, clock); !ok || probe {
		t.Fatal("a healthy UMC holds calls back")
	}
	// One user's failures, however many, are no outage.
	g.done(false, sigFailed, "badaddr", now)
	g.done(false, sigFailed, "badaddr", now)
	g.done(false, sigFailed, "badaddr", now)
	if ok, probe, _ := g.admit(ctx, clock); !ok || probe {
		t.Fatal("one user's own failures held everyone back")
	}
	// A success ends the run: two more failures of others are no outage.
	g.done(false, sigServed, "carol", now)
	now = now.Add(time.Millisecond)
	runSince := now
	g.done(false, sigFailed, "badaddr", now)
	g.done(false, sigFailed, "dave", now)
	if ok, probe, _ := g.admit(ctx, clock); !ok || probe {
		t.Fatal("two failures held everyone back")
	}
	g.done(false, sigFailed, "erin", now) // the third in a row, of more than one user: the outage begins
	if ok, _, why := g.admit(ctx, clock); ok {
		t.Fatal("a second call at once into an outage")
	} else if why == "" {
		t.Fatal("no reason")
	}
	now = now.Add(time.Second)
	ok, probe, _ := g.admit(ctx, clock)
	if !ok || !probe {
		t.Fatal("no call a second later")
	}
	// Another call finds the probe in flight: it waits for its answer.
	got := make(chan bool)
	go func() { ok, _, _ := g.admit(ctx, clock); got <- ok }()
	select {
	case <-got:
		t.Fatal("a second call while the probe is in flight")
	case <-time.After(50 * time.Millisecond):
	}
	now = now.Add(10 * time.Second)
	g.done(true, sigServed, "frank", now) // served: the outage is over
	if !<-got {
		t.Fatal("the waiting call did not go once UMC served the probe")
	}
	if r := g.releasedAt(); !r.End.Equal(now) || !r.Since.Equal(runSince) {
		t.Fatalf("released %+v, want from the run's first failure to the 200's time (an outage of 11 s)", r)
	}
	// A short outage, closed by a 200 within Backoff_Min, releases nobody.
	for _, u := range []string{"a", "b", "c"} {
		g.done(false, sigFailed, u, now.Add(time.Second))
	}
	g.done(false, sigServed, "d", now.Add(2*time.Second))
	if r := g.releasedAt(); !r.End.Equal(now) {
		t.Fatalf("released again at %v by a blip", r)
	}
	// A refusal while UMC demonstrably works closes an outage, releasing nobody.
	for _, u := range []string{"a", "b", "c"} {
		g.done(false, sigFailed, u, now.Add(3*time.Second))
	}
	g.done(false, sigWorks, "e", now.Add(20*time.Second))
	if ok, probe, _ := g.admit(ctx, clock); !ok || probe {
		t.Fatal("held back after a refusal while UMC works")
	}
	// UMC unreachable is everyone's problem: an outage at once, one call.
	now = now.Add(30 * time.Second)
	g.done(false, sigDown, "a", now)
	if ok, _, _ := g.admit(ctx, clock); ok {
		t.Fatal("UMC unreachable did not hold calls back")
	}
}
