package policy

import (
	"strings"
	"testing"
	"time"
)

// seen is UMC's own answer of kind k for user at t, the user never asked.
func seen(k Kind, user string, t time.Time) Sighting {
	return Sighting{Kind: k, User: user, At: t, FromUMC: true}
}

// again is the same answer for a user whose previous answer, at before,
// was a failure too.
func again(k Kind, user string, before, t time.Time) Sighting {
	s := seen(k, user, t)
	s.Prior = User{FirstSeen: t0, LastAnswer: "HTTP 500", LastAt: before}
	return s
}

// failing opens an outage by three failures of different users at t.
func failing(t time.Time) Gate {
	var g Gate
	for _, u := range []string{"a", "b", "c"} {
		g.Answer(seen(Failure, u, t))
	}
	return g
}

// The outage rule, answer by answer: whether UMC fails for everyone after
// the answers, and which answers were the user's own failure.
func TestTheOutageRuleTellsOneUsersFailureFromEveryones(t *testing.T) {
	s := time.Second
	served := func(user string, d time.Duration) Sighting { return seen(Served, user, at(d)) }
	unreached := func(s Sighting) Sighting { s.FromUMC = false; return s }
	cases := []struct {
		name    string
		answers []Sighting
		failing bool
		own     []bool // per answer; nil: none own
	}{
		{"one user's first failure", []Sighting{seen(Failure, "a", t0)}, false, nil},
		{"three users' failures, no success between", []Sighting{seen(Failure, "a", t0), seen(Failure, "b", at(s)), seen(Failure, "c", at(2*s))}, true, nil},
		{"one user failing five times alone", []Sighting{seen(Failure, "a", t0), again(Failure, "a", t0, at(s)), again(Failure, "a", at(s), at(2*s)),
			again(Failure, "a", at(2*s), at(3*s)), again(Failure, "a", at(3*s), at(4*s))}, false, nil},
		{"two failures, a success, one failure", []Sighting{seen(Failure, "a", t0), seen(Failure, "b", at(s)), served("x", 2*s), seen(Failure, "c", at(3*s))}, false, nil},
		{"a success ends an outage at once", []Sighting{seen(Failure, "a", t0), seen(Failure, "b", at(s)), seen(Failure, "c", at(2*s)), served("x", 3*s)}, false, nil},
		{"a failure answered before the last success says nothing", []Sighting{served("x", 3*s), seen(Failure, "a", t0), seen(Failure, "b", at(s)), seen(Failure, "c", at(2*s))}, false, nil},
		{"UMC's 503 for a user never asked: its rate limit or a down UMC", []Sighting{seen(Unavailable, "a", t0)}, true, nil},
		{"UMC's 503, and the probe asked after it shows UMC working", []Sighting{seen(Unavailable, "a", t0),
			{Kind: Unavailable, Evidence: UnlikeImpossible, User: "a", At: at(2 * s), FromUMC: true}}, false, []bool{false, true}},
		{"UMC's 503, and the probe fails too", []Sighting{seen(Unavailable, "a", t0), seen(Unavailable, "a", at(2*s))}, true, nil},
		{"no answer from UMC at all", []Sighting{unreached(seen(Unavailable, "a", t0))}, true, nil},
		{"the credentials rejected", []Sighting{seen(Unauthorized, "a", t0)}, true, nil},
		{"a refusal the probe shows the service switched off in", []Sighting{{Kind: Refusal, Evidence: ServiceOff, User: "a", At: t0, FromUMC: true}}, true, nil},
		// Users failing on their own at the head of the queue: UMC served
		// others after their first failures, their next ones are theirs
		// (they keep their own pause), and two of them hold nobody back.
		{"two users failing again after UMC served others", []Sighting{served("x", s), again(Failure, "b", t0, at(2*s)),
			again(Refusal, "c", t0, at(3*s))}, false, []bool{false, true, true}},
		// Three are a run like any other, whoever failed before: an outage
		// may first meet the users the last one released.
		{"users failing again after UMC served others", []Sighting{served("x", s), again(Failure, "b", t0, at(2*s)),
			again(Failure, "c", t0, at(3*s)), again(Refusal, "d", t0, at(3*s))}, true, []bool{false, true, true, true}},
		// UMC's 503 is its rate limit or a down UMC until the probe asked
		// after it shows its self-service working.
		{"UMC's 503 again for a user that failed before", []Sighting{served("x", s), again(Unavailable, "a", t0, at(2*s))}, true, []bool{false, false}},
		{"a user failing again with no success since its failure", []Sighting{served("x", s), again(Unavailable, "a", at(2*s), at(3*s))}, true, []bool{false, false}},
		{"UMC unreachable again for a user that failed before", []Sighting{served("x", s), unreached(again(Unavailable, "a", t0, at(2*s)))}, true, []bool{false, false}},
		{"credentials rejected again for a user that failed before", []Sighting{served("x", s), again(Unauthorized, "a", t0, at(2*s))}, true, []bool{false, false}},
		// What failed alone once may fail with everyone now (a mail relay
		// failing every mail): failing again with nothing served since is a run.
		{"users known to fail alone, failing again with nothing served since", []Sighting{served("x", s), aloneSince(Failure, "a", at(2*s), at(3*s)),
			aloneSince(Failure, "b", at(2*s), at(3*s)), aloneSince(Failure, "c", at(2*s), at(4*s))}, true, nil},
		{"others' failures around one failing alone", []Sighting{served("x", s), again(Failure, "a", t0, at(2*s)), seen(Failure, "b", at(2*s)),
			seen(Failure, "c", at(3*s)), seen(Failure, "d", at(3*s))}, true, []bool{false, true, false, false, false}},
	}
	for _, c := range cases {
		var g Gate
		for i, a := range c.answers {
			own := g.Answer(a)
			if want := c.own != nil && c.own[i]; own != want {
				t.Errorf("%s: answer %d (%s for %s) own %t, want %t", c.name, i, a.Kind, a.User, own, want)
			}
		}
		if g.Failing != c.failing {
			t.Errorf("%s: failing for everyone %t, want %t", c.name, g.Failing, c.failing)
		}
	}
}

// An outage begins at the first failure of the run that opened it.
func TestAnOutageBeginsAtItsRunsFirstFailure(t *testing.T) {
	var g Gate
	g.Answer(seen(Served, "carol", at(time.Second)))
	g.Answer(seen(Failure, "dave", at(2*time.Second)))
	g.Answer(seen(Failure, "dave", at(2*time.Second)))
	g.Answer(seen(Failure, "erin", at(2*time.Second)))
	if g.Failing {
		t.Fatal("two users' failures held everyone back")
	}
	g.Answer(seen(Failure, "frank", at(3*time.Second)))
	if !g.Failing || !g.Since.Equal(at(2*time.Second)) {
		t.Fatalf("a run of three users' failures is no outage from its first failure: %+v", g)
	}
}

// Defect 6: refusals at an outage's start count in the run as soon as they
// are answered, before any probe weighed them.
func TestRefusalsNotYetWeighedHoldTheNextCallsBack(t *testing.T) {
	var g Gate
	for _, u := range []string{"a", "b", "c"} {
		g.Answer(seen(Refusal, u, t0))
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
		g.Answer(seen(Refusal, "replicating", at(time.Minute)))
		g.Answer(Sighting{Kind: Refusal, Evidence: ev, User: "replicating", At: at(time.Minute), FromUMC: true})
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
	if after.Due(carried, at(20*time.Second)) {
		t.Fatal("due before UMC showed it works")
	}
	after.Answer(seen(Served, "new", at(20*time.Second)))
	if !after.Due(carried, at(21*time.Second)) {
		t.Fatal("a user carried over from an outage keeps its pause although UMC serves others")
	}
}

func TestDue(t *testing.T) {
	waiting := User{FirstSeen: t0, LastAnswer: "HTTP 503", LastAt: at(time.Minute), NextTry: at(2 * time.Minute)}
	own := waiting
	own.OwnFailure = true
	// released is the gate after an outage from since to end, and u as
	// the sender left it when its answer came (marked if in the outage).
	released := func(u User, since, end time.Duration) (Gate, User) {
		g := failing(at(since))
		u = g.Mark(u)
		g.Answer(seen(Served, "x", at(end)))
		return g, u
	}
	type gated struct {
		gate Gate
		user User
	}
	with := func(g Gate, u User) gated { return gated{g, u} }
	cases := []struct {
		name string
		gated
		now  time.Time
		want bool
	}{
		{"never asked", gated{Gate{}, User{FirstSeen: t0}}, t0, true},
		{"pause not over", gated{Gate{}, waiting}, at(90 * time.Second), false},
		{"pause over", gated{Gate{}, waiting}, at(2 * time.Minute), true},
		{"its last answer in an outage that ended", with(released(waiting, 50*time.Second, 80*time.Second)), at(90 * time.Second), true},
		{"its own failure in an outage that ended", with(released(own, 50*time.Second, 80*time.Second)), at(90 * time.Second), false},
		{"an outage that ended before its last answer", with(released(waiting, 10*time.Second, 30*time.Second)), at(85 * time.Second), false},
		{"its failure before the outage began", with(released(waiting, 65*time.Second, 80*time.Second)), at(90 * time.Second), false},
		{"an outage not over", func() gated { g := failing(at(50 * time.Second)); return gated{g, g.Mark(waiting)} }(), at(85 * time.Second), false},
		// Its pause cut to OutageRecheck: UMC's return is found soon, even by a user alone.
		{"an outage not over, OutageRecheck after its last answer", func() gated { g := failing(at(50 * time.Second)); return gated{g, g.Mark(waiting)} }(), at(90 * time.Second), true},
		{"its failure in the run that opened an outage, not yet marked", func() gated {
			g := failing(at(time.Minute))
			g.Answer(seen(Served, "x", at(80*time.Second)))
			return gated{g, waiting}
		}(), at(85 * time.Second), true},
		{"its failure alone, another served after it", func() gated {
			var g Gate
			g.Answer(seen(Failure, "a", at(time.Minute)))
			g.Answer(seen(Served, "x", at(80*time.Second)))
			return gated{g, waiting}
		}(), at(85 * time.Second), false},
		{"its failure while UMC served others", gated{func() Gate { var g Gate; g.Answer(seen(Served, "x", at(80*time.Second))); return g }(), waiting}, at(90 * time.Second), false},
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

// UMC fails for everyone right after an outage ended: the users it
// released, every one of which failed in that outage, meet the new one
// first. Their failures, one distinct user after another with nothing
// served between, are an outage, not each user's own: calls are held back
// to one a second (UMC's 503 is also its rate limit, which every further
// call extends).
func TestAnOutageMetByUsersThatFailedBeforeIsAnOutage(t *testing.T) {
	s := time.Second
	users := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	for _, k := range []Kind{Unavailable, Failure} {
		g := failing(t0)
		for _, u := range users[3:] {
			g.Answer(seen(Failure, u, t0))
		}
		g.Answer(seen(Served, "x", at(s))) // UMC back: the outage ends, everyone is released
		owned := 0
		for i, u := range users {
			if g.Answer(again(k, u, t0, at(2*s+time.Duration(i)*time.Millisecond))) {
				owned++
			}
		}
		if !g.Failing {
			t.Errorf("%s for %d distinct users in a row after UMC served one: failing for everyone %t (%d taken as each user's own), want an outage holding calls to one a second",
				k, len(users), g.Failing, owned)
		}
	}
}
