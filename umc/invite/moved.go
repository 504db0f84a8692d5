package invite

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"umc-invite/umc/logtext"
	"umc-invite/umc/metrics"
	"umc-invite/umc/spool"
)

const dirCheckEvery = 2 * time.Second

// dirWatch notices a held directory renamed away or replaced: tail and
// the producers use whatever is at the path now. It runs from New to Close.
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

// notAtPath says why a held directory is not the one at its path ("" when it is).
func notAtPath(key, path string, held, atPath spool.DirID, err error) string {
	switch {
	case err == nil && atPath == held:
		return ""
	case err == nil:
		return fmt.Sprintf("%s %s is no longer the directory this output opened at start: it was renamed away or replaced (%s now, %s held)",
			key, logtext.Quote(path), atPath, held)
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Sprintf("%s %s is gone: the directory this output opened at start was renamed away or removed", key, logtext.Quote(path))
	}
	return fmt.Sprintf("%s %s cannot be looked at (%v): this output cannot tell whether it is the directory it opened at start", key, logtext.Quote(path), err)
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
	if w == nil {
		return
	}
	defer logPanic(w.log, "checking the directories")
	found := map[string]string{}
	for _, d := range w.held {
		id, err := d.h.AtPath()
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			continue // a path this thread may not look at says nothing of a move
		}
		found[d.key] = notAtPath(d.key, d.path, d.id, id, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	summary, line, isErr, stop := movedVerdict(found, w.last, w.logged, now)
	w.last = summary
	switch {
	case line != "" && isErr:
		w.logged = now
		w.log.Errorf("%s", line)
	case line != "":
		w.log.Infof("%s", line)
	}
	if stop {
		w.stopped.Store(&summary)
	} else if w.stopped.Swap(nil) != nil {
		w.handBack.Store(true)
	}
	w.metrics.DirectoryMoved(summary != "")
}

// queueMoved checks now, once per flush: between two checks, records tail
// read at the path would be missing from the held queue, taken for gone.
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
