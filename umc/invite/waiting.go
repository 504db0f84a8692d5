package invite

import (
	"sync"
	"time"
)

// waitingUsers are the users known to wait, for the metrics; one unseen
// for waitingTTL (its file taken away) is forgotten.
type waitingUsers struct {
	mu    sync.Mutex
	users map[string]waitingUser
}

type waitingUser struct{ firstSeen, seen time.Time }

const waitingTTL = time.Hour

func (w *waitingUsers) wait(user string, firstSeen, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.users == nil {
		w.users = map[string]waitingUser{}
	}
	w.users[user] = waitingUser{firstSeen: firstSeen, seen: now}
}

func (w *waitingUsers) left(user string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.users, user)
}

// count returns how many users wait and the oldest one's age.
func (w *waitingUsers) count(now time.Time) (int, time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var oldest time.Duration
	for name, u := range w.users {
		if now.Sub(u.seen) > waitingTTL {
			delete(w.users, name)
			continue
		}
		oldest = max(oldest, now.Sub(u.firstSeen))
	}
	return len(w.users), oldest
}
