package invite

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"umc-invite/tests/umctest"
	"umc-invite/umc/config"
	"umc-invite/umc/record"
	"umc-invite/umc/spool"
)

// fixture is one Output against a UMC stand-in, with a queue directory.
type fixture struct {
	mu    sync.Mutex
	clock time.Time
	tick  time.Duration // each reading of the clock moves it on: time passes within a flush
	out   *Output
	stub  *umctest.UMC
	fake  *fakeUMC // instead of stub: answers without HTTP
	queue string
	logs  *bytes.Buffer
	// claims: the directories of the outputs of the test's "process"
	claims *Claims
}

func newFixture(t *testing.T, stub *umctest.UMC, keys config.Map) *fixture {
	t.Helper()
	f := newFixtureWith(t, stub, keys)
	f.stub = stub
	return f
}

// newFixtureWith serves the output's calls with any handler: a UMC that
// answers in a way the stand-in does not (a body cut short, say).
func newFixtureWith(t *testing.T, h http.Handler, keys config.Map) *fixture {
	t.Helper()
	dir := t.TempDir()
	keys["UMC_URL"] = umctest.NewServer(t, h)
	if keys.Get("Queue_Dir") == "" {
		keys["Queue_Dir"] = dir
	}
	cfg, err := config.Load(keys)
	if err != nil {
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	claims := NewClaims()
	out, err := New(cfg, NewLogger(&syncWriter{w: logs}, "test"), claims)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(out.Close)
	f := &fixture{out: out, queue: dir, logs: logs, clock: time.Now(), claims: claims}
	out.now, out.prober.now = f.now, f.now
	return f
}

func (f *fixture) now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.clock = f.clock.Add(f.tick)
	return f.clock
}

// advance moves the output's clock on.
func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.clock = f.clock.Add(d)
}

// flush is a later try of Fluent Bit's: past every user's pause (Backoff_Max).
func (f *fixture) flush(ctx context.Context, recs []record.Record) Verdict {
	f.advance(f.out.cfg.BackoffMax + time.Second)
	return f.out.Flush(ctx, recs)
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// queueFile writes <user>.send as the listener does and returns the record
// tail makes of it.
func (f *fixture) queueFile(t *testing.T, user string) record.Record {
	t.Helper()
	path := filepath.Join(f.queue, user+".send")
	line := fmt.Sprintf("{\"username\": %q}\n", user)
	if err := os.WriteFile(path, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	return record.New("umc_invite", time.Unix(1700000000, 0), map[any]any{
		"log": []byte(strings.TrimSuffix(line, "\n")), "path": []byte(path), "offset": int64(0)})
}

func (f *fixture) queueFiles(t *testing.T, users ...string) []record.Record {
	var recs []record.Record
	for _, u := range users {
		recs = append(recs, f.queueFile(t, u))
	}
	return recs
}

func (f *fixture) deadLetters(t *testing.T) []spool.DeadLetter {
	t.Helper()
	return umctest.ReadDeadLetters(t, umctest.DeadLetterDir(f.queue))
}

func (f *fixture) queued(t *testing.T) []string {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(f.queue, "*.send"))
	for i := range names {
		names[i] = filepath.Base(names[i])
	}
	return names
}

func failFirst(n int, status int, users ...string) func(string, int) int {
	failing := map[string]bool{}
	for _, u := range users {
		failing[u] = true
	}
	return func(user string, call int) int {
		if failing[user] && call <= n {
			return status
		}
		return 0
	}
}

func TestAllDelivered(t *testing.T) {
	f := newFixture(t, &umctest.UMC{}, config.Map{})
	recs := f.queueFiles(t, "alice", "bob", "carol")
	if v := f.flush(context.Background(), recs); v != OK {
		t.Fatalf("verdict %v", v)
	}
	if d := f.stub.Delivered(); len(d) != 3 || d["alice"] != 1 || d["bob"] != 1 || d["carol"] != 1 {
		t.Fatalf("delivered %v", d)
	}
	if q := f.queued(t); len(q) != 0 {
		t.Fatalf("delivered files left in the queue: %v", q)
	}
}

// Fluent Bit hands back the whole chunk after FLB_RETRY: only the records
// that failed may be sent again; while every call fails, one at a time.
func TestRetriedChunkSendsOnlyWhatFailed(t *testing.T) {
	stub := &umctest.UMC{Fail: failFirst(2, 500, "bob", "dave")}
	f := newFixture(t, stub, config.Map{})
	recs := f.queueFiles(t, "alice", "bob", "carol", "dave")
	var verdicts []Verdict
	for range 8 {
		v := f.flush(context.Background(), recs)
		verdicts = append(verdicts, v)
		if v == OK {
			break
		}
	}
	if verdicts[len(verdicts)-1] != OK {
		t.Fatalf("verdicts %v", verdicts)
	}
	if d := f.stub.Delivered(); len(d) != 4 || d["alice"]+d["bob"]+d["carol"]+d["dave"] != 4 {
		t.Fatalf("each user exactly one 200, got %v", d)
	}
	if a := f.stub.Attempts(); a["alice"] != 1 || a["carol"] != 1 || a["bob"] != 3 || a["dave"] != 3 {
		t.Fatalf("calls per user %v", a)
	}
	// Fluent Bit may still flush the chunk once more (a retry racing a
	// shutdown): nothing is sent again.
	if v := f.flush(context.Background(), recs); v != OK || len(f.stub.Calls()) != 8 {
		t.Fatalf("verdict %v, %d calls", v, len(f.stub.Calls()))
	}
}

// A user whose calls always fail is never ended by a count: it waits with
// its own growing pause until it is Max_Age old, then becomes an expired
// dead letter carrying UMC's last answer.
func TestAlwaysFailingUserExpiresByAge(t *testing.T) {
	stub := &umctest.UMC{Fail: failFirst(1000, 500, "bob")}
	f := newFixture(t, stub, config.Map{"Max_Age": "30m"})
	recs := f.queueFiles(t, "alice", "bob")
	var verdicts []Verdict
	for range 3 { // 10 minutes apart
		verdicts = append(verdicts, f.flush(context.Background(), recs))
	}
	if fmt.Sprint(verdicts) != "[RETRY RETRY ERROR]" {
		t.Fatalf("verdicts %v", verdicts)
	}
	// Its try 30 minutes in ends it without a call: it is Max_Age old,
	// with UMC's last answer.
	if a := f.stub.Attempts(); a["bob"] != 2 || a["alice"] != 1 {
		t.Fatalf("calls %v", a)
	}
	letters := f.deadLetters(t)
	if len(letters) != 1 {
		t.Fatalf("dead letters %+v", letters)
	}
	l := letters[0]
	if l.Username != "bob" || l.Kind != spool.KindExpired || !strings.Contains(l.Reason, "Max_Age 30m") || l.Status != 500 || !strings.Contains(l.Message, "Error sending token") ||
		l.File != filepath.Join(umctest.DeadLetterDir(f.queue), "bob.send") || l.Record["path"] != filepath.Join(f.queue, "bob.send") {
		t.Fatalf("dead letter %+v", l)
	}
	if _, err := os.Stat(l.File); err != nil {
		t.Fatalf("queue file not in the dead-letter dir: %v", err)
	}
	if q := f.queued(t); len(q) != 0 {
		t.Fatalf("queue %v", q)
	}
	// A further flush of the chunk sends nothing: the file has left.
	if v := f.flush(context.Background(), recs); v != OK || f.stub.Attempts()["bob"] != 2 {
		t.Fatalf("verdict %v, bob called %d times", v, f.stub.Attempts()["bob"])
	}
}

func TestBadInputBesideGoodRecords(t *testing.T) {
	f := newFixture(t, &umctest.UMC{}, config.Map{})
	recs := f.queueFiles(t, "alice", "bob")
	bad := []record.Record{
		record.New("umc_invite", time.Unix(1, 0), map[any]any{"log": []byte(`{"username": "eve"`)}),
		record.New("umc_invite", time.Unix(1, 0), map[any]any{"log": []byte(strings.Repeat("x", 300))}),
		record.New("umc_invite", time.Unix(1, 0), map[any]any{"something": "else"}),
	}
	badFile := filepath.Join(f.queue, "mallory.send")
	os.WriteFile(badFile, []byte("mal\x07lory\n"), 0o644)
	bad = append(bad, record.New("umc_invite", time.Unix(1, 0), map[any]any{"log": []byte("mal\x07lory"), "path": []byte(badFile), "offset": int64(0)}))
	all := append([]record.Record{recs[0], bad[0], bad[1]}, append(bad[2:], recs[1])...)

	if v := f.flush(context.Background(), all); v != OK {
		t.Fatalf("verdict %v", v)
	}
	if calls := f.stub.Calls(); len(calls) != 2 || f.stub.Delivered()["alice"] != 1 || f.stub.Delivered()["bob"] != 1 {
		t.Fatalf("calls %+v", calls)
	}
	letters := f.deadLetters(t)
	if len(letters) != 4 {
		t.Fatalf("want one dead letter per bad record, got %+v", letters)
	}
	for _, l := range letters {
		if !strings.HasPrefix(l.Reason, "bad input: ") {
			t.Errorf("dead letter %+v", l)
		}
	}
	if _, err := os.Stat(filepath.Join(umctest.DeadLetterDir(f.queue), "mallory.send")); err != nil {
		t.Errorf("bad queue file not moved: %v", err)
	}
	if n := strings.Count(f.logs.String(), "bad input"); n != 4 {
		t.Errorf("want one log line per bad record, got %d:\n%s", n, f.logs)
	}
	// Retrying the chunk neither calls UMC nor writes the letters again.
	f.flush(context.Background(), all)
	if len(f.stub.Calls()) != 2 || len(f.deadLetters(t)) != 4 {
		t.Fatal("bad input was handled twice")
	}
}

func TestPathsOutsideQueueDirAreNeverTouched(t *testing.T) {
	stub := &umctest.UMC{Fail: failFirst(1000, 500, "victim")}
	f := newFixture(t, stub, config.Map{"Max_Age": "1m"})
	outside := t.TempDir()
	var recs []record.Record
	for _, path := range []string{
		filepath.Join(outside, "alice.send"),
		filepath.Join(f.queue, "..", filepath.Base(outside), "victim.send"),
	} {
		os.WriteFile(path, []byte("\n"), 0o644)
		recs = append(recs, record.New("t", time.Unix(1, 0), map[any]any{"log": []byte(""), "path": []byte(path), "offset": int64(0)}))
	}
	link := filepath.Join(f.queue, "link.send")
	os.Symlink(filepath.Join(outside, "alice.send"), link)
	recs = append(recs, record.New("t", time.Unix(1, 0), map[any]any{"log": []byte("carol"), "path": []byte(link), "offset": int64(0)}))

	for range 3 {
		f.flush(context.Background(), recs)
	}
	// A record of a file outside the queue is sent and its file left
	// alone; one read through a symlink in the queue is never sent (issue
	// 20): the link leaves the queue as a bad_input letter, its target stays.
	if d := f.stub.Delivered(); d["alice"] != 1 || d["carol"] != 0 {
		t.Fatalf("records outside are still sent, a symlink's never: got %v", d)
	}
	if l := f.deadLetters(t); len(l) != 2 || l[1].Username != "victim" || l[1].File != "" || l[0].Kind != spool.KindBadInput || !strings.Contains(l[0].Reason, `"link.send" is a symlink`) {
		t.Fatalf("dead letters %+v", l)
	}
	if _, err := os.Lstat(link); !os.IsNotExist(err) {
		t.Errorf("the symlink is still queued: %v", err)
	}
	for _, p := range []string{filepath.Join(outside, "alice.send"), filepath.Join(outside, "victim.send")} {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s was touched: %v", p, err)
		}
	}
	if !strings.Contains(f.logs.String(), "not a regular file directly inside Queue_Dir") {
		t.Errorf("refusal not logged:\n%s", f.logs)
	}
}

// After a restart the ledger is empty; a chunk restored from Fluent Bit's
// storage whose queue file is gone was handled by the earlier run.
func TestGoneQueueFileIsNotSentAgain(t *testing.T) {
	f := newFixture(t, &umctest.UMC{}, config.Map{})
	recs := f.queueFiles(t, "alice", "bob")
	os.Remove(filepath.Join(f.queue, "alice.send"))
	if v := f.flush(context.Background(), recs); v != OK {
		t.Fatalf("verdict %v", v)
	}
	if d := f.stub.Delivered(); d["alice"] != 0 || d["bob"] != 1 {
		t.Fatalf("delivered %v", d)
	}
}

// UMC rejecting the configured credentials fails every call alike: after
// the first such answer the rest of the chunk waits for Fluent Bit's retry instead of being sent (one
// call at a time finds out whether UMC is back), and no one ends, however
// often it is retried.
func TestSystemicFailureStopsTheFlush(t *testing.T) {
	stub := &umctest.UMC{User: "u", Password: "right"}
	f := newFixture(t, stub, config.Map{"Auth_User": "u", "Auth_Password": "wrong", "Concurrency": "1", "Chunk_Retry_Limit": "2"})
	users := make([]string, 50)
	for i := range users {
		users[i] = fmt.Sprintf("user%02d", i)
	}
	recs := f.queueFiles(t, users...)
	if v := f.flush(context.Background(), recs); v != Retry {
		t.Fatalf("verdict %v", v)
	}
	if n := len(stub.Calls()); n != 1 {
		t.Fatalf("%d calls to a UMC refusing the credentials, want 1", n)
	}
	if !strings.Contains(f.logs.String(), "49 user(s) due but not called in this flush: UMC rejects the configured credentials (Auth_User) since") || !strings.Contains(f.logs.String(), "wrong Auth_User or password") {
		t.Fatalf("logs:\n%s", f.logs)
	}
	for range 5 {
		// RETRY, or OK on the chunk's last try: everyone carried over.
		if v := f.flush(context.Background(), recs); v == Error {
			t.Fatalf("verdict %v", v)
		}
	}
	if letters := f.deadLetters(t); len(letters) != 0 {
		t.Fatalf("%d dead letters for an outage", len(letters))
	}
}

func TestFlushTimeoutBoundsAFlush(t *testing.T) {
	stub := &umctest.UMC{Latency: 300 * time.Millisecond}
	f := newFixture(t, stub, config.Map{"Concurrency": "1", "Flush_Timeout": "500ms", "Timeout": "500ms"})
	recs := f.queueFiles(t, "a", "b", "c", "d", "e")
	start := time.Now()
	v := f.flush(context.Background(), recs)
	if took := time.Since(start); v != Retry || took > 2*time.Second {
		t.Fatalf("verdict %v after %s", v, took)
	}
	if !strings.Contains(f.logs.String(), "Flush_Timeout") {
		t.Fatalf("logs:\n%s", f.logs)
	}
	// The next flush finishes the rest, each user once.
	f.out.cfg.FlushTimeout = time.Minute
	if v := f.flush(context.Background(), recs); v != OK {
		t.Fatalf("verdict %v", v)
	}
	if err := f.stub.CheckOnce(5); err != nil {
		t.Fatal(err)
	}
}

func TestDeadLettersOnlyLoggedWithoutDirectories(t *testing.T) {
	stub := &umctest.UMC{}
	cfg, _ := config.Load(config.Map{"UMC_URL": umctest.NewServer(t, stub)})
	logs := &bytes.Buffer{}
	out, _ := New(cfg, NewLogger(logs, "t"), nil)
	v := out.Flush(context.Background(), []record.Record{record.New("t", time.Unix(1, 0), map[any]any{"log": []byte("")})})
	// Bad input is the writer's, not Fluent Bit's: OK, never an error.
	if v != OK || !strings.Contains(logs.String(), `dead letter (no Dead_Letter_Dir): {"time"`) {
		t.Fatalf("verdict %v, logs:\n%s", v, logs)
	}
}

// Several Fluent Bit workers flush different chunks at once.
func TestConcurrentFlushes(t *testing.T) {
	stub := &umctest.UMC{Fail: func(user string, n int) int {
		if strings.HasSuffix(user, "7") && n == 1 {
			return 503
		}
		return 0
	}}
	f := newFixture(t, stub, config.Map{"Quick_Retries": "0"})
	var chunks [][]record.Record
	for c := range 8 {
		var users []string
		for i := range 25 {
			users = append(users, fmt.Sprintf("c%d-u%d", c, i))
		}
		chunks = append(chunks, f.queueFiles(t, users...))
	}
	var wg sync.WaitGroup
	for _, chunk := range chunks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f.flush(context.Background(), chunk) == Retry {
			}
		}()
	}
	wg.Wait()
	if err := f.stub.CheckOnce(200); err != nil {
		t.Fatal(err)
	}
}

func TestPasswordNeverLogged(t *testing.T) {
	stub := &umctest.UMC{User: "u", Password: "other"}
	f := newFixture(t, stub, config.Map{"Auth_User": "u", "Auth_Password": "s3cret-pw", "Chunk_Retry_Limit": "1"})
	f.flush(context.Background(), f.queueFiles(t, "alice"))
	all := f.logs.String() + f.out.Describe()
	data, _ := os.ReadFile(filepath.Join(umctest.DeadLetterDir(f.queue), spool.DeadLetterLog))
	if strings.Contains(all+string(data), "s3cret-pw") {
		t.Fatal("the password appears in a log line or dead letter")
	}
	if !strings.Contains(all, "basic auth as u") {
		t.Fatalf("describe: %s", f.out.Describe())
	}
}

func TestUnwritableDirectoriesFailAtStart(t *testing.T) {
	// /proc is a directory no one, root included, can create files in.
	cfg, err := config.Load(config.Map{"UMC_URL": "http://umc", "Queue_Dir": "/proc", "Dead_Letter_Dir": t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(cfg, NewLogger(&bytes.Buffer{}, "t"), nil); err == nil || !strings.HasPrefix(err.Error(), "Queue_Dir: not writable") {
		t.Fatalf("%v", err)
	}
}

func TestDeadLetterDirIsCreatedAtStart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	cfg, _ := config.Load(config.Map{"UMC_URL": "http://umc", "Dead_Letter_Dir": dir})
	if _, err := New(cfg, NewLogger(&bytes.Buffer{}, "t"), nil); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		t.Fatalf("%v", err)
	}
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	cfg, _ = config.Load(config.Map{"UMC_URL": "http://umc", "Dead_Letter_Dir": filepath.Join(file, "sub")})
	if _, err := New(cfg, NewLogger(&bytes.Buffer{}, "t"), nil); err == nil || !strings.HasPrefix(err.Error(), "Dead_Letter_Dir: ") {
		t.Fatalf("%v", err)
	}
}

// An output with dead letters but no queue gives every descriptor back
// when it closes: a hot reload restarts outputs many times.
func TestClosingAnOutputWithoutAQueueLeaksNoDescriptor(t *testing.T) {
	cfg, _ := config.Load(config.Map{"UMC_URL": "http://umc", "Dead_Letter_Dir": t.TempDir()})
	open := func() int { ents, _ := os.ReadDir("/proc/self/fd"); return len(ents) }
	before := open()
	for range 20 {
		o, err := New(cfg, NewLogger(&bytes.Buffer{}, "t"), nil)
		if err != nil {
			t.Fatal(err)
		}
		o.Close()
	}
	if after := open(); after > before+5 {
		t.Fatalf("%d descriptors open after 20 starts and stops, %d before", after, before)
	}
}
