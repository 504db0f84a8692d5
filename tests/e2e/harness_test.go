// Package e2e runs the plugin in a real fluent-bit, found through
// FLUENT_BIT or PATH; every test skips with a message when there is none.
package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"umc-invite/tests/fluentbit"
	"umc-invite/tests/umctest"
	"umc-invite/umc/queue"
)

var (
	fluentBit  string // the binary, "" when none
	pluginPath string
	repoRoot   string
	skipReason string
)

func TestMain(m *testing.M) {
	repoRoot = umctest.RepoRoot()
	var err error
	fluentBit, err = fluentbit.Binary()
	if err != nil {
		skipReason = err.Error()
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "umc-invite-e2e")
	if err != nil {
		panic(err)
	}
	if pluginPath, err = umctest.BuildPlugin(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func needFluentBit(t *testing.T) {
	t.Helper()
	if fluentBit == "" {
		t.Skip("end-to-end test skipped: " + skipReason)
	}
}

// site is one deployment under test: a UMC stand-in, a queue directory
// with its dead letters, and a state directory for tail's DB and the chunk
// buffer.
type site struct {
	umc   *umctest.UMC
	url   string
	queue string
	dead  string // Dead_Letter_Dir: the default unless a test sets the key
	state string
	port  int
}

func newSite(t *testing.T, umc *umctest.UMC) *site {
	t.Helper()
	dir := t.TempDir()
	s := &site{umc: umc, url: umctest.NewServer(t, umc), queue: filepath.Join(dir, "queue"), state: filepath.Join(dir, "state"), port: umctest.FreePort(t)}
	s.dead = umctest.DeadLetterDir(s.queue)
	if err := os.MkdirAll(s.queue, 0o755); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *site) env() []string {
	return []string{"UMC_URL=" + s.url, "QUEUE_DIR=" + s.queue, "STATE_DIR=" + s.state, fmt.Sprintf("HTTP_PORT=%d", s.port)}
}

// enqueue writes queue files as the listener module does.
func (s *site) enqueue(t *testing.T, users ...string) {
	t.Helper()
	umctest.Enqueue(t, s.queue, users...)
}

func (s *site) queued() int { return len(umctest.Queued(s.queue)) }

// deadLetters is dead-letter.jsonl's text, for a quick look.
func (s *site) deadLetters() string {
	data, _ := os.ReadFile(filepath.Join(s.dead, queue.DeadLetterLog))
	return string(data)
}

func (s *site) letters(t *testing.T) []queue.DeadLetter {
	t.Helper()
	return umctest.ReadDeadLetters(t, s.dead)
}

// start runs fluent-bit with a classic config file and the plugin.
func start(t *testing.T, config string, env []string) *fluentbit.Process {
	t.Helper()
	return startArgs(t, []string{"-e", pluginPath, "-c", config}, env)
}

func startArgs(t *testing.T, args, env []string) *fluentbit.Process {
	t.Helper()
	p, err := fluentbit.Start(fluentBit, args, env, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !p.Exited() {
			p.Stop(15 * time.Second)
		}
		if t.Failed() {
			t.Logf("fluent-bit log:\n%s", tail(p.Log(), 60))
		}
	})
	return p
}

// shippedConfig is fluent-bit.conf, with extra [SERVICE] lines (faster
// retries, say) when given.
func shippedConfig(t *testing.T, serviceLines ...string) string {
	t.Helper()
	text, err := os.ReadFile(filepath.Join(repoRoot, "fluent-bit.conf"))
	if err != nil {
		t.Fatal(err)
	}
	conf := strings.Replace(string(text), "[SERVICE]\n", "[SERVICE]\n    "+strings.Join(serviceLines, "\n    ")+"\n", 1)
	file := filepath.Join(t.TempDir(), "fluent-bit.conf")
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// setKey sets the value of a key in a classic config file; the key must be there.
func setKey(t *testing.T, conf, key, value string) {
	t.Helper()
	text, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^(\s*` + regexp.QuoteMeta(key) + `\s+).*$`)
	if !re.Match(text) {
		t.Fatalf("%s not in %s", key, conf)
	}
	if err := os.WriteFile(conf, re.ReplaceAll(text, []byte("${1}"+value)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitSlack stretches every wait: a wait ends as soon as its condition
// holds, so a generous limit costs nothing on a fast machine and keeps a
// loaded 2-core CI machine from failing a test that would have passed.
const waitSlack = 3

func waitFor(t *testing.T, what string, limit time.Duration, p *fluentbit.Process, done func() bool) {
	t.Helper()
	limit *= waitSlack
	deadline := time.Now().Add(limit)
	for !done() {
		if p != nil && p.Exited() {
			t.Fatalf("fluent-bit exited while waiting for %s:\n%s", what, tail(p.Log(), 40))
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s", what, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func health(port int) int {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/api/v1/health", port))
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func users(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%04d", prefix, i)
	}
	return out
}

func tail(s string, lines int) string {
	all := strings.Split(s, "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}
