package policy

import (
	"strings"
	"testing"
	"time"
)

// failing opens an outage by three failures of different users at t.
func failing(t time.Time) Gate {
	var g Gate
	for _, u := range []string{"a", "b", "c"} {
		g.Answer(Failure, NoEvidence, u, t)
	}
	return g
}

func TestOneUsersFailuresAreNoOutageButARunOfSeveralIs(t *testing.T) {
	var g Gate
	for range 5 {
		g.Answer(Failure, NoEvidence, "badaddr", t0)
	}
	if g.Failing {
		t.Fatal("one user's own failures held everyone back")
	}
	g.Answer(Served, NoEvidence, "carol", at(time.Second))
	g.Answer(Failure, NoEvidence, "dave", at(2*time.Second))
	g.Answer(Failure, NoEvidence, "erin", at(2*time.Second))
	if g.Failing {
		t.Fatal("two failures held everyone back")
	}
	g.Answer(Failure, NoEvidence, "frank", at(3*time.Second))
	if !g.Failing || !g.Since.Equal(at(2*time.Second)) {
		t.Fatalf("a run of three failures of several users is no outage from its first failure: %+v", g)
	}
}

func TestEveryonesProblemIsAnOutageAtOnce(t *testing.T) {
	for _, c := range []struct {
		kind     Kind
		evidence Evidence
	}{{Unavailable, NoEvidence}, {Unauthorized, NoEvidence}, {Refusal, ServiceOff}} {
		var g Gate
		g.Answer(c.kind, c.evidence, "alice", t0)
		if !g.Failing {
			t.Errorf("%s (evidence %d) did not hold calls back at once", c.kind, c.evidence)
		}
	}
}

// Defect 6: refusals at an outage's start count in the run as soon as they
// are answered, before any probe weighed them.
func TestRefusalsNotYetWeighedHoldTheNextCallsBack(t *testing.T) {
	var g Gate
	for _, u := range []string{"a", "b", "c"} {
		g.Answer(Refusal, NoEvidence, u, t0)
	}
	if !g.Failing {
		t.Fatal("three refusals that no probe could place yet let the next calls through")
	}
}

// Defect 6: in an outage every call counts against its one call a second,
// the evidence probe's included.
func TestAnOutageAdmitsOneCallASecond(t *testing.T) {
	g := failing(t0)
	calls := 0
	for ms := 0; ms < 10_000; ms += 100 {
		if ok, _ := g.Admits(at(time.Duration(ms) * time.Millisecond)); ok {
			calls++
		}
	}
	// The outage's own last failure was its call of the first second.
	if calls != 9 {
		t.Fatalf("%d calls in the 9 s after the outage's first, want 9", calls)
	}
	if ok, why := g.Admits(at(9500 * time.Millisecond)); ok || !strings.Contains(why, "one call a second") {
		t.Fatalf("a second call within the same second: %t %q", ok, why)
	}
}

// Defect 1: the first answer after UMC's return may be a refusal; when the
// probe shows UMC's self-service working, the outage ends and the users who
// waited because of it are due at once.
func TestAnOutageEndedByAProvenRefusalReleasesItsUsers(t *testing.T) {
	for _, ev := range []Evidence{LikeImpossible, UnlikeImpossible} {
		g := failing(t0)
		waited := User{FirstSeen: t0, LastAt: at(time.Second), NextTry: at(10 * time.Minute)}
		waited = g.Mark(waited)
		g.Answer(Refusal, NoEvidence, "replicating", at(time.Minute))
		g.Answer(Refusal, ev, "replicating", at(time.Minute))
		if g.Failing {
			t.Fatalf("evidence %d: a refusal while UMC works did not end the outage", ev)
		}
		if !g.Due(waited, at(61*time.Second)) {
			t.Errorf("evidence %d: a user who waited because of the outage keeps its pause after UMC works again", ev)
		}
	}
}

// Defect 2: the outage's mark travels with the user (its carried line);
// a process that never saw the outage releases it at UMC's first 200.
func TestAnOutagesEndReleasesUsersCarriedOverFromBeforeARestart(t *testing.T) {
	before := failing(t0)
	carried := before.Mark(User{FirstSeen: t0, LastAt: at(time.Second), NextTry: at(10 * time.Minute)})
	if carried.OutageSince.IsZero() {
		t.Fatal("a user waiting in an outage was not marked so")
	}
	var after Gate // a new process: no outage known
	if after.Due(carried, at(time.Minute)) {
		t.Fatal("due before UMC showed it works")
	}
	after.Answer(Served, NoEvidence, "new", at(time.Minute))
	if !after.Due(carried, at(time.Minute+time.Second)) {
		t.Fatal("a user carried over from an outage keeps its pause although UMC serves others")
	}
}

func TestDue(t *testing.T) {
	waiting := User{FirstSeen: t0, LastAt: at(time.Minute), NextTry: at(2 * time.Minute)}
	released := func(since, end time.Duration) Gate {
		g := failing(at(since))
		g.Answer(Served, NoEvidence, "x", at(end))
		return g
	}
	cases := []struct {
		name string
		user User
		gate Gate
		now  time.Time
		want bool
	}{
		{"never asked", User{FirstSeen: t0}, Gate{}, t0, true},
		{"pause not over", waiting, Gate{}, at(90 * time.Second), false},
		{"pause over", waiting, Gate{}, at(2 * time.Minute), true},
		{"its last answer in an outage that ended", waiting, released(50*time.Second, 80*time.Second), at(90 * time.Second), true},
		{"an outage that ended before its last answer", waiting, released(10*time.Second, 30*time.Second), at(90 * time.Second), false},
		{"its own failure before the outage began", waiting, released(65*time.Second, 80*time.Second), at(90 * time.Second), false},
		{"an outage not over", waiting, failing(at(50 * time.Second)), at(90 * time.Second), false},
		{"its own failure while UMC served others", waiting, func() Gate { var g Gate; g.Answer(Served, NoEvidence, "x", at(80*time.Second)); return g }(), at(90 * time.Second), false},
	}
	for _, c := range cases {
		if got := c.gate.Due(c.user, c.now); got != c.want {
			t.Errorf("%s: due %t, want %t", c.name, got, c.want)
		}
	}
}

// Defect 7: a carried next_try written while the clock was a day ahead
// holds the user no longer than Backoff_Max.
func TestACarriedPauseFromAClockAheadIsBoundedByBackoffMax(t *testing.T) {
	ahead := User{FirstSeen: at(24 * time.Hour), LastAt: at(24 * time.Hour), NextTry: at(24*time.Hour + 10*time.Minute)}
	u := Restored(ahead, t0, settings)
	if u.NextTry.After(t0.Add(settings.BackoffMax)) {
		t.Fatalf("held until %s, more than Backoff_Max %s from now", u.NextTry, settings.BackoffMax)
	}
	if !u.FirstSeen.Equal(t0) {
		t.Fatalf("first seen %s, in the future", u.FirstSeen)
	}
	fine := User{FirstSeen: at(-time.Hour), NextTry: at(time.Minute)}
	if got := Restored(fine, t0, settings); got != fine {
		t.Fatalf("a sound carried state changed: %+v", got)
	}
}

// Issue 26: UMC rejecting the configured credentials never ends a user.
func TestRejectedCredentialsNeverEndAUser(t *testing.T) {
	u := User{FirstSeen: at(-time.Hour)}
	step := Decide(u, Answer{Kind: Unauthorized, Text: "HTTP 401", Status: 401, At: t0}, t0, 0, settings)
	if step.Kind != Wait || !strings.Contains(step.Reason, "credentials") {
		t.Fatalf("%s: %s", step.Kind, step.Reason)
	}
}
