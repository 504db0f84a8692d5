package invite

import (
	"fmt"
	"slices"
	"sync"

	"umc-invite/umc/dirhandle"
	"umc-invite/umc/logtext"
)

// Claims are the directories the live outputs of one process hold (the
// DaemonSet: one [OUTPUT] per tenant). The plugin's registry of instances
// owns one and hands it to each New; an output takes its place there
// before it moves a file and gives it back in Close. Safe for concurrent
// use.
type Claims struct {
	mu sync.Mutex
	by map[*Output]claim
}

// NewClaims is an empty set: no output holds a directory yet.
func NewClaims() *Claims { return &Claims{by: map[*Output]claim{}} }

// claim is the directories one output holds.
type claim struct {
	name string // the output's name, for messages
	dirs []heldDir
}

// heldDir is one directory an output works in, by its identity on disk
// as held, and where it lies.
type heldDir struct {
	key, path string // its configuration key and configured path, for messages
	id        dirhandle.ID
	above     []dirhandle.ID // the directories holding it, up to the root
}

func heldDirs(ws []watchedDir) []heldDir {
	dirs := make([]heldDir, len(ws))
	for i, w := range ws {
		dirs[i] = heldDir{key: w.key, path: w.h.Configured, id: w.h.ID(), above: w.h.Above()}
	}
	return dirs
}

// take makes c's directories o's own, or says why not (overlap). A nil
// set holds no other output.
func (s *Claims) take(o *Output, c claim) error {
	if s == nil {
		return overlap(c, nil)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	others := make([]claim, 0, len(s.by))
	for other, oc := range s.by {
		if other != o {
			others = append(others, oc)
		}
	}
	if err := overlap(c, others); err != nil {
		return err
	}
	s.by[o] = c
	return nil
}

func (s *Claims) release(o *Output) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.by, o)
}

// overlap is why an output cannot work in the directories of mine, with
// others live in the same process; nil when it can. Directories are
// compared by identity, whatever path named them. Within one output each
// directory is one of its own (a dead letter moved into the intake would
// be admitted again). Across outputs no directory of one may be, hold or
// lie inside a directory of another: one output's dead letters or intake
// in another's queue would hand one tenant's users to another tenant's
// UMC, or take them from it; two outputs on one queue would send each
// file twice. The error names both directories (and both outputs).
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
