package invite

import (
	"context"
	"testing"
	"time"

	"umc-invite/umc/policy"
)

// While UMC fails for everyone one call at a time has the turn; a call
// that finds the turn taken waits for its end and goes if UMC served it.
func TestAnOutagesOneCallHasTheTurnAndAServedOneLetsEveryoneGo(t *testing.T) {
	now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	g := &gate{}
	ctx := context.Background()
	if ok, turn, _ := g.admit(ctx, clock); !ok || turn != nil {
		t.Fatal("a healthy UMC holds calls back")
	}
	g.answer(policy.Sighting{Kind: policy.Unavailable, User: "a", At: now}, false)
	if ok, _, why := g.admit(ctx, clock); ok || why == "" {
		t.Fatalf("a second call at once into an outage (%q)", why)
	}
	now = now.Add(time.Second)
	ok, turn, _ := g.admit(ctx, clock)
	if !ok || turn == nil {
		t.Fatal("no call a second later")
	}
	got := make(chan bool)
	go func() { ok, _, _ := g.admit(ctx, clock); got <- ok }()
	select {
	case <-got:
		t.Fatal("a second call while the turn's call is in flight")
	case <-time.After(50 * time.Millisecond):
	}
	g.answer(policy.Sighting{Kind: policy.Served, User: "b", At: now}, false)
	g.endTurn(turn)
	if !<-got {
		t.Fatal("the waiting call did not go once UMC served the turn's call")
	}
}

// Ending a turn twice (the deferred end after the answered one) never
// ends a later call's turn.
func TestEndingATurnTwiceLeavesTheNextTurnAlone(t *testing.T) {
	now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	g := &gate{}
	g.answer(policy.Sighting{Kind: policy.Unavailable, User: "a", At: now}, false)
	now = now.Add(time.Second)
	_, first, _ := g.admit(context.Background(), clock)
	g.endTurn(first)
	now = now.Add(time.Second)
	_, second, _ := g.admit(context.Background(), clock)
	g.endTurn(first)
	if !g.probing || second == nil {
		t.Fatal("the first call's second end ended the next call's turn")
	}
}
