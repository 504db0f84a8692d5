package invite

import (
	"context"
	"io"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"umc-invite/tests/umctest"
	"umc-invite/umc/config"
	"umc-invite/umc/record"
)

// R1: a whitelist/blacklist misconfiguration (or an LDAP replica that is
// empty/behind) refuses EVERY user with UMC's MissingContactInformation,
// the very message of an impossible user, while the method check still
// works. The probe alone proves nothing: nobody is refused before
// Refusal_Grace (15m) has passed since its first such answer.
func TestEveryoneRefusedAlikeIsAnOutage(t *testing.T) {
	stub := &umctest.UMC{Refused: func(u string) bool { return true }}
	f := newFixture(t, stub, config.Map{})
	recs := f.queueFiles(t, names("u", 20)...)
	for i := 0; i < 14; i++ { // a try a minute
		f.advance(time.Minute)
		f.out.Flush(context.Background(), recs)
	}
	if n := len(f.deadLetters(t)); n != 0 {
		t.Errorf("an everyone-refused UMC turned %d of 20 users into refusals after %d calls (want: an outage, none)", n, len(stub.Calls()))
	}
}

// R1b: a user UMC cannot see yet (replication lag, whitelisted group added
// a moment after the user) is refused once, then would be served. One call
// decides: the user is never invited.
func TestOneRefusalDecidesNothing(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	stub := &umctest.UMC{Refused: func(u string) bool {
		mu.Lock()
		defer mu.Unlock()
		seen[u]++
		return u == "newbie" && seen[u] == 1
	}}
	f := newFixture(t, stub, config.Map{})
	rec := f.queueFile(t, "newbie")
	v := f.flush(context.Background(), []recordT{rec})
	_ = v
	v2 := f.flush(context.Background(), []recordT{rec})
	if d := stub.Delivered(); d["newbie"] != 1 {
		t.Errorf("newbie refused once (lag), verdicts %v/%v, never retried: delivered %v, letters %d", v, v2, d, len(f.deadLetters(t)))
	}
}

type recordT = record.Record

// R2: the baseline's two calls bypass Rate_Limit.
func TestBaselineKeepsTheRateLimit(t *testing.T) {
	stub := &umctest.UMC{Refused: func(u string) bool { return u == "bob" }}
	f := newFixture(t, stub, config.Map{"Rate_Limit": "1", "Flush_Timeout": "2s", "Timeout": "1s"})
	start := time.Now()
	f.flush(context.Background(), []recordT{f.queueFile(t, "bob")})
	if n := len(stub.Calls()); n > 1 {
		t.Errorf("Rate_Limit 1 a minute, but %d UMC calls in %s", n, time.Since(start).Round(time.Millisecond))
	}
}

// A call waiting for Rate_Limit does not start after UMC's 503 (its rate
// limit, or UMC down) stopped the flush: the only calls after it are the
// probe's two, which find UMC failing for everyone too.
func TestNoCallAfterAStopBehindTheRateLimit(t *testing.T) {
	stub := &umctest.UMC{Outage: func() int { return http.StatusServiceUnavailable }}
	f := newFixture(t, stub, config.Map{"Rate_Limit": "120", "Concurrency": "2", "Flush_Timeout": "5s", "Timeout": "1s"})
	f.flush(context.Background(), f.queueFiles(t, names("o", 5)...))
	if n, all := len(stub.UserCalls()), len(stub.Calls()); n != 1 || all > 3 {
		t.Errorf("UMC answered 503 (maybe its rate limit): the flush should stop after 1 call and its probe, made %d (%d in all)", n, all)
	}
}

// R5: the one-output-per-queue claim compares unresolved paths.
func TestOneOutputPerQueueThroughSymlinks(t *testing.T) {
	dir := t.TempDir()
	link := dir + ".link"
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(link)
	url := umctest.NewServer(t, &umctest.UMC{})
	var outs []*Output
	claims := NewClaims() // both outputs in one process
	for _, q := range []string{dir, link} {
		cfg, err := config.Load(config.Map{"UMC_URL": url, "Queue_Dir": q})
		if err != nil {
			t.Fatal(err)
		}
		o, err := New(cfg, NewLogger(io.Discard, "t"), claims)
		if err != nil {
			t.Logf("second output refused: %v", err)
			continue
		}
		outs = append(outs, o)
		defer o.Close()
	}
	if len(outs) == 2 {
		t.Errorf("two outputs (and two intake windows) on one queue via a symlink")
	}
}
