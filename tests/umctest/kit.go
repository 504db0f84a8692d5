package umctest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"umc-invite/umc/config"
	"umc-invite/umc/spool"
)

// NewServer serves h (a *UMC, or any handler playing UMC) on loopback for
// the test and returns its base URL, without UMC.Prefix; the server closes
// at Cleanup.
func NewServer(t testing.TB, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// Enqueue writes <user>.send into dir as the listener module does: the
// line {"username": "<user>"} under a hidden temporary name, renamed into
// place, so tail never sees half a file.
func Enqueue(t testing.TB, dir string, users ...string) {
	t.Helper()
	for _, u := range users {
		WriteQueueFile(t, dir, u+".send", fmt.Sprintf("{\"username\": %q}\n", u))
	}
}

// WriteQueueFile puts a queue file with any content into dir, atomically
// as Enqueue does.
func WriteQueueFile(t testing.TB, dir, name, content string) {
	t.Helper()
	tmp, err := os.CreateTemp(dir, "."+name+".*.tmp")
	if err != nil {
		t.Fatal(err)
	}
	_, err = tmp.WriteString(content)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(tmp.Name())
		t.Fatal(err)
	}
}

// Queued returns the usernames whose queue files are still in dir, sorted.
func Queued(dir string) []string {
	names, _ := filepath.Glob(filepath.Join(dir, "*.send"))
	for i, n := range names {
		names[i] = strings.TrimSuffix(filepath.Base(n), ".send")
	}
	sort.Strings(names)
	return names
}

// DeadLetterDir is where an output with Queue_Dir queueDir and no
// Dead_Letter_Dir puts its dead letters: the plugin's own default.
func DeadLetterDir(queueDir string) string { return config.DefaultDeadLetterDir(queueDir) }

// ReadDeadLetters returns every complete line of dead-letter.jsonl in the
// dead-letter directory dir (see DeadLetterDir); none when there is no log.
// A line still being written (no newline yet) is left for the next read.
func ReadDeadLetters(t testing.TB, dir string) []spool.DeadLetter {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, spool.DeadLetterLog))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []spool.DeadLetter
	for len(data) > 0 {
		end := bytes.IndexByte(data, '\n')
		if end < 0 {
			break
		}
		var l spool.DeadLetter
		if err := json.Unmarshal(data[:end], &l); err != nil {
			t.Fatalf("%s: %v: %q", spool.DeadLetterLog, err, data[:end])
		}
		out = append(out, l)
		data = data[end+1:]
	}
	return out
}

// Refusals returns the lines of kind "refused" from ReadDeadLetters.
func Refusals(t testing.TB, dir string) []spool.DeadLetter {
	t.Helper()
	return OfKind(ReadDeadLetters(t, dir), spool.KindRefused)
}

// OfKind keeps the letters of one kind (spool.KindRefused, KindFailed, …).
func OfKind(letters []spool.DeadLetter, kind string) []spool.DeadLetter {
	var out []spool.DeadLetter
	for _, l := range letters {
		if l.Kind == kind {
			out = append(out, l)
		}
	}
	return out
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := Port()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// Port is FreePort for code without a testing.TB (`make run`).
func Port() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// RepoRoot is the module's root directory.
func RepoRoot() string {
	_, self, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(self), "..", "..")
}

// BuildPlugin builds the plugin library (c-shared) into dir and returns
// its path; for a TestMain, hence no testing.TB.
func BuildPlugin(dir string) (string, error) {
	return BuildCShared(filepath.Join(dir, "out_umc_invite.so"), "./plugin")
}

// BuildCShared builds the Go package pkg (relative to the module's root)
// as a c-shared library at path, stripped as the Makefile and the image
// build it: what Fluent Bit loads in production, its file pages included.
// UMC_INVITE_TAGS adds build tags (pprof: the profiler, for benchmarks).
func BuildCShared(path, pkg string) (string, error) {
	tags := strings.TrimSpace("nethttpomithttp2 " + os.Getenv("UMC_INVITE_TAGS"))
	ldflags, err := pluginLDFlags()
	if err != nil {
		return "", err
	}
	build := exec.Command("go", "build", "-tags", tags, "-buildmode=c-shared", "-trimpath", "-ldflags="+ldflags, "-o", path, pkg)
	build.Dir = RepoRoot()
	build.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building %s: %v\n%s", pkg, err, out)
	}
	return path, nil
}

// pluginLDFlags are the Makefile's and the image's: plugin/ldflags.sh.
func pluginLDFlags() (string, error) {
	probe := exec.Command("sh", "plugin/ldflags.sh")
	probe.Dir = RepoRoot()
	out, err := probe.Output()
	if err != nil {
		return "", fmt.Errorf("plugin/ldflags.sh: %v", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// FreeAddr returns a loopback host:port nothing listens on right now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", FreePort(t))
}

var sampleLine = regexp.MustCompile(`^(umc_invite_\w+)\{([^}]*)\} (\S+)$`)

// Scrape reads the plugin's metrics endpoint at addr: its umc_invite
// samples keyed `name{labels}` as written, values as text.
func Scrape(addr string) (map[string]string, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape: %s", resp.Status)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(body), "\n") {
		if m := sampleLine.FindStringSubmatch(line); m != nil {
			out[m[1]+"{"+m[2]+"}"] = m[3]
		}
	}
	return out, nil
}

// InFlight wraps a handler (a UMC stand-in) and records the most requests
// it had at once.
type InFlight struct {
	Next          http.Handler
	now, max      atomic.Int32
	served, busyN atomic.Int64 // requests answered, and the time Next took for them
}

func (c *InFlight) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := c.now.Add(1)
	defer c.now.Add(-1)
	for m := c.max.Load(); n > m && !c.max.CompareAndSwap(m, n); m = c.max.Load() {
	}
	began := time.Now()
	c.Next.ServeHTTP(w, r)
	c.busyN.Add(int64(time.Since(began)))
	c.served.Add(1)
}

// Service is the mean time Next took to answer: what a call costs UMC,
// a sleep's overshoot included, so that a figure can tell the stand-in's
// time from the plugin's.
func (c *InFlight) Service() time.Duration {
	if n := c.served.Load(); n > 0 {
		return time.Duration(c.busyN.Load() / n)
	}
	return 0
}

// Max is the most requests at once so far; Reset starts counting anew.
func (c *InFlight) Max() int32 { return c.max.Load() }
func (c *InFlight) Reset()     { c.max.Store(0) }
