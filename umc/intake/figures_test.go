//go:build linux

package intake

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"syscall"
	"testing"
	"time"
)

// defaultSize is Queue_Window's default.
const defaultSize = 1000

// bulk writes n intake files, oldest first.
func bulk(t testing.TB, intake string, n int) {
	t.Helper()
	if err := os.MkdirAll(intake, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		put(t, intake, fmt.Sprintf("user%06d", i), i)
	}
}

func cpu() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestFigures prints the costs the design rests on:
//
//	UMC_INVITE_BENCH=1 go test -run TestFigures -v ./umc/intake/
func TestFigures(t *testing.T) {
	if os.Getenv("UMC_INVITE_BENCH") == "" {
		t.Skip("set UMC_INVITE_BENCH=1")
	}
	const total, size = 50000, defaultSize
	queue, intake := dirs(t)
	bulk(t, intake, total)
	w := open(t, queue, intake, size)

	start := time.Now()
	if _, _, err := w.list(); err != nil {
		t.Fatal(err)
	}
	t.Logf("one listing of %d intake files, keeping the %d oldest: %v", total, w.backlogCap, time.Since(start))
	w.backlog, w.stale = nil, true

	start = time.Now()
	q, in, err := w.Count()
	t.Logf("Count() = %d, %d: %v", q, in, time.Since(start))
	if err != nil {
		t.Fatal(err)
	}

	// Admit everything; deliveries (removal, Left) are not timed.
	var inTopUp time.Duration
	admitted, calls := 0, 0
	for admitted < total {
		start := time.Now()
		n, err := w.TopUp()
		inTopUp += time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		calls++
		admitted += n
		// Deliver in slices of 50, as flushes would.
		ents, _ := os.ReadDir(queue)
		gone := 0
		for _, e := range ents {
			if candidate(e.Name()) {
				os.Remove(filepath.Join(queue, e.Name()))
				gone++
				if gone == 50 {
					break
				}
			}
		}
		w.Left(gone)
	}
	t.Logf("admitted %d files in %d TopUp calls: %v in TopUp, %v per admitted file", admitted, calls, inTopUp, inTopUp/time.Duration(admitted))

	// Idle checks: a full window, and room with nothing new.
	full := testing.Benchmark(func(b *testing.B) {
		w.queued.Store(int64(size))
		for b.Loop() {
			w.TopUp()
		}
	})
	w.recount()
	time.Sleep(2 * mtimeSlack)
	w.TopUp()
	room := testing.Benchmark(func(b *testing.B) {
		for b.Loop() {
			w.TopUp()
		}
	})
	t.Logf("idle TopUp: full window %v/op, room but nothing new %v/op", time.Duration(full.NsPerOp()), time.Duration(room.NsPerOp()))

}

// TestIdleFigures prints the idle CPU of the background loop with a full
// queue directory (1,000 files) and an empty intake, against a baseline of
// the test process doing nothing:
//
//	UMC_INVITE_BENCH=1 go test -run TestIdleFigures -v ./umc/intake/
func TestIdleFigures(t *testing.T) {
	if os.Getenv("UMC_INVITE_BENCH") == "" {
		t.Skip("set UMC_INVITE_BENCH=1")
	}
	queue, intake := dirs(t)
	for i := range defaultSize - 1 {
		put(t, queue, fmt.Sprintf("user%06d", i), i)
	}
	measure := func(what string, w *Window) {
		if w != nil {
			w.Start(nil)
			defer w.Close()
		}
		time.Sleep(300 * time.Millisecond)
		runtime.GC()
		debug.FreeOSMemory()
		c0, t0 := cpu(), time.Now()
		time.Sleep(10 * time.Second)
		used, wall := cpu()-c0, time.Since(t0)
		t.Logf("%s: %v CPU in %v = %.4f%% of a core", what, used.Round(time.Microsecond), wall.Round(time.Millisecond), 100*used.Seconds()/wall.Seconds())
	}
	measure("baseline, no window", nil)
	for _, mode := range []string{"inotify", "poll"} {
		w := open(t, queue, intake, defaultSize)
		w.noWatch = mode == "poll"
		measure("idle window, "+mode, w)
	}
}

// BenchmarkTopUp admits files one delivery at a time from a large intake:
// the cost per admitted file, listings included.
func BenchmarkTopUp(b *testing.B) {
	queue, intake := dirs(b)
	bulk(b, intake, 50000)
	w := open(b, queue, intake, defaultSize)
	if _, err := w.TopUp(); err != nil {
		b.Fatal(err)
	}
	ents, _ := os.ReadDir(queue)
	var inQueue []string
	for _, e := range ents {
		if candidate(e.Name()) {
			inQueue = append(inQueue, e.Name())
		}
	}
	i := 0
	for b.Loop() {
		if i == len(inQueue) {
			b.StopTimer()
			ents, _ := os.ReadDir(queue)
			inQueue = inQueue[:0]
			for _, e := range ents {
				if candidate(e.Name()) {
					inQueue = append(inQueue, e.Name())
				}
			}
			i = 0
			if len(inQueue) == 0 {
				b.Fatal("intake drained: lower -benchtime")
			}
			b.StartTimer()
		}
		b.StopTimer()
		os.Remove(filepath.Join(queue, inQueue[i]))
		i++
		b.StartTimer()
		w.Left(1)
		if n, err := w.TopUp(); n != 1 || err != nil {
			b.Fatalf("moved %d, %v", n, err)
		}
	}
}

// BenchmarkIdleCheck is TopUp with room and nothing new in the intake.
func BenchmarkIdleCheck(b *testing.B) {
	queue, intake := dirs(b)
	w := open(b, queue, intake, defaultSize)
	w.TopUp()
	time.Sleep(2 * mtimeSlack)
	w.TopUp()
	for b.Loop() {
		w.TopUp()
	}
}
