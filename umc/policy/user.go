package policy

import (
	"encoding/json"
	"time"
)

// User is what is known of a waiting user: what Decide reads, what the
// ledger holds and what a carried-over line in its queue file says. Its
// zero value, with FirstSeen set, is a user never asked yet.
type User struct {
	FirstSeen  time.Time `json:"first_seen"`            // its age counts from here
	LastAnswer string    `json:"last_answer,omitempty"` // UMC's last answer ("" never asked)
	LastStatus int       `json:"last_status,omitempty"` // its HTTP status, 0 for none
	LastUMC    string    `json:"umc_message,omitempty"` // UMC's own message in it, for a letter
	LastAt     time.Time `json:"last_at,omitzero"`
	// Pause is the pause after its last answer, before jitter; it doubles
	// with every answer that leaves the user waiting. Carried as pause_s.
	Pause   time.Duration `json:"-"`
	NextTry time.Time     `json:"next_try,omitzero"` // not called before this (zero: due)
	// LikeUnknownSince is when UMC first refused it like a user that cannot
	// exist, as a probe asked after proved (zero: never, or not since).
	LikeUnknownSince time.Time `json:"unknown_since,omitzero"`
	// OutageSince is the start of the outage its last answer came in: it is
	// due once UMC works again, also in a later process.
	OutageSince time.Time `json:"outage_since,omitzero"`
	// OwnFailure: its last answer was a failure of its own (Gate.Answer).
	OwnFailure bool `json:"own_failure,omitempty"`
	// Letter and Reason: a refusal or dead letter decided but not yet
	// written (a full disk): written, never sent, next time.
	Letter string `json:"letter,omitempty"`
	Reason string `json:"reason,omitempty"`
}

type plainUser User

func (u User) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		plainUser
		PauseS float64 `json:"pause_s,omitempty"`
	}{plainUser(u), u.Pause.Seconds()})
}

// UnmarshalJSON also reads an older version's line: its "refused" is a
// refusal decided but not yet written.
func (u *User) UnmarshalJSON(b []byte) error {
	var v struct {
		plainUser
		PauseS  float64 `json:"pause_s"`
		Refused string  `json:"refused"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*u = User(v.plainUser)
	if v.PauseS > 0 && v.PauseS <= 1e7 {
		u.Pause = time.Duration(v.PauseS * float64(time.Second))
	}
	if v.Refused != "" && u.Letter == "" {
		u.Letter, u.Reason = "refused", v.Refused // queue.KindRefused
	}
	return nil
}

// Restored bounds a user read from an earlier run, whose clock may have
// been ahead: no older than now, its pause ending within Backoff_Max.
func Restored(u User, now time.Time, s Settings) User {
	if u.FirstSeen.IsZero() || u.FirstSeen.After(now) {
		u.FirstSeen = now
	}
	if limit := now.Add(max(s.BackoffMax, s.BackoffMin)); u.NextTry.After(limit) {
		u.NextTry = limit
	}
	return u
}
