package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"umc-invite/tests/umctest"
)

// A value that would corrupt every request keeps Fluent Bit from starting,
// and its log names the key.
func TestCorruptingValueStopsTheStart(t *testing.T) {
	needFluentBit(t)
	t.Parallel()
	for key, value := range map[string]string{
		"UMC_URL":  "http://umc-server:99999",
		"Command":  "passwordreset/../send_token",
		"Language": "de-DE;q=1,x",
	} {
		s := newSite(t, &umctest.UMC{})
		conf := shippedConfig(t)
		if key == "UMC_URL" {
			s.url = value
		} else {
			outputKey(t, conf, key, value)
		}
		p := start(t, conf, s.env())
		waitFor(t, "fluent-bit to give up", 20*time.Second, nil, p.Exited)
		if log := p.Log(); !strings.Contains(log, "configuration refused: "+key+":") {
			t.Errorf("%s %q: the log does not name the key:\n%s", key, value, tail(log, 20))
		}
		if calls := s.umc.Calls(); len(calls) != 0 {
			t.Errorf("%s: %d calls", key, len(calls))
		}
	}
}

// A refused user, re-queued with `umc-invite requeue` once the cause is
// fixed, gets exactly one invitation; requeueing twice queues once.
func TestRequeueCommandBringsARefusedUserBack(t *testing.T) {
	needFluentBit(t)
	t.Parallel()
	var mu sync.Mutex
	refuse := true
	umc := &umctest.UMC{Refused: func(user string) bool {
		mu.Lock()
		defer mu.Unlock()
		return refuse && user == "bob"
	}}
	s := newSite(t, umc)
	conf := fastConfig(t)
	outputKey(t, conf, "Refusal_Grace", "2s") // refused on its second call
	p := start(t, conf, s.env())
	s.enqueue(t, "bob", "carol")
	waitFor(t, "bob's refusal", 15*time.Second, p, func() bool { return len(umctest.Refusals(t, s.dead)) == 1 })
	mu.Lock()
	refuse = false // bob got a recovery address
	mu.Unlock()

	cmd := filepath.Join(t.TempDir(), "umc-invite")
	build := exec.Command("go", "build", "-o", cmd, "./cmd/umc-invite")
	build.Dir = umctest.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for range 2 {
		out, err := exec.Command(cmd, "requeue", "--queue-dir", s.queue, "bob").CombinedOutput()
		if err != nil {
			t.Fatalf("requeue: %v\n%s", err, out)
		}
		t.Logf("umc-invite requeue bob: %s", strings.TrimSpace(string(out)))
	}
	waitFor(t, "bob's invitation", 20*time.Second, p, func() bool { return umc.Delivered()["bob"] == 1 })
	waitFor(t, "an empty queue and intake", 10*time.Second, p, func() bool {
		left, _ := filepath.Glob(filepath.Join(s.queue, "incoming", "*.send"))
		return s.queued() == 0 && len(left) == 0
	})
	time.Sleep(2 * time.Second) // a second invitation would come within this
	if err := umc.CheckOnce(2); err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command(cmd, "dead-letters", "--dir", s.dead).CombinedOutput()
	t.Logf("umc-invite dead-letters:\n%s", out)
	if !strings.Contains(string(out), "bob") {
		t.Fatalf("dead-letters does not list bob:\n%s", out)
	}
	_ = os.Remove(cmd)
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
