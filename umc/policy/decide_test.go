package policy

import (
	"strings"
	"testing"
	"time"
)

var settings = Settings{RefusalGrace: 15 * time.Minute, MaxAge: 120 * time.Hour, BackoffMin: 5 * time.Second, BackoffMax: 10 * time.Minute}

var t0 = time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func TestDecide(t *testing.T) {
	fresh := User{FirstSeen: t0}
	waiting := User{FirstSeen: t0, LastAnswer: "HTTP 500", LastAt: at(time.Minute), Pause: 40 * time.Second, NextTry: at(time.Minute + 40*time.Second)}
	likeUnknown := User{FirstSeen: t0, LastAnswer: "HTTP 400: No address", LastAt: at(time.Minute), Pause: 5 * time.Second, LikeUnknownSince: at(time.Minute)}
	old := User{FirstSeen: at(-120 * time.Hour), LastAnswer: "HTTP 503", Pause: 10 * time.Minute}
	cases := []struct {
		name  string
		user  User
		ans   Answer
		now   time.Time
		want  StepKind
		until time.Time // for Wait (jitter 0)
		since time.Time // LikeUnknownSince after the step
		in    string    // in the reason
	}{
		{"200 delivers", fresh, Answer{Kind: Served, Text: "HTTP 200", At: at(time.Second)}, at(time.Second), Delivered, time.Time{}, time.Time{}, "200"},
		{"200 delivers a user waiting long", old, Answer{Kind: Served, Text: "HTTP 200", At: t0}, t0, Delivered, time.Time{}, time.Time{}, "200"},
		{"a first failure waits Backoff_Min", fresh, Answer{Kind: Failure, Text: "HTTP 500", At: at(time.Second)}, at(time.Second), Wait, at(6 * time.Second), time.Time{}, "never the user's own"},
		{"a later failure doubles the pause", waiting, Answer{Kind: Failure, Text: "HTTP 500", At: at(2 * time.Minute)}, at(2 * time.Minute), Wait, at(2*time.Minute + 80*time.Second), time.Time{}, "next try in 1m20s"},
		{"the pause stops at Backoff_Max", User{FirstSeen: t0, Pause: 8 * time.Minute}, Answer{Kind: Unavailable, Text: "HTTP 503", At: at(time.Hour)}, at(time.Hour), Wait, at(time.Hour + 10*time.Minute), time.Time{}, "unavailable"},
		{"the pause at Backoff_Max stays", User{FirstSeen: t0, Pause: 10 * time.Minute}, Answer{Kind: Unavailable, Text: "x", At: at(time.Hour)}, at(time.Hour), Wait, at(time.Hour + 10*time.Minute), time.Time{}, ""},
		{"an outage never ends a user", fresh, Answer{Kind: Unavailable, Text: "network error", At: at(time.Second)}, at(time.Second), Wait, at(6 * time.Second), time.Time{}, "unavailable"},
		{"a 400 without evidence refuses nobody", fresh, Answer{Kind: Refusal, Text: "HTTP 400: No address", At: at(time.Second)}, at(time.Second), Wait, at(6 * time.Second), time.Time{}, "could not be compared"},
		{"the disabled 400 refuses nobody", likeUnknown, Answer{Kind: Refusal, Text: "HTTP 400: The password reset was disabled", At: at(30 * time.Minute), Evidence: ServiceOff}, at(30 * time.Minute), Wait, at(30*time.Minute + 10*time.Second), at(time.Minute), "switched off"},
		{"another 400 while UMC works refuses nobody and resets the clock", likeUnknown, Answer{Kind: Refusal, Text: "HTTP 400: other", At: at(30 * time.Minute), Evidence: UnlikeImpossible}, at(30 * time.Minute), Wait, at(30*time.Minute + 10*time.Second), time.Time{}, "other words"},
		{"a first answer like the impossible user starts Refusal_Grace", fresh, Answer{Kind: Refusal, Text: "HTTP 400: No address", At: at(time.Second), Evidence: LikeImpossible}, at(time.Second), Wait, at(6 * time.Second), at(time.Second), "Refusal_Grace"},
		{"still like the impossible user within Refusal_Grace waits", likeUnknown, Answer{Kind: Refusal, Text: "HTTP 400: No address", At: at(15 * time.Minute), Evidence: LikeImpossible}, at(15 * time.Minute), Wait, at(15*time.Minute + 10*time.Second), at(time.Minute), "Refusal_Grace"},
		{"still like the impossible user after Refusal_Grace is refused", likeUnknown, Answer{Kind: Refusal, Text: "HTTP 400: No address", At: at(16 * time.Minute), Evidence: LikeImpossible}, at(16 * time.Minute), Refused, time.Time{}, at(time.Minute), "cannot exist"},
		{"like the impossible user after Refusal_Grace but no evidence waits", likeUnknown, Answer{Kind: Refusal, Text: "HTTP 400: No address", At: at(16 * time.Minute)}, at(16 * time.Minute), Wait, at(16*time.Minute + 10*time.Second), at(time.Minute), ""},
		{"a failure keeps the refusal clock", likeUnknown, Answer{Kind: Failure, Text: "HTTP 500", At: at(2 * time.Minute)}, at(2 * time.Minute), Wait, at(2*time.Minute + 10*time.Second), at(time.Minute), ""},
		{"a proven refusal beats age", User{FirstSeen: at(-200 * time.Hour), LikeUnknownSince: at(-time.Hour)}, Answer{Kind: Refusal, Text: "HTTP 400", At: t0, Evidence: LikeImpossible}, t0, Refused, time.Time{}, at(-time.Hour), ""},
		{"Max_Age old and failing expires with the last answer", old, Answer{Kind: Failure, Text: "HTTP 500: Error sending token", At: t0}, t0, Expired, time.Time{}, time.Time{}, "HTTP 500: Error sending token"},
		{"just under Max_Age waits", User{FirstSeen: at(-120*time.Hour + time.Second)}, Answer{Kind: Unavailable, Text: "x", At: t0}, t0, Wait, at(5 * time.Second), time.Time{}, ""},
		{"Max_Age old and refused without proof expires", old, Answer{Kind: Refusal, Text: "HTTP 400: disabled", At: t0, Evidence: ServiceOff}, t0, Expired, time.Time{}, time.Time{}, "Max_Age"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			step := Decide(c.user, c.ans, c.now, 0, settings)
			if step.Kind != c.want {
				t.Fatalf("step %s (%s), want %s", step.Kind, step.Reason, c.want)
			}
			if c.want == Wait && !step.Until.Equal(c.until) {
				t.Errorf("until %s, want %s", step.Until, c.until)
			}
			if !step.User.LikeUnknownSince.Equal(c.since) {
				t.Errorf("like unknown since %s, want %s", step.User.LikeUnknownSince, c.since)
			}
			if !strings.Contains(step.Reason, c.in) {
				t.Errorf("reason %q does not say %q", step.Reason, c.in)
			}
			if step.User.LastAnswer != c.ans.Text || !step.User.LastAt.Equal(c.ans.At) || !step.User.FirstSeen.Equal(c.user.FirstSeen) {
				t.Errorf("user after the step %+v: keeps its age and takes the answer", step.User)
			}
		})
	}
}

// A user refused like an unknown user for its first minutes, then known:
// it waits through Refusal_Grace and is served; no sequence of answers
// inside Refusal_Grace refuses it.
func TestReplicationLagIsNoRefusal(t *testing.T) {
	u := User{FirstSeen: t0}
	now := t0
	for now.Before(at(14 * time.Minute)) {
		step := Decide(u, Answer{Kind: Refusal, Text: "HTTP 400: No address", At: now, Evidence: LikeImpossible}, now, 0.5, settings)
		if step.Kind != Wait {
			t.Fatalf("at %s: %s (%s), want wait", now.Sub(t0), step.Kind, step.Reason)
		}
		u, now = step.User, step.Until
	}
	if step := Decide(u, Answer{Kind: Served, Text: "HTTP 200", At: now}, now, 0, settings); step.Kind != Delivered {
		t.Fatalf("known at last: %s", step.Kind)
	}
}

// The pauses of a user failing for a long time follow the schedule:
// doubling from Backoff_Min, capped at Backoff_Max, each shortened by at
// most half by jitter; so an hour of failures costs about a dozen calls.
func TestPausesGrowToTheCap(t *testing.T) {
	u := User{FirstSeen: t0}
	now := t0
	calls := 0
	for now.Before(at(time.Hour)) {
		step := Decide(u, Answer{Kind: Failure, Text: "HTTP 500", At: now}, now, 0.999, settings)
		if step.Kind != Wait {
			t.Fatalf("%s", step.Kind)
		}
		wait := step.Until.Sub(now)
		if wait < step.User.Pause/2 || wait > step.User.Pause || step.User.Pause > settings.BackoffMax {
			t.Fatalf("wait %s for pause %s", wait, step.User.Pause)
		}
		u, now = step.User, step.Until
		calls++
	}
	// 5+10+...+320 s halved, then 5 min apart: about 18 calls; at most one
	// pause of Backoff_Min each time would be 720.
	if calls < 10 || calls > 25 {
		t.Errorf("%d calls in an hour of failures", calls)
	}
}

func TestAged(t *testing.T) {
	asked := User{FirstSeen: at(-121 * time.Hour), LastAnswer: "HTTP 503", LastAt: at(-time.Minute), NextTry: at(time.Minute)}
	if step, ok := Aged(asked, t0, settings); !ok || step.Kind != Expired || !strings.Contains(step.Reason, "HTTP 503") {
		t.Errorf("a waiting user past Max_Age: %v %+v", ok, step)
	}
	if _, ok := Aged(User{FirstSeen: at(-121 * time.Hour)}, t0, settings); ok {
		t.Error("a user never asked expired without a call")
	}
	if _, ok := Aged(User{FirstSeen: at(-119 * time.Hour), LastAnswer: "x"}, t0, settings); ok {
		t.Error("expired early")
	}
}

// An operator sets Backoff_Min to UMC's per-user rate limit (a refused call
// extends the lockout): the jitter never shortens a pause below it.
func TestNoPauseIsShorterThanBackoffMin(t *testing.T) {
	s := Settings{RefusalGrace: 10 * time.Minute, MaxAge: 120 * time.Hour, BackoffMin: time.Minute, BackoffMax: 10 * time.Minute}
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	u := User{FirstSeen: now}
	step := Decide(u, Answer{Kind: Failure, Text: "HTTP 503", Status: 503, At: now}, now, 0.99, s)
	if step.Kind != Wait {
		t.Fatalf("step %v", step.Kind)
	}
	if pause := step.Until.Sub(now); pause < s.BackoffMin {
		t.Fatalf("first pause %s, shorter than Backoff_Min %s: %s", pause.Round(time.Second), s.BackoffMin, step.Reason)
	}
}
