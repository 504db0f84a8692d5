package spool

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// A queue file is read whole whatever its size up to MaxFileSize, also
// when it grew after it was looked at; beyond that it is too big.
func TestReadTakesTheWholeFileUpToTheLimit(t *testing.T) {
	root, _, q := setup(t)
	for _, size := range []int{0, 1, 19, 4096, MaxFileSize - 1, MaxFileSize, MaxFileSize + 1, 2 * MaxFileSize} {
		path := filepath.Join(root, "u.send")
		content := bytes.Repeat([]byte("x"), size)
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := q.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		data, err := q.Read(f)
		if size > MaxFileSize {
			if !errors.Is(err, ErrTooBig) || len(data) != MaxFileSize {
				t.Errorf("%d bytes: got %d bytes, %v; want the first %d and ErrTooBig", size, len(data), err, MaxFileSize)
			}
			continue
		}
		if err != nil || !bytes.Equal(data, content) {
			t.Errorf("%d bytes: got %d bytes, %v", size, len(data), err)
		}
	}
}

func TestReadTakesLinesAddedAfterTheFileWasLookedAt(t *testing.T) {
	root, _, q := setup(t)
	path := filepath.Join(root, "u.send")
	if err := os.WriteFile(path, []byte("{\"username\":\"u\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := q.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	grown := []byte("{\"username\":\"u\"}\n{\"username\":\"v\"}\n")
	if err := os.WriteFile(path, grown, 0o600); err != nil {
		t.Fatal(err)
	}
	if data, err := q.Read(f); err != nil || !bytes.Equal(data, grown) {
		t.Fatalf("got %q, %v; want the file as it is now, %q", data, err, grown)
	}
	big := bytes.Repeat([]byte("x"), MaxFileSize+10)
	if err := os.WriteFile(path, big, 0o600); err != nil {
		t.Fatal(err)
	}
	if data, err := q.Read(f); !errors.Is(err, ErrTooBig) || len(data) != MaxFileSize {
		t.Fatalf("a file grown past the limit after it was looked at: %d bytes, %v; want ErrTooBig", len(data), err)
	}
}
