package invite

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"umc-invite/tests/umctest"
	"umc-invite/umc/config"
	"umc-invite/umc/record"
	"umc-invite/umc/spool"
)

// fluentBit plays tail and Fluent Bit's scheduler for one output: every
// new line of a queue file becomes a record; the records read together
// make a chunk; a chunk answered RETRY is flushed again, up to
// Retry_Limit+1 tries in all, then dropped, as Fluent Bit does.
type fluentBit struct {
	f          *fixture
	retryLimit int
	read       map[string]int64 // bytes of each file read so far
	chunks     [][]record.Record
	tries      []int
	verdicts   []Verdict
	givenUp    int
}

func newFluentBit(f *fixture) *fluentBit {
	return &fluentBit{f: f, retryLimit: 5, read: map[string]int64{}}
}

// tail reads what is new in the queue files into one new chunk.
func (fb *fluentBit) tail(t *testing.T) {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(fb.f.queue, "*.send"))
	sort.Strings(names)
	var chunk []record.Record
	for _, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			continue
		}
		off := fb.read[name]
		for off < int64(len(data)) {
			end := strings.IndexByte(string(data[off:]), '\n')
			if end < 0 {
				break
			}
			line := string(data[off : off+int64(end)])
			chunk = append(chunk, record.New("umc_invite", time.Now(), map[any]any{
				"log": []byte(line), "path": []byte(name), "offset": off}))
			off += int64(end) + 1
		}
		fb.read[name] = off
	}
	if len(chunk) > 0 {
		fb.chunks = append(fb.chunks, chunk)
		fb.tries = append(fb.tries, 0)
	}
}

// round tails, then flushes every pending chunk once.
func (fb *fluentBit) round(t *testing.T) {
	fb.f.advance(fb.f.out.cfg.BackoffMax + time.Second)
	t.Helper()
	fb.tail(t)
	var chunks [][]record.Record
	var tries []int
	for i, chunk := range fb.chunks {
		v := fb.f.out.Flush(context.Background(), chunk)
		fb.verdicts = append(fb.verdicts, v)
		if v != Retry {
			continue
		}
		if fb.tries[i] == fb.retryLimit {
			fb.givenUp++ // "chunk cannot be retried": dropped
			continue
		}
		chunks = append(chunks, chunk)
		tries = append(tries, fb.tries[i]+1)
	}
	fb.chunks, fb.tries = chunks, tries
}

// runUntilIdle runs rounds until no chunk is pending and nothing is new.
func (fb *fluentBit) runUntilIdle(t *testing.T, limit int) {
	t.Helper()
	for range limit {
		fb.round(t)
		fb.tail(t)
		if len(fb.chunks) == 0 {
			return
		}
	}
	t.Fatalf("chunks still pending after %d rounds; calls %v; log:\n%s", limit, fb.f.stub.Attempts(), fb.f.logs)
}

func (fb *fluentBit) sawError() bool {
	for _, v := range fb.verdicts {
		if v == Error {
			return true
		}
	}
	return false
}

func (f *fixture) enqueue(t *testing.T, users ...string) {
	t.Helper()
	for _, u := range users {
		if err := os.WriteFile(filepath.Join(f.queue, u+".send"), []byte(fmt.Sprintf("{\"username\": %q}\n", u)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%03d", prefix, i)
	}
	return out
}

func lettersByKind(letters []spool.DeadLetter) map[string][]string {
	out := map[string][]string{}
	for _, l := range letters {
		out[l.Kind] = append(out[l.Kind], l.Username)
	}
	return out
}

// Refused users at the head of a bulk import and among it: everyone else
// is delivered once in the first flush; each refused user ends as one
// refusal with UMC's message, once still so Refusal_Grace (15m) after its
// first such answer: three calls with the tries 10 minutes apart; the chunk never
// says ERROR (a refusal is not an error).
func TestRefusedUsersHoldUpNoOne(t *testing.T) {
	refused := map[string]bool{"aaa-admin1": true, "aaa-admin2": true, "aaa-admin3": true, "user050x": true, "user090x": true}
	stub := &umctest.UMC{Refused: func(u string) bool { return refused[u] }}
	f := newFixture(t, stub, config.Map{})
	healthy := names("user", 100)
	f.enqueue(t, append(healthy, "aaa-admin1", "aaa-admin2", "aaa-admin3", "user050x", "user090x")...)
	fb := newFluentBit(f)
	fb.round(t)
	if err := stub.CheckOnce(100); err != nil {
		t.Fatalf("after the first flush: %v", err)
	}
	fb.runUntilIdle(t, 10)
	if err := stub.CheckOnce(100); err != nil {
		t.Fatal(err)
	}
	byKind := lettersByKind(f.deadLetters(t))
	if len(byKind[spool.KindRefused]) != len(refused) || len(byKind) != 1 {
		t.Fatalf("want one refusal per refused user and nothing else, got %v", byKind)
	}
	for _, l := range f.deadLetters(t) {
		if l.Message != umctest.MissingContactInformation || l.Status != 400 {
			t.Errorf("refusal without UMC's message: %+v", l)
		}
	}
	for u := range refused {
		if n := stub.Attempts()[u]; n < 1 || n > 3 {
			t.Errorf("%s: %d calls, want at most 3", u, n)
		}
	}
	if fb.sawError() || len(f.queued(t)) != 0 {
		t.Fatalf("verdicts %v, queue %v", fb.verdicts, f.queued(t))
	}
	if !strings.Contains(f.logs.String(), "[ warn] [output:umc_invite:test] no invitation for \"aaa-admin1\": refused by UMC") {
		t.Fatalf("refusal not logged as a warning:\n%s", f.logs)
	}
}

// A lone refused user on a quiet system still ends, on its first call
// Refusal_Grace (15m) after its first (the third, 10 minutes apart): UMC
// refuses it again in the same words as a user that cannot exist, asked
// after the answer, while its self-service works. Asking about such a user mails no one.
func TestLoneRefusedUserEnds(t *testing.T) {
	stub := &umctest.UMC{Refused: func(u string) bool { return u == "domain-admin" }}
	f := newFixture(t, stub, config.Map{})
	f.enqueue(t, "domain-admin")
	fb := newFluentBit(f)
	fb.runUntilIdle(t, 10)
	if n := stub.Attempts()["domain-admin"]; n != 3 {
		t.Fatalf("%d calls, want 3", n)
	}
	for _, c := range stub.Calls() {
		if c.Username != "domain-admin" && (!strings.Contains(c.Username, ":") || c.Status != 400) {
			t.Fatalf("a call that could mail someone: %+v", c)
		}
	}
	if byKind := lettersByKind(f.deadLetters(t)); len(byKind[spool.KindRefused]) != 1 || fb.sawError() {
		t.Fatalf("%v, verdicts %v", byKind, fb.verdicts)
	}
	if _, err := os.Stat(filepath.Join(umctest.DeadLetterDir(f.queue), "domain-admin.send")); err != nil {
		t.Fatalf("queue file not kept beside the refusal for a re-queue: %v", err)
	}
}

// A lone user while UMC's self-service is switched off (400 for everyone,
// in other words) is not refused: it waits, and is invited once UMC is on.
func TestLoneUserInARefusingOutageWaits(t *testing.T) {
	var off atomic.Bool
	off.Store(true)
	stub := &umctest.UMC{Outage: func() int {
		if off.Load() {
			return 400
		}
		return 0
	}}
	f := newFixture(t, stub, config.Map{})
	f.tick = time.Second // the probes keep the outage's pace
	f.enqueue(t, "alice")
	fb := newFluentBit(f)
	for range 14 {
		fb.round(t)
	}
	if l := f.deadLetters(t); len(l) != 0 {
		t.Fatalf("refused during an outage: %+v", l[0])
	}
	off.Store(false)
	fb.runUntilIdle(t, 10)
	if err := stub.CheckOnce(1); err != nil {
		t.Fatal(err)
	}
}

// An outage for everyone, longer than a chunk's six tries: nobody is
// charged; the records are carried over into new chunks; once UMC is back
// everyone is delivered once.
func TestOutageChargesNoOne(t *testing.T) {
	for _, kind := range []int{umctest.Drop, 503, 500, 400, 502, 401} {
		t.Run(fmt.Sprint(kind), func(t *testing.T) {
			var down atomic.Bool
			down.Store(true)
			stub := &umctest.UMC{Outage: func() int {
				if down.Load() {
					return kind
				}
				return 0
			}}
			f := newFixture(t, stub, config.Map{"Timeout": "2s"})
			f.tick = time.Second // the probes keep the outage's pace
			users := names("user", 20)
			f.enqueue(t, users...)
			fb := newFluentBit(f)
			for range 20 { // over three chunks' worth of tries
				fb.round(t)
			}
			if letters := f.deadLetters(t); len(letters) != 0 {
				t.Fatalf("%d dead letters during an outage, the first: %+v", len(letters), letters[0])
			}
			if !strings.Contains(f.logs.String(), "carried over into a new record") {
				t.Fatalf("nobody carried over on a chunk's last try")
			}
			calls := len(stub.Calls())
			down.Store(false)
			fb.runUntilIdle(t, 10)
			if err := stub.CheckOnce(len(users)); err != nil {
				t.Fatal(err)
			}
			if letters := f.deadLetters(t); len(letters) != 0 || len(f.queued(t)) != 0 || fb.sawError() {
				t.Fatalf("after recovery: letters %v, queue %v", letters, f.queued(t))
			}
			t.Logf("outage %d: %d calls for %d users in 20 flushes, %d chunks given up and carried over", kind, calls, len(users), fb.givenUp)
		})
	}
}

// A slow but healthy UMC: the records held back by Flush_Timeout are never
// charged, however many tries it takes.
func TestSlowUMCChargesNoOne(t *testing.T) {
	// 100 ms calls within a 1 s Timeout: a call cut off by its Timeout
	// after UMC served it is the in-flight window docs/delivery.md does not
	// promise to close, so the Timeout is ten times the latency, room for a
	// loaded machine and the race detector.
	stub := &umctest.UMC{Latency: 100 * time.Millisecond}
	f := newFixture(t, stub, config.Map{"Concurrency": "1", "Timeout": "1s", "Flush_Timeout": "1s", "Chunk_Retry_Limit": "2"})
	users := names("user", 30) // three flushes' worth: most are held back, some twice
	f.enqueue(t, users...)
	newFluentBit(f).runUntilIdle(t, 40)
	if err := stub.CheckOnce(len(users)); err != nil {
		t.Fatal(err)
	}
	if letters := f.deadLetters(t); len(letters) != 0 {
		t.Fatalf("dead letters: %+v", letters)
	}
}

// One user's mail keeps failing while others are served: that others are
// served is no evidence against it; it waits with its own growing pause
// and ends only by age (Max_Age), an expired dead letter with UMC's last
// answer.
func TestOneUserFailingAmongOthers(t *testing.T) {
	stub := &umctest.UMC{Fail: func(u string, _ int) int {
		if u == "bounce" {
			return http.StatusInternalServerError
		}
		return 0
	}}
	f := newFixture(t, stub, config.Map{"Max_Age": "1h"})
	fb := newFluentBit(f)
	f.enqueue(t, "bounce")
	for i := range 4 { // 40 minutes
		f.enqueue(t, fmt.Sprintf("steady%02d", i)) // others keep coming
		fb.round(t)
	}
	if l := f.deadLetters(t); len(l) != 0 {
		t.Fatalf("ended before Max_Age: %+v", l)
	}
	fb.runUntilIdle(t, 10)
	letters := f.deadLetters(t)
	if len(letters) != 1 || letters[0].Kind != spool.KindExpired || letters[0].Status != 500 || !strings.Contains(letters[0].Reason, "Max_Age 1h") {
		t.Fatalf("dead letters %+v", letters)
	}
	if err := stub.CheckOnce(4); err != nil {
		t.Fatal(err)
	}
}

// A dead letter that cannot be written (full disk) leaves the record queued
// and open; once it can be written, it is, without another call.
func TestDeadLetterWriteFailureKeepsTheRecord(t *testing.T) {
	stub := &umctest.UMC{Refused: func(string) bool { return true }}
	f := newFixture(t, stub, config.Map{})
	// A directory where the log should be: every append fails.
	blocker := filepath.Join(umctest.DeadLetterDir(f.queue), spool.DeadLetterLog)
	if err := os.MkdirAll(blocker, 0o755); err != nil {
		t.Fatal(err)
	}
	recs := f.queueFiles(t, "nobody")
	for range 4 {
		if v := f.flush(context.Background(), recs); v != Retry {
			t.Fatalf("verdict %v while the dead letter cannot be written", v)
		}
	}
	if q := f.queued(t); len(q) != 1 || !strings.Contains(f.logs.String(), "cannot record the refusal") {
		t.Fatalf("queue %v, logs:\n%s", q, f.logs)
	}
	calls := len(stub.Calls())
	os.Remove(blocker)
	if v := f.flush(context.Background(), recs); v != OK {
		t.Fatalf("verdict %v", v)
	}
	if l := f.deadLetters(t); len(l) != 1 || l[0].Kind != spool.KindRefused || len(stub.Calls()) != calls || len(f.queued(t)) != 0 {
		t.Fatalf("letters %+v, calls %d then %d", l, calls, len(stub.Calls()))
	}
}

// Fluent Bit gives up a chunk while the dead letter still cannot be
// written: the record is carried over, and the decided refusal with it.
func TestUnwritableDeadLetterIsCarriedOver(t *testing.T) {
	stub := &umctest.UMC{Refused: func(string) bool { return true }}
	f := newFixture(t, stub, config.Map{})
	blocker := filepath.Join(umctest.DeadLetterDir(f.queue), spool.DeadLetterLog)
	os.MkdirAll(blocker, 0o755)
	f.enqueue(t, "nobody")
	fb := newFluentBit(f)
	for range 8 {
		fb.round(t)
	}
	if data, _ := os.ReadFile(filepath.Join(f.queue, "nobody.send")); !strings.Contains(string(data), `"letter":"refused"`) {
		t.Fatalf("the decided refusal was not carried over: %q", data)
	}
	os.Remove(blocker)
	f.out.ledger = newLedger() // and a restart in between
	fb.runUntilIdle(t, 10)
	if l := f.deadLetters(t); len(l) != 1 || l[0].Kind != spool.KindRefused || stub.Attempts()["nobody"] != 3 {
		t.Fatalf("letters %+v, calls %d", l, stub.Attempts()["nobody"])
	}
}

// A queue file holding its line twice is one invitation.
func TestLineTwiceIsOneCall(t *testing.T) {
	f := newFixture(t, &umctest.UMC{}, config.Map{})
	os.WriteFile(filepath.Join(f.queue, "twice.send"), []byte("{\"username\": \"twice\"}\n{\"username\": \"twice\"}\n"), 0o644)
	newFluentBit(f).runUntilIdle(t, 5)
	if err := f.stub.CheckOnce(1); err != nil || len(f.stub.Calls()) != 1 {
		t.Fatalf("%v, %d calls", err, len(f.stub.Calls()))
	}
}

// One file read into two chunks (a crash between the chunk write and
// tail's DB update), flushed at the same moment by two workers: one call.
func TestOneFileInTwoChunksIsOneCall(t *testing.T) {
	for range 20 {
		f := newFixture(t, &umctest.UMC{Latency: time.Millisecond}, config.Map{})
		chunk := f.queueFiles(t, names("u", 30)...)
		again := append([]record.Record(nil), chunk...)
		for i := range again { // as read anew after a restart: another time
			again[i].Time = again[i].Time.Add(time.Second)
		}
		var wg sync.WaitGroup
		for _, c := range [][]record.Record{chunk, again} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for f.flush(context.Background(), c) == Retry {
				}
			}()
		}
		wg.Wait()
		if err := f.stub.CheckOnce(30); err != nil || len(f.stub.Calls()) != 30 {
			t.Fatalf("%v, %d calls", err, len(f.stub.Calls()))
		}
	}
}
