package invite

import (
	"fmt"
	"maps"
	"slices"
	"sync"

	"umc-invite/umc/logtext"
	"umc-invite/umc/spool"
)

// Claims are the directories the live outputs of one process hold, safe for concurrent use.
type Claims struct {
	mu sync.Mutex
	by map[*Output]claim
}

// NewClaims is an empty set: no output holds a directory yet.
func NewClaims() *Claims { return &Claims{by: map[*Output]claim{}} }

type claim struct {
	name string
	dirs []heldDir
}

// heldDir is a directory an output opened at start, as configured.
type heldDir struct {
	key, path string
	id        spool.DirID
	above     []spool.DirID // up to the root
	h         *spool.Dir
}

func (s *Claims) take(o *Output, c claim) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := overlap(c, slices.Collect(maps.Values(s.by))); err != nil { // o is new: not among them
		return err
	}
	s.by[o] = c
	return nil
}

func (s *Claims) release(o *Output) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.by, o)
}

// overlap is why mine's directories cannot be used beside others: within
// one output each is its own; across outputs none may be, hold or lie
// inside another's (one tenant's users would reach another's UMC).
func overlap(mine claim, others []claim) error {
	for i, d := range mine.dirs {
		for _, e := range mine.dirs[:i] {
			if d.id == e.id {
				return fmt.Errorf("%s %s is %s %s (one directory, its symlinks resolved): each must be a directory of its own",
					d.key, logtext.Quote(d.path), e.key, logtext.Quote(e.path))
			}
		}
	}
	for _, theirs := range others {
		for _, d := range mine.dirs {
			for _, e := range theirs.dirs {
				how := ""
				switch {
				case d.id == e.id:
					how = "is"
				case slices.Contains(d.above, e.id):
					how = "is inside"
				case slices.Contains(e.above, d.id):
					how = "holds"
				default:
					continue
				}
				return fmt.Errorf("%s %s of output %s %s %s %s of output %s: the directories of two umc_invite outputs must be apart, "+
					"or one tenant's files reach the other's queue", d.key, logtext.Quote(d.path), logtext.Quote(mine.name), how,
					e.key, logtext.Quote(e.path), logtext.Quote(theirs.name))
			}
		}
	}
	return nil
}
