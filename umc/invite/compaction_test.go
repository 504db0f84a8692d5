package invite

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umc-invite/tests/umctest"
	"umc-invite/umc/config"
	"umc-invite/umc/policy"
	"umc-invite/umc/record"
	"umc-invite/umc/spool"
)

// appendLine appends one line to path as a producer or an operator would
// ("echo bob >> alice.send").
func appendLine(t *testing.T, path, line string) {
	t.Helper()
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Error(err)
		return
	}
	defer fh.Close()
	fmt.Fprintln(fh, line)
}

// bobAccountedFor reports whether bob's line went anywhere the promises
// allow: invited, still queued on disk, or in a dead letter that names him
// (by username, in its reason, or in the set-aside file).
func bobAccountedFor(t *testing.T, f *fixture, stub *umctest.UMC) bool {
	t.Helper()
	if stub.Delivered()["bob"] > 0 {
		return true
	}
	names, _ := filepath.Glob(filepath.Join(f.queue, "*.send"))
	for _, n := range names {
		if data, _ := os.ReadFile(n); strings.Contains(string(data), "bob") {
			return true
		}
	}
	for _, l := range f.deadLetters(t) {
		if l.Username == "bob" || strings.Contains(l.Reason, `"bob"`) {
			return true
		}
	}
	kept, _ := filepath.Glob(filepath.Join(umctest.DeadLetterDir(f.queue), "*.send"))
	for _, n := range kept {
		if data, _ := os.ReadFile(n); strings.Contains(string(data), "bob") {
			return true
		}
	}
	return false
}

// the carry-over copy (Carry's replaceWith) no longer
// checks that the file is still as big as when the flush looked at it
// (the check "ErrGrown" was dropped with the copy's old content). A line
// appended to a queue file of 4 KiB while its user's last-try call is in
// flight ("echo bob >> alice.send" during an outage) is destroyed by the
// compaction's rename: bob is not invited, not queued, and no dead letter
// names him. The append carry-over of a small file keeps such a line (and
// the next record makes the file a bad_input letter naming both), as the
// docs/configuration.md promises for lines appended during a call.
func TestCompactionKeepsALineAppendedDuringTheLastTry(t *testing.T) {
	stub := &umctest.UMC{Outage: func() int { return http.StatusServiceUnavailable }}
	f := newFixture(t, stub, config.Map{})
	f.tick = time.Second // the probes keep the outage's pace
	path := filepath.Join(f.queue, "alice.send")
	// alice's line and her carried-over lines, just under CompactAt.
	content := "{\"username\": \"alice\"}\n"
	carry := string(record.CarryLine("username", "alice", policy.User{FirstSeen: time.Now()}))
	for len(content)+2*len(carry) <= spool.CompactAt {
		content += carry
	}
	if err := os.WriteFile(path, []byte(content), 0o664); err != nil {
		t.Fatal(err)
	}
	offset := len(content)
	content += carry
	if err := os.WriteFile(path, []byte(content), 0o664); err != nil {
		t.Fatal(err)
	}
	rec := record.New("umc_invite", time.Unix(1700000000, 0), map[any]any{
		"log": []byte(strings.TrimSuffix(carry, "\n")), "path": []byte(path), "offset": int64(offset)})
	calls := 0
	stub.OnCall = func(c umctest.Call) {
		if umctest.IsProbe(c) {
			return // the probe that weighs the 503 opening the outage
		}
		calls++
		if calls == 6 { // the chunk's last try
			appendLine(t, path, "bob")
		}
	}
	for try := 1; try <= 6; try++ {
		if v := f.flush(context.Background(), []record.Record{rec}); v != Retry {
			t.Fatalf("try %d: verdict %v during an outage", try, v)
		}
	}
	if calls != 6 {
		t.Fatalf("%d calls, want 6 (the test proves nothing)", calls)
	}
	data, _ := os.ReadFile(path)
	if !bobAccountedFor(t, f, stub) {
		t.Fatalf("bob's line, appended during alice's last-try call, is gone: not invited, not queued, no dead letter names him\n"+
			"alice.send now: %q\nlogs:\n%s", data, f.logs.String())
	}
}
