package config

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mkfifo makes a FIFO nobody writes to; opened for reading without
// O_NONBLOCK it would block for ever. At the end a writer opens it, so
// that a reader stuck on it (the defect) is let go.
func mkfifo(t *testing.T, path string) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
}

// within runs fn and fails the test if it does not return in time: a
// blocked open would hang Fluent Bit's start or every call.
func within[T any](t *testing.T, what string, fn func() T) T {
	t.Helper()
	done := make(chan T, 1)
	go func() { done <- fn() }()
	select {
	case v := <-done:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: still blocked after 10 s", what)
	}
	var zero T
	return zero
}

// TLS_CA_File, Config_File or Auth_Password_File naming a FIFO refuse the
// start at once, with a message naming the key, instead of blocking
// Fluent Bit's start (and umc-invite check and probe, which load the same
// way).
func TestAFIFONamedByAFileKeyIsRefusedWithoutWaiting(t *testing.T) {
	for _, key := range []string{"TLS_CA_File", "Config_File", "Auth_Password_File"} {
		t.Run(key, func(t *testing.T) {
			fifo := filepath.Join(t.TempDir(), "fifo")
			mkfifo(t, fifo)
			m := Map{"UMC_URL": "https://umc", "Auth_User": "u", "Auth_Password": "p", key: fifo}
			if key == "Auth_Password_File" {
				delete(m, "Auth_Password")
			}
			err := within(t, key, func() error { _, err := Load(m); return err })
			if err == nil || !strings.HasPrefix(err.Error(), key+": ") || !strings.Contains(err.Error(), "FIFO") {
				t.Fatalf("error %v: want it to name %s and say FIFO", err, key)
			}
		})
	}
}

// A password file replaced by a FIFO at run time (a mistake, or a writer
// of its directory) keeps the password read before, says so once, and
// blocks no call.
func TestAPasswordFileReplacedByAFIFOKeepsThePasswordWithoutWaiting(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "password")
	if err := os.WriteFile(path, []byte("first\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, n, now := passwordFile(t, path)
	fifo := filepath.Join(dir, "fifo")
	mkfifo(t, fifo)
	if err := os.Rename(fifo, path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
	if within(t, "Recheck", p.Recheck) {
		t.Fatal("a FIFO reported as a new password")
	}
	for range 3 {
		*now = now.Add(PasswordCheckInterval)
		if got := within(t, "Password", p.Password); got != "first" {
			t.Fatalf("password %q, want the one read before", got)
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.warn) != 1 || !strings.Contains(n.warn[0], "FIFO") || !strings.Contains(n.warn[0], "keeping the password read before") {
		t.Fatalf("warnings %q: want one, naming the FIFO", n.warn)
	}
}
