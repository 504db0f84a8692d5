package invite

import (
	"context"
	"sync"
	"time"

	"umc-invite/umc/policy"
)

// gate is policy.Gate plus the outage's one turn at a time across calls.
type gate struct {
	mu       sync.Mutex
	state    policy.Gate
	probing  bool          // the outage's one call in flight
	answered chan struct{} // closed when its turn ends
}

// admit says whether a call may start now; a call finding the turn taken
// waits for its end once. The caller must endTurn the turn it got.
func (g *gate) admit(ctx context.Context, now func() time.Time) (ok bool, turn chan struct{}, why string) {
	waited := false
	for {
		g.mu.Lock()
		if !g.state.Failing {
			g.mu.Unlock()
			return true, nil, ""
		}
		if g.probing && !waited {
			answered := g.answered
			g.mu.Unlock()
			select {
			case <-answered:
			case <-ctx.Done():
			}
			waited = true
			continue
		}
		if g.probing || waited {
			defer g.mu.Unlock()
			return false, nil, g.state.Reason()
		}
		if ok, why := g.state.Admits(now()); !ok {
			g.mu.Unlock()
			return false, nil, why
		}
		g.probing, g.answered = true, make(chan struct{})
		g.mu.Unlock()
		return true, g.answered, ""
	}
}

// pace waits in an outage for the probe's next second, at most one spacing of real time.
func (g *gate) pace(ctx context.Context, now func() time.Time) error {
	deadline := time.Now().Add(policy.OutageSpacing)
	for {
		g.mu.Lock()
		ok, _ := g.state.Admits(now())
		if !ok && !time.Now().Before(deadline) {
			g.state.LastCall, ok = now(), true
		}
		g.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(policy.OutageSpacing / 10):
		}
	}
}

// answer is policy.Gate.Answer; with weigh, an outage it opened gives the
// caller the turn, so calls meanwhile wait for the evidence.
func (g *gate) answer(s policy.Sighting, weigh bool) (own bool, turn chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	was := g.state.Failing
	own = g.state.Answer(s)
	if weigh && !was && g.state.Failing && !g.probing {
		g.probing, g.answered = true, make(chan struct{})
		turn = g.answered
	}
	return own, turn
}

// endTurn ends the outage's turn; again, or after a later turn, no-op.
func (g *gate) endTurn(turn chan struct{}) {
	if turn == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.probing && g.answered == turn {
		close(g.answered)
		g.probing = false
	}
}

// stillOpen says whether an admitted call may still go; weighing: another call has the turn.
func (g *gate) stillOpen(turn chan struct{}) (open bool, why string, weighing bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if open = turn != nil || !g.state.Failing; !open {
		why = g.state.Reason() // spelled out only when held
	}
	return open, why, g.probing
}

func (g *gate) worked() time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.state.Worked
}

func (g *gate) failing() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.state.Failing
}

func (g *gate) due(u policy.User, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.state.Due(u, now)
}

func (g *gate) mark(u policy.User) policy.User {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.state.Mark(u)
}
