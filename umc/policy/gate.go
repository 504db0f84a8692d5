package policy

import (
	"fmt"
	"slices"
	"time"
)

// OutageSpacing: while UMC fails for everyone, one call a second, the probe's included.
const OutageSpacing = time.Second

// OutageRecheck: a user waiting for an outage is due again within this, UMC's return found soon.
const OutageRecheck = 30 * time.Second

// OutageRun distinct users failing with no success between are an outage.
const OutageRun = 3

// Gate is the outage rule's state; a user's part of an outage travels in User.OutageSince.
type Gate struct {
	RunSince time.Time // the failures' run since UMC last worked: first one,
	RunUsers []string  // and its distinct users (at most OutageRun)
	Failing  bool      // UMC fails for everyone since Since, for Why
	Since    time.Time
	Why      Kind
	LastCall time.Time // the last call while failing (spacing)
	Worked   time.Time // UMC last worked: a 200, or a refusal while self-service works
	Served   time.Time // UMC last served a user (a 200)
	Opened   time.Time // when the last outage was found (its run's last answer)
}

// Sighting is one call's answer as the outage rule reads it.
type Sighting struct {
	Kind     Kind
	Evidence Evidence
	User     string
	At       time.Time // when the answer came
	FromUMC  bool      // UMC's own answer (its JSON body), not a proxy's or the network's
	Prior    User      // the user as known before the call
}

// works: UMC served, or the probe shows its self-service working.
func works(k Kind, e Evidence) bool {
	return k == Served || e == LikeImpossible || e == UnlikeImpossible
}

func everyones(k Kind, e Evidence) bool {
	return k == Unavailable || k == Unauthorized || k == Refusal && e == ServiceOff
}

// Answer takes one call's answer and says whether it is the user's own
// failure, which no outage's end releases. Everyone's problems open an
// outage at once, others in a run of OutageRun users; a success ends it.
func (g *Gate) Answer(s Sighting) (own bool) {
	switch {
	case works(s.Kind, s.Evidence):
		g.Failing, g.RunUsers = false, nil
		if s.At.After(g.Worked) {
			g.Worked = s.At
		}
		if s.Kind == Served && s.At.After(g.Served) {
			g.Served = s.At
		}
		return s.Kind == Unavailable
	case !s.At.After(g.Worked):
		return false // came before UMC last worked
	}
	if len(g.RunUsers) == 0 {
		g.RunSince = s.At
	}
	if !slices.Contains(g.RunUsers, s.User) && len(g.RunUsers) < OutageRun {
		g.RunUsers = append(g.RunUsers, s.User)
	}
	if !g.Failing && (everyones(s.Kind, s.Evidence) || len(g.RunUsers) >= OutageRun) {
		g.Failing, g.Since, g.Why, g.LastCall, g.Opened = true, g.RunSince, s.Kind, s.At, s.At
	}
	// Only a success places a failure: the probe never meets the mail relay.
	return s.FromUMC && (s.Kind == Failure || s.Kind == Refusal) && s.Evidence != ServiceOff &&
		s.Prior.LastAnswer != "" && g.Served.After(s.Prior.LastAt)
}

// Admits says whether a call may start at now (counting it), and why not.
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

func (g *Gate) Reason() string {
	what := "UMC fails for everyone"
	if g.Why == Unauthorized {
		what = "UMC rejects the configured credentials (Auth_User)"
	}
	return fmt.Sprintf("%s since %s: one call at a time finds out whether it is back", what, g.Since.UTC().Format(time.RFC3339))
}

// Mark records in u the outage its last answer came in, so UMC's return releases it.
func (g *Gate) Mark(u User) User {
	if g.Failing && !u.OwnFailure && !u.LastAt.IsZero() && !u.LastAt.Before(g.Since) && u.OutageSince.IsZero() {
		u.OutageSince = g.Since
		// Rechecked within OutageRecheck, at the outage's pace: found back soon, even alone.
		if limit := u.LastAt.Add(OutageRecheck); u.NextTry.After(limit) {
			u.NextTry = limit
		}
	}
	return u
}

// Due: u's pause is over, or it waited for an outage and UMC has worked since.
func (g *Gate) Due(u User, now time.Time) bool {
	if u.NextTry.IsZero() || !now.Before(u.NextTry) {
		return true
	}
	// The run that opened the outage: its users answered before it was known.
	opening := !u.OwnFailure && !g.Since.IsZero() && !u.LastAt.Before(g.Since) && !u.LastAt.After(g.Opened)
	return (!u.OutageSince.IsZero() || opening) && g.Worked.After(u.LastAt)
}
