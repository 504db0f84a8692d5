package e2e

// Bounded load while UMC fails for everyone: after the first minute of an
// outage an output makes at most one call a second, whatever the queue
// holds; no queue file grows past 4 KiB; once UMC serves again every
// waiting user is invited within 45 s. All with the shipped configuration
// (only addresses and directories changed).

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"umc-invite/tests/umctest"
)

const (
	callsPerSecondInOutage = 1       // after the first minute
	maxQueueFile           = 4 << 10 // bytes
	recoveryBound          = 45 * time.Second
)

// outageFigures is what one outage run measured.
type outageFigures struct {
	users         int
	outage        time.Duration
	perMinute     []int // calls in each whole minute after the first
	tailCalls     int   // calls from the end of the last whole minute to the outage's end
	tailSpan      time.Duration
	firstMinute   int   // calls in the outage's first minute
	biggest       int64 // the biggest queue file seen
	recovery      time.Duration
	waitingMetric string    // umc_invite_users_waiting near the outage's end
	oldestMetric  string    // umc_invite_oldest_waiting_seconds then
	afterMetrics  [2]string // both once everyone is invited
	calls         int
}

func (f outageFigures) String() string {
	return fmt.Sprintf("%d users through a %s outage, shipped config: %d calls in its first minute, then per minute %v (and %d in the last %s), %d calls during it; biggest queue file %d bytes; users_waiting %s, oldest_waiting_seconds %s near its end (%s, %s after); all invited once %s after UMC was back",
		f.users, f.outage, f.firstMinute, f.perMinute, f.tailCalls, f.tailSpan.Round(time.Second), f.calls, f.biggest,
		f.waitingMetric, f.oldestMetric, f.afterMetrics[0], f.afterMetrics[1], f.recovery.Round(100*time.Millisecond))
}

// outageRun queues n users while UMC answers every call with status (a
// status, or umctest.Drop) for outage, then ends the outage; it checks
// what must hold whatever the bounds and returns the figures.
func outageRun(t *testing.T, n int, status int, outage time.Duration) outageFigures {
	t.Helper()
	umc := &umctest.UMC{}
	s := newSite(t, umc)
	addr, env := metricsAddr(t)
	p := start(t, shippedConfig(t), append(s.env(), env...))
	waitFor(t, "health endpoint", 10*time.Second, p, func() bool { return health(s.port) == http.StatusOK })
	umc.SetOutage(status)
	f := outageFigures{users: n, outage: outage}
	s.enqueue(t, users("wait", n)...)
	waitFor(t, "the first call", 10*time.Second, p, func() bool { return len(umc.Calls()) > 0 })
	begin := umc.Calls()[0].Time
	end := begin.Add(outage)
	hold(t, time.Until(end.Add(-5*time.Second)), p, func() {
		f.biggest = max(f.biggest, biggestQueueFile(s.queue))
		noLetters(t, s, "during the outage")
		if d := umc.Delivered(); len(d) > 0 {
			t.Fatalf("delivered during the outage: %v", d)
		}
	})
	m := scrapeMetrics(addr)
	f.waitingMetric, f.oldestMetric = m[`umc_invite_users_waiting{output="umc_invite.0"}`], m[`umc_invite_oldest_waiting_seconds{output="umc_invite.0"}`]
	hold(t, time.Until(end), p, func() { f.biggest = max(f.biggest, biggestQueueFile(s.queue)) })
	umc.SetOutage(0)
	back := time.Now()
	calls := umc.Calls()
	f.calls = len(calls)
	f.firstMinute = callsBetween(calls, begin, begin.Add(time.Minute))
	from := begin.Add(time.Minute)
	for ; !from.Add(time.Minute).After(back); from = from.Add(time.Minute) {
		f.perMinute = append(f.perMinute, callsBetween(calls, from, from.Add(time.Minute)))
	}
	f.tailCalls, f.tailSpan = callsBetween(calls, from, back), back.Sub(from)
	waitFor(t, "everyone invited", 2*recoveryBound, p, func() bool {
		f.biggest = max(f.biggest, biggestQueueFile(s.queue))
		return len(umc.Delivered()) == n
	})
	f.recovery = time.Since(back)
	waitFor(t, "empty queue", 10*time.Second, p, func() bool { return s.queued() == 0 })
	if err := umc.CheckOnce(n); err != nil {
		t.Error(err)
	}
	if l := s.deadLetters(); l != "" {
		t.Errorf("dead letters: %s", l)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		m := scrapeMetrics(addr)
		f.afterMetrics = [2]string{m[`umc_invite_users_waiting{output="umc_invite.0"}`], m[`umc_invite_oldest_waiting_seconds{output="umc_invite.0"}`]}
		if f.afterMetrics == [2]string{"0", "0"} {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("users_waiting %q, oldest_waiting_seconds %q after everyone was invited, want 0 and 0", f.afterMetrics[0], f.afterMetrics[1])
			break
		}
	}
	// The operator sees who waits: near the outage's end every user waits,
	// the oldest for about as long as the outage.
	if f.waitingMetric != strconv.Itoa(n) {
		t.Errorf("umc_invite_users_waiting %q near the outage's end, want %d", f.waitingMetric, n)
	}
	if age, err := strconv.ParseFloat(f.oldestMetric, 64); err != nil || age < (outage-15*time.Second).Seconds() {
		t.Errorf("umc_invite_oldest_waiting_seconds %q near the outage's end, want at least %.0f", f.oldestMetric, (outage - 15*time.Second).Seconds())
	}
	return f
}

// checkBounds holds the figures to the bounds; the margins widen
// the calls and the recovery bounds (1: none).
func checkBounds(t *testing.T, f outageFigures, margin, recoveryMargin float64) {
	t.Helper()
	perMinute := int(60*callsPerSecondInOutage*margin) + 1
	for i, c := range f.perMinute {
		if c > perMinute {
			t.Errorf("minute %d of the outage: %d calls, want at most %d (one a second)", i+2, c, perMinute)
		}
	}
	if tail := int(f.tailSpan.Seconds()*callsPerSecondInOutage*margin) + 1; f.tailSpan > 10*time.Second && f.tailCalls > tail {
		t.Errorf("the last %s of the outage: %d calls, want at most %d (one a second)", f.tailSpan.Round(time.Second), f.tailCalls, tail)
	}
	if f.biggest > maxQueueFile {
		t.Errorf("a queue file of %d bytes, want at most %d", f.biggest, maxQueueFile)
	}
	if bound := time.Duration(float64(recoveryBound) * recoveryMargin); f.recovery > bound {
		t.Errorf("everyone invited %s after UMC was back, want within %s", f.recovery.Round(100*time.Millisecond), bound)
	}
}

// TestOutageFiguresSmall: 200 users through a 100 s outage (connections
// closed unanswered), in `make e2e`: the calls in the outage's second
// minute, the biggest queue file, the time to invite everyone after it.
// The calls' bound is widened by a tenth, the recovery's by a third, for a
// loaded machine. Not parallel: it measures, so it runs alone.
func TestOutageFiguresSmall(t *testing.T) {
	needFluentBit(t)
	f := outageRun(t, 200, umctest.Drop, 100*time.Second)
	checkBounds(t, f, 1.1, 4.0/3)
	t.Log(f)
}

// TestOutageFigures: 300 users through a four-minute outage (503) with the
// shipped configuration, held to the bounds. Run with
// `make bench-e2e`.
func TestOutageFigures(t *testing.T) {
	needBench(t)
	f := outageRun(t, 300, http.StatusServiceUnavailable, 4*time.Minute)
	checkBounds(t, f, 1, 1)
	fmt.Println(f)
}
