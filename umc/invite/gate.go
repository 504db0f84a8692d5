package invite

import (
	"context"
	"sync"
	"time"

	"umc-invite/umc/policy"
)

// gate holds the output's calls back while UMC fails for everyone: the
// outage rule is policy.Gate's; this adds the one turn at a time across
// the output's concurrent calls.
type gate struct {
	mu       sync.Mutex
	state    policy.Gate
	probing  bool          // the outage's one call in flight
	answered chan struct{} // closed when its turn ends
}

// admit says whether a call may start now; while UMC fails, only one at a
// time, one a second. A call that finds the turn taken waits for its end
// (within ctx): if UMC served it, everyone goes. For turn true, the caller
// must end the turn it got (non-nil) with endTurn, whatever happens: a
// deferred call.
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

// pace waits, in an outage, for the next call's second: the evidence
// probe's calls count against the outage's one call a second. It waits
// one spacing of real time at the most, whatever the output's clock says
// (a clock that stands still must not hold the outage's turn for ever).
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

// answer takes one call's answer and says whether it is the user's own
// failure (policy.Gate.Answer). weigh: the caller weighs the answer with
// the probe next; if the answer opened an outage and no call has the turn,
// the caller gets it (to end with endTurn), so that the calls meanwhile
// wait for the evidence rather than give up.
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

// endTurn ends the outage's one call's turn, answered or not; ending it
// twice, or after a later turn began, does nothing.
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

// stillOpen says whether an admitted call may still go after waiting for
// a slot or the rate limit: the turn's call may; others only if no outage
// began meanwhile. weighing: another call has the turn, weighing whether
// the outage stands.
func (g *gate) stillOpen(turn chan struct{}) (open bool, why string, weighing bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return turn != nil || !g.state.Failing, g.state.Reason(), g.probing
}

// due reports whether u may be called at now (policy.Gate.Due).
func (g *gate) due(u policy.User, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.state.Due(u, now)
}

// mark records in u the outage under way (policy.Gate.Mark).
func (g *gate) mark(u policy.User) policy.User {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.state.Mark(u)
}
