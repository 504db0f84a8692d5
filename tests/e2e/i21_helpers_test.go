package e2e

// Helpers of the issue-21 tests (evidence_test.go, wait_test.go,
// outage_figures_test.go): a user's fate decided by evidence and by age.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umc-invite/tests/umctest"
	"umc-invite/umc/queue"
)

// The dead-letter kinds of the new rules, as dead-letter.jsonl spells them.
const (
	kindRefused = "refused" // proven
	kindExpired = "expired" // Max_Age
)

// waitConfig is fastConfig with the plugin's keys set as given, pairs of
// key and value: the waiting users' pauses, Refusal_Grace, Max_Age.
func waitConfig(t *testing.T, keyValues ...string) string {
	t.Helper()
	conf := fastConfig(t)
	for i := 0; i+1 < len(keyValues); i += 2 {
		outputKey(t, conf, keyValues[i], keyValues[i+1])
	}
	return conf
}

// noLetters fails the test at once if dead-letter.jsonl has a line.
func noLetters(t *testing.T, s *site, when string) {
	t.Helper()
	if l := s.deadLetters(); l != "" {
		t.Fatalf("dead letter %s: %s", when, l)
	}
}

// hold lets d pass, checking every 200 ms that fluent-bit runs and that
// check (when not nil) holds.
func hold(t *testing.T, d time.Duration, p interface{ Exited() bool }, check func()) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if p.Exited() {
			t.Fatal("fluent-bit exited")
		}
		if check != nil {
			check()
		}
	}
}

// lettersOf returns the dead letters of one user.
func lettersOf(letters []queue.DeadLetter, user string) []queue.DeadLetter {
	var out []queue.DeadLetter
	for _, l := range letters {
		if l.Username == user {
			out = append(out, l)
		}
	}
	return out
}

// callsBetween counts the calls (probes included) in [from, to).
func callsBetween(calls []umctest.Call, from, to time.Time) int {
	n := 0
	for _, c := range calls {
		if !c.Time.Before(from) && c.Time.Before(to) {
			n++
		}
	}
	return n
}

// biggestQueueFile is the size of the biggest *.send in dir.
func biggestQueueFile(dir string) int64 {
	var most int64
	names, _ := filepath.Glob(filepath.Join(dir, "*.send"))
	for _, n := range names {
		if fi, err := os.Stat(n); err == nil && fi.Size() > most {
			most = fi.Size()
		}
	}
	return most
}

// scheduleBound is the most calls a user failing from time 0 can get in
// span if its pause doubles from min to max and jitter shortens each pause
// by up to half: the upper bound of the growing pause.
func scheduleBound(span, min, max time.Duration) int {
	calls, at, pause := 1, time.Duration(0), min
	for {
		at += pause / 2
		if at > span {
			return calls
		}
		calls++
		pause = 2 * pause
		if pause > max {
			pause = max
		}
	}
}

// waiting is one entry of `umc-invite queue --json`.
type waiting struct {
	Username   string    `json:"username"`
	File       string    `json:"file"`
	FirstSeen  time.Time `json:"first_seen"`
	AgeSeconds float64   `json:"age_seconds"`
	LastAnswer string    `json:"last_answer"`
	NextTry    any       `json:"next_try"`
}

// operatorCommand builds cmd/umc-invite for the test.
func operatorCommand(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "umc-invite")
	build := exec.Command("go", "build", "-o", path, "./cmd/umc-invite")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return path
}

// queueListing runs `umc-invite queue --dir DIR --json`, keyed by username.
func queueListing(command, dir string) (map[string]waiting, error) {
	out, err := exec.Command(command, "queue", "--dir", dir, "--json").Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		return nil, fmt.Errorf("umc-invite queue --json: %v: %s", err, strings.TrimSpace(stderr))
	}
	var list []waiting
	if err := json.Unmarshal(out, &list); err != nil {
		return nil, fmt.Errorf("umc-invite queue --json: %v: %q", err, out)
	}
	m := map[string]waiting{}
	for _, w := range list {
		m[w.Username] = w
	}
	return m, nil
}
