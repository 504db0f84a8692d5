package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"umc-invite/tests/fluentbit"
	"umc-invite/tests/umctest"
)

// newCountingSite is a site whose UMC stand-in counts calls in flight.
func newCountingSite(t *testing.T, umc *umctest.UMC) (*site, *umctest.InFlight) {
	t.Helper()
	counter := &umctest.InFlight{Next: umc}
	s := newSite(t, umc)
	s.url = umctest.NewServer(t, counter)
	return s, counter
}

// backlog writes queue files for users straight into dir, as a producer
// does while Fluent Bit is down: the files are there before it starts.
func backlog(t *testing.T, dir string, users []string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if err := os.WriteFile(filepath.Join(dir, u+".send"), []byte(fmt.Sprintf("{\"username\": %q}\n", u)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// fluentbitOutputRecords is how many records each of Fluent Bit's
// outputs has taken, by name ("null.0").
func fluentbitOutputRecords(port int) map[string]int {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/api/v1/metrics", port))
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var m struct {
		Output map[string]struct {
			ProcRecords int `json:"proc_records"`
		} `json:"output"`
	}
	json.NewDecoder(resp.Body).Decode(&m)
	out := map[string]int{}
	for name, o := range m.Output {
		out[name] = o.ProcRecords
	}
	return out
}

// rssKB is VmHWM, fluent-bit's peak resident memory, in kB.
func rssKB(p *fluentbit.Process) int {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Pid()))
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

// TestBacklogFigures: a backlog queued while Fluent Bit was down reaches
// the plugin as one big chunk. Time against the ideal n × latency ÷
// Concurrency and calls in flight, straight into the queue and through
// the intake. (Memory and CPU: TestFootprintFigures.) Run with `make
// bench-e2e`.
func TestBacklogFigures(t *testing.T) {
	needBench(t)
	const latency = 20 * time.Millisecond
	sizes := []int{2000, 10000}
	if v := os.Getenv("UMC_INVITE_BACKLOG"); v != "" {
		n, _ := strconv.Atoi(v)
		sizes = []int{n}
	}
	for _, n := range sizes {
		all := users("backlog", n)
		for _, via := range []string{"queue", "intake"} {
			s, counter := newCountingSite(t, &umctest.UMC{Latency: latency})
			dir := s.queue
			if via == "intake" {
				dir = filepath.Join(s.queue, "incoming")
			}
			backlog(t, dir, all)
			begin := time.Now()
			p := start(t, shippedConfig(t), append(s.env(), "METRICS_LISTEN="+umctest.FreeAddr(t)))
			waitFor(t, "every user", 300*time.Second, p, func() bool { return len(s.umc.Delivered()) == n })
			took := time.Since(begin)
			ideal := time.Duration(n) * latency / 8
			if err := s.umc.CheckOnce(n); err != nil {
				t.Fatal(err)
			}
			peak := rssKB(p)
			calls := s.umc.Calls()
			service := counter.Service() // the stand-in's own time a call, its sleep's overshoot included
			sending := calls[len(calls)-1].Time.Sub(calls[0].Time) + service
			if os.Getenv("UMC_INVITE_GAPS") != "" {
				for i := 1; i < len(calls); i++ {
					if gap := calls[i].Time.Sub(calls[i-1].Time); gap > 15*time.Millisecond {
						fmt.Printf("  gap of %s before call %d\n", gap.Round(time.Millisecond), i)
					}
				}
			}
			served := time.Duration(n) * service / 8
			fmt.Printf("backlog of %d files (straight into the %s dir), UMC %s a call, Concurrency 8: all delivered %s after the start, %s from the first call to the last answer (ideal %s: %.0f%%; the stand-in took %s a call: %.0f%% of n × that ÷ 8), %d calls in flight at most; peak RSS %.1f MB\n",
				n, via, latency, took.Round(10*time.Millisecond), sending.Round(10*time.Millisecond), ideal, 100*sending.Seconds()/ideal.Seconds(),
				service.Round(10*time.Microsecond), 100*sending.Seconds()/served.Seconds(), counter.Max(), float64(peak)/1024)
			p.Stop(15 * time.Second)
		}
	}
}

// TestRateLimitFigures: Rate_Limit holds the calls per minute.
func TestRateLimitFigures(t *testing.T) {
	needBench(t)
	s := newSite(t, &umctest.UMC{})
	backlog(t, filepath.Join(s.queue, "incoming"), users("rl", 400))
	conf := shippedConfig(t)
	setKey(t, conf, "Rate_Limit", "300")
	p := start(t, conf, s.env())
	waitFor(t, "the first call", 10*time.Second, p, func() bool { return len(s.umc.Calls()) > 0 })
	first := time.Now()
	time.Sleep(40 * time.Second)
	calls := s.umc.Calls()
	var inWindow int
	for _, c := range calls {
		if !c.Time.Before(first) && c.Time.Before(first.Add(40*time.Second)) {
			inWindow++
		}
	}
	perMinute := float64(inWindow) * 60 / 40
	fmt.Printf("Rate_Limit 300: %.0f calls a minute over 40 s (%.1f%% of the limit), no dead letters: %v\n", perMinute, 100*perMinute/300, s.deadLetters() == "")
}

// memoryCgroup puts what it starts into a new memory cgroup limited to
// limit bytes (cgroup v2, else v1), as a pod's memory limit does. It skips
// the test where that cannot be done (not root, no memory controller).
type memoryCgroup struct{ dir string }

func newMemoryCgroup(t *testing.T, limit int64) *memoryCgroup {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a memory cgroup")
	}
	name := fmt.Sprintf("umc-invite-e2e-%d", time.Now().UnixNano())
	for _, c := range []struct{ root, limitFile string }{
		{"/sys/fs/cgroup", "memory.max"},                   // v2
		{"/sys/fs/cgroup/memory", "memory.limit_in_bytes"}, // v1
	} {
		if _, err := os.Stat(filepath.Join(c.root, c.limitFile)); err != nil && c.root == "/sys/fs/cgroup" {
			if _, err := os.Stat(filepath.Join(c.root, "cgroup.controllers")); err != nil {
				continue
			}
		}
		dir := filepath.Join(c.root, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, c.limitFile), []byte(strconv.FormatInt(limit, 10)), 0o644); err != nil {
			os.Remove(dir)
			continue
		}
		t.Cleanup(func() {
			// Wait for the processes to leave, then remove the group.
			for range 100 {
				if os.Remove(dir) == nil {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
		return &memoryCgroup{dir: dir}
	}
	t.Skip("no memory cgroup can be made here")
	return nil
}

// wrap runs bin inside the group: a shell joins it, then execs bin.
func (g *memoryCgroup) wrap(bin string, args []string) (string, []string) {
	return "/bin/sh", append([]string{"-c", `echo $$ > "$1/cgroup.procs" && shift && exec "$@"`, "sh", g.dir, bin}, args...)
}

// oomKills is how often the kernel killed a process of the group.
func (g *memoryCgroup) oomKills() int {
	for _, f := range []string{"memory.events", "memory.oom_control"} {
		data, err := os.ReadFile(filepath.Join(g.dir, f))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if f := strings.Fields(line); len(f) == 2 && f[0] == "oom_kill" {
				n, _ := strconv.Atoi(f[1])
				return n
			}
		}
	}
	return 0
}

// peakMB is the group's peak memory use.
func (g *memoryCgroup) peakMB() float64 {
	for _, f := range []string{"memory.peak", "memory.max_usage_in_bytes"} {
		if data, err := os.ReadFile(filepath.Join(g.dir, f)); err == nil {
			n, _ := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
			return float64(n) / (1 << 20)
		}
	}
	return 0
}

// bigImport queues n users into the intake before Fluent Bit starts and
// runs the shipped config in a memory cgroup with the sidecar manifest's
// limit: everyone is invited once, with no OOM kill and no restart.
func bigImport(t *testing.T, n int, latency time.Duration) (took time.Duration, peakRSS int, cgroupPeak float64) {
	t.Helper()
	g := newMemoryCgroup(t, 256<<20)
	s := newSite(t, &umctest.UMC{Latency: latency})
	backlog(t, filepath.Join(s.queue, "incoming"), users("import", n))
	bin, args := g.wrap(fluentBit, []string{"-e", pluginPath, "-c", shippedConfig(t)})
	begin := time.Now()
	p := startBin(t, bin, args, s.env())
	waitFor(t, "every user invited", time.Duration(n)*latency/4+120*time.Second, p, func() bool { return len(s.umc.Delivered()) == n })
	took = time.Since(begin)
	peakRSS = rssKB(p)
	if err := s.umc.CheckOnce(n); err != nil {
		t.Fatal(err)
	}
	if k := g.oomKills(); k != 0 || p.Exited() {
		t.Fatalf("OOM kills %d, exited %v", k, p.Exited())
	}
	waitFor(t, "an empty queue and intake", 10*time.Second, p, func() bool {
		left, _ := filepath.Glob(filepath.Join(s.queue, "incoming", "*.send"))
		return s.queued() == 0 && len(left) == 0
	})
	return took, peakRSS, g.peakMB()
}

// A school-sized import, made cheaply: 20,000 users queued at once, under
// the pod's 256 MiB, delivered once, no restart. (Without the intake, tail
// would hold all 20,000 files open: about 500 MB.) Not parallel: it
// measures memory, so it runs alone.
func TestBigImportUnderMemoryLimit(t *testing.T) {
	needFluentBit(t)
	took, rss, peak := bigImport(t, 20000, 0)
	t.Logf("20,000 users through the intake in %s; peak RSS %.1f MB, cgroup peak %.1f MB of 256", took.Round(time.Second), float64(rss)/1024, peak)
}

// TestBigImportFigures: 50,000 and 2,000 users through the intake at 20 ms
// a call: memory stays flat. Run with `make bench-e2e`.
func TestBigImportFigures(t *testing.T) {
	needBench(t)
	for _, n := range []int{2000, 50000} {
		took, rss, peak := bigImport(t, n, 20*time.Millisecond)
		fmt.Printf("import of %d users through the intake, UMC 20 ms a call: all invited in %s (%.0f users/s); peak RSS %.1f MB, cgroup peak %.1f MB of 256 MiB\n",
			n, took.Round(time.Second), float64(n)/took.Seconds(), float64(rss)/1024, peak)
	}
}
