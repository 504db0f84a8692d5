package spool

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A journal whose last line a crash cut short keeps the next line apart:
// glued together, a reader would lose both.
func TestALineAfterOneCutShortByACrashStaysApart(t *testing.T) {
	root := t.TempDir()
	h, err := OpenDir(root)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	path := filepath.Join(root, DeadLetterLog)
	if err := os.WriteFile(path, []byte("{\"username\":\"alice\"}\n{\"username\":\"bo"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := AppendLine(h, DeadLetterLog, map[string]string{"username": "carol"}); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 3 || lines[2] != `{"username":"carol"}` {
		t.Fatalf("journal after the append:\n%s", data)
	}
}
