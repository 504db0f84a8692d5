package queue

import (
	"os"
	"strings"
	"testing"
)

// (the copy path for a file Fluent Bit may not write) the
// copy no longer checks that the file is as big as when it was looked at.
// A producer's 0644 file that got a line appended after the flush read it
// ("echo bob >> alice.send", the producer's own append) is replaced by a
// copy holding only alice's carried line: bob's line is destroyed. Before
// an earlier fix, replaceWith refused such a file with ErrGrown.
func TestCarryCopyRefusesAFileThatGrew(t *testing.T) {
	dir := fluentBitQueueDir(t, 0o2775)
	f := producerFile(t, dir, "alice.send", "{\"username\": \"alice\"}\n")
	// The producer appends after the flush looked at the file (same inode).
	if err := os.WriteFile(f.Path, []byte("{\"username\": \"alice\"}\nbob\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	q, _ := Open(dir)
	var err error
	asUser(fluentBit, func() { _, err = q.Carry(f, []byte("{\"charged\":1,\"username\":\"alice\"}\n")) })
	data, _ := os.ReadFile(f.Path)
	if err == nil && !strings.Contains(string(data), "bob") {
		t.Fatalf("carry-over by copy over a file that grew since it was read: no error, and bob's line is gone: %q", data)
	}
}

// (the compaction path) the same without permissions, for
// a file grown to CompactAt.
func TestCompactionRefusesAFileThatGrew(t *testing.T) {
	dir := t.TempDir()
	carry := "{\"charged\":0,\"username\":\"alice\"}\n"
	f := producerFile(t, dir, "alice.send", "{\"username\": \"alice\"}\n"+strings.Repeat(carry, CompactAt/len(carry)))
	fh, err := os.OpenFile(f.Path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	fh.WriteString("bob\n")
	fh.Close()
	q, _ := Open(dir)
	_, err = q.Carry(f, []byte(carry))
	data, _ := os.ReadFile(f.Path)
	if err == nil && !strings.Contains(string(data), "bob") {
		t.Fatalf("compaction of a file that grew since it was read: no error, and bob's line is gone: %q", data)
	}
}
