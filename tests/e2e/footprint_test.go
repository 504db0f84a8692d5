package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"umc-invite/tests/fluentbit"
	"umc-invite/tests/umctest"
)

// footprint is what one Fluent Bit run cost: its peak resident memory and
// its CPU (user + system) from start until every record was done with.
type footprint struct {
	peakKB   int
	anonKB   int // RssAnon and RssFile when done: where the memory is
	fileKB   int
	cpu      time.Duration
	sending  time.Duration // the plugin's first call to its last answer
	service  time.Duration // the stand-in's mean time a call
	inFlight int
	threads  map[string]time.Duration // CPU by thread name, the main thread as "main"
}

var (
	floorOnce sync.Once
	floorPath string
	floorErr  error
)

// floorPlugin builds tests/floor, an output that answers FLB_OK and does
// nothing, the same way the real plugin is built for these tests.
func floorPlugin(t *testing.T) string {
	t.Helper()
	floorOnce.Do(func() {
		dir, err := os.MkdirTemp("", "umc-invite-floor")
		if err != nil {
			floorErr = err
			return
		}
		floorPath, floorErr = umctest.BuildCShared(filepath.Join(dir, "out_floor.so"), "./tests/floor")
	})
	if floorErr != nil {
		t.Fatal(floorErr)
	}
	return floorPath
}

// otherOutput is the shipped pipeline (the same tail input and service)
// with another output in place of the plugin.
func otherOutput(t *testing.T, output string) string {
	t.Helper()
	conf := shippedConfig(t)
	text, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	head, _, _ := strings.Cut(string(text), "[OUTPUT]")
	if err := os.WriteFile(conf, []byte(head+"[OUTPUT]\n    Name   "+output+"\n    Match  umc_invite\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return conf
}

// outputDone runs Fluent Bit on a backlog of n files with an output that
// only takes records (null, or the floor loaded with args), until the
// output has taken all n. With a drain, the test then removes the files,
// evenly over that time from the start, as a sender would: the run ends
// when all are removed and tail has had a look.
func outputDone(t *testing.T, n int, output string, args []string, drain time.Duration) footprint {
	t.Helper()
	s := newSite(t, &umctest.UMC{})
	names := users("fp", n)
	backlog(t, s.queue, names)
	start := time.Now()
	p := startArgs(t, append(args, "-c", otherOutput(t, output)), s.env())
	// Polled slowly: each poll is work for Fluent Bit's HTTP server.
	waitFor(t, "the "+output+" output to take every record", 120*time.Second, p, func() bool {
		time.Sleep(200 * time.Millisecond)
		return outputRecords(s.port, output+".0") >= n
	})
	if drain > 0 {
		for i, name := range names {
			time.Sleep(time.Until(start.Add(drain * time.Duration(i) / time.Duration(n))))
			_ = os.Remove(filepath.Join(s.queue, name+".send"))
		}
		time.Sleep(500 * time.Millisecond) // tail's next looks: Refresh_Interval 0.25
	}
	f := footprint{cpu: cpuTime(p), peakKB: rssKB(p), anonKB: statusKB(p, "RssAnon:"), fileKB: statusKB(p, "RssFile:"), threads: threadCPU(p)}
	keepSmaps(p, output)
	p.Stop(15 * time.Second)
	return f
}

// pluginDone runs the shipped config on a backlog of n files against a
// UMC stand-in answering after latency, until every file is delivered and
// removed.
func pluginDone(t *testing.T, n int, latency time.Duration) footprint {
	t.Helper()
	s, counter := newCountingSite(t, &umctest.UMC{Latency: latency})
	backlog(t, s.queue, users("fp", n))
	env := append(s.env(), "METRICS_LISTEN="+umctest.FreeAddr(t))
	// UMC_INVITE_PLUGIN_ENV="GOGC=50 GOMEMLIMIT=16MiB": settings tried on
	// the plugin's runs alone.
	env = append(env, strings.Fields(os.Getenv("UMC_INVITE_PLUGIN_ENV"))...)
	p := start(t, shippedConfig(t), env)
	waitFor(t, "every user", 300*time.Second, p, func() bool { return len(s.umc.Delivered()) == n })
	waitFor(t, "an empty queue", 30*time.Second, p, func() bool { return s.queued() == 0 })
	f := footprint{cpu: cpuTime(p), peakKB: rssKB(p), anonKB: statusKB(p, "RssAnon:"), fileKB: statusKB(p, "RssFile:"), inFlight: int(counter.Max()), threads: threadCPU(p)}
	keepSmaps(p, "plugin")
	if err := s.umc.CheckOnce(n); err != nil {
		t.Fatal(err)
	}
	calls := s.umc.Calls()
	f.service = counter.Service()
	f.sending = calls[len(calls)-1].Time.Sub(calls[0].Time) + f.service
	p.Stop(15 * time.Second)
	if file := os.Getenv("UMC_INVITE_PLUGIN_LOG"); file != "" {
		_ = os.WriteFile(file, []byte(p.Log()), 0o644)
	}
	return f
}

// outputRecords is how many records Fluent Bit's output name has taken.
func outputRecords(port int, name string) int {
	return fluentbitOutputRecords(port)[name]
}

func median[T int | time.Duration](xs []T) T {
	s := append([]T(nil), xs...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func loadAverage() string {
	data, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// TestFootprintFigures: the plugin's memory and CPU against Fluent Bit
// without it. Side by side in each round, on the same 2,000 queue files
// and the same tail input: the baseline (Fluent Bit's null output, no Go
// plugin loaded), the floor (an empty Go c-shared output answering
// FLB_OK: the Go runtime's own cost) and the shipped config against a UMC
// stand-in at 20 ms a call, Concurrency 8. Rounds are repeated
// (UMC_INVITE_ROUNDS, default 5) and the medians printed: the machine is
// shared. Run with `make bench-e2e`.
func TestFootprintFigures(t *testing.T) {
	needBench(t)
	const latency = 20 * time.Millisecond
	n := 2000
	if v := os.Getenv("UMC_INVITE_BACKLOG"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	rounds := 5
	if v := os.Getenv("UMC_INVITE_ROUNDS"); v != "" {
		rounds, _ = strconv.Atoi(v)
	}
	floor := floorPlugin(t)
	var baseRSS, floorRSS, pluginRSS []int
	var baseCPU, floorCPU, pluginCPU, sending, service []time.Duration
	var ownCPU, engineExtra, pacedCPU []time.Duration // the plugin's threads; Fluent Bit's engine thread over the baseline's; the paced baseline
	for round := 1; round <= rounds; round++ {
		b := outputDone(t, n, "null", nil, 0)
		f := outputDone(t, n, "floor", []string{"-e", floor}, 0)
		paced := outputDone(t, n, "null", nil, time.Duration(n)*latency/8)
		p := pluginDone(t, n, latency)
		fmt.Printf("round %d (load %s): peak RSS baseline %.1f MB, floor %.1f MB, plugin %.1f MB (when done, anonymous/file: %.1f/%.1f, %.1f/%.1f, %.1f/%.1f); CPU baseline %s, floor %s, plugin %s; first call to last answer %s, %d in flight at most\n",
			round, loadAverage(), mb(b.peakKB), mb(f.peakKB), mb(p.peakKB), mb(b.anonKB), mb(b.fileKB), mb(f.anonKB), mb(f.fileKB), mb(p.anonKB), mb(p.fileKB), b.cpu, f.cpu, p.cpu, p.sending.Round(10*time.Millisecond), p.inFlight)
		fmt.Printf("  CPU by thread: baseline %s; floor %s; paced baseline %s; plugin %s\n", threadList(b.threads), threadList(f.threads), threadList(paced.threads), threadList(p.threads))
		pacedCPU = append(pacedCPU, paced.cpu)
		baseRSS, floorRSS, pluginRSS = append(baseRSS, b.peakKB), append(floorRSS, f.peakKB), append(pluginRSS, p.peakKB)
		baseCPU, floorCPU, pluginCPU = append(baseCPU, b.cpu), append(floorCPU, f.cpu), append(pluginCPU, p.cpu)
		sending = append(sending, p.sending)
		service = append(service, p.service)
		ownCPU = append(ownCPU, pluginThreads(p.threads))
		engineExtra = append(engineExtra, p.threads["flb-pipeline"]-b.threads["flb-pipeline"])
	}
	// Shares are taken round by round, against the baseline of the same
	// round, and their median printed.
	var floorShareKB, pluginShareKB []int
	var floorShareCPU, pluginShareCPU []time.Duration
	for i := range baseRSS {
		floorShareKB = append(floorShareKB, floorRSS[i]-baseRSS[i])
		pluginShareKB = append(pluginShareKB, pluginRSS[i]-baseRSS[i])
		floorShareCPU = append(floorShareCPU, floorCPU[i]-baseCPU[i])
		pluginShareCPU = append(pluginShareCPU, pluginCPU[i]-baseCPU[i])
	}
	ideal := time.Duration(n) * latency / 8
	perInvitation := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(n) }
	fmt.Printf("footprint, %d files, median of %d rounds (load now %s):\n", n, rounds, loadAverage())
	fmt.Printf("  peak RSS: baseline (null output, no .so) %.1f MB, floor (empty Go output) %.1f MB, plugin %.1f MB\n",
		mb(median(baseRSS)), mb(median(floorRSS)), mb(median(pluginRSS)))
	fmt.Printf("  CPU (user+system): baseline %s, floor %s, plugin %s\n", median(baseCPU), median(floorCPU), median(pluginCPU))
	fmt.Printf("  the floor's share: %.1f MB, %.3f ms per record\n", mb(median(floorShareKB)), perInvitation(median(floorShareCPU)))
	fmt.Printf("  the plugin's share: %.1f MB, %.3f ms per invitation\n", mb(median(pluginShareKB)), perInvitation(median(pluginShareCPU)))
	fmt.Printf("  of it: the plugin's own threads %.3f ms per invitation; Fluent Bit's engine thread (tail: scanning the queue while UMC answers, each removed file) %.3f ms per invitation over the baseline's\n",
		perInvitation(median(ownCPU)), perInvitation(median(engineExtra)))
	var overPaced []time.Duration
	for i := range pluginCPU {
		overPaced = append(overPaced, pluginCPU[i]-pacedCPU[i])
	}
	fmt.Printf("  the paced baseline (null output, no .so, the files removed by the test over the plugin's %s): CPU %s; the plugin's share over it %.3f ms per invitation\n",
		ideal, median(pacedCPU), perInvitation(median(overPaced)))
	served := time.Duration(n) * median(service) / 8
	fmt.Printf("  backlog: first call to last answer %s, ideal n × %s ÷ 8 = %s (%.0f%%); the stand-in took %s a call (its sleep overshoots): %.0f%% of n × that ÷ 8\n",
		median(sending).Round(10*time.Millisecond), latency, ideal, 100*median(sending).Seconds()/ideal.Seconds(),
		median(service).Round(10*time.Microsecond), 100*median(sending).Seconds()/served.Seconds())
}

// statusKB is a field of /proc/<pid>/status in kB.
func statusKB(p *fluentbit.Process, field string) int {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Pid()))
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == field {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

func mb(kb int) float64 { return float64(kb) / 1024 }

// threadCPU is the process's CPU (user + system) by thread name: tail and
// the engine run in flb-pipeline, an output's flushes in its flb-out
// workers, Go's own threads take the name of the thread that made them.
func threadCPU(p *fluentbit.Process) map[string]time.Duration {
	byName := map[string]time.Duration{}
	dir := fmt.Sprintf("/proc/%d/task", p.Pid())
	tasks, _ := os.ReadDir(dir)
	for _, task := range tasks {
		data, err := os.ReadFile(filepath.Join(dir, task.Name(), "stat"))
		open, end := strings.IndexByte(string(data), '('), strings.LastIndexByte(string(data), ')')
		if err != nil || open < 0 || end < open {
			continue
		}
		name := string(data[open+1 : end])
		if task.Name() == strconv.Itoa(p.Pid()) {
			name = "main"
		}
		fields := strings.Fields(string(data[end+2:]))
		utime, _ := strconv.ParseInt(fields[11], 10, 64)
		stime, _ := strconv.ParseInt(fields[12], 10, 64)
		byName[name] += time.Duration(utime+stime) * time.Second / 100
	}
	return byName
}

// keepSmaps copies the process's memory map, mapping by mapping, into
// UMC_INVITE_SMAPS (a directory) when set: where the resident pages are.
func keepSmaps(p *fluentbit.Process, name string) {
	if dir := os.Getenv("UMC_INVITE_SMAPS"); dir != "" {
		data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", p.Pid()))
		_ = os.WriteFile(filepath.Join(dir, name+".smaps"), data, 0o644)
	}
}

func threadList(m map[string]time.Duration) string {
	var names []string
	for name := range m {
		names = append(names, name)
	}
	sort.Strings(names)
	var out []string
	for _, name := range names {
		out = append(out, fmt.Sprintf("%s %s", name, m[name]))
	}
	return strings.Join(out, ", ")
}

// pluginThreads is the CPU of the threads running the plugin's code: the
// output's flb-out workers (its flushes) and Go's own threads, named after
// the thread that made them; not the engine (flb-pipeline: tail, the
// scheduler), the logger nor the main thread.
func pluginThreads(byName map[string]time.Duration) time.Duration {
	var sum time.Duration
	for name, d := range byName {
		if name != "main" && name != "flb-pipeline" && name != "flb-logger" {
			sum += d
		}
	}
	return sum
}
