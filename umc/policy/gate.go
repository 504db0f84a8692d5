package policy

import (
	"fmt"
	"slices"
	"time"
)

// OutageSpacing bounds the calls while UMC fails for everyone: one call at
// a time, at most one a second, whatever the queue holds. Every call counts
// against it, the evidence probe's two included.
const OutageSpacing = time.Second

// OutageRun: failures UMC gave for a call (its 500, a refusal no probe
// could place yet) are an outage when this many distinct users failed with
// no success between, whoever they are: users that failed before, a user's
// own failures too (Gate.Answer).
const OutageRun = 3

// Gate is the outage rule's state: a value, read and changed by pure
// methods with the time passed in. The sender holds one per output and
// keeps the in-flight turn around it; what a user must know of an outage
// to be released after a restart travels in the user (User.OutageSince).
type Gate struct {
	// The run of failures since UMC last worked: its first failure and
	// the distinct users that failed in it (at most OutageRun).
	RunSince time.Time
	RunUsers []string
	// Failing: UMC fails for everyone since Since, for Why.
	Failing bool
	Since   time.Time
	Why     Kind
	// LastCall is the last call made while failing (spacing).
	LastCall time.Time
	// Worked is when UMC last demonstrably worked: a 200, or a refusal
	// while its self-service works.
	Worked time.Time
}

// Sighting is one call's answer as the outage rule reads it.
type Sighting struct {
	Kind     Kind
	Evidence Evidence
	User     string
	At       time.Time // when the answer came
	// FromUMC: UMC's own answer to this call (its JSON error body); false
	// for a network error or a page of a proxy, a gateway, a login: no
	// user's own, however often one user meets it.
	FromUMC bool
	// Prior is the user as known before the call.
	Prior User
}

// Works reports whether an answer of kind k with evidence e shows UMC
// working: it served, or the probe asked after the answer shows its
// self-service working (a refusal, or UMC's 503 for this user alone).
func Works(k Kind, e Evidence) bool {
	return k == Served || e == LikeImpossible || e == UnlikeImpossible
}

// everyones reports answers that are everyone's problem at once: UMC
// unreachable or unavailable (a 503 is also its rate limit, which every
// further call extends), the credentials rejected, the self-service
// switched off.
func everyones(k Kind, e Evidence) bool {
	return k == Unavailable || k == Unauthorized || k == Refusal && e == ServiceOff
}

// Answer takes one call's answer and says whether it is the user's own
// failure: UMC answered it for this call (its 500 or a refusal, never its
// 503), the user's previous answer was a failure too, and UMC served
// others after that one. Such a failure is released by no outage's end:
// the user waits out its own growing pause. Every failure counts, the
// user's own too: at once for everyone's problems, else in a run of
// OutageRun distinct users with no success between. A success ends the
// run and the outage at once.
//
// A refusal, and UMC's own 503, are taken twice: at once with NoEvidence
// (they count, so that the next calls are held back at once: a 503 may be
// UMC's rate limit, which every call extends), and again once the probe
// has weighed them: Works ends the run and the outage (and only then is
// a 503 the user's own), ServiceOff opens an outage. Their second
// NoEvidence is ignored by the caller.
func (g *Gate) Answer(s Sighting) (own bool) {
	switch {
	case Works(s.Kind, s.Evidence):
		g.Failing, g.RunUsers = false, nil
		if s.At.After(g.Worked) {
			g.Worked = s.At
		}
		return s.Kind == Unavailable
	case !s.At.After(g.Worked):
		// Came before UMC last worked: it says nothing of now.
		return false
	}
	if len(g.RunUsers) == 0 {
		g.RunSince = s.At
	}
	if !slices.Contains(g.RunUsers, s.User) && len(g.RunUsers) < OutageRun {
		g.RunUsers = append(g.RunUsers, s.User)
	}
	if !g.Failing && (everyones(s.Kind, s.Evidence) || len(g.RunUsers) >= OutageRun) {
		g.Failing, g.Since, g.Why, g.LastCall = true, g.RunSince, s.Kind, s.At
	}
	return s.FromUMC && (s.Kind == Failure || s.Kind == Refusal) && s.Evidence != ServiceOff &&
		s.Prior.LastAnswer != "" && g.Worked.After(s.Prior.LastAt)
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
// last answer came during it and was no failure of its own: it is then
// released when UMC works again, also after a restart.
func (g *Gate) Mark(u User) User {
	if g.Failing && !u.OwnFailure && !u.LastAt.IsZero() && !u.LastAt.Before(g.Since) && u.OutageSince.IsZero() {
		u.OutageSince = g.Since
	}
	return u
}

// Due reports whether u may be called at now. A user waits out its own
// pause, unless it waited because of an outage (its mark, also one from an
// earlier process) and UMC has worked since its last answer: then it is
// due at once. A user whose own failure came while UMC served others
// keeps its own growing pause.
func (g *Gate) Due(u User, now time.Time) bool {
	if u.NextTry.IsZero() || !now.Before(u.NextTry) {
		return true
	}
	return !u.OutageSince.IsZero() && g.Worked.After(u.LastAt)
}
