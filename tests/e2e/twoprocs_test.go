package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umc-invite/tests/umctest"
)

// Issue 20, item 8: two Fluent Bits on one queue directory (a rollout's
// surge, an operator's second instance) invite everyone once. The second
// sends nothing while the first holds the queue lock, says so once, and
// takes over when the first is gone: users queued before and after the
// handover are each invited once.
func TestTwoFluentBitsOnOneQueueInviteOnce(t *testing.T) {
	needFluentBit(t)
	t.Parallel()
	s := newSite(t, &umctest.UMC{Latency: 2 * time.Millisecond})
	conf := fastConfig(t)
	env := func(n int) []string {
		return []string{"UMC_URL=" + s.url, "QUEUE_DIR=" + s.queue, "METRICS_LISTEN=off",
			"STATE_DIR=" + filepath.Join(s.state, fmt.Sprint(n)), fmt.Sprintf("HTTP_PORT=%d", umctest.FreePort(t))}
	}
	first := start(t, conf, env(1))
	waitFor(t, "the first to start", 10*time.Second, first, func() bool { return strings.Contains(first.Log(), "sending to") })
	second := start(t, conf, env(2))
	waitFor(t, "the second to start", 10*time.Second, second, func() bool { return strings.Contains(second.Log(), "sending to") })
	before := users("before", 300)
	s.enqueue(t, before...)
	waitFor(t, "every user queued before the handover invited", 30*time.Second, first, func() bool { return s.queued() == 0 && len(s.umc.Delivered()) == len(before) })
	time.Sleep(time.Second) // let the second's tail read every file too
	if err := s.umc.CheckOnce(len(before)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(second.Log(), "another process holds the queue lock") {
		t.Fatal("the second does not say it waits for the queue")
	}
	if strings.Contains(second.Log(), "invitation sent") {
		t.Fatal("the second sent while the first held the queue")
	}

	// Users queued while the first shuts down, and after.
	during := users("during", 100)
	s.enqueue(t, during...)
	first.Stop(15 * time.Second)
	after := users("after", 100)
	s.enqueue(t, after...)
	waitFor(t, "the second to take over", 10*time.Second, second, func() bool { return strings.Contains(second.Log(), "took over the queue") })
	all := len(before) + len(during) + len(after)
	waitFor(t, "every user invited", 30*time.Second, second, func() bool { return len(s.umc.Delivered()) == all && s.queued() == 0 })
	time.Sleep(2 * time.Second) // a duplicate would show now
	if err := s.umc.CheckOnce(all); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(second.Log(), "another process holds the queue lock"); n != 1 {
		t.Errorf("the second said it waits %d times, want once", n)
	}
	t.Logf("%d users, one handover: %d calls", all, len(s.umc.Calls()))
}
