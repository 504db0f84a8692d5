package invite

import (
	"sync"
	"time"
)

// tryCounter counts Fluent Bit's tries of each record, whatever became of
// it: the plugin's last try must be Fluent Bit's, or a chunk is dropped
// with nothing carried over. Entries unseen for triesTTL are dropped.
type tryCounter struct {
	mu    sync.Mutex
	tries map[string]*tryEntry
	swept time.Time
}

type tryEntry struct {
	n    int
	seen time.Time
}

const triesTTL = 24 * time.Hour

// add counts one try of the record and returns its number, from 1.
func (c *tryCounter) add(id string, now time.Time) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tries == nil {
		c.tries = map[string]*tryEntry{}
	}
	if now.Sub(c.swept) > time.Hour {
		for k, e := range c.tries {
			if now.Sub(e.seen) > triesTTL {
				delete(c.tries, k)
			}
		}
		c.swept = now
	}
	e := c.tries[id]
	if e == nil {
		e = &tryEntry{}
		c.tries[id] = e
	}
	e.n++
	e.seen = now
	return e.n
}

// forget drops a record whose chunk has ended (OK or its last try).
func (c *tryCounter) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.tries, id)
}
