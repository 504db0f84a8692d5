package policy

import (
	"testing"
	"time"
)

// aloneSince is the answer for a user whose last failure, at before, was
// its own.
func aloneSince(k Kind, user string, before, t time.Time) Sighting {
	s := again(k, user, before, t)
	s.Prior.OwnFailure = true
	return s
}

// The probe never meets the mail relay: after neither a refusal nor a
// user's own 503, weighed by a probe showing the self-service working, is
// a failure anyone's own (only another user's success places a 500).
func TestOnlyAUsersSuccessMakesAFailureAfterItOnesOwn(t *testing.T) {
	s := time.Second
	served := func(user string, d time.Duration) Sighting { return seen(Served, user, at(d)) }
	refusedLikeUnknown := Sighting{Kind: Refusal, Evidence: LikeImpossible, User: "nobody", At: at(3 * s), FromUMC: true}
	own503 := Sighting{Kind: Unavailable, Evidence: UnlikeImpossible, User: "flaky", At: at(3 * s), FromUMC: true}
	relayOutage := []Sighting{served("x", s), seen(Failure, "a", at(2*s)), seen(Failure, "b", at(2*s)), seen(Failure, "c", at(2*s))}
	for _, c := range []struct {
		name    string
		answers []Sighting
		own     []bool
	}{
		{"a refusal like an unknown user's in an outage of failures, then a failure of a user that failed in it",
			append(append([]Sighting{}, relayOutage...), refusedLikeUnknown, again(Failure, "a", at(2*s), at(4*s))), nil},
		{"a user's own 503 in an outage of failures, then a failure of a user that failed in it",
			append(append([]Sighting{}, relayOutage...), own503, again(Failure, "a", at(2*s), at(4*s))), []bool{false, false, false, false, true, false}},
		{"a success, then a failure of a user that failed before it",
			append(append([]Sighting{}, relayOutage...), served("y", 3*s), again(Failure, "a", at(2*s), at(4*s))), []bool{false, false, false, false, false, true}},
	} {
		var g Gate
		for i, a := range c.answers {
			own := g.Answer(a)
			if want := c.own != nil && c.own[i]; own != want {
				t.Errorf("%s: answer %d (%s for %s) own %t, want %t", c.name, i, a.Kind, a.User, own, want)
			}
		}
	}
}
