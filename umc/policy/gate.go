package policy

import (
	"fmt"
	"time"
)

// OutageSpacing bounds the calls while UMC fails for everyone: one call at
// a time, at most one a second, whatever the queue holds. Every call counts
// against it, the evidence probe's two included.
const OutageSpacing = time.Second

// OutageRun: a run of failures that may be users' own (UMC's 500, a refusal
// no probe could place) is an outage when it is this many calls long, with
// no success between, and of more than one user. An answer that is
// everyone's problem (UMC unreachable, credentials rejected, the
// self-service switched off) is an outage at once.
const OutageRun = 3

// Gate is the outage rule's state: a value, read and changed by pure
// methods with the time passed in. The sender holds one per output and
// keeps the in-flight turn around it; what a user must know of an outage
// to be released after a restart travels in the user (User.OutageSince).
type Gate struct {
	// The run of failures since UMC last worked: its first failure, its
	// length, its first user and whether another user failed in it.
	RunSince  time.Time
	Run       int
	RunUser   string
	RunOthers bool
	// Failing: UMC fails for everyone since Since, for Why.
	Failing bool
	Since   time.Time
	Why     Kind
	// LastCall is the last call made while failing (spacing).
	LastCall time.Time
	// Worked is when UMC last demonstrably worked: a 200, or a refusal
	// while its self-service works.
	Worked time.Time
	// Released is the last outage that ended: from its first failure to
	// the answer that showed UMC working again.
	Released Outage
}

// Outage is one span during which UMC failed for everyone.
type Outage struct{ Since, End time.Time }

// Works reports whether an answer of kind k with evidence e shows UMC
// working: it served, or refused while its self-service demonstrably works.
func Works(k Kind, e Evidence) bool {
	return k == Served || k == Refusal && (e == LikeImpossible || e == UnlikeImpossible)
}

// everyones reports answers that are everyone's problem at once.
func everyones(k Kind, e Evidence) bool {
	return k == Unavailable || k == Unauthorized || k == Refusal && e == ServiceOff
}

// Answer takes one call's answer for user at time at. A refusal is taken
// twice: at once with NoEvidence (it counts in a run, so that refusals at
// an outage's start hold the next calls back at once), and again once the
// probe has weighed it (Works ends the run, ServiceOff opens an outage);
// its second NoEvidence is ignored by the caller.
func (g *Gate) Answer(k Kind, e Evidence, user string, at time.Time) {
	switch {
	case Works(k, e):
		if g.Failing {
			g.Released = Outage{Since: g.Since, End: at}
		}
		g.Failing, g.Run = false, 0
		if at.After(g.Worked) {
			g.Worked = at
		}
	case !at.After(g.Worked):
		// Came before UMC last worked: it says nothing of now.
	default:
		if g.Run == 0 {
			g.RunSince, g.RunUser, g.RunOthers = at, user, false
		}
		g.Run++
		g.RunOthers = g.RunOthers || user != g.RunUser
		if !g.Failing && (everyones(k, e) || g.Run >= OutageRun && g.RunOthers) {
			g.Failing, g.Since, g.Why, g.LastCall = true, g.RunSince, k, at
		}
	}
}

// Admits says whether a call may start at now, and why not: while UMC
// fails for everyone, one a second (the one-at-a-time turn is the
// sender's). Admitted counts the call.
func (g *Gate) Admits(now time.Time) (bool, string) {
	if !g.Failing {
		return true, ""
	}
	if now.Sub(g.LastCall) < OutageSpacing {
		return false, g.Reason() + ": at most one call a second"
	}
	g.LastCall = now
	return true, ""
}

// Reason says why calls are held back.
func (g *Gate) Reason() string {
	what := "UMC fails for everyone"
	if g.Why == Unauthorized {
		what = "UMC rejects the configured credentials (Auth_User)"
	}
	return fmt.Sprintf("%s since %s: one call at a time finds out whether it is back", what, g.Since.UTC().Format(time.RFC3339))
}

// Mark records in u that it waits because of the outage under way, if its
// last answer came during it (or in the run that opened it): it is then
// released when UMC works again, also after a restart.
func (g *Gate) Mark(u User) User {
	if g.Failing && !u.LastAt.IsZero() && !u.LastAt.Before(g.Since) && u.OutageSince.IsZero() {
		u.OutageSince = g.Since
	}
	return u
}

// Due reports whether u may be called at now. A user waits out its own
// pause, unless it waited because of an outage that UMC has since ended
// (its last answer came in the outage, or it carries the mark of one from
// an earlier process) : then it is due at once. A user whose own failure
// came while UMC served others keeps its own growing pause.
func (g *Gate) Due(u User, now time.Time) bool {
	if u.NextTry.IsZero() || !now.Before(u.NextTry) {
		return true
	}
	if !g.Worked.After(u.LastAt) {
		return false
	}
	inReleased := !g.Released.Since.IsZero() && !u.LastAt.Before(g.Released.Since) && g.Released.End.After(u.LastAt)
	return inReleased || !u.OutageSince.IsZero()
}
