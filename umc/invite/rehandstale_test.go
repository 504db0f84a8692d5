package invite

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"umc-invite/tests/umctest"
	"umc-invite/umc/config"
	"umc-invite/umc/record"
)

// afterStaleRecord queues name holding line, restarts, flushes a record
// of an earlier file of that name (fields, plus its path and offset 0) and
// says whether the queued file was handed to tail again within 5s.
func afterStaleRecord(t *testing.T, name, line string, fields map[any]any) (*fixture, *umctest.UMC, string, bool) {
	t.Helper()
	defer func(q time.Duration) { rehandQuiet = q }(rehandQuiet)
	rehandQuiet = 100 * time.Millisecond
	stub := &umctest.UMC{}
	f := newFixture(t, stub, config.Map{})
	file := filepath.Join(f.queue, name)
	if err := os.WriteFile(file, []byte(line+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fields["path"], fields["offset"] = []byte(file), int64(0)
	before := inode(t, file)
	f.restart(t)
	f.flush(context.Background(), []record.Record{record.New("umc_invite", time.Unix(1700000000, 0), fields)})
	for deadline := time.Now().Add(5 * time.Second); inode(t, file) == before && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	return f, stub, file, inode(t, file) != before
}

// A chunk still retried after a restart may hold the record of an earlier
// file of the same name, its line no longer in the file queued now (the
// user asked again after that file was delivered). Such a record is not the
// queued file's: it must not count as tail having brought that file, or a
// user whose own record Fluent Bit gave up is never read again.
func TestAStaleRecordOfAnEarlierFileDoesNotKeepTheQueuedFileFromTail(t *testing.T) {
	now := `{"username": "anna", "requested": "2"}`
	f, stub, anna, handed := afterStaleRecord(t, "anna.send", now, map[any]any{"log": []byte(`{"username": "anna", "requested": "1"}`)})
	if !handed {
		t.Fatalf("anna's queued file was never handed to tail again: a record of her earlier file counted as hers, and her invitation is never sent\n%s", f.logs)
	}
	renewed := record.New("umc_invite", time.Unix(1700000001, 0), map[any]any{
		"log": []byte(now), "path": []byte(anna), "offset": int64(0)})
	f.flush(context.Background(), []record.Record{renewed})
	if a := stub.Attempts(); a["anna"] != 1 {
		t.Fatalf("anna called %d times, want 1\n%s", a["anna"], f.logs)
	}
}

// The same with tail parsing the lines (no "log" field): a parsed record
// naming a user no line of the file names now is not the file's.
func TestAStaleParsedRecordDoesNotKeepTheQueuedFileFromTail(t *testing.T) {
	f, stub, _, handed := afterStaleRecord(t, "u1001.send", `{"username": "carl"}`, map[any]any{"username": []byte("anna")})
	if !handed {
		t.Fatalf("carl's queued file was never handed to tail again: a record of anna's earlier file of that name counted as his\n%s", f.logs)
	}
	if a := stub.Attempts(); a["anna"] != 0 {
		t.Errorf("anna, delivered before, called %d times", a["anna"])
	}
}
