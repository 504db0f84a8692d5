// Package policy decides a user's fate, purely, by the rules of
// docs/delivery.md: no count decides.
package policy

import (
	"fmt"
	"time"
)

// Settings are the keys the decision reads.
type Settings struct {
	RefusalGrace time.Duration // Refusal_Grace
	MaxAge       time.Duration // Max_Age
	BackoffMin   time.Duration // Backoff_Min
	BackoffMax   time.Duration // Backoff_Max
}

// Kind is UMC's answer as the decision reads it.
type Kind int

const (
	Served       Kind = iota // 200 from UMC: the invitation went out
	Refusal                  // 400 or 403: somebody's refusal, whose is for the evidence to say
	Failure                  // 500 and the like: the mail relay, a module error
	Unavailable              // UMC unreachable, 5xx gateways, not UMC at all
	Unauthorized             // 401 or 403: the configured credentials rejected; the operator's to fix
)

// String is the class's name, as the metrics label it.
func (k Kind) String() string {
	return [...]string{"delivered", "refused", "failed", "unavailable", "unauthorized"}[k]
}

// Evidence is what the probe asked after an answer says of it.
type Evidence int

const (
	NoEvidence       Evidence = iota // no probe after the answer, or it cannot be placed
	ServiceOff                       // the made-up method refused alike: self-service off; nobody's refusal
	LikeImpossible                   // self-service works; refused in the impossible user's words
	UnlikeImpossible                 // self-service works; refused otherwise: not the user's refusal
)

// Answer is one call's outcome, with the evidence taken after it.
type Answer struct {
	Kind     Kind
	Text     string    // for the user's LastAnswer and a letter
	Status   int       // HTTP status, 0 for none
	Message  string    // UMC's own message, "" for none
	At       time.Time // when the answer came
	Evidence Evidence
}

// StepKind is what happens to the user next.
type StepKind int

const (
	Delivered StepKind = iota // invited: its file goes
	Refused                   // proven refusal: recorded, its file set aside
	Wait                      // stays queued until Step.Until
	Expired                   // Max_Age old and still not served: a dead letter
)

func (k StepKind) String() string {
	return [...]string{"delivered", "refused", "wait", "expired"}[k]
}

// Step is the decision: what to do, why, and the user as known after it.
type Step struct {
	Kind   StepKind
	Until  time.Time // for Wait: when the user is due again
	Reason string
	User   User
}

// Decide takes UMC's answer a for user u at now; jitter, in [0, 1), shortens the pause.
func Decide(u User, a Answer, now time.Time, jitter float64, s Settings) Step {
	u.LastAnswer, u.LastStatus, u.LastUMC, u.LastAt = a.Text, a.Status, a.Message, a.At
	// The caller marks an outage (Gate.Mark) or an own failure (Gate.Answer).
	u.OutageSince, u.OwnFailure = time.Time{}, false
	if a.Kind == Served {
		u.NextTry, u.Pause = time.Time{}, 0
		return Step{Kind: Delivered, Reason: "UMC answered 200: " + a.Text, User: u}
	}
	why := waitReason(a)
	if a.Kind == Refusal {
		switch a.Evidence {
		case LikeImpossible:
			if u.LikeUnknownSince.IsZero() {
				u.LikeUnknownSince = a.At
			}
			if since := a.At.Sub(u.LikeUnknownSince); since >= s.RefusalGrace {
				return Step{Kind: Refused, User: u, Reason: fmt.Sprintf(
					"refused by UMC in the words it uses for a user that cannot exist, while its self-service works, "+
						"since %s (Refusal_Grace %s): %s", u.LikeUnknownSince.UTC().Format(time.RFC3339), s.RefusalGrace, a.Text)}
			}
			why = fmt.Sprintf("refused like a user that cannot exist, since %s: refused only if still so after Refusal_Grace %s (replication, a group added later)",
				u.LikeUnknownSince.UTC().Format(time.RFC3339), s.RefusalGrace)
		case UnlikeImpossible:
			u.LikeUnknownSince = time.Time{}
		}
	}
	if s.MaxAge > 0 && now.Sub(u.FirstSeen) >= s.MaxAge {
		return expired(u, now, s)
	}
	u.Pause = nextPause(u.Pause, s)
	wait := jittered(u.Pause, jitter, s)
	u.NextTry = now.Add(wait)
	return Step{Kind: Wait, Until: u.NextTry, User: u, Reason: fmt.Sprintf("%s (%s); next try in %s", why, a.Text, wait.Round(time.Second))}
}

// Aged ends a user Max_Age old between calls; one never answered gets its call first.
func Aged(u User, now time.Time, s Settings) (Step, bool) {
	if s.MaxAge <= 0 || u.LastAnswer == "" || now.Sub(u.FirstSeen) < s.MaxAge {
		return Step{}, false
	}
	return expired(u, now, s), true
}

func expired(u User, now time.Time, s Settings) Step {
	return Step{Kind: Expired, User: u, Reason: fmt.Sprintf("not served in %s since it was queued (Max_Age %s); UMC's last answer: %s",
		roundAge(now.Sub(u.FirstSeen)), s.MaxAge, u.LastAnswer)}
}

// jittered shortens pause p by up to half, within BackoffMin (UMC's per-user rate limit) and BackoffMax.
func jittered(p time.Duration, jitter float64, s Settings) time.Duration {
	w := p - time.Duration(float64(p/2)*clamp(jitter))
	return min(max(w, s.BackoffMin), max(s.BackoffMax, s.BackoffMin))
}

func nextPause(p time.Duration, s Settings) time.Duration {
	switch {
	case p < s.BackoffMin:
		p = s.BackoffMin
	case p >= s.BackoffMax/2:
		p = s.BackoffMax
	default:
		p *= 2
	}
	return min(max(p, s.BackoffMin), max(s.BackoffMax, s.BackoffMin))
}

func waitReason(a Answer) string {
	switch {
	case a.Kind == Refusal && a.Evidence == ServiceOff:
		return "refused while UMC's self-service refuses a made-up method alike (switched off or broken): nobody's refusal"
	case a.Kind == Refusal && a.Evidence == UnlikeImpossible:
		return "refused in other words than a user that cannot exist: refuses nobody"
	case a.Kind == Unavailable && a.Evidence == UnlikeImpossible:
		return "UMC unavailable for this user while its self-service works (the probe asked after): its own"
	case a.Kind == Refusal:
		return "refused, and UMC's refusal of a user that cannot exist could not be compared: refuses nobody"
	case a.Kind == Failure:
		return "failed: a failure is never the user's own"
	case a.Kind == Unauthorized:
		return "the configured credentials are rejected (401/403): nobody's refusal"
	}
	return "UMC unavailable"
}

func clamp(j float64) float64 {
	if j < 0 || j != j {
		return 0
	}
	return min(j, 1)
}

func roundAge(d time.Duration) time.Duration {
	if d > time.Hour {
		return d.Round(time.Minute)
	}
	return d.Round(time.Second)
}
