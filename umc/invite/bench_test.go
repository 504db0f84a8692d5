package invite

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
	"umc-invite/umc/spool"

	"umc-invite/tests/umctest"
	"umc-invite/umc/config"
	"umc-invite/umc/record"
)

// The benchmarks' UMC stand-in runs in a child process (this test binary,
// re-executed), so that the allocations counted are the plugin's own.
const stubEnv = "UMC_INVITE_BENCH_STUB_LATENCY"

func TestMain(m *testing.M) {
	if latency := os.Getenv(stubEnv); latency != "" {
		serveStub(latency)
		return
	}
	os.Exit(m.Run())
}

func serveStub(latency string) {
	d, err := time.ParseDuration(latency)
	if err != nil {
		panic(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	fmt.Println(ln.Addr().String())
	_ = http.Serve(ln, &umctest.UMC{Latency: d})
}

// startStub runs the stand-in in a child process and returns its URL.
func startStub(b *testing.B, latency time.Duration) string {
	b.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), stubEnv+"="+latency.String())
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	return "http://" + strings.TrimSpace(addr)
}

func benchOutput(b *testing.B, url string, concurrency int) *Output {
	b.Helper()
	cfg, err := config.Load(config.Map{"UMC_URL": url, "Concurrency": fmt.Sprint(concurrency)})
	if err != nil {
		b.Fatal(err)
	}
	out, err := New(cfg, NewLogger(io.Discard, "bench"), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(out.Close)
	return out
}

// records makes n records as tail with a JSON parser would, unique per
// round so that the ledger never skips one.
func records(round, n int) []record.Record {
	recs := make([]record.Record, n)
	for i := range recs {
		recs[i] = record.New("umc_invite", time.Unix(1700000000, int64(round)), map[any]any{
			"username": []byte(fmt.Sprintf("user-%d-%d", round, i)), "path": []byte(fmt.Sprintf("/q/user-%d-%d.send", round, i)), "offset": int64(0)})
	}
	return recs
}

// flushRate runs b.N flushes of n records and reports records/s and the
// allocations per record.
func flushRate(b *testing.B, out *Output, n int) float64 {
	b.Helper()
	var before, after runtime.MemStats
	batches := make([][]record.Record, b.N)
	for i := range batches {
		batches[i] = records(i, n)
	}
	runtime.ReadMemStats(&before)
	cpuBefore := processCPU()
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		if v := out.Flush(context.Background(), batches[i]); v != OK {
			b.Fatalf("flush: %v", v)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	cpu := processCPU() - cpuBefore
	runtime.ReadMemStats(&after)
	total := float64(b.N * n)
	b.ReportMetric(float64(cpu.Nanoseconds())/total, "cpu-ns/record")
	rate := total / elapsed.Seconds()
	b.ReportMetric(rate, "records/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/total, "allocs/record")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/total, "B/record")
	return rate
}

// processCPU is this process's CPU (user + system) so far: the plugin's
// side of the calls, the stand-in's being another process's.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkFlush: the flush path for 1, 100 and 10,000 records against a
// UMC answering at once and after 20 ms, at Concurrency 1, 4 and 16.
// Combinations that would take over 30 s are left out unless
// UMC_INVITE_BENCH_FULL is set.
func BenchmarkFlush(b *testing.B) {
	for _, latency := range []time.Duration{0, 20 * time.Millisecond} {
		url := startStub(b, latency)
		for _, n := range []int{1, 100, 10_000} {
			for _, c := range []int{1, 4, 16} {
				name := fmt.Sprintf("latency=%s/records=%d/concurrency=%d", latency, n, c)
				if expected := time.Duration(n/c) * latency; expected > 30*time.Second && os.Getenv("UMC_INVITE_BENCH_FULL") == "" {
					b.Run(name, func(b *testing.B) { b.Skipf("would take about %s; set UMC_INVITE_BENCH_FULL=1", expected) })
					continue
				}
				b.Run(name, func(b *testing.B) { flushRate(b, benchOutput(b, url, c), n) })
			}
		}
	}
}

// BenchmarkConcurrencyRatio measures Concurrency 4 against Concurrency 1
// in one run, at 20 ms per UMC call: the speed-up should be close to 4.
func BenchmarkConcurrencyRatio(b *testing.B) {
	url := startStub(b, 20*time.Millisecond)
	var rates [2]float64
	for i, c := range []int{1, 4} {
		b.Run(fmt.Sprintf("concurrency=%d", c), func(b *testing.B) { rates[i] = flushRate(b, benchOutput(b, url, c), 100) })
	}
	b.ReportMetric(rates[1]/rates[0], "speedup-4-vs-1")
	fmt.Fprintf(os.Stdout, "concurrency 4 vs 1 at 20 ms: %.0f vs %.0f records/s, %.2fx\n", rates[1], rates[0], rates[1]/rates[0])
}

// BenchmarkOverhead is the plugin's own work per record without HTTP:
// identity, username and the ledger, to set beside a loopback round trip
// (BenchmarkFlush latency=0s, concurrency=1).
func BenchmarkOverhead(b *testing.B) {
	const n = 10_000
	out := benchOutput(b, "http://127.0.0.1:1", 4)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	for round := range b.N {
		var t tally
		for _, rec := range records(round, n) {
			if j, _ := out.prepare(rec, rec.Identity(out.cfg.PathKey, out.cfg.OffsetKey), false, flushFiles{}, newOwned(), &spool.Claims{}, &t, time.Now()); j == nil || j.username == "" {
				b.Fatal("not prepared")
			}
		}
	}
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	total := float64(b.N * n)
	b.ReportMetric(float64(elapsed.Nanoseconds())/total, "ns/record")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/total, "allocs/record")
}
