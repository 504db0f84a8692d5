package policy

import (
	"encoding/json"
	"time"
)

// User is what is known of a waiting user: in the ledger and in a carried-over line.
type User struct {
	FirstSeen        time.Time     `json:"first_seen"`            // its age counts from here
	LastAnswer       string        `json:"last_answer,omitempty"` // UMC's last answer ("" never asked)
	LastStatus       int           `json:"last_status,omitempty"` // its HTTP status, 0 for none
	LastUMC          string        `json:"umc_message,omitempty"` // UMC's own message in it, for a letter
	LastAt           time.Time     `json:"last_at,omitzero"`
	Pause            time.Duration `json:"-"`                      // before jitter; carried as pause_s
	NextTry          time.Time     `json:"next_try,omitzero"`      // not called before this (zero: due)
	LikeUnknownSince time.Time     `json:"unknown_since,omitzero"` // first refused like a user that cannot exist
	OutageSince      time.Time     `json:"outage_since,omitzero"`  // due once UMC works again
	OwnFailure       bool          `json:"own_failure,omitempty"`  // its last answer was its own failure
	// Letter and Reason: a letter decided but not yet written (a full disk).
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

// UnmarshalJSON also reads an older version's "refused".
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

// Restored bounds a user from an earlier run, whose clock may have been ahead.
func Restored(u User, now time.Time, s Settings) User {
	if u.FirstSeen.IsZero() || u.FirstSeen.After(now) {
		u.FirstSeen = now
	}
	limit := now.Add(max(s.BackoffMax, s.BackoffMin))
	if recheck := u.LastAt.Add(OutageRecheck); !u.OutageSince.IsZero() && recheck.Before(limit) {
		limit = recheck // as Gate.Mark: a line carried by an older version too
	}
	if u.NextTry.After(limit) {
		u.NextTry = limit
	}
	return u
}
