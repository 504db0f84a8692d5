package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umc-invite/umc/spool"
)

func letter(t *testing.T, dir string, d spool.DeadLetter) {
	t.Helper()
	dl, err := spool.OpenDeadLetters(nil, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer dl.Close()
	if err := dl.Append(d); err != nil {
		t.Fatal(err)
	}
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func runCmd(t *testing.T, fn func([]string, *bytes.Buffer, *bytes.Buffer) int, args ...string) (string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := fn(args, &out, &errOut)
	t.Log("\n" + out.String() + errOut.String())
	return out.String(), code
}

func deadLettersCmd(args []string, out, errOut *bytes.Buffer) int {
	return runDeadLetters(args, out, errOut)
}
func requeueCmd(args []string, out, errOut *bytes.Buffer) int { return runRequeue(args, out, errOut) }

// A dead-letter directory as the plugin leaves it, with a duplicate line
// for one file and a half-written last line.
func sampleLetters(t *testing.T, dir string) {
	letter(t, dir, spool.DeadLetter{Time: at("2026-11-26T10:00:00Z"), Kind: spool.KindRefused, Username: "carol",
		Reason: "HTTP 400: No address has been stored", Status: 400, File: filepath.Join(dir, "carol.send")})
	letter(t, dir, spool.DeadLetter{Time: at("2026-11-26T11:00:00Z"), Kind: spool.KindFailed, Username: "bob",
		Reason: "failed 6 times, the last: HTTP 500", Status: 500, File: filepath.Join(dir, "bob.send")})
	letter(t, dir, spool.DeadLetter{Time: at("2026-11-26T11:00:05Z"), Kind: spool.KindFailed, Username: "bob",
		Reason: "failed 6 times, the last: HTTP 500", Status: 500, File: filepath.Join(dir, "bob.send")})
	letter(t, dir, spool.DeadLetter{Time: at("2026-11-26T12:00:00Z"), Kind: spool.KindBadInput,
		Reason: "log line: username holds U+202E"})
	f, _ := os.OpenFile(filepath.Join(dir, spool.DeadLetterLog), os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"time":"2026-11-26T13:00:00Z","kind":"fai`)
	f.Close()
}

func TestDeadLettersNewestFirstAndJSON(t *testing.T) {
	dir := t.TempDir()
	sampleLetters(t, dir)
	out, code := runCmd(t, deadLettersCmd, "--dir", dir)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 4 {
		t.Fatalf("exit %d, %d lines", code, len(lines))
	}
	for i, want := range []string{"WHEN", "bad_input", "bob", "carol"} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("line %d: %q, want %q", i, lines[i], want)
		}
	}
	if !strings.Contains(lines[2], "(2 lines)") {
		t.Errorf("the duplicate is not folded: %q", lines[2])
	}

	out, code = runCmd(t, deadLettersCmd, "--dir", dir, "--json")
	var got []Letter
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var d Letter
		if err := json.Unmarshal([]byte(l), &d); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		got = append(got, d)
	}
	if code != 0 || len(got) != 3 || got[0].Kind != "bad_input" || got[1].Username != "bob" || got[2].Username != "carol" {
		t.Fatalf("exit %d: %+v", code, got)
	}
}

func TestRequeueTwiceQueuesOnce(t *testing.T) {
	q := t.TempDir()
	dead := filepath.Join(q, "failed")
	sampleLetters(t, dead)
	out, code := runCmd(t, requeueCmd, "--queue-dir", q, "bob")
	if code != 0 || !strings.Contains(out, "bob: queued as "+filepath.Join(q, "bob.send")) {
		t.Fatalf("exit %d", code)
	}
	raw, _ := os.ReadFile(filepath.Join(q, "bob.send"))
	var line struct{ Username, Requeued string }
	if err := json.Unmarshal(raw, &line); err != nil || line.Username != "bob" || line.Requeued == "" || !strings.HasSuffix(string(raw), "\n") {
		t.Fatalf("queue file %q: %v", raw, err)
	}
	// Still queued: nothing to do.
	out, _ = runCmd(t, requeueCmd, "--queue-dir", q, "bob")
	if !strings.Contains(out, "bob: already queued") {
		t.Fatalf("second run: %q", out)
	}
	// Delivered and removed by the plugin: still nothing, it was re-queued.
	os.Remove(filepath.Join(q, "bob.send"))
	out, _ = runCmd(t, requeueCmd, "--queue-dir", q, "bob")
	if !strings.Contains(out, "bob: re-queued already") {
		t.Fatalf("third run: %q", out)
	}
	if _, err := os.Stat(filepath.Join(q, "bob.send")); err == nil {
		t.Fatal("bob was queued twice")
	}
	// --all takes only carol now; bad input has no name.
	out, _ = runCmd(t, requeueCmd, "--queue-dir", q, "--all")
	if strings.TrimSpace(out) != "carol: queued as "+filepath.Join(q, "carol.send") {
		t.Fatalf("--all: %q", out)
	}
	out, _ = runCmd(t, requeueCmd, "--queue-dir", q, "--all")
	if !strings.Contains(out, "nothing to re-queue") {
		t.Fatalf("--all again: %q", out)
	}
	// dead-letters shows both re-queued.
	out, _ = runCmd(t, deadLettersCmd, "--dir", dead)
	for _, l := range strings.Split(out, "\n") {
		if (strings.Contains(l, " bob ") || strings.Contains(l, " carol ")) && strings.Contains(l, " - ") {
			t.Errorf("not marked re-queued: %q", l)
		}
	}
	entries, _ := os.ReadDir(q)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("a temporary file is left: %s", e.Name())
		}
	}
}

func TestRequeueIntoIntake(t *testing.T) {
	q := t.TempDir()
	incoming := filepath.Join(q, "incoming")
	os.Mkdir(incoming, 0o755)
	sampleLetters(t, filepath.Join(q, "failed"))
	out, code := runCmd(t, requeueCmd, "--queue-dir", q, "bob", "carol")
	if code != 0 || !strings.Contains(out, filepath.Join(incoming, "bob.send")) || !strings.Contains(out, filepath.Join(incoming, "carol.send")) {
		t.Fatalf("exit %d: %q", code, out)
	}
	// carol's file admitted into the queue meanwhile: still one.
	os.Rename(filepath.Join(incoming, "carol.send"), filepath.Join(q, "carol.send"))
	out, _ = runCmd(t, requeueCmd, "--queue-dir", q, "--force", "carol")
	if !strings.Contains(out, "carol: already queued") {
		t.Fatalf("%q", out)
	}
	out, code = runCmd(t, requeueCmd, "--queue-dir", q, "../etc/passwd")
	if code != 1 || !strings.Contains(out, "not re-queued") {
		t.Fatalf("exit %d: %q", code, out)
	}
}
