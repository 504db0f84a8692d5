package decide

import (
	"testing"
	"time"
)

// TestReviewA_PauseShorterThanBackoffMin: Backoff_Min is documented as "a
// waiting user's first pause between its calls" (docs/configuration.md's key table,
// config/keys.go), and an operator sets it to respect UMC's per-user rate
// limit (umc/self-service/passwordreset/limit/per_user/minute: a refused
// call extends the lockout). The jitter shortens every pause by up to
// half, so the first pause is as short as Backoff_Min/2: with Backoff_Min
// 60s a user can be called again after 30 s, inside UMC's minute.
// Expected: no pause shorter than Backoff_Min (jitter within
// [Backoff_Min, ...], never below it).
func TestReviewA_PauseShorterThanBackoffMin(t *testing.T) {
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
