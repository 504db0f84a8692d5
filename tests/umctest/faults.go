package umctest

import (
	"fmt"
	"math/rand"
	"strings"
	"time"
)

// Faults switched at run time, as UMC's surroundings change while the
// plugin works: a mail relay that throttles, an administrator switching the
// self-service off and on, a user UMC cannot see yet, an outage. Each
// setter is safe for concurrent use with serving; a fault given a duration
// ends by itself when it is over (no goroutine: the answer looks at the
// clock).

// Disabled is UMC's message, for every call, while the administrator has
// switched the password reset off (umc/self-service/passwordreset/enabled).
const Disabled = "The password reset was disabled via the Univention Configuration Registry."

// UnknownMethod is UMC's message for a method that does not exist; UMC
// checks the method before the user.
func UnknownMethod(method string) string {
	return fmt.Sprintf("Unknown recovery method '%s'.", method)
}

// Throttle is a mail relay that lets only some mails through: a call that
// would mail someone (the service on, the user known and mailable) is
// answered 500 "Error sending token: …", whoever the user. Calls that mail
// no one (refusals, an unknown method) are answered as always.
type Throttle struct {
	// Share of the mailing calls answered 500, picked by a random source
	// seeded with Seed: the same seed, the same picks in call order.
	Share float64
	Seed  int64
	// Every, when not 0, answers every Every-th mailing call 500 instead
	// (Every 1: all of them).
	Every int
	// Until, when not zero, ends the throttling at that time.
	Until time.Time
}

// faults is the run-time state; guarded by UMC.fmu.
type faults struct {
	throttle      Throttle
	rnd           *rand.Rand
	mailing       int // mailing calls seen while throttling
	throttled     int // of them answered 500
	disabled      bool
	disabledUntil time.Time
	unknownUntil  map[string]time.Time
	outage        int
	outageUntil   time.Time
}

// SetThrottle starts throttling as th says; Throttle{} stops it.
func (s *UMC) SetThrottle(th Throttle) {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.f.throttle, s.f.mailing = th, 0
	s.f.rnd = rand.New(rand.NewSource(th.Seed))
}

// ThrottleFor answers share of the mailing calls 500 (seeded random) for d.
func (s *UMC) ThrottleFor(share float64, seed int64, d time.Duration) {
	s.SetThrottle(Throttle{Share: share, Seed: seed, Until: time.Now().Add(d)})
}

// Throttled is how many calls the relay failed so far.
func (s *UMC) Throttled() int {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	return s.f.throttled
}

// SetDisabled switches the self-service off (true) or on: while off, every
// call, for a real user, an impossible one or a made-up method, gets the
// 400 Disabled.
func (s *UMC) SetDisabled(off bool) {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.f.disabled, s.f.disabledUntil = off, time.Time{}
}

// DisableFor switches the self-service off for d.
func (s *UMC) DisableFor(d time.Duration) {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.f.disabled, s.f.disabledUntil = true, time.Now().Add(d)
}

// IsDisabled reports whether the self-service is off right now.
func (s *UMC) IsDisabled() bool {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	return s.disabledLocked(time.Now())
}

func (s *UMC) disabledLocked(now time.Time) bool {
	return s.f.disabled && (s.f.disabledUntil.IsZero() || now.Before(s.f.disabledUntil))
}

// UnknownFor makes UMC not know user for d from now (replication lag, or
// the whitelist group added after the user): it answers the 400
// MissingContactInformation, exactly as for a user that cannot exist,
// then serves the user as any other. d <= 0 makes the user known.
func (s *UMC) UnknownFor(user string, d time.Duration) {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	if s.f.unknownUntil == nil {
		s.f.unknownUntil = map[string]time.Time{}
	}
	s.f.unknownUntil[user] = time.Now().Add(d)
}

// SetOutage answers every call with status (say 503, 502, or Drop), whoever
// it is for, probes included; 0 ends it.
func (s *UMC) SetOutage(status int) {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.f.outage, s.f.outageUntil = status, time.Time{}
}

// OutageFor answers every call with status for d.
func (s *UMC) OutageFor(status int, d time.Duration) {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.f.outage, s.f.outageUntil = status, time.Now().Add(d)
}

// InOutage reports whether an outage set by SetOutage or OutageFor lasts.
func (s *UMC) InOutage() bool {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	return s.outageLocked(time.Now()) != 0
}

func (s *UMC) outageLocked(now time.Time) int {
	if s.f.outage == 0 || !s.f.outageUntil.IsZero() && !now.Before(s.f.outageUntil) {
		return 0
	}
	return s.f.outage
}

// outageNow is the status of a run-time outage, 0 when there is none.
func (s *UMC) outageNow() int {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	return s.outageLocked(time.Now())
}

// unknownNow reports whether UMC cannot see user yet.
func (s *UMC) unknownNow(user string) bool {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	until, ok := s.f.unknownUntil[user]
	return ok && time.Now().Before(until)
}

// throttleNow decides whether the relay fails this mailing call.
func (s *UMC) throttleNow() bool {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	th := s.f.throttle
	if th.Share <= 0 && th.Every <= 0 || !th.Until.IsZero() && !time.Now().Before(th.Until) {
		return false
	}
	s.f.mailing++
	fail := false
	if th.Every > 0 {
		fail = s.f.mailing%th.Every == 0
	} else {
		fail = s.f.rnd.Float64() < th.Share
	}
	if fail {
		s.f.throttled++
	}
	return fail
}

// IsProbe reports whether a call can mail no one: a name no UCS user can
// have (":") or a method other than email, as the plugin's probes are.
func IsProbe(c Call) bool {
	return strings.Contains(c.Username, ":") || c.Method != "" && c.Method != "email"
}

// UserCalls returns the calls for real users (no probes), in order.
func (s *UMC) UserCalls() []Call {
	var out []Call
	for _, c := range s.Calls() {
		if c.Username != "" && !IsProbe(c) {
			out = append(out, c)
		}
	}
	return out
}

// CallsOf returns the calls for user, in order.
func (s *UMC) CallsOf(user string) []Call {
	var out []Call
	for _, c := range s.Calls() {
		if c.Username == user {
			out = append(out, c)
		}
	}
	return out
}

// relayFailure is UMC's answer when the mail relay refused the mail.
func relayFailure(user string) string {
	return fmt.Sprintf("Error sending token: (451, b'4.7.1 <%s>: too many messages, slow down')", user)
}
