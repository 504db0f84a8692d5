package invite

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umc-invite/umc"
	"umc-invite/umc/config"
	"umc-invite/umc/record"
)

// A panic after a bad record's dead letter is written and its queue file
// moved (here: in the log line that says so) must not tell the operator
// the record "stays queued": it has left the queue. The next try finds
// nothing left, writes no second letter, and the chunk ends.
func TestAPanicAfterADeadLetterIsWrittenDoesNotClaimTheRecordStaysQueued(t *testing.T) {
	fake := &fakeUMC{answer: func(string, int) umc.Answer { return served() }}
	f := newFakeFixture(t, fake, config.Map{"Intake_Dir": "off"})
	path := filepath.Join(f.queue, "nobody.send")
	line := `{"not_a_username": 1}`
	if err := os.WriteFile(path, []byte(line+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rec := record.New("umc_invite", time.Unix(1700000000, 0), map[any]any{
		"log": []byte(line), "path": []byte(path), "offset": int64(0)})
	chunk := append([]record.Record{rec}, f.queueFiles(t, "ann")...)
	f.out.log.out = &panicOn{trigger: "dead letter written to", w: &syncWriter{w: f.logs}}
	v := f.out.Flush(context.Background(), chunk)
	logs := f.logs.String()
	if !strings.Contains(logs, "internal error preparing") {
		t.Fatalf("verdict %v; the injected panic was not met:\n%s", v, logs)
	}
	_, statErr := os.Stat(path)
	letters := f.deadLetters(t)
	if os.IsNotExist(statErr) && len(letters) == 1 && strings.Contains(logs, "record stays queued") {
		t.Errorf("the log says the record stays queued, but its dead letter is written and its file left the queue (verdict %v):\n%s", v, logs)
	}
	f.out.log.out = &syncWriter{w: f.logs}
	if v := f.flush(context.Background(), chunk); v != OK {
		t.Errorf("next try: verdict %v, want OK\n%s", v, f.logs)
	}
	if letters := f.deadLetters(t); len(letters) != 1 {
		t.Errorf("%d dead letters after the retry, want 1", len(letters))
	}
	if q := f.queued(t); len(q) != 0 {
		t.Errorf("still queued: %v", q)
	}
}
