package invite

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"umc-invite/umc/spool"

	"umc-invite/tests/umctest"
	"umc-invite/umc/config"
	"umc-invite/umc/record"
)

// manyLines writes a queue file of n one-character lines "a" and returns
// the records tail makes of it, one per line.
func manyLines(t testing.TB, dir string, n int) []record.Record {
	path := filepath.Join(dir, "a.send")
	if err := os.WriteFile(path, []byte(strings.Repeat("a\n", n)), 0o644); err != nil {
		t.Fatal(err)
	}
	recs := make([]record.Record, n)
	for i := range recs {
		recs[i] = record.New("umc_invite", time.Unix(1700000000, 0), map[any]any{
			"log": []byte("a"), "path": []byte(path), "offset": int64(2 * i)})
	}
	return recs
}

// A queue file of many lines, each a record of one chunk, is read once per
// flush, not once per line: one call for its user, the file gone.
func TestFileOfManyLinesIsOneCall(t *testing.T) {
	f := newFixture(t, &umctest.UMC{}, config.Map{})
	recs := manyLines(t, f.queue, spool.MaxFileSize/2)
	start := time.Now()
	f.flush(context.Background(), recs)
	took := time.Since(start)
	if v := f.flush(context.Background(), recs); v != OK {
		t.Fatalf("verdict %v", v)
	}
	if a := f.stub.Attempts(); len(a) != 1 || a["a"] != 1 || len(f.queued(t)) != 0 {
		t.Fatalf("calls %v, queue %v", a, f.queued(t))
	}
	t.Logf("a 64 KiB file of %d one-character lines: first flush %s", len(recs), took.Round(time.Millisecond))
}

// BenchmarkFileOfManyLines: a 64 KiB file of one-character lines (32,768
// records in one chunk) costs one read and one parse of the file, and
// per record a stat and a map look-up: milliseconds, not the minutes a
// read per record took.
func BenchmarkFileOfManyLines(b *testing.B) {
	for range b.N {
		b.StopTimer()
		dir := b.TempDir()
		cfg, err := config.Load(config.Map{"UMC_URL": "http://127.0.0.1:1", "Queue_Dir": dir})
		if err != nil {
			b.Fatal(err)
		}
		out, err := New(cfg, NewLogger(&strings.Builder{}, "bench"), nil)
		if err != nil {
			b.Fatal(err)
		}
		recs := manyLines(b, dir, spool.MaxFileSize/2)
		files := flushFiles{}
		var tl tally
		b.StartTimer()
		start := time.Now()
		for _, rec := range recs {
			out.prepare(rec, rec.Identity(out.cfg.PathKey, out.cfg.OffsetKey), false, files, newOwned(), &spool.Claims{}, &tl, start)
		}
		b.ReportMetric(float64(time.Since(start).Microseconds())/1000, "ms/file")
		b.StopTimer()
		out.Close()
	}
}
