package invite

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"umc-invite/umc/config"
	"umc-invite/umc/record"
)

// BenchmarkBacklogFlush is one flush of a backlog of 2,000 queue files, as
// tail hands it over after a restart (one chunk), against the UMC
// stand-in in its own process answering at once and after 20 ms, Concurrency 8: the
// plugin's CPU, allocations and the Go heap's peak per record, its queue
// files read, each delivered file removed and its directory synced.
func BenchmarkBacklogFlush(b *testing.B) {
	for _, latency := range []time.Duration{0, 20 * time.Millisecond} {
		url := startStub(b, latency)
		b.Run("latency="+latency.String(), func(b *testing.B) { backlogFlush(b, url) })
	}
}

func backlogFlush(b *testing.B, url string) {
	const n = 2000
	var cpu time.Duration
	var allocs, bytes uint64
	var peak uint64
	for round := range b.N {
		b.StopTimer()
		queue := b.TempDir()
		cfg, err := config.Load(config.Map{"UMC_URL": url, "Concurrency": "8", "Queue_Dir": queue, "Intake_Dir": "off"})
		if err != nil {
			b.Fatal(err)
		}
		out, err := New(cfg, NewLogger(io.Discard, "bench"), nil)
		if err != nil {
			b.Fatal(err)
		}
		recs := make([]record.Record, n)
		for i := range recs {
			path := filepath.Join(queue, fmt.Sprintf("user-%d-%d.send", round, i))
			line := fmt.Sprintf("{\"username\":\"user-%d-%d\"}", round, i)
			if err := os.WriteFile(path, []byte(line+"\n"), 0o644); err != nil {
				b.Fatal(err)
			}
			recs[i] = record.New("umc_invite", time.Unix(1700000000, 0), map[any]any{"log": []byte(line), "path": []byte(path), "offset": int64(0)})
		}
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		stop := sampleHeapPeak(&peak)
		cpuBefore := processCPU()
		b.StartTimer()
		if v := out.Flush(context.Background(), recs); v != OK {
			b.Fatalf("flush: %v", v)
		}
		b.StopTimer()
		cpu += processCPU() - cpuBefore
		stop()
		runtime.ReadMemStats(&after)
		allocs += after.Mallocs - before.Mallocs
		bytes += after.TotalAlloc - before.TotalAlloc
		if left, _ := filepath.Glob(filepath.Join(queue, "*.send")); len(left) != 0 {
			b.Fatalf("%d files left", len(left))
		}
		out.Close()
	}
	total := float64(b.N * n)
	b.ReportMetric(float64(cpu.Nanoseconds())/total, "cpu-ns/record")
	b.ReportMetric(float64(allocs)/total, "allocs/record")
	b.ReportMetric(float64(bytes)/total, "B/record")
	b.ReportMetric(float64(peak)/n, "peak-heap-B/record")
}

// sampleHeapPeak keeps the largest live-and-unswept heap seen (every
// millisecond) in peak until stopped.
func sampleHeapPeak(peak *uint64) (stop func()) {
	done, ended := make(chan struct{}), make(chan struct{})
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(sample)
	base := sample[0].Value.Uint64()
	go func() {
		defer close(ended)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > base && v-base > *peak {
				*peak = v - base
			}
		}
	}()
	return func() { close(done); <-ended }
}
