package invite

import (
	"context"
	"fmt"
	"sync"
	"time"

	"umc-invite/umc/decide"
)

// outageSpacing bounds the calls while UMC fails for everyone: one call at
// a time finds out whether UMC is back, at most one a second, whatever the
// queue holds (the promise is one a second after the outage's first
// minute; holding to it from the start also keeps one flush from calling
// its users back to back into an outage).
const outageSpacing = time.Second

// A run of failures that may be users' own (UMC's 500) is an outage when it
// is this many calls long, with no success between, and of more than one
// user: one user's own failures (an address the relay rejects) are no
// outage however many, and neither is a single 500. An answer that is
// everyone's problem (UMC unreachable) is an outage at once.
const outageRun = 3

// gate holds the output's calls back while UMC fails for everyone. It knows
// nothing of users but their names in a run of failures: UMC unavailable,
// or outageRun failing calls in a row of more than one user, open an
// outage; a 200 closes it,
// and a 200 that closes an outage that lasted Backoff_Min or longer makes
// due at once the users that waited because of it (decide.Due).
type gate struct {
	mu         sync.Mutex
	releaseMin time.Duration // outages shorter than this release nobody
	// The run of failures since the last success: its first failure, its
	// length, its first user and whether another user failed in it.
	runSince    time.Time
	run         int
	runUser     string
	runOthers   bool
	failing     bool
	since       time.Time     // first failure of the outage
	probing     bool          // the one call of the outage in flight
	answered    chan struct{} // closed when it is answered
	lastProbe   time.Time
	released    decide.Outage // the last outage that a 200 closed
	lastSuccess time.Time
}

// admit says whether a call may start now; while UMC fails, only one at a
// time, one a second. A call that finds the one call in flight waits for
// its answer (within ctx): if UMC served it, everyone goes. probe is true
// for the one call: it must report with done or abandon.
func (g *gate) admit(ctx context.Context, now func() time.Time) (ok, probe bool, why string) {
	waited := false
	for {
		g.mu.Lock()
		if !g.failing {
			g.mu.Unlock()
			return true, false, ""
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
		since := g.since
		switch {
		case g.probing || waited:
			g.mu.Unlock()
			return false, false, fmt.Sprintf("UMC fails for everyone since %s: one call at a time finds out whether it is back", since.UTC().Format(time.RFC3339))
		case now().Sub(g.lastProbe) < outageSpacing:
			g.mu.Unlock()
			return false, false, fmt.Sprintf("UMC fails for everyone since %s: at most one call a second", since.UTC().Format(time.RFC3339))
		}
		g.probing, g.lastProbe, g.answered = true, now(), make(chan struct{})
		g.mu.Unlock()
		return true, true, ""
	}
}

// signal is what one call's answer tells the gate.
type signal int

const (
	// sigServed: UMC's 200.
	sigServed signal = iota
	// sigWorks: a refusal while UMC demonstrably works (the probe).
	sigWorks
	// sigFailed: a failure that may be the user's own (UMC's 500, a refusal
	// the probe could not place); an outage only in a run of them.
	sigFailed
	// sigDown: everyone's problem (UMC unreachable, a gateway, not UMC, its
	// self-service switched off): an outage at once.
	sigDown
)

// done reports user's call's answer, as the signal it gives, at the time it
// came. A refusal while UMC demonstrably works ends a run of failures and
// an outage but releases nobody.
func (g *gate) done(probe bool, sig signal, user string, at time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if probe {
		g.endProbe()
	}
	switch {
	case sig == sigWorks:
		g.failing, g.run = false, 0
	case sig == sigServed:
		if g.failing && at.Sub(g.since) >= g.releaseMin {
			g.released = decide.Outage{Since: g.since, End: at}
		}
		g.failing, g.run = false, 0
		g.lastSuccess = at
	case at.After(g.lastSuccess):
		if g.run == 0 {
			g.runSince, g.runUser, g.runOthers = at, user, false
		}
		g.run++
		g.runOthers = g.runOthers || user != g.runUser
		if !g.failing && (sig == sigDown || g.run >= outageRun && g.runOthers) {
			g.failing, g.since, g.lastProbe = true, g.runSince, at
		}
	}
}

// releasedAt is the last outage a 200 ended (zero: none).
func (g *gate) releasedAt() decide.Outage {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.released
}

// abandon gives an admitted call's turn back without an answer: it was
// never made (no slot in time, its file gone).
func (g *gate) abandon(probe bool) {
	if !probe {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.endProbe()
}

// endProbe ends the one call's turn; called with mu held.
func (g *gate) endProbe() {
	if g.probing {
		close(g.answered)
	}
	g.probing = false
}

// stillOpen says whether an admitted call may still go after waiting for
// the rate limit: the probe may; others only if no outage began meanwhile.
func (g *gate) stillOpen(probe bool) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return probe || !g.failing
}

// reason says why calls are held back now.
func (g *gate) reason() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return fmt.Sprintf("UMC fails for everyone since %s: one call at a time finds out whether it is back", g.since.UTC().Format(time.RFC3339))
}
