package invite

import (
	"sync"

	"umc-invite/umc"
)

// witness keeps the pattern of UMC's answers across the users of one
// output: a refusal or failure is a user's own only while UMC demonstrably
// serves other users, or when that user is the only one failing. The same
// answer for several users with nothing served in between is an outage,
// charged to no one.
//
// Events are numbered in one sequence: the start of every call, and every
// failure. A success counts from its call's start, so a call already under
// way when another user failed proves nothing about that failure.
type witness struct {
	mu               sync.Mutex
	seq              uint64
	lastSuccessStart uint64 // start of the latest-started call UMC served
	// failing holds the latest failures of the two users that failed
	// last: enough to tell one user failing alone since UMC last served
	// anyone from several.
	failing []failure
	// refused holds the users refused since UMC last served anyone (up to
	// one more than outageUsers): many refused alike is a misconfiguration
	// (a whitelist, an empty LDAP replica), not their own.
	refused map[string]bool
}

type failure struct {
	seq  uint64
	user string
}

// begin numbers the start of a call.
func (w *witness) begin() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seq++
	return w.seq
}

// served records a 200 for the call started at start.
func (w *witness) served(start uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lastSuccessStart = max(w.lastSuccessStart, start)
	clear(w.refused)
	// Failures answered before this call started are behind a success.
	kept := w.failing[:0]
	for _, f := range w.failing {
		if f.seq > start {
			kept = append(kept, f)
		}
	}
	w.failing = kept
}

// failed records a failure of user's call (any kind but delivered) and
// returns its number. For a refusal or failure, prev is the number of the
// user's previous one (0: none since its last success); own says whether
// both are the user's own, and why. A user failing alone proves a failure,
// not a refusal (alone=false): a UMC switched off refuses a lone user just
// the same, and a refusal cannot be taken back.
func (w *witness) failed(user string, prev uint64, kind umc.Kind) (seq uint64, own bool, why string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seq++
	seq = w.seq
	alone := kind == umc.Failed
	if w.refused == nil {
		w.refused = map[string]bool{}
	}
	if kind == umc.Refused && len(w.refused) <= outageUsers {
		w.refused[user] = true
	}
	if prev != 0 {
		switch {
		case w.lastSuccessStart > prev:
			own, why = true, "UMC served other users between this user's failures"
		case alone && w.alone(user):
			own, why = true, "no other user failed since UMC last served anyone"
		}
	}
	w.remember(failure{seq: seq, user: user})
	return seq, own, why
}

// alone reports whether user is the only one that failed since UMC last
// served anyone (and has failed before).
func (w *witness) alone(user string) bool {
	return len(w.failing) == 1 && w.failing[0].user == user
}

// remember keeps f as the latest failure of its user, and of the last two
// users that failed.
func (w *witness) remember(f failure) {
	for i, old := range w.failing {
		if old.user == f.user {
			w.failing = append(w.failing[:i], w.failing[i+1:]...)
			break
		}
	}
	w.failing = append(w.failing, f)
	if len(w.failing) > 2 {
		w.failing = w.failing[1:]
	}
}

// refusedAlike is how many users UMC refused since it last served anyone.
func (w *witness) refusedAlike() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.refused)
}

// servedSince reports whether UMC served a call started after event seq.
func (w *witness) servedSince(seq uint64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastSuccessStart > seq
}

// left forgets a user whose record has left (delivered, refused, dead
// letter): its failures say nothing about the users still failing, and
// would keep a last refused user from ever being alone.
func (w *witness) left(user string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.refused, user)
	for i, f := range w.failing {
		if f.user == user {
			w.failing = append(w.failing[:i], w.failing[i+1:]...)
			return
		}
	}
}
