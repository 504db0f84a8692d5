package intake

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Start finishes what a crash left half done, then tops up until Close; report (may be nil) hears each error.
func (w *Window) Start(report func(error)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || w.started {
		return
	}
	w.started = true
	rep := limit(report)
	if _, err := w.countQueue(true); err != nil {
		rep(err)
	}
	go w.run(rep)
}

// Close stops the background loop and waits for it; files stay put.
func (w *Window) Close() {
	w.mu.Lock()
	closed, started := w.closed, w.started
	w.closed, w.backlog = true, nil
	w.mu.Unlock()
	if closed {
		return
	}
	close(w.stop)
	if started {
		<-w.done
	}
	w.adm.close() // every other user holds mu and checks closed
}

// run tops up when woken (inotify, Left, polling) and recounts every resync.
func (w *Window) run(rep func(error)) {
	defer close(w.done)
	tick := time.NewTicker(w.resync)
	defer tick.Stop()
	stopWatch, err := func() {}, errors.New("disabled")
	if !w.noWatch {
		stopWatch, err = watch(fmt.Sprintf("/proc/self/fd/%d", w.adm.in.FD()), w.kick, rep)
	}
	defer stopWatch()
	var poll <-chan time.Time // nil: inotify wakes the loop
	if err != nil {
		rep(fmt.Errorf("intake %s: no inotify, checking every %v: %w", w.adm.in.Path, pollEvery, err))
		p := time.NewTicker(pollEvery)
		defer p.Stop()
		poll = p.C
	}
	wake(w.kick) // the first top-up at once
	for {
		recount := false
		select {
		case <-w.stop:
			return
		case <-w.kick:
		case <-poll:
		case <-tick.C:
			recount = true
		}
		w.step(rep, recount)
	}
}

// step is one top-up; a panic is reported, never fatal to Fluent Bit.
func (w *Window) step(rep func(error), recount bool) {
	defer func() {
		if p := recover(); p != nil {
			rep(fmt.Errorf("intake top-up panicked: %v", p))
		}
	}()
	if recount {
		if err := w.recount(); err != nil {
			rep(err)
		}
	}
	if _, err := w.TopUp(); err != nil {
		rep(err)
	}
}

// watch wakes kick when a name appears in dir: IN_CREATE (link, write in place), IN_MOVED_TO.
func watch(dir string, kick chan struct{}, rep func(error)) (stop func(), err error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return func() {}, err
	}
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CREATE|unix.IN_MOVED_TO|unix.IN_ONLYDIR); err != nil {
		unix.Close(fd)
		return func() {}, err
	}
	f := os.NewFile(uintptr(fd), "inotify") // non-blocking: Close wakes a Read
	var wg sync.WaitGroup
	wg.Go(func() {
		defer func() {
			if p := recover(); p != nil {
				rep(fmt.Errorf("intake watch panicked: %v", p))
			}
		}()
		buf := make([]byte, 16*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
		for {
			if _, err := f.Read(buf); err != nil {
				if !errors.Is(err, os.ErrClosed) {
					rep(fmt.Errorf("intake watch stopped, the 1 s backstop remains: %w", err))
				}
				return
			}
			wake(kick)
		}
	})
	return func() { f.Close(); wg.Wait() }, nil
}

// limit passes on each distinct error at most once a minute: a full disk must not flood the log.
func limit(report func(error)) func(error) {
	var mu sync.Mutex
	var last string
	var at time.Time
	return func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if report == nil || err.Error() == last && time.Since(at) < time.Minute {
			return
		}
		last, at = err.Error(), time.Now()
		report(err)
	}
}
