// Package e2e runs the plugin in a real fluent-bit, found through
// FLUENT_BIT or PATH; every test skips with a message when there is none.
package e2e

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"umc-invite/tests/fluentbit"
	"umc-invite/tests/umctest"
	"umc-invite/umc/spool"
)

var (
	fluentBit  string // the binary, "" when none
	pluginPath string
	repoRoot   string
	skipReason string
)

func TestMain(m *testing.M) {
	flag.Parse()
	// Most tests mostly wait (for Fluent Bit's retries, an outage's end)
	// and own their directories, ports and processes: they call t.Parallel
	// and run side by side, 4 at a time unless -parallel says otherwise
	// (the default, GOMAXPROCS, is 2 on a 2-core machine). The tests that
	// measure time or memory do not: Go runs them first, one at a time.
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		_ = flag.Set("test.parallel", "4")
	}
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
	data, _ := os.ReadFile(filepath.Join(s.dead, spool.DeadLetterLog))
	return string(data)
}

func (s *site) letters(t *testing.T) []spool.DeadLetter {
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
	return startBin(t, fluentBit, args, env)
}

// startBin runs bin (fluent-bit, or a wrapper that execs it) and stops it
// when the test ends, showing its log when the test failed.
func startBin(t *testing.T, bin string, args, env []string) *fluentbit.Process {
	t.Helper()
	p, err := fluentbit.Start(bin, args, env, nil)
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
	// A key the shipped config sets is changed in place: Fluent Bit takes
	// a key's last value, so a line added before it would change nothing.
	conf := string(text)
	var added []string
	for _, line := range serviceLines {
		key, value, _ := strings.Cut(strings.TrimSpace(line), " ")
		re := regexp.MustCompile(`(?m)^(\s*` + regexp.QuoteMeta(key) + `\s+).*$`)
		if !re.MatchString(conf) {
			added = append(added, line)
			continue
		}
		conf = re.ReplaceAllStringFunc(conf, func(m string) string {
			return re.FindStringSubmatch(m)[1] + strings.TrimSpace(value)
		})
	}
	conf = strings.Replace(conf, "[SERVICE]\n", "[SERVICE]\n    "+strings.Join(added, "\n    ")+"\n", 1)
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

// fastConfig is the shipped config with short retry waits: Fluent Bit's six
// tries of a chunk (Retry_Limit 5) then take about 10–15 s.
func fastConfig(t *testing.T, serviceLines ...string) string {
	t.Helper()
	return shippedConfig(t, append([]string{"scheduler.base 1", "scheduler.cap 2"}, serviceLines...)...)
}

// outputKey sets a key of the plugin's [OUTPUT] section, the config's last
// section, adding it when the shipped config does not have it.
func outputKey(t *testing.T, conf, key, value string) {
	t.Helper()
	text, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	if regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(key) + `\s`).Match(text) {
		setKey(t, conf, key, value)
		return
	}
	if last := strings.LastIndex(string(text), "\n["); !strings.HasPrefix(string(text[last+1:]), "[OUTPUT]") {
		t.Fatalf("%s: the last section is not [OUTPUT]", conf)
	}
	text = append(append([]byte(nil), bytes.TrimRight(text, "\n")...), fmt.Sprintf("\n    %-19s %s\n", key, value)...)
	if err := os.WriteFile(conf, text, 0o644); err != nil {
		t.Fatal(err)
	}
}

// metrics reads the plugin output's counters (fluentbit_output_*) from
// one snapshot of Fluent Bit's Prometheus endpoint; nil until it has them.
// Fluent Bit refreshes the snapshot now and then, so a test waits for a
// count it expects (settled) before it trusts another one.
func metrics(port int) map[string]float64 {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/api/v2/metrics/prometheus", port))
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	out := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		name, rest, ok := strings.Cut(line, `{name="umc_invite.0"} `)
		if !ok || !strings.HasPrefix(name, "fluentbit_output_") {
			continue
		}
		if v, err := strconv.ParseFloat(strings.Fields(rest)[0], 64); err == nil {
			out[name] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// metric is one counter, -1 while it cannot be read.
func metric(port int, name string) float64 {
	if v, ok := metrics(port)[name]; ok {
		return v
	}
	return -1
}

// settled waits for a metrics snapshot that counts at least records
// processed (answered OK), and returns it.
func settled(t *testing.T, s *site, p *fluentbit.Process, records int) map[string]float64 {
	t.Helper()
	var m map[string]float64
	waitFor(t, fmt.Sprintf("metrics counting %d records processed", records), 10*time.Second, p, func() bool {
		m = metrics(s.port)
		return m["fluentbit_output_proc_records_total"] >= float64(records)
	})
	return m
}

// healthWatch polls /api/v1/health every 100 ms for the rest of the test,
// so a short red spell between two looks is not missed.
type healthWatch struct {
	mu       sync.Mutex
	first500 time.Time
	last500  time.Time
	looks    int
}

func watchHealth(t *testing.T, port int) *healthWatch {
	h := &healthWatch{}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			code := health(port)
			h.mu.Lock()
			h.looks++
			if code == http.StatusInternalServerError {
				if h.first500.IsZero() {
					h.first500 = time.Now()
				}
				h.last500 = time.Now()
			}
			h.mu.Unlock()
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
	return h
}

// red returns when health was first and last seen 500 (zero: never).
func (h *healthWatch) red() (first, last time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.first500, h.last500
}

// carriedFiles counts the queue files holding a carried-over line: the
// plugin's {"first_seen":...} appended on a chunk's last try.
func carriedFiles(dir string) int {
	n := 0
	names, _ := filepath.Glob(filepath.Join(dir, "*.send"))
	for _, name := range names {
		if data, err := os.ReadFile(name); err == nil && bytes.Contains(data, []byte(`"first_seen":`)) {
			n++
		}
	}
	return n
}

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
func lettersOf(letters []spool.DeadLetter, user string) []spool.DeadLetter {
	var out []spool.DeadLetter
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
