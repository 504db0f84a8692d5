//go:build linux

package intake

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Start first finishes, before it returns, what a crash left half done
// (staged admissions, link moves cut short: before tail can deliver such a
// file), then runs the background top-up until Close: at once, whenever Left
// reports room, whenever a file lands in the intake (inotify), and every
// second as a backstop (recounting the queue directory from disk). Without
// inotify it checks every 100 ms instead. report gets errors, each distinct
// one at most once a minute; it may be nil. Start is idempotent.
func (w *Window) Start(report func(error)) {
	if report == nil {
		report = func(error) {}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || w.started {
		return
	}
	w.started = true
	rep := &limited{report: report}
	if n, err := w.countQueue(repairAll); err != nil {
		rep.send(err)
	} else {
		w.queued.Store(int64(n))
	}
	go w.run(rep)
}

// Close stops the background loop and waits for it; later TopUp calls
// return ErrClosed. Files stay where they are. Close is idempotent.
func (w *Window) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed, w.backlog = true, nil
	started := w.started
	w.mu.Unlock()
	close(w.stop)
	if started {
		<-w.done
	}
	// The descriptors go once nothing can use them: every user holds mu
	// and checks closed first.
	w.mu.Lock()
	w.in.Close()
	w.stage.Close()
	w.q.Close()
	w.mu.Unlock()
	return nil
}

func (w *Window) run(rep *limited) {
	defer close(w.done)
	events, stopWatch, err := (<-chan struct{})(nil), func() {}, errors.New("disabled")
	if !w.noWatch {
		events, stopWatch, err = watch(fmt.Sprintf("/proc/self/fd/%d", w.in.FD()), rep)
	}
	interval := w.resync
	if err != nil {
		rep.send(fmt.Errorf("intake %s: no inotify, checking every %v: %w", w.intakeDir, w.poll, err))
		interval = w.poll
	}
	defer stopWatch()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	lastRecount := time.Now()
	for {
		w.step(rep, false)
		select {
		case <-w.stop:
			return
		case <-w.kick:
		case <-events:
		case now := <-tick.C:
			// Recount at most every resync, also when polling fast.
			if now.Sub(lastRecount) >= w.resync {
				lastRecount = now
				w.step(rep, true)
			}
		}
	}
}

// step is one top-up; a panic is reported, not fatal: it would take
// Fluent Bit down with it.
func (w *Window) step(rep *limited, recount bool) {
	defer func() {
		if p := recover(); p != nil {
			rep.send(fmt.Errorf("intake top-up panicked: %v", p))
		}
	}()
	if recount {
		if err := w.recount(); err != nil && !errors.Is(err, ErrClosed) {
			rep.send(err)
		}
	}
	if _, err := w.TopUp(); err != nil && !errors.Is(err, ErrClosed) {
		rep.send(err)
	}
}

// watch delivers a signal whenever a name appears in dir. Events are not
// parsed: any of them is only a reason to look.
func watch(dir string, rep *limited) (<-chan struct{}, func(), error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, func() {}, err
	}
	// IN_CREATE covers link(2) and files written in place, IN_MOVED_TO the
	// rename of a finished temporary file.
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CREATE|unix.IN_MOVED_TO|unix.IN_ONLYDIR); err != nil {
		unix.Close(fd)
		return nil, func() {}, err
	}
	// A non-blocking descriptor goes to Go's poller: Read parks the
	// goroutine, and Close wakes it.
	f := os.NewFile(uintptr(fd), "inotify")
	events := make(chan struct{}, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer func() {
			if p := recover(); p != nil {
				rep.send(fmt.Errorf("intake watch panicked: %v", p))
			}
		}()
		buf := make([]byte, 16*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
		for {
			if _, err := f.Read(buf); err != nil {
				if !errors.Is(err, os.ErrClosed) {
					rep.send(fmt.Errorf("intake watch stopped, the 1 s backstop remains: %w", err))
				}
				return
			}
			select {
			case events <- struct{}{}:
			default:
			}
		}
	}()
	return events, func() { f.Close(); wg.Wait() }, nil
}

// limited passes on each distinct error at most once a minute, so a lasting
// fault (a full disk) does not flood Fluent Bit's log every 100 ms.
type limited struct {
	report func(error)
	mu     sync.Mutex
	last   string
	at     time.Time
}

func (l *limited) send(err error) {
	l.mu.Lock()
	msg := err.Error()
	if msg == l.last && time.Since(l.at) < time.Minute {
		l.mu.Unlock()
		return
	}
	l.last, l.at = msg, time.Now()
	l.mu.Unlock()
	l.report(err)
}
