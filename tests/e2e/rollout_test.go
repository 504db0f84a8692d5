package e2e

import (
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"umc-invite/tests/umctest"
)

// arrivals wraps the UMC stand-in: it notes when each call arrives (a
// call UMC starts to serve) and can hold every call for a while first, as
// a slow UMC does.
type arrivals struct {
	next  http.Handler
	delay atomic.Int64 // nanoseconds
	mu    sync.Mutex
	times []time.Time
}

func (a *arrivals) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.times = append(a.times, time.Now())
	a.mu.Unlock()
	if d := time.Duration(a.delay.Load()); d > 0 {
		time.Sleep(d)
	}
	a.next.ServeHTTP(w, r)
}

// after counts the calls that arrived after t.
func (a *arrivals) after(t time.Time) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, at := range a.times {
		if at.After(t) {
			n++
		}
	}
	return n
}

func (a *arrivals) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.times)
}

// rolloutSite is the rendered sidecar behind an arrivals wrapper.
func rolloutSite(t *testing.T) (*sidecarSite, *umctest.UMC, *arrivals) {
	t.Helper()
	umc := &umctest.UMC{}
	s := newSidecarSite(t, umc)
	a := &arrivals{next: umc}
	url := umctest.NewServer(t, a)
	for i, kv := range s.env {
		if strings.HasPrefix(kv, "UMC_URL=") {
			s.env[i] = "UMC_URL=" + url + "/univention"
		}
	}
	return s, umc, a
}

// Item 6, the rollout rule (docs/operations.md, Rollouts): the kubelet sends SIGTERM,
// waits the pod's terminationGracePeriodSeconds as rendered, then
// SIGKILLs; the new pod starts on the same volume. Nobody is invited
// twice and nobody is lost: Fluent Bit starts flushes only within its
// Grace, each worker then finishes the flushes handed to it, a flush
// starts no call after Flush_Timeout, a call ends within Timeout, and the
// pod's grace is long enough that SIGKILL never cuts a call UMC may serve. (With the 30 s grace the chart had, the 12 s case
// SIGKILLed 8 calls in flight: 8 users invited twice.)
func TestRolloutRepeatsNoInvitation(t *testing.T) {
	needFluentBit(t)
	t.Parallel()
	grace := readManifest(t, "sidecar.yaml").grace
	if grace == 0 {
		t.Fatal("sidecar.yaml: no terminationGracePeriodSeconds")
	}
	t.Run("SIGTERM in a backlog of 2000 users", func(t *testing.T) {
		s, umc, a := rolloutSite(t)
		a.delay.Store(int64(5 * time.Millisecond))
		n := 2000
		backlog(t, filepath.Join(s.queue, "incoming"), users("roll", n))
		p := s.start(t)
		waitFor(t, "a quarter of the backlog invited", 60*time.Second, p, func() bool { return len(umc.Delivered()) >= n/4 })
		atTerm := len(umc.Delivered())
		term := time.Now()
		p.Stop(time.Duration(grace) * time.Second)
		stopped := time.Since(term)
		late := a.after(term.Add(50 * time.Millisecond))
		t.Logf("SIGTERM with %d of %d invited: stopped in %s, %d calls arrived after SIGTERM, %d invited by then", atTerm, n, stopped.Round(time.Millisecond), late, len(umc.Delivered()))
		if stopped >= time.Duration(grace)*time.Second {
			t.Errorf("Fluent Bit was still running at the pod's grace (%d s): SIGKILLed", grace)
		}
		p = s.start(t)
		waitFor(t, "every user invited after the restart", 120*time.Second, p, func() bool { return len(umc.Delivered()) == n })
		time.Sleep(time.Second)
		if err := umc.CheckOnce(n); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("UMC takes 12 s a call and SIGKILL after the grace", func(t *testing.T) {
		s, umc, a := rolloutSite(t)
		a.delay.Store(int64(12 * time.Second))
		n := 2000
		backlog(t, filepath.Join(s.queue, "incoming"), users("slow", n))
		p := s.start(t)
		waitFor(t, "calls in flight", 20*time.Second, p, func() bool { return a.count() >= 8 })
		time.Sleep(time.Second) // the calls are well under way
		inFlight := a.count()
		term := time.Now()
		p.Stop(time.Duration(grace) * time.Second) // SIGTERM, SIGKILL at the grace
		stopped := time.Since(term)
		late := a.after(term.Add(50 * time.Millisecond))
		served := len(umc.Delivered())
		t.Logf("SIGTERM with %d calls arrived (12 s each): stopped in %s, %d served, %d calls arrived after SIGTERM", inFlight, stopped.Round(time.Millisecond), served, late)
		if stopped >= time.Duration(grace)*time.Second {
			t.Errorf("still running at the pod's grace (%d s): SIGKILL cut calls UMC may serve", grace)
		}
		// Let any cut call finish on UMC's side, as a real UMC would.
		time.Sleep(13 * time.Second)
		a.delay.Store(0)
		p = s.start(t)
		waitFor(t, "every user invited after the restart", 120*time.Second, p, func() bool { return len(umc.Delivered()) == n })
		time.Sleep(time.Second)
		if err := umc.CheckOnce(n); err != nil {
			t.Fatal(err)
		}
		left, _ := filepath.Glob(filepath.Join(s.queue, "incoming", "*.send"))
		if s.queued() != 0 || len(left) != 0 {
			t.Fatalf("files left: queue %d, intake %d", s.queued(), len(left))
		}
	})
}
