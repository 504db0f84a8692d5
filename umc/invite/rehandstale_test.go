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

// A chunk still retried after a restart may hold the record of an earlier
// file of the same name, its line no longer in the file queued now (the
// user asked again after that file was delivered). Such a record is not the
// queued file's: it must not count as tail having brought that file, or a
// user whose own record Fluent Bit gave up is never read again.
func TestAStaleRecordOfAnEarlierFileDoesNotKeepTheQueuedFileFromTail(t *testing.T) {
	defer func(q time.Duration) { rehandQuiet = q }(rehandQuiet)
	rehandQuiet = 100 * time.Millisecond
	stub := &umctest.UMC{}
	f := newFixture(t, stub, config.Map{})
	anna := filepath.Join(f.queue, "anna.send")
	now := `{"username": "anna", "requested": "2"}`
	if err := os.WriteFile(anna, []byte(now+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stale := record.New("umc_invite", time.Unix(1700000000, 0), map[any]any{
		"log": []byte(`{"username": "anna", "requested": "1"}`), "path": []byte(anna), "offset": int64(0)})
	before := inode(t, anna)
	f.restart(t)
	f.flush(context.Background(), []record.Record{stale})
	deadline := time.Now().Add(5 * time.Second)
	for inode(t, anna) == before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if inode(t, anna) == before {
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
	defer func(q time.Duration) { rehandQuiet = q }(rehandQuiet)
	rehandQuiet = 100 * time.Millisecond
	stub := &umctest.UMC{}
	f := newFixture(t, stub, config.Map{})
	file := filepath.Join(f.queue, "u1001.send")
	if err := os.WriteFile(file, []byte(`{"username": "carl"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stale := record.New("umc_invite", time.Unix(1700000000, 0), map[any]any{
		"username": []byte("anna"), "path": []byte(file), "offset": int64(0)})
	before := inode(t, file)
	f.restart(t)
	f.flush(context.Background(), []record.Record{stale})
	deadline := time.Now().Add(5 * time.Second)
	for inode(t, file) == before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if inode(t, file) == before {
		t.Fatalf("carl's queued file was never handed to tail again: a record of anna's earlier file of that name counted as his\n%s", f.logs)
	}
	if a := stub.Attempts(); a["anna"] != 0 {
		t.Errorf("anna, delivered before, called %d times", a["anna"])
	}
}
