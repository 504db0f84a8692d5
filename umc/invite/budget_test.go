package invite

import (
	"context"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"umc-invite/tests/umctest"
	"umc-invite/umc/config"
	"umc-invite/umc/record"
)

func newBudgetFixture(t *testing.T, stub *umctest.UMC, keys config.Map, before ...func(queueDir string)) (*fixture, *umctest.InFlight) {
	t.Helper()
	counter := &umctest.InFlight{Next: stub}
	srv := httptest.NewServer(counter)
	t.Cleanup(srv.Close)
	keys["UMC_URL"] = srv.URL
	dir := t.TempDir()
	keys["Queue_Dir"] = dir
	for _, f := range before {
		f(dir)
	}
	cfg, err := config.Load(keys)
	if err != nil {
		t.Fatal(err)
	}
	claims := NewClaims()
	out, err := New(cfg, NewLogger(io.Discard, "test"), claims)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(out.Close)
	return &fixture{out: out, stub: stub, queue: dir, claims: claims}, counter
}

// One big chunk uses the whole budget; several chunks flushed at once by
// Fluent Bit's workers share it and never exceed it.
func TestConcurrencyIsTheOutputsBudget(t *testing.T) {
	stub := &umctest.UMC{Latency: 20 * time.Millisecond}
	f, counter := newBudgetFixture(t, stub, config.Map{"Concurrency": "6"})
	big := f.queueFiles(t, names("big", 60)...)
	if v := f.flush(context.Background(), big); v != OK || counter.Max() != 6 {
		t.Fatalf("one chunk: verdict %v, %d calls in flight at most, want 6", v, counter.Max())
	}
	counter.Reset()
	var chunks [][]record.Record
	for _, p := range []string{"a", "b", "c", "d"} {
		chunks = append(chunks, f.queueFiles(t, names(p, 30)...))
	}
	var wg sync.WaitGroup
	for _, c := range chunks {
		wg.Add(1)
		go func() { defer wg.Done(); f.flush(context.Background(), c) }()
	}
	wg.Wait()
	if m := counter.Max(); m != 6 {
		t.Fatalf("four chunks at once: %d calls in flight at most, want 6", m)
	}
	if err := stub.CheckOnce(180); err != nil {
		t.Fatal(err)
	}
}

// Rate_Limit admits no burst: within one Flush_Timeout of 1 s at 10 calls
// a second, at most 11 of 30 due users are called (however slow the
// machine); the rest wait for later tries of the chunk, charged to no one.
func TestRateLimitAdmitsNoMoreCallsThanItsRateInAFlush(t *testing.T) {
	stub := &umctest.UMC{}
	f, _ := newBudgetFixture(t, stub, config.Map{"Rate_Limit": "600", "Flush_Timeout": "1s", "Timeout": "1s", "Chunk_Retry_Limit": "100"})
	recs := f.queueFiles(t, names("r", 30)...)
	if v := f.flush(context.Background(), recs); v != Retry {
		t.Fatalf("verdict %v: 30 calls at 10 a second cannot fit into 1 s", v)
	}
	if n := len(stub.Calls()); n < 1 || n > 11 {
		t.Fatalf("%d calls admitted in one 1 s flush at 10 a second, want 1 to 11", n)
	}
	for f.flush(context.Background(), recs) == Retry {
	}
	if err := stub.CheckOnce(30); err != nil || len(f.deadLetters(t)) != 0 {
		t.Fatalf("%v, dead letters %v\n%s", err, f.deadLetters(t), f.logs)
	}
}

// Files queued into the intake are admitted into the queue as deliveries
// make room, Queue_Window at a time, oldest first.
func TestIntakeAdmitsAsDeliveriesMakeRoom(t *testing.T) {
	stub := &umctest.UMC{}
	f, _ := newBudgetFixture(t, stub, config.Map{"Queue_Window": "5"}, func(queueDir string) {
		intakeDir := filepath.Join(queueDir, "incoming")
		os.Mkdir(intakeDir, 0o755)
		for i, u := range names("in", 12) { // queued before the plugin starts
			path := filepath.Join(intakeDir, u+".send")
			os.WriteFile(path, []byte("{\"username\": \""+u+"\"}\n"), 0o644)
			old := time.Now().Add(time.Duration(i-100) * time.Second)
			os.Chtimes(path, old, old)
		}
	})
	waitUntil(t, func() bool { return len(f.queued(t)) == 5 })
	fb := newFluentBit(f)
	deadline := time.Now().Add(10 * time.Second)
	for len(stub.Delivered()) < 12 && time.Now().Before(deadline) {
		if q := len(f.queued(t)); q > 5 {
			t.Fatalf("%d files in the queue, window 5", q)
		}
		fb.round(t)
		time.Sleep(20 * time.Millisecond) // the intake admits in the background
	}
	if err := stub.CheckOnce(12); err != nil {
		t.Fatal(err)
	}
	first := map[string]bool{}
	for _, c := range stub.Calls()[:5] {
		first[c.Username] = true
	}
	for _, u := range names("in", 5) {
		if !first[u] {
			t.Fatalf("oldest first: the first five calls were for %v", first)
		}
	}
}

// Two outputs on one queue directory would send every file twice.
func TestOneQueueOneOutput(t *testing.T) {
	f, _ := newBudgetFixture(t, &umctest.UMC{}, config.Map{})
	cfg, err := config.Load(config.Map{"UMC_URL": "http://umc", "Queue_Dir": f.queue})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(cfg, NewLogger(io.Discard, "second"), f.claims); err == nil {
		t.Fatal("a second output on the same queue was accepted")
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
	}
}
