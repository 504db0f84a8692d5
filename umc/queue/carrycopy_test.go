package queue

import (
	"os"
	"testing"
)

// the carry-over copy is always 0664, whatever the file it
// replaces allowed: a producer's 0640 file (readable by Fluent Bit's
// group, not by others) becomes world-readable.
func TestCarryCopyKeepsTheFilesReaders(t *testing.T) {
	dir := fluentBitQueueDir(t, 0o2770)
	f := producerFile(t, dir, "alice.send", "{\"username\": \"alice\"}\n")
	if err := os.Chown(f.Path, 0, fluentBit); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(f.Path, 0o640); err != nil {
		t.Fatal(err)
	}
	q, _ := Open(dir)
	var err error
	asUser(fluentBit, func() { _, err = q.Carry(f, []byte("{\"charged\":1,\"username\":\"alice\"}\n")) })
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(f.Path)
	if st.Mode().Perm()&0o007 != 0 {
		t.Fatalf("the 0640 queue file was replaced by a %v copy: others may read it now", st.Mode().Perm())
	}
}
