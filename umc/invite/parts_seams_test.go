package invite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"umc-invite/tests/umctest"
	"umc-invite/umc"
	"umc-invite/umc/config"
	"umc-invite/umc/policy"
	"umc-invite/umc/record"
	"umc-invite/umc/spool"
)

// slowly yields recs, pausing before the record at index at: a chunk whose
// later part takes long to read and prepare (a slow disk, a busy host).
func slowly(recs []record.Record, at int, pause time.Duration) func(func(record.Record) bool) {
	return func(yield func(record.Record) bool) {
		for i, r := range recs {
			if i == at {
				time.Sleep(pause)
			}
			if !yield(r) {
				return
			}
		}
	}
}

// Flush_Timeout: "no new request starts after this long in one flush; the
// rest waits for Fluent Bit's retry". A later part of a chunk read after
// Flush_Timeout is held for the retry (or, as when the chunk was decoded
// before the flush began, sent): its users are not answered with a
// failure UMC never gave (an empty answer, "HTTP 0"), nor charged for it,
// and no outage is declared while UMC served every call it saw.
func TestUsersReadAfterFlushTimeoutWaitForTheRetryWithoutAFailureUMCNeverGave(t *testing.T) {
	stub := &umctest.UMC{}
	f := newFixture(t, stub, config.Map{"Concurrency": "2", "Flush_Timeout": "500ms", "Timeout": "500ms", "Intake_Dir": "off"})
	f.tick = time.Millisecond // time passes within the flush
	first := names("early", preparedAtOnce)
	late := names("late", 30)
	recs := f.queueFiles(t, append(first, late...)...)
	f.advance(f.out.cfg.BackoffMax + time.Second)
	v := f.out.FlushEach(context.Background(), slowly(recs, preparedAtOnce, 800*time.Millisecond))
	if v == Error {
		t.Fatalf("verdict %v, want RETRY (the late users wait for the retry) or OK", v)
	}
	logs := f.logs.String()
	var charged []string
	for _, u := range late {
		if strings.Contains(logs, fmt.Sprintf("send_token for %q", u)) {
			charged = append(charged, u)
		}
	}
	if len(charged) > 0 {
		t.Errorf("%d of %d users read after Flush_Timeout were answered with a failure UMC never gave (%s); log: %s",
			len(charged), len(late), shortList(charged), firstLineWith(logs, "send_token for \"late"))
	}
	if calls := len(stub.UserCalls()); calls != len(first) {
		t.Logf("UMC saw %d calls, %d users in the first part", calls, len(first))
	}
	if f.out.gate.failing() {
		t.Errorf("an outage was opened by answers UMC never gave (UMC served every call it saw)")
	}
}

func firstLineWith(logs, s string) string {
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

// The chunk's last try, its users in three parts, UMC down for all: every
// user is carried over into a new line of its file, none lost, none
// called twice, the chunk ends (OK).
func TestOnTheLastTryUsersOfEveryPartAreCarriedOver(t *testing.T) {
	fake := &fakeUMC{answer: func(string, int) umc.Answer { return unavailable() }}
	f := newFakeFixture(t, fake, config.Map{"Concurrency": "2", "Chunk_Retry_Limit": "1", "Intake_Dir": "off"})
	users := names("u", 2*preparedAtOnce+7)
	recs := f.queueFiles(t, users...)
	if v := f.flush(context.Background(), recs); v != Retry {
		t.Fatalf("first try: verdict %v, want RETRY", v)
	}
	if v := f.flush(context.Background(), recs); v != OK {
		t.Fatalf("last try: verdict %v, want OK (all carried over)", v)
	}
	var notCarried []string
	for _, u := range users {
		if n := fake.called(u); n > 2 {
			t.Fatalf("%s called %d times in two tries", u, n)
		}
		fl, err := f.out.queue.Stat(filepath.Join(f.queue, u+".send"))
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		data, _ := f.out.queue.Read(fl)
		if strings.Count(strings.TrimSpace(string(data)), "\n") != 1 {
			notCarried = append(notCarried, u)
		}
	}
	if len(notCarried) > 0 {
		t.Fatalf("%d users not carried over on the last try: %s", len(notCarried), shortList(notCarried))
	}
}

// A panic preparing a record of a later part, while the first part's calls
// run: the flush answers RETRY, no sender outlives it, nothing the flush claimed stays busy,
// and the next try delivers every user once.
func TestAPanicPreparingALaterPartLeavesNoSenderAndNoClaimBehind(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	fake := &fakeUMC{answer: func(string, int) umc.Answer {
		<-release
		return served()
	}}
	f := newFakeFixture(t, fake, config.Map{"Concurrency": "2", "Intake_Dir": "off"})
	users := names("u", preparedAtOnce+20)
	recs := f.queueFiles(t, users...)
	// A record outside the queue directory makes prepare log "queue file
	// left alone": the injected panic, in the flush's own goroutine.
	outside := record.New("umc_invite", time.Unix(1700000000, 0), map[any]any{
		"log": []byte(`{"username": "zed"}`), "path": []byte(filepath.Join(t.TempDir(), "zed.send")), "offset": int64(0)})
	chunk := append(append(append([]record.Record{}, recs[:preparedAtOnce+10]...), outside), recs[preparedAtOnce+10:]...)
	f.out.log.out = &panicOn{trigger: "queue file left alone", w: &syncWriter{w: f.logs}}
	before := goroutinesSettle(0)
	go func() { time.Sleep(200 * time.Millisecond); once.Do(func() { close(release) }) }()
	f.advance(f.out.cfg.BackoffMax + time.Second)
	v := f.out.Flush(context.Background(), chunk)
	once.Do(func() { close(release) })
	if !strings.Contains(f.logs.String(), "internal error preparing") || v != Retry {
		t.Fatalf("verdict %v; the injected panic was not met, or not kept in the flush:\n%s", v, f.logs)
	}
	if n := goroutinesSettle(before); n > before {
		t.Errorf("%d goroutines after the panicking flush, %d before: a sender outlived it", n, before)
	}
	for _, r := range recs[preparedAtOnce:] {
		path, _ := r.String("path")
		fl, err := f.out.queue.Stat(path)
		if err != nil {
			continue // delivered
		}
		if claimed, _ := f.out.ledger.Claim(&spool.Claims{}, f.out.fileKey(fl), 0, spool.Entry[policy.User]{}); claimed == spool.Busy {
			t.Fatalf("%s is still claimed after the flush panicked", path)
		}
		f.out.ledger.Forget(f.out.fileKey(fl))
	}
	if v := f.flush(context.Background(), recs); v != OK {
		t.Fatalf("next try: verdict %v, want OK", v)
	}
	for _, u := range users {
		if n := fake.called(u); n != 1 {
			t.Fatalf("%s called %d times, want 1", u, n)
		}
	}
}

// Two flushes of overlapping chunks at once, each of several parts, the
// overlap in opposite order: every user is called once, and what one
// flush found busy the other delivered or a retry does.
func TestOverlappingChunksFlushedAtOnceCallEachUserOnce(t *testing.T) {
	fake := &fakeUMC{answer: func(string, int) umc.Answer {
		time.Sleep(time.Millisecond)
		return served()
	}}
	f := newFakeFixture(t, fake, config.Map{"Concurrency": "4", "Intake_Dir": "off"})
	users := names("u", 2*preparedAtOnce+30)
	recs := f.queueFiles(t, users...)
	a := recs[:preparedAtOnce+100]
	b := make([]record.Record, 0, len(recs))
	for i := len(recs) - 1; i >= preparedAtOnce-100; i-- {
		b = append(b, recs[i])
	}
	f.advance(f.out.cfg.BackoffMax + time.Second)
	var wg sync.WaitGroup
	var va, vb Verdict
	wg.Go(func() { va = f.out.Flush(context.Background(), a) })
	wg.Go(func() { vb = f.out.Flush(context.Background(), b) })
	wg.Wait()
	for range 3 {
		if va == Retry {
			va = f.flush(context.Background(), a)
		}
		if vb == Retry {
			vb = f.flush(context.Background(), b)
		}
	}
	if va != OK || vb != OK {
		t.Fatalf("verdicts %v %v after retries, want OK", va, vb)
	}
	for _, u := range users {
		if n := fake.called(u); n != 1 {
			t.Fatalf("%s called %d times, want 1", u, n)
		}
	}
	if left := f.queued(t); len(left) != 0 {
		t.Errorf("still queued: %v", left)
	}
}

// Bad input in every part (symlinks, lines naming nobody, files naming
// two users) is set aside in the flush's own goroutine while the part
// before it is being sent: none of it reaches UMC, each leaves as one
// bad_input letter, every good user is called once. Run with -race: the
// letters are written while other records' answers are applied.
func TestBadInputInLaterPartsIsSetAsideWhileThePartBeforeIsSent(t *testing.T) {
	fake := &fakeUMC{answer: func(string, int) umc.Answer {
		time.Sleep(200 * time.Microsecond)
		return served()
	}}
	f := newFakeFixture(t, fake, config.Map{"Concurrency": "4", "Intake_Dir": "off"})
	elsewhere := t.TempDir()
	var chunk []record.Record
	var good []string
	bad := 0
	for i := range 3 * preparedAtOnce {
		switch i % 5 {
		case 1:
			link := filepath.Join(f.queue, fmt.Sprintf("link%04d.send", i))
			if err := os.Symlink(elsewhere, link); err != nil {
				t.Fatal(err)
			}
			chunk = append(chunk, recordOf(link, "{\"username\": \"target\"}"))
			bad++
		case 3:
			path := filepath.Join(f.queue, fmt.Sprintf("two%04d.send", i))
			umctest.WriteQueueFile(t, f.queue, filepath.Base(path), "{\"username\": \"x"+fmt.Sprint(i)+"\"}\n{\"username\": \"y"+fmt.Sprint(i)+"\"}\n")
			chunk = append(chunk, recordOf(path, "{\"username\": \"x"+fmt.Sprint(i)+"\"}"))
			bad++
		default:
			u := fmt.Sprintf("good%04d", i)
			good = append(good, u)
			chunk = append(chunk, f.queueFile(t, u))
		}
	}
	if v := f.flush(context.Background(), chunk); v != OK {
		t.Fatalf("verdict %v, want OK\n%s", v, f.logs)
	}
	for _, u := range good {
		if n := fake.called(u); n != 1 {
			t.Fatalf("%s called %d times, want 1", u, n)
		}
	}
	fake.mu.Lock()
	for u := range fake.calls {
		if !strings.HasPrefix(u, "good") {
			t.Errorf("bad input reached UMC: %q", u)
		}
	}
	fake.mu.Unlock()
	if letters := f.deadLetters(t); len(letters) != bad {
		t.Errorf("%d dead letters, want %d", len(letters), bad)
	}
	if left := f.queued(t); len(left) != 0 {
		t.Errorf("still queued: %v", shortList(left))
	}
}

// UMC goes down while the first part is sent: the outage it opens holds
// the users of the later parts, prepared meanwhile, without a call each
// (one at a time at most, the outage's own calls); none is lost.
func TestAnOutageOpeningInTheFirstPartHoldsTheLaterPartsUncalled(t *testing.T) {
	var calls atomic.Int32
	fake := &fakeUMC{answer: func(string, int) umc.Answer {
		if calls.Add(1) <= 100 { // down in the middle of the first part
			return served()
		}
		return umc.Answer{Status: 503, FromUMC: true, Message: "Service Unavailable"}
	}}
	f := newFakeFixture(t, fake, config.Map{"Concurrency": "2", "Intake_Dir": "off"})
	f.tick = time.Millisecond // time passes within the flush: answers come after UMC last worked
	users := names("u", 2*preparedAtOnce+40)
	recs := f.queueFiles(t, users...)
	start := time.Now()
	if v := f.flush(context.Background(), recs); v != Retry {
		t.Fatalf("verdict %v, want RETRY", v)
	}
	later := 0
	for _, u := range users[preparedAtOnce:] {
		later += fake.called(u)
	}
	first := 0
	for _, u := range users[:preparedAtOnce] {
		first += fake.called(u)
	}
	if later > 3 {
		t.Errorf("%d calls for the users of the later parts during an outage opened in the first (%d in the first part), took %s",
			later, first, time.Since(start))
	}
	if len(f.queued(t))+100 != len(users) || len(f.deadLetters(t)) != 0 {
		t.Errorf("%d queued, %d dead letters: want all %d not served queued", len(f.queued(t)), len(f.deadLetters(t)), len(users)-100)
	}
	t.Logf("calls: first part %d, later parts %d, in %s", first, later, time.Since(start))
}

// A queue file of two lines, both the same user's, its records in two
// parts: one call in the flush, whether the first part's call succeeds
// (the second record finds the file gone) or fails (the file stays, the
// second record is the same user's, carried by the first); the retry
// ends it.
func TestAFileWhoseLinesSpanTwoPartsIsOneCall(t *testing.T) {
	for _, failFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("first call fails %v", failFirst), func(t *testing.T) {
			fake := &fakeUMC{answer: func(u string, n int) umc.Answer {
				if u == "alice" && failFirst && n == 1 {
					return umc.Answer{Status: 500, FromUMC: true, Message: "mail relay down"}
				}
				return served()
			}}
			f := newFakeFixture(t, fake, config.Map{"Concurrency": "2", "Intake_Dir": "off"})
			line := `{"username": "alice"}`
			umctest.WriteQueueFile(t, f.queue, "alice.send", line+"\n"+line+"\n")
			path := filepath.Join(f.queue, "alice.send")
			second := recordOf(path, line)
			second.Fields["offset"] = int64(len(line) + 1)
			chunk := append([]record.Record{recordOf(path, line)}, f.queueFiles(t, names("u", preparedAtOnce+5)...)...)
			chunk = append(chunk, second)
			v := f.flush(context.Background(), chunk)
			if n := fake.called("alice"); n != 1 {
				t.Fatalf("alice called %d times in one flush, want 1", n)
			}
			if want := map[bool]Verdict{false: OK, true: Retry}[failFirst]; v != want {
				t.Fatalf("verdict %v, want %v", v, want)
			}
			if failFirst {
				if v := f.flush(context.Background(), chunk); v != OK || fake.called("alice") != 2 {
					t.Fatalf("retry: verdict %v, alice called %d times in all, want OK and 2", v, fake.called("alice"))
				}
			}
			if left := f.queued(t); len(left) != 0 {
				t.Errorf("still queued: %v", shortList(left))
			}
		})
	}
}

// tail with "Parser json": records carry the user, no "log" line. A queue
// file of the same user's lines grown to spool.CompactAt, its records in
// two parts of the chunk's last try, the user failing: the user is
// carried over once, into one new record, as when both records were
// prepared before any call. The first part's carry-over replaces the
// file by a copy; the second part's record must not take the copy over
// as a record of its own and carry the user over a second time.
func TestOnTheLastTryAGrownFileWhoseParsedRecordsSpanTwoPartsIsCarriedOverOnce(t *testing.T) {
	fake := &fakeUMC{answer: func(u string, n int) umc.Answer {
		if u == "alice" {
			return umc.Answer{Status: 500, FromUMC: true, Message: "mail relay down"}
		}
		return served()
	}}
	f := newFakeFixture(t, fake, config.Map{"Concurrency": "2", "Chunk_Retry_Limit": "1", "Intake_Dir": "off"})
	line := `{"username": "alice"}`
	var content strings.Builder
	for content.Len() < spool.CompactAt {
		content.WriteString(line + "\n")
	}
	umctest.WriteQueueFile(t, f.queue, "alice.send", content.String())
	path := filepath.Join(f.queue, "alice.send")
	parsed := func(offset int64) record.Record {
		return record.New("umc_invite", time.Unix(1700000000, 0), map[any]any{
			"username": []byte("alice"), "path": []byte(path), "offset": offset})
	}
	chunk := append([]record.Record{parsed(0)}, f.queueFiles(t, names("u", preparedAtOnce+5)...)...)
	chunk = append(chunk, parsed(int64(len(line)+1)))
	if v := f.flush(context.Background(), chunk); v != Retry {
		t.Fatalf("first try: verdict %v, want RETRY", v)
	}
	// Fluent Bit's chunk on its last try holds new users too (its records
	// were queued anew), enough for a part; its last record is read a
	// moment later, when the first part's calls are over.
	chunk = append([]record.Record{parsed(0)}, f.queueFiles(t, names("v", preparedAtOnce+5)...)...)
	chunk = append(chunk, parsed(int64(len(line)+1)))
	f.advance(f.out.cfg.BackoffMax + time.Second)
	if v := f.out.FlushEach(context.Background(), slowly(chunk, len(chunk)-1, 300*time.Millisecond)); v != OK {
		t.Fatalf("last try: verdict %v, want OK (alice carried over)", v)
	}
	if n := fake.called("alice"); n != 2 {
		t.Errorf("alice called %d times in two tries, want 2", n)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(string(data)), "\n"); len(lines) != 1 {
		t.Errorf("alice.send holds %d lines after the last try, want the one carried-over line:\n%s\nlog:\n%s",
			len(lines), data, grepLines(f.logs.String(), "carried over"))
	}
}

// A panic preparing a record of a later part, after the first part's
// calls began: the flush answers RETRY, so that Fluent Bit keeps the
// chunk; the plugin's recovery can only answer FLB_ERROR, which drops it,
// and with it the first part's users still waiting and every later
// record never prepared (their files stay queued, but nothing hands them
// to tail again before a restart).
func TestAPanicPreparingALaterPartKeepsTheChunkForARetry(t *testing.T) {
	fake := &fakeUMC{answer: func(u string, n int) umc.Answer {
		if u == "u000" || u == "u001" {
			return umc.Answer{Status: 500, FromUMC: true, Message: "mail relay down"}
		}
		return served()
	}}
	f := newFakeFixture(t, fake, config.Map{"Concurrency": "2", "Intake_Dir": "off"})
	recs := f.queueFiles(t, names("u", preparedAtOnce+20)...)
	outside := record.New("umc_invite", time.Unix(1700000000, 0), map[any]any{
		"log": []byte(`{"username": "zed"}`), "path": []byte(filepath.Join(t.TempDir(), "zed.send")), "offset": int64(0)})
	chunk := append(append(append([]record.Record{}, recs[:preparedAtOnce+10]...), outside), recs[preparedAtOnce+10:]...)
	f.out.log.out = &panicOn{trigger: "queue file left alone", w: &syncWriter{w: f.logs}}
	var v Verdict
	panicked := func() (p any) {
		defer func() { p = recover() }()
		v = f.flush(context.Background(), chunk)
		return nil
	}()
	if panicked != nil {
		t.Fatalf("the flush panicked (%v) after %d calls: Fluent Bit is told FLB_ERROR and drops the chunk, u000 and u001 still waiting and %d records never prepared",
			panicked, len(fake.calls), len(chunk)-preparedAtOnce-11)
	}
	if v != Retry {
		t.Fatalf("verdict %v, want RETRY", v)
	}
}
