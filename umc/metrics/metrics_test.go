package metrics

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"umc-invite/tests/umctest"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape reads the endpoint as Prometheus does and returns every sample
// by its series, e.g. `umc_invite_in_flight{output="a"}`.
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + Path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("scrape: %s\n%s", resp.Status, body)
	}
	dec := expfmt.SampleDecoder{Dec: expfmt.NewDecoder(resp.Body, expfmt.NewFormat(expfmt.TypeTextPlain)), Opts: &expfmt.DecodeOptions{Timestamp: model.Now()}}
	out := map[string]float64{}
	for {
		var v model.Vector
		if err := dec.Decode(&v); err == io.EOF {
			return out
		} else if err != nil {
			t.Fatal(err)
		}
		for _, s := range v {
			out[s.Metric.String()] = float64(s.Value)
		}
	}
}

var runs atomic.Int64

// uniq makes a name unique to this run of a test: the registry is the
// process's, and -count runs a test again in the same process.
func uniq(name string) string { return fmt.Sprintf("%s_%d", name, runs.Add(1)) }

// series names a sample as scrape keys it: the metric, then label pairs.
func series(metric string, labels ...string) string {
	m := model.Metric{model.MetricNameLabel: model.LabelValue(metric)}
	for i := 0; i+1 < len(labels); i += 2 {
		m[model.LabelName(labels[i])] = model.LabelValue(labels[i+1])
	}
	return m.String()
}

func attach(t *testing.T, name, addr string, queue func() (int, error)) *Output {
	t.Helper()
	o, err := Attach(name, addr, queue)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestEveryLabelCombinationStartsAtZero(t *testing.T) {
	addr, name := umctest.FreeAddr(t), uniq("zero")
	o := attach(t, name, addr, func() (int, error) { return 7, nil })
	defer o.Detach()
	got := scrape(t, addr)
	for _, r := range Results {
		if v, ok := got[series("umc_invite_invitations_total", "output", name, "result", r)]; !ok || v != 0 {
			t.Errorf("result %s: %v %v", r, v, ok)
		}
	}
	for _, c := range Classes {
		if v, ok := got[series("umc_invite_umc_requests_total", "output", name, "class", c)]; !ok || v != 0 {
			t.Errorf("class %s: %v %v", c, v, ok)
		}
	}
	for _, m := range []string{"umc_invite_in_flight", "umc_invite_last_success_timestamp_seconds", "umc_invite_umc_request_duration_seconds_count", "umc_invite_output_disabled"} {
		if v, ok := got[series(m, "output", name)]; !ok || v != 0 {
			t.Errorf("%s: %v %v", m, v, ok)
		}
	}
	if got[series("umc_invite_queue_files", "output", name)] != 7 {
		t.Errorf("queue files: %v", got)
	}
}

func TestCountsAndHistogram(t *testing.T) {
	addr, name := umctest.FreeAddr(t), uniq("counts")
	o := attach(t, name, addr, nil)
	defer o.Detach()
	o.Invitation(Sent)
	o.Invitation(Sent)
	o.Invitation(DeadLetter)
	o.Invitation("no such result") // ignored, not a new series
	o.Request("delivered", 3*time.Millisecond)
	o.Request("delivered", 40*time.Millisecond)
	o.Request("unavailable", 12*time.Second)
	end := o.Begin()
	before := time.Now()
	got := scrape(t, addr)
	end()
	bucket := func(le string) string {
		return series("umc_invite_umc_request_duration_seconds_bucket", "output", name, "le", le)
	}
	want := map[string]float64{
		series("umc_invite_invitations_total", "output", name, "result", "sent"):        2,
		series("umc_invite_invitations_total", "output", name, "result", "dead_letter"): 1,
		series("umc_invite_invitations_total", "output", name, "result", "refused"):     0,
		series("umc_invite_umc_requests_total", "output", name, "class", "delivered"):   2,
		series("umc_invite_umc_requests_total", "output", name, "class", "unavailable"): 1,
		series("umc_invite_umc_request_duration_seconds_count", "output", name):         3,
		bucket("0.005"): 1,
		bucket("0.05"):  2,
		bucket("10"):    2,
		bucket("30"):    3,
		bucket("+Inf"):  3,
		series("umc_invite_in_flight", "output", name): 1,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if sum := got[series("umc_invite_umc_request_duration_seconds_sum", "output", name)]; sum < 12.04 || sum > 12.05 {
		t.Errorf("sum %v", sum)
	}
	if last := got[series("umc_invite_last_success_timestamp_seconds", "output", name)]; last < float64(before.Unix()-5) || last > float64(time.Now().Unix()+1) {
		t.Errorf("last success %v", last)
	}
	if _, ok := got[series("umc_invite_queue_files", "output", name)]; ok {
		t.Error("queue_files without a queue")
	}
	if got := scrape(t, addr)[series("umc_invite_in_flight", "output", name)]; got != 0 {
		t.Errorf("in flight after the end: %v", got)
	}
}

func TestTwoOutputsShareOneAddress(t *testing.T) {
	addr, nameA, nameB := umctest.FreeAddr(t), uniq("share_a"), uniq("share_b")
	a := attach(t, nameA, addr, nil)
	b := attach(t, nameB, addr, nil)
	defer b.Detach()
	a.Invitation(Sent)
	b.Invitation(Refused)
	got := scrape(t, addr)
	if got[series("umc_invite_invitations_total", "output", nameA, "result", "sent")] != 1 ||
		got[series("umc_invite_invitations_total", "output", nameB, "result", "refused")] != 1 ||
		got[series("umc_invite_invitations_total", "output", nameA, "result", "refused")] != 0 {
		t.Fatalf("%v", got)
	}
	a.Detach()
	// b still holds the endpoint.
	if _, ok := scrape(t, addr)[series("umc_invite_in_flight", "output", nameB)]; !ok {
		t.Fatal("b gone")
	}
}

// An output that could not start (a tenant's bad directory) shows as
// disabled on its endpoint, beside the outputs that run, until a start
// with the directory fixed attaches it again.
func TestADisabledOutputShowsInItsOwnMetricsOnly(t *testing.T) {
	addr, bad, good := umctest.FreeAddr(t), uniq("disabled_bad"), uniq("disabled_good")
	b := attach(t, bad, addr, nil)
	g := attach(t, good, addr, nil)
	defer g.Detach()
	b.Disable()
	got := scrape(t, addr)
	if v, ok := got[series("umc_invite_output_disabled", "output", bad)]; !ok || v != 1 {
		t.Errorf("the disabled output: umc_invite_output_disabled %v (present %t), want 1", v, ok)
	}
	if v, ok := got[series("umc_invite_output_disabled", "output", good)]; !ok || v != 0 {
		t.Errorf("the output that runs: umc_invite_output_disabled %v (present %t), want 0", v, ok)
	}
	b.Detach()
	b = attach(t, bad, addr, nil) // started again, its directory fixed
	defer b.Detach()
	if v := scrape(t, addr)[series("umc_invite_output_disabled", "output", bad)]; v != 0 {
		t.Errorf("started again: umc_invite_output_disabled %v, want 0", v)
	}
}

func TestOutputsOnOtherAddressesAreNotShown(t *testing.T) {
	addrA, addrB, nameB := umctest.FreeAddr(t), umctest.FreeAddr(t), uniq("apart_b")
	a := attach(t, uniq("apart_a"), addrA, nil)
	defer a.Detach()
	b := attach(t, nameB, addrB, nil)
	defer b.Detach()
	for k := range scrape(t, addrA) {
		if strings.Contains(k, nameB) {
			t.Fatalf("%s on A's endpoint", k)
		}
	}
}

func TestTwoLiveOutputsCannotShareAName(t *testing.T) {
	addr, name := umctest.FreeAddr(t), uniq("twice")
	a := attach(t, name, addr, nil)
	defer a.Detach()
	if _, err := Attach(name, addr, nil); err == nil || !strings.Contains(err.Error(), "Output_Name") {
		t.Fatalf("%v", err)
	}
}

func TestBadOrTakenAddressIsAnError(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, addr := range []string{taken.Addr().String(), ":99999", "192.0.2.1:2021"} {
		o, err := Attach(uniq("bad"), addr, nil)
		if err == nil {
			o.Detach()
			t.Errorf("%s: no error", addr)
			continue
		}
		if listening(addr) {
			t.Errorf("%s: a listener left behind", addr)
		}
	}
}

// A hot reload: every output exits, then starts again under its name.
// The listener is still there (no new bind), the counters go on.
func TestReattachContinuesCountersOnTheSameListener(t *testing.T) {
	addr, name := umctest.FreeAddr(t), uniq("reload")
	o := attach(t, name, addr, nil)
	o.Invitation(Sent)
	o.Request("delivered", time.Millisecond)
	state.mu.Lock()
	l := state.listeners[addr]
	state.mu.Unlock()
	o.Detach()
	// Between exit and init: still served, with its values.
	if scrape(t, addr)[series("umc_invite_invitations_total", "output", name, "result", "sent")] != 1 {
		t.Fatal("exited output not shown during the grace period")
	}
	again := attach(t, name, addr, nil)
	defer again.Detach()
	if again != o {
		t.Fatal("a new output for the same name")
	}
	state.mu.Lock()
	same := state.listeners[addr] == l
	state.mu.Unlock()
	if !same {
		t.Fatal("listener bound again")
	}
	again.Invitation(Sent)
	got := scrape(t, addr)
	if got[series("umc_invite_invitations_total", "output", name, "result", "sent")] != 2 ||
		got[series("umc_invite_umc_requests_total", "output", name, "class", "delivered")] != 1 {
		t.Fatalf("%v", got)
	}
}

// During the grace period an exited output shows its counters, but no
// queue and nobody waiting: it is not asked any more.
func TestAnExitedOutputCountsNobodyWaiting(t *testing.T) {
	addr, name := umctest.FreeAddr(t), uniq("exited")
	o := attach(t, name, addr, func() (int, error) { return 4, nil })
	asked := 0
	o.CountWaiting(func() (int, time.Duration) { asked++; return 3, time.Minute })
	if got := scrape(t, addr); got[series("umc_invite_users_waiting", "output", name)] != 3 || got[series("umc_invite_queue_files", "output", name)] != 4 {
		t.Fatalf("live output: %v", got)
	}
	o.Detach()
	got := scrape(t, addr)
	if _, queued := got[series("umc_invite_queue_files", "output", name)]; queued || asked != 1 ||
		got[series("umc_invite_users_waiting", "output", name)] != 0 || got[series("umc_invite_oldest_waiting_seconds", "output", name)] != 0 {
		t.Fatalf("exited output, asked %d times: %v", asked, got)
	}
}

func TestListenerClosesAfterTheGracePeriod(t *testing.T) {
	defer setGrace(100 * time.Millisecond)()
	addr, name := umctest.FreeAddr(t), uniq("grace")
	o := attach(t, name, addr, nil)
	o.Invitation(Sent)
	o.Detach()
	deadline := time.Now().Add(5 * time.Second)
	for listening(addr) {
		if time.Now().After(deadline) {
			t.Fatal("listener still open")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if resp, err := http.Get("http://" + addr + Path); err == nil {
		resp.Body.Close()
		t.Fatal("still answering")
	}
	// Started again later: a new listener, the counters kept.
	again := attach(t, name, addr, nil)
	defer again.Detach()
	if scrape(t, addr)[series("umc_invite_invitations_total", "output", name, "result", "sent")] != 1 {
		t.Fatal("counter lost")
	}
}

func TestExitedOutputDropsOutAfterTheGracePeriod(t *testing.T) {
	addr, gone := umctest.FreeAddr(t), uniq("goes")
	stay := attach(t, uniq("stays"), addr, nil)
	defer stay.Detach()
	defer setGrace(50 * time.Millisecond)()
	attach(t, gone, addr, nil).Detach()
	time.Sleep(100 * time.Millisecond)
	for k := range scrape(t, addr) {
		if strings.Contains(k, `"`+gone+`"`) {
			t.Fatalf("%s still shown", k)
		}
	}
}

// A reload that writes the address another way (":port", then
// "127.0.0.1:port") must not fail on the listener kept for the grace period.
func TestIdleListenerGivesWayToAnotherSpelling(t *testing.T) {
	addr, name := umctest.FreeAddr(t), uniq("spelling")
	_, port, _ := net.SplitHostPort(addr)
	attach(t, name, ":"+port, nil).Detach()
	again := attach(t, name, addr, nil)
	defer again.Detach()
	if listening(":" + port) {
		t.Fatal("the idle listener was kept")
	}
	scrape(t, addr)
}

func TestNilOutputIsOff(t *testing.T) {
	var o *Output
	o.Invitation(Sent)
	o.Request("delivered", time.Second)
	o.Begin()()
	o.Detach()
	if o.Name() != "" {
		t.Fatal()
	}
}

// detachedWithin detaches o, the last output at addr, and reports
// whether the listener's goroutine ended within d.
func detachedWithin(o *Output, addr string, d time.Duration) bool {
	state.mu.Lock()
	l := state.listeners[addr]
	state.mu.Unlock()
	o.Detach()
	select {
	case <-l.done:
		return true
	case <-time.After(d):
		return false
	}
}

func TestServeGoroutineEndsWithTheListener(t *testing.T) {
	defer setGrace(10 * time.Millisecond)()
	addr := umctest.FreeAddr(t)
	o := attach(t, uniq("goroutines"), addr, nil)
	if !detachedWithin(o, addr, 5*time.Second) {
		t.Fatal("serve goroutine still running")
	}
}

// A panic while collecting (counting the queue, say) is the scrape's
// problem, not Fluent Bit's: recovered, logged, and the endpoint stays.
func TestPanicWhileCollectingIsRecovered(t *testing.T) {
	var logged strings.Builder
	old := logTo
	logTo = &logged
	defer func() { logTo = old }()
	addr := umctest.FreeAddr(t)
	o := attach(t, uniq("panics"), addr, func() (int, error) { panic("boom") })
	defer o.Detach()
	resp, err := http.Get("http://" + addr + Path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !strings.Contains(logged.String(), "collecting: internal error, recovered: boom") {
		t.Fatalf("log: %q", logged.String())
	}
	scrape(t, addr)
}
