package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"umc-invite/tests/fluentbit"
	"umc-invite/tests/umctest"
)

// The shipped configs serve the plugin's metrics on :2021 unless
// METRICS_LISTEN says otherwise. The other tests of this package do not
// look at them: they run with the endpoint off, so that they never fight
// over port 2021 with each other, another test run or anything else on
// the machine. The tests below pass their own free address.
func init() {
	if os.Getenv("METRICS_LISTEN") == "" {
		os.Setenv("METRICS_LISTEN", "off")
	}
}

// metricsAddr is a free loopback address and the environment that points
// the shipped config's endpoint there.
func metricsAddr(t *testing.T) (addr string, env []string) {
	t.Helper()
	addr = umctest.FreeAddr(t)
	return addr, []string{"METRICS_LISTEN=" + addr}
}

// scrapeMetrics returns the endpoint's umc_invite samples, keyed
// `name{labels}` as written, values as text; nil when it does not answer.
func scrapeMetrics(addr string) map[string]string {
	m, _ := umctest.Scrape(addr)
	return m
}

func invitations(output, result string) string {
	return fmt.Sprintf(`umc_invite_invitations_total{output=%q,result=%q}`, output, result)
}

func requests(output, class string) string {
	return fmt.Sprintf(`umc_invite_umc_requests_total{class=%q,output=%q}`, class, output)
}

// A mixed run with the shipped config: the endpoint's counts are what the
// UMC stand-in logged and what the dead letters hold.
func TestMetricsMatchTheStandIn(t *testing.T) {
	needFluentBit(t)
	t.Parallel()
	umc := &umctest.UMC{
		Refused: func(u string) bool { return strings.HasPrefix(u, "nomail") },
		Fail: func(u string, _ int) int {
			if u == "broken" {
				return http.StatusInternalServerError
			}
			return 0
		},
	}
	s := newSite(t, umc)
	conf := shippedConfig(t, "scheduler.base 1", "scheduler.cap 2")
	setKey(t, conf, "Retry_Limit", "2")
	setKey(t, conf, "Chunk_Retry_Limit", "2")
	outputKey(t, conf, "Refusal_Grace", "2s")
	outputKey(t, conf, "Max_Age", "15s")
	addr, env := metricsAddr(t)
	p := start(t, conf, append(s.env(), env...))
	// The users UMC refuses or fails first, then the healthy ones: UMC
	// serving others after them is what shows those answers to be the
	// users' own (see docs/delivery.md, What Fluent Bit is told).
	s.enqueue(t, "nomail1", "nomail2", "broken")
	if err := os.WriteFile(filepath.Join(s.queue, "bad.send"), []byte("not a user\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first calls", 10*time.Second, p, func() bool {
		a := umc.Attempts()
		return a["nomail1"] > 0 && a["nomail2"] > 0 && a["broken"] > 0
	})
	s.enqueue(t, users("metrics", 20)...)
	// A few more users keep coming while "broken" is retried: UMC serving
	// them between its failures is what charges them to it.
	stop, dripped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(dripped)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(500 * time.Millisecond):
			}
			name := fmt.Sprintf("drip%03d", i)
			if err := os.WriteFile(filepath.Join(s.queue, name+".send"), []byte(fmt.Sprintf("{\"username\": %q}\n", name)), 0o644); err != nil {
				return
			}
		}
	}()
	waitFor(t, "four letters", 45*time.Second, p, func() bool { return strings.Count(s.deadLetters(), "\n") == 4 })
	close(stop)
	<-dripped
	waitFor(t, "an empty queue", 10*time.Second, p, func() bool { return s.queued() == 0 })
	letters := s.deadLetters()
	if n := strings.Count(letters, `"kind":"refused"`); n != 2 {
		t.Fatalf("%d refusals:\n%s", n, letters)
	}
	byStatus := map[int]int{}
	for _, c := range umc.Calls() {
		byStatus[c.Status]++
	}
	const out = "umc_invite.0"
	want := map[string]string{
		invitations(out, "sent"):                                               fmt.Sprint(len(umc.Delivered())),
		invitations(out, "refused"):                                            "2",
		invitations(out, "dead_letter"):                                        "1", // the bad line
		invitations(out, "expired"):                                            "1", // broken, Max_Age old
		`umc_invite_users_waiting{output="umc_invite.0"}`:                      "0",
		requests(out, "delivered"):                                             fmt.Sprint(byStatus[200]),
		requests(out, "refused"):                                               fmt.Sprint(byStatus[400]),
		requests(out, "failed"):                                                fmt.Sprint(byStatus[500]),
		requests(out, "unavailable"):                                           "0",
		`umc_invite_umc_request_duration_seconds_count{output="umc_invite.0"}`: fmt.Sprint(len(umc.Calls())),
		`umc_invite_umc_request_duration_seconds_bucket{output="umc_invite.0",le="30"}`: fmt.Sprint(len(umc.Calls())),
		`umc_invite_in_flight{output="umc_invite.0"}`:                                   "0",
		`umc_invite_queue_files{output="umc_invite.0"}`:                                 "0",
	}
	if len(umc.Delivered()) < 20 || byStatus[500] < 2 || byStatus[400] < 2 {
		t.Fatalf("unexpected run: delivered %v, calls by status %v", umc.Delivered(), byStatus)
	}
	var got map[string]string
	waitFor(t, "the metrics to match the stand-in's log", 5*time.Second, p, func() bool {
		got = scrapeMetrics(addr)
		for k, v := range want {
			if got[k] != v {
				return false
			}
		}
		return true
	})
	if got[`umc_invite_last_success_timestamp_seconds{output="umc_invite.0"}`] == "0" {
		t.Errorf("no last success: %v", got)
	}
}

// rotatingUMC takes basic auth with one password at a time, changed by
// the test under a lock; what it accepts goes on to the stand-in without
// the credentials (the stand-in's own fields are read without a lock).
type rotatingUMC struct {
	mu           sync.Mutex
	user, pass   string
	next         http.Handler
	unauthorized atomic.Int64
}

func (r *rotatingUMC) set(password string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pass = password
}

func (r *rotatingUMC) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	user, pass, _ := req.BasicAuth()
	r.mu.Lock()
	ok := user == r.user && pass == r.pass
	r.mu.Unlock()
	if !ok {
		r.unauthorized.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"status": 401, "message": "The authentication has failed, please login again."}`)
		return
	}
	req.Header.Del("Authorization")
	r.next.ServeHTTP(w, req)
}

// secretVolume is a Secret mounted as the kubelet does it: password ->
// ..data/password, ..data -> a timestamped directory.
type secretVolume struct {
	t    *testing.T
	root string
	n    int
}

func newSecretVolume(t *testing.T, password string) *secretVolume {
	v := &secretVolume{t: t, root: t.TempDir()}
	v.rotate(password)
	if err := os.Symlink(filepath.Join("..data", "password"), v.path()); err != nil {
		t.Fatal(err)
	}
	return v
}

func (v *secretVolume) path() string { return filepath.Join(v.root, "password") }

// rotate writes the new directory, swaps ..data to it atomically and
// deletes the old one.
func (v *secretVolume) rotate(password string) {
	v.t.Helper()
	v.n++
	dir := fmt.Sprintf("..%s.%d", time.Now().Format("2006_01_02_15_04_05.000000000"), v.n)
	if err := os.Mkdir(filepath.Join(v.root, dir), 0o755); err != nil {
		v.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(v.root, dir, "password"), []byte(password), 0o644); err != nil {
		v.t.Fatal(err)
	}
	old, _ := os.Readlink(filepath.Join(v.root, "..data"))
	if err := os.Symlink(dir, filepath.Join(v.root, "..data_tmp")); err != nil {
		v.t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(v.root, "..data_tmp"), filepath.Join(v.root, "..data")); err != nil {
		v.t.Fatal(err)
	}
	if old != "" {
		if err := os.RemoveAll(filepath.Join(v.root, old)); err != nil {
			v.t.Fatal(err)
		}
	}
}

// The UMC password is rotated the kubelet's way while fluent-bit sends:
// invitations keep flowing, each user once, no dead letter, no restart.
func TestPasswordRotationUnderARunningFluentBit(t *testing.T) {
	needFluentBit(t)
	t.Parallel()
	const oldPassword, newPassword = "old-Pa55-1f0e", "new-Pa55-7c2d"
	umc := &umctest.UMC{Latency: 2 * time.Millisecond}
	front := &rotatingUMC{user: "invite", pass: oldPassword, next: umc}
	s := newSite(t, umc)
	s.url = umctest.NewServer(t, front) // the credentials are checked in front
	secret := newSecretVolume(t, oldPassword+"\n")
	addr, env := metricsAddr(t)
	env = append(env, "UMC_AUTH_USER=invite", "UMC_AUTH_PASSWORD_FILE="+secret.path())
	p := start(t, shippedConfig(t, "scheduler.base 1", "scheduler.cap 2"), append(s.env(), env...))

	s.enqueue(t, users("before", 10)...)
	waitFor(t, "the first users", 10*time.Second, p, func() bool { return len(umc.Delivered()) == 10 })

	// Users keep coming; UMC and the Secret change at the same moment in
	// the middle of it.
	during := users("during", 60)
	for i, u := range during {
		if i == 20 {
			front.set(newPassword)
			secret.rotate(newPassword + "\n")
		}
		s.enqueue(t, u)
		time.Sleep(25 * time.Millisecond)
	}
	s.enqueue(t, users("after", 10)...)
	waitFor(t, "every user", 30*time.Second, p, func() bool { return len(umc.Delivered()) == 80 && s.queued() == 0 })
	if err := umc.CheckOnce(80); err != nil {
		t.Fatal(err)
	}
	if letters := s.deadLetters(); letters != "" {
		t.Fatalf("dead letters:\n%s", letters)
	}
	log := p.Log()
	if strings.Contains(log, oldPassword) || strings.Contains(log, newPassword) || strings.Contains(log, "Pa55") {
		t.Fatal("the log shows a password")
	}
	if !strings.Contains(log, "Auth_Password_File: "+secret.path()+" changed; the new password is used from now on") {
		t.Fatalf("no word of the change:\n%s", tail(log, 30))
	}
	if strings.Count(log, "Fluent Bit v") != 1 || p.Exited() {
		t.Fatal("fluent-bit restarted")
	}
	// A 401 in the moment of the swap is "unauthorized", charged to no one.
	got := scrapeMetrics(addr)
	if got[requests("umc_invite.0", "unauthorized")] != fmt.Sprint(front.unauthorized.Load()) || got[invitations("umc_invite.0", "sent")] != "80" {
		t.Fatalf("401s %d, metrics %v", front.unauthorized.Load(), got)
	}
	t.Logf("401 answers around the rotation: %d", front.unauthorized.Load())
}

// A hot reload (SIGHUP with Hot_Reload On) exits the outputs and starts
// them again in the same process: the endpoint never stops answering,
// and the labels and counter values are the same after it.
func TestHotReloadKeepsTheMetrics(t *testing.T) {
	needFluentBit(t)
	t.Parallel()
	umc := &umctest.UMC{Refused: func(u string) bool { return u == "nomail" }}
	s := newSite(t, umc)
	addr, env := metricsAddr(t)
	conf := shippedConfig(t, "Hot_Reload On")
	outputKey(t, conf, "Refusal_Grace", "2s") // nomail refused on its second call
	p := start(t, conf, append(s.env(), env...))
	s.enqueue(t, append(users("reload", 5), "nomail")...)
	const out = "umc_invite.0"
	waitFor(t, "the first users", 20*time.Second, p, func() bool {
		m := scrapeMetrics(addr)
		return m[invitations(out, "sent")] == "5" && m[invitations(out, "refused")] == "1"
	})
	before := scrapeMetrics(addr)

	var failures, scrapes atomic.Int64
	stop := make(chan struct{})
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			scrapes.Add(1)
			if m := scrapeMetrics(addr); m == nil || m[invitations(out, "sent")] != "5" {
				failures.Add(1)
			}
		}
	}()
	if err := syscall.Kill(p.Pid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the reload", 20*time.Second, p, func() bool { return strings.Contains(p.Log(), "successful reload done") })
	waitFor(t, "the output started again", 5*time.Second, p, func() bool {
		return strings.Count(p.Log(), `as output="umc_invite.0"`) == 2
	})
	time.Sleep(300 * time.Millisecond)
	close(stop)
	<-polled
	if failures.Load() > 0 {
		t.Errorf("%d of %d scrapes during the reload failed or saw other values", failures.Load(), scrapes.Load())
	}
	after := scrapeMetrics(addr)
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s: %s before the reload, %s after", k, v, after[k])
		}
	}
	if len(after) != len(before) {
		t.Errorf("%d series before, %d after", len(before), len(after))
	}
	if strings.Contains(p.Log(), "[output:umc_invite:umc_invite.1]") {
		t.Error("the output's name changed in the reload")
	}
	// The counters go on from where they were.
	s.enqueue(t, users("again", 3)...)
	waitFor(t, "the users after the reload", 20*time.Second, p, func() bool {
		return scrapeMetrics(addr)[invitations(out, "sent")] == "8"
	})
	if strings.Count(p.Log(), "Fluent Bit v") != 2 {
		t.Logf("banner count %d", strings.Count(p.Log(), "Fluent Bit v"))
	}
}

// build/fluent-bit.yaml turns the endpoint on from METRICS_LISTEN too.
func TestYAMLConfigServesMetrics(t *testing.T) {
	needFluentBit(t)
	t.Parallel()
	s := newSite(t, &umctest.UMC{})
	text, err := os.ReadFile(filepath.Join(repoRoot, "build", "fluent-bit.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "fluent-bit.yaml")
	if err := os.WriteFile(file, []byte(strings.Replace(string(text), "/fluent-bit/plugins/out_umc_invite.so", pluginPath, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	addr, env := metricsAddr(t)
	s.enqueue(t, "yaml1")
	p := startArgs(t, []string{"-c", file}, append(s.env(), env...))
	waitFor(t, "the invitation counted", 15*time.Second, p, func() bool {
		return scrapeMetrics(addr)[invitations("umc_invite.0", "sent")] == "1"
	})
}

var _ = fluentbit.Binary

// procCPU is the user and system time a process has used so far.
func procCPU(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	var utime, stime int64
	fmt.Sscan(fields[11], &utime)
	fmt.Sscan(fields[12], &stime)
	return time.Duration(utime+stime) * time.Second / 100 // clock ticks, 100 on Linux
}

// Idle CPU of fluent-bit with the shipped config: the endpoint off, on
// and never scraped, on and scraped every 15 s as Prometheus would.
// UMC_INVITE_BENCH=1 runs it (make bench-e2e); it prints the figures.
func TestIdleCPUWithMetrics(t *testing.T) {
	needFluentBit(t)
	if os.Getenv("UMC_INVITE_BENCH") == "" {
		t.Skip("end-to-end benchmark: set UMC_INVITE_BENCH=1 (make bench-e2e)")
	}
	const idle = 30 * time.Second
	for _, v := range []struct {
		name   string
		on     bool
		scrape time.Duration
	}{{"metrics off", false, 0}, {"metrics on, not scraped", true, 0}, {"metrics on, scraped every 15 s", true, 15 * time.Second}} {
		s := newSite(t, &umctest.UMC{})
		addr, env := metricsAddr(t)
		if !v.on {
			env = []string{"METRICS_LISTEN=off"}
		}
		p := start(t, shippedConfig(t), append(s.env(), env...))
		time.Sleep(2 * time.Second)
		before := procCPU(p.Pid())
		deadline := time.Now().Add(idle)
		for v.scrape > 0 && time.Now().Add(v.scrape).Before(deadline.Add(time.Second)) {
			time.Sleep(v.scrape)
			if scrapeMetrics(addr) == nil {
				t.Errorf("%s: scrape failed", v.name)
			}
		}
		time.Sleep(time.Until(deadline))
		used := procCPU(p.Pid()) - before
		fmt.Printf("idle CPU, %s: %v in %v, %.2f%% of one core\n", v.name, used, idle, 100*used.Seconds()/idle.Seconds())
		p.Stop(10 * time.Second)
	}
}

// The CPU one scrape costs fluent-bit, from 200 in a row.
func TestScrapeCost(t *testing.T) {
	needFluentBit(t)
	if os.Getenv("UMC_INVITE_BENCH") == "" {
		t.Skip("end-to-end benchmark: set UMC_INVITE_BENCH=1 (make bench-e2e)")
	}
	s := newSite(t, &umctest.UMC{})
	addr, env := metricsAddr(t)
	p := start(t, shippedConfig(t), append(s.env(), env...))
	waitFor(t, "the endpoint", 10*time.Second, p, func() bool { return scrapeMetrics(addr) != nil })
	const n = 200
	before, start := procCPU(p.Pid()), time.Now()
	for range n {
		if scrapeMetrics(addr) == nil {
			t.Fatal("scrape failed")
		}
	}
	took := time.Since(start)
	used := procCPU(p.Pid()) - before
	// Idle CPU over the same time is in it; at 15 s a scrape this is the
	// upper bound of what scraping adds.
	fmt.Printf("%d scrapes in %v: %v of fluent-bit's CPU, %v a scrape (%.3f%% of a core at one scrape per 15 s)\n",
		n, took.Round(time.Millisecond), used, used/n, 100*(used/n).Seconds()/15)
}
