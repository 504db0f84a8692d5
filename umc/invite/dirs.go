package invite

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"umc-invite/umc/logtext"
	"umc-invite/umc/metrics"
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
	err := overlap(c, slices.Collect(maps.Values(s.by))) // o is new: not among them
	if err == nil {
		s.by[o] = c
	}
	return err
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

const dirCheckEvery = 2 * time.Second

// dirWatch notices a held directory renamed away or replaced: tail and the producers use what is at the path.
type dirWatch struct {
	held     []heldDir
	log      *Logger
	metrics  *metrics.Output
	stopped  atomic.Pointer[string] // why the output sends nothing now; nil while it sends
	handBack atomic.Bool            // the queue is back: its files go to tail again

	mu     sync.Mutex // one check at a time; guards what follows
	last   string     // what the last check found ("": all in place)
	logged time.Time
	loop   *ticker
}

// notAtPath says why a held directory is not the one at its path ("" when it is); err: nothing there.
func notAtPath(key, path string, held, atPath spool.DirID, err error) string {
	switch {
	case err == nil && atPath == held:
		return ""
	case err == nil:
		return fmt.Sprintf("%s %s is no longer the directory this output opened at start: it was renamed away or replaced (%s now, %s held)",
			key, logtext.Quote(path), atPath, held)
	case errors.Is(err, unix.ENOTDIR):
		return fmt.Sprintf("%s %s is no longer a directory: the directory this output opened at start was renamed away or replaced by a file", key, logtext.Quote(path))
	}
	return fmt.Sprintf("%s %s is gone: the directory this output opened at start was renamed away or removed", key, logtext.Quote(path))
}

// movedVerdict is what one check makes of its findings: the line to log,
// whether an error, and whether the output stops (only a moved queue stops
// it: tail's records there would count as gone). Logged again each minute.
func movedVerdict(found map[string]string, last string, logged, now time.Time) (summary, line string, isErr, stop bool) {
	var all []string
	for _, key := range []string{"Queue_Dir", "Intake_Dir", "Dead_Letter_Dir"} {
		if found[key] != "" {
			all = append(all, found[key])
		}
	}
	summary = strings.Join(all, "; ")
	stop = found["Queue_Dir"] != ""
	switch {
	case summary == "" && last == "":
		return "", "", false, false
	case summary == "":
		return "", "the output's directories are again the ones at their paths: it works as configured again", false, false
	case summary != last || now.Sub(logged) >= time.Minute:
		what := "its queue is sent, but what is at the path is not seen; restart Fluent Bit once the directories are right"
		if stop {
			what = "this output sends nothing and its records wait (Fluent Bit retries them) until the directory is back at its path or Fluent Bit restarts"
		}
		return summary, summary + "; " + what, true, stop
	}
	return summary, "", false, stop
}

func watchDirs(o *Output, held []heldDir) *dirWatch {
	if len(held) == 0 {
		return nil
	}
	w := &dirWatch{held: held, log: o.log, metrics: o.metrics}
	w.loop = startTicker(o.log, "checking the directories", dirCheckEvery, func() bool {
		w.check(time.Now())
		if w.handBack.Swap(false) {
			o.handBack("now that the queue is back at its path", func(spool.File) bool { return false })
		}
		return false
	})
	return w
}

func (w *dirWatch) check(now time.Time) {
	defer logPanic(w.log, "checking the directories")
	found := map[string]string{}
	for _, d := range w.held {
		id, err := d.h.AtPath()
		if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, unix.ENOTDIR) {
			continue // a path this thread may not look at says nothing of a move
		}
		found[d.key] = notAtPath(d.key, d.path, d.id, id, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	summary, line, isErr, stop := movedVerdict(found, w.last, w.logged, now)
	w.last = summary
	if isErr {
		w.logged = now
		w.log.Errorf("%s", line)
	} else if line != "" {
		w.log.Infof("%s", line)
	}
	if stop {
		w.stopped.Store(&summary)
	} else if w.stopped.Swap(nil) != nil {
		w.handBack.Store(true)
	}
	w.metrics.DirectoryMoved(summary != "")
}

// queueMoved checks once per flush: records tail read at a new path would be missing here, taken for gone.
func (w *dirWatch) queueMoved(now time.Time) bool {
	if w == nil {
		return false
	}
	w.check(now)
	return w.stopped.Load() != nil
}

func (w *dirWatch) close() {
	if w != nil {
		w.loop.close()
	}
}
