package invite

import (
	"sync"
	"time"
)

// seenMap holds a value per key, dropping what went unseen for ttl: a
// record's tries (the plugin's last try must be Fluent Bit's) and the
// waiting users the metrics count (one whose file was taken away goes).
type seenMap[V any] struct {
	mu    sync.Mutex
	ttl   time.Duration
	m     map[string]seenItem[V]
	swept time.Time
}

type seenItem[V any] struct {
	v    V
	seen time.Time
}

// update sets key's value to f of its current one and returns it.
func (s *seenMap[V]) update(key string, now time.Time, f func(V) V) V {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]seenItem[V]{}
	}
	if now.Sub(s.swept) > min(s.ttl, time.Hour) {
		s.sweep(now)
	}
	v := f(s.m[key].v)
	s.m[key] = seenItem[V]{v, now}
	return v
}

func (s *seenMap[V]) sweep(now time.Time) {
	for k, it := range s.m {
		if now.Sub(it.seen) > s.ttl {
			delete(s.m, k)
		}
	}
	s.swept = now
}

func (s *seenMap[V]) forget(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
}

// countWaiting is how many users wait and the oldest one's age.
func countWaiting(w *seenMap[time.Time], now time.Time) (int, time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sweep(now)
	var oldest time.Duration
	for _, it := range w.m {
		oldest = max(oldest, now.Sub(it.v))
	}
	return len(w.m), oldest
}
