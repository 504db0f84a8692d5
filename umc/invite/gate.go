package invite

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// outageSpacing bounds the calls while UMC fails for everyone: one call at
// a time finds out whether UMC is back, at most one a second, whatever the
// queue holds (the promise is one a second after the outage's first
// minute; holding to it from the start also keeps one flush from calling
// its users back to back into an outage).
const outageSpacing = time.Second

// gate holds the output's calls back while UMC fails for everyone. It knows
// nothing of users: a failing call opens an outage, a 200 closes it, and a
// 200 that closes an outage that lasted (Backoff_Min or longer) releases
// every waiting user at once (decide.Due).
type gate struct {
	mu          sync.Mutex
	releaseMin  time.Duration // outages shorter than this release nobody
	failing     bool
	since       time.Time     // first failure of the outage
	probing     bool          // the one call of the outage in flight
	answered    chan struct{} // closed when it is answered
	lastProbe   time.Time
	released    time.Time // the 200 that closed the last outage
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

// done reports a call's answer at the time it came: served (a 200), or
// failing for everyone as far as can be told (outage); neither is a
// refusal while UMC demonstrably works, which closes an outage but
// releases nobody.
func (g *gate) done(probe, served, outage bool, at time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if probe {
		g.endProbe()
	}
	switch {
	case !served && !outage:
		g.failing = false
	case served:
		if g.failing && at.Sub(g.since) >= g.releaseMin {
			g.released = at
		}
		g.failing = false
		g.lastSuccess = at
	case !g.failing && at.After(g.lastSuccess):
		g.failing, g.since, g.lastProbe = true, at, at
	}
}

// releasedAt is when UMC last came back from an outage (zero: never).
func (g *gate) releasedAt() time.Time {
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
