package e2e

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"umc-invite/tests/fluentbit"
	"umc-invite/tests/umctest"
)

// These print figures for docs/performance.md's Performance section; they assert
// only that everything was delivered. Run with `make bench-e2e`.

func needBench(t *testing.T) {
	t.Helper()
	needFluentBit(t)
	if os.Getenv("UMC_INVITE_BENCH") == "" {
		t.Skip("end-to-end benchmark: set UMC_INVITE_BENCH=1 (make bench-e2e)")
	}
}

// firstCalls records when each user's first call reached UMC.
type firstCalls struct {
	mu    sync.Mutex
	times map[string]time.Time
}

func (f *firstCalls) hook(c umctest.Call) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, seen := f.times[c.Username]; !seen {
		f.times[c.Username] = c.Time
	}
}

func (f *firstCalls) latencies(created map[string]time.Time) []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []time.Duration
	for u, c := range created {
		if t, ok := f.times[u]; ok {
			out = append(out, t.Sub(c))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(float64(len(sorted)-1)*p)].Round(time.Millisecond)
}

// TestBulkLatency: 2,000 queue files at once against a UMC taking 20 ms a
// call, then single files trickling in; end-to-end time, per-file latency
// and fluent-bit's peak memory.
func TestBulkLatency(t *testing.T) {
	needBench(t)
	calls := &firstCalls{times: map[string]time.Time{}}
	s := newSite(t, &umctest.UMC{Latency: 20 * time.Millisecond, OnCall: calls.hook})
	p := start(t, shippedConfig(t), s.env())
	waitFor(t, "health endpoint", 10*time.Second, p, func() bool { return health(s.port) == 200 })

	bulk := users("bulk", 2000)
	created := map[string]time.Time{}
	begin := time.Now()
	for _, u := range bulk {
		s.enqueue(t, u)
		created[u] = time.Now()
	}
	waitFor(t, "every bulk user", 120*time.Second, p, func() bool { return len(s.umc.Delivered()) == len(bulk) })
	total := time.Since(begin)
	lat := calls.latencies(created)
	fmt.Printf("bulk: %d files, UMC 20 ms/call: all delivered in %s (%.0f users/s); file -> call p50 %s, p95 %s; peak RSS %s\n",
		len(bulk), total.Round(time.Millisecond), float64(len(bulk))/total.Seconds(),
		percentile(lat, 0.5), percentile(lat, 0.95), peakRSS(p))

	trickle := map[string]time.Time{}
	for _, u := range users("single", 40) {
		s.enqueue(t, u)
		trickle[u] = time.Now()
		time.Sleep(137 * time.Millisecond)
	}
	waitFor(t, "every single user", 20*time.Second, p, func() bool { return len(s.umc.Delivered()) == len(bulk)+40 })
	lat = calls.latencies(trickle)
	fmt.Printf("single files, one every 137 ms: file -> call p50 %s, p95 %s, max %s\n",
		percentile(lat, 0.5), percentile(lat, 0.95), percentile(lat, 1))
}

// TestIdleCPU: what the shipped intervals cost while nothing happens,
// against slower and faster settings, in one run.
func TestIdleCPU(t *testing.T) {
	needBench(t)
	const idle = 20 * time.Second
	for _, v := range []struct{ flush, refresh string }{
		{"1", "1"},
		{"0.2", "0.250000000"}, // shipped
		{"0.1", "0.100000000"},
	} {
		s := newSite(t, &umctest.UMC{})
		conf := shippedConfig(t)
		setKey(t, conf, "Flush", v.flush)
		setKey(t, conf, "Refresh_Interval", v.refresh)
		p := start(t, conf, s.env())
		time.Sleep(2 * time.Second)
		before := cpuTime(p)
		time.Sleep(idle)
		used := cpuTime(p) - before
		fmt.Printf("idle CPU with Flush %s, Refresh_Interval %s: %.2f%% of one core\n", v.flush, v.refresh, 100*used.Seconds()/idle.Seconds())
		p.Stop(10 * time.Second)
	}
}

// peakRSS reads VmHWM of the process.
func peakRSS(p *fluentbit.Process) string {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Pid()))
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			return strings.Join(strings.Fields(strings.TrimPrefix(line, "VmHWM:")), " ")
		}
	}
	return "?"
}

// cpuTime is user + system time of the process so far.
func cpuTime(p *fluentbit.Process) time.Duration {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Pid()))
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // clock ticks, 100 on Linux
}
