// Package abi tests the built plugin library through its exported C
// functions, called by a small C host the way Fluent Bit's Go proxy calls
// them.
package abi

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umc-invite/tests/chunk"
	"umc-invite/tests/umctest"
)

var soPath, hostPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "umc-invite-abi")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		hostPath = filepath.Join(dir, "host")
		if soPath, err = umctest.BuildPlugin(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		cc := exec.Command("cc", "-Wall", "-o", hostPath, filepath.Join(umctest.RepoRoot(), "tests", "abi", "chost", "host.c"), "-ldl", "-lpthread")
		if out, err := cc.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "compiling the C host: %v\n%s", err, out)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

// host runs the C host on a script and returns its result lines and the
// plugin's log.
func host(t *testing.T, script ...string) (results []string, log string) {
	t.Helper()
	cmd := exec.Command(hostPath, soPath)
	cmd.Stdin = strings.NewReader(strings.Join(script, "\n") + "\n")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("host: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	return strings.Split(strings.TrimSpace(stdout.String()), "\n"), stderr.String()
}

func writeChunk(t *testing.T, data []byte) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "chunk-*.msgpack")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Write(data)
	return f.Name()
}

// queue writes queue files and returns the chunk tail would make of them.
func queue(t *testing.T, dir string, users ...string) string {
	t.Helper()
	var events []chunk.Event
	for _, u := range users {
		umctest.Enqueue(t, dir, u)
		path := filepath.Join(dir, u+".send")
		line := fmt.Sprintf(`{"username": %q}`, u) // as Enqueue writes it
		events = append(events, chunk.Tail(time.Unix(1700000000, 123), path, line, 0))
	}
	return writeChunk(t, chunk.Encode(events...))
}

func TestRegister(t *testing.T) {
	out, _ := host(t, "register")
	if out[0] != "register 0 umc_invite type=2 proxy=11" {
		t.Fatalf("%q", out[0])
	}
}

func TestInitRefusesBadConfig(t *testing.T) {
	out, log := host(t, "init 0 Timeout=30s", "init 1 umc_url=http://127.0.0.1:1 timeout=soon")
	if out[0] != "init 0 0" || out[1] != "init 1 0" {
		t.Fatalf("a bad configuration must fail init: %v", out)
	}
	if !strings.Contains(log, "configuration refused: UMC_URL: is required") ||
		!strings.Contains(log, `configuration refused: Timeout: "soon" is not a duration`) {
		t.Fatalf("log:\n%s", log)
	}
}

// Every bad value is refused at init with the key's name, and Fluent Bit
// would not start.
func TestInitRefusesBadValues(t *testing.T) {
	dir := t.TempDir()
	toml := func(text string) string {
		f, err := os.CreateTemp(dir, "*.toml")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		f.WriteString(text)
		return f.Name()
	}
	const pw = "s3cret-Pa55"
	cases := []struct{ keys, want string }{
		{"umc_url=http://x:99999", "UMC_URL: port 99999 is outside 1..65535"},
		{"umc_url=http://x/univention?", "UMC_URL: must not have a query"},
		{"umc_url=http://x/#", "UMC_URL: must not have a fragment"},
		{"umc_url=ftp://x", `UMC_URL: scheme "ftp": must be http or https`},
		{"umc_url=http://u:" + pw + "@x", "UMC_URL: must not hold credentials"},
		{"umc_url=http://x command=passwordreset/../x", `Command: "passwordreset/../x": want path segments`},
		{"umc_url=http://x language=de_DE", `Language: "de_DE" is not a language tag`},
		{"config_file=" + toml("umc_url = \"http://x\"\nlanguage = \"de-DE\\r\\nX-Injected: 1\"\n"), "Language: \"de-DE\\r\\nX-Injected: 1\" holds control characters"},
		{"umc_url=http://x timeout=30s flush_timeout=10s", "Flush_Timeout: 10s is shorter than Timeout 30s"},
		{"umc_url=http://x http_proxy=http://u:" + pw + "@proxy:3128", "HTTP_Proxy: must not hold credentials"},
		{"umc_url=http://x http_proxy=socks5://proxy", `HTTP_Proxy: scheme "socks5": must be http or https`},
		{"umc_url=ftp://x auth_user=u auth_password=" + pw, `UMC_URL: scheme "ftp"`},
		{"umc_url=http://x auth_password=" + pw, "Auth_User: must be set when a password is given"},
		{"config_file=" + toml("umc_url = \"http://x\"\nauth_user = \"u\"\nauth_password = \""+pw+"\\q\"\n"), "Config_File: "},
		{"config_file=" + toml("umc_url = \"http://x\"\nauth_user = \"u\"\nauth_password = "+pw+"\n"), "Config_File: "},
	}
	var script []string
	for i, tc := range cases {
		script = append(script, fmt.Sprintf("init %d %s", i, tc.keys))
	}
	out, log := host(t, script...)
	lines := strings.Split(strings.TrimSpace(log), "\n")
	if len(out) != len(cases) || len(lines) != len(cases) {
		t.Fatalf("%d results, %d log lines for %d cases:\n%v\n%s", len(out), len(lines), len(cases), out, log)
	}
	for i, tc := range cases {
		if out[i] != fmt.Sprintf("init %d 0", i) {
			t.Errorf("%s: init answered %q, want FLB_ERROR", tc.keys, out[i])
		}
		if !strings.Contains(lines[i], "[error] [output:umc_invite:umc_invite."+fmt.Sprint(i)+"] configuration refused: "+tc.want) {
			t.Errorf("%s: log line %q, want %q", tc.keys, lines[i], tc.want)
		}
	}
	if strings.Contains(log, "s3cret") {
		t.Errorf("a refusal shows the password:\n%s", log)
	}
}

// Plain http with credentials to a host that is not loopback gets one
// warning at start, and nothing else does.
func TestInitWarnsOfPlainHTTPCredentials(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "password")
	os.WriteFile(pwFile, []byte("s3cret\n"), 0o600)
	out, log := host(t,
		"init 0 umc_url=http://umc-server auth_user=invite auth_password_file="+pwFile,
		"init 1 umc_url=https://umc-server auth_user=invite auth_password_file="+pwFile,
		"init 2 umc_url=http://127.0.0.1:8090 auth_user=invite auth_password_file="+pwFile,
		"init 3 umc_url=http://umc-server",
	)
	if fmt.Sprint(out) != "[init 0 1 init 1 1 init 2 1 init 3 1]" {
		t.Fatalf("%v\n%s", out, log)
	}
	if strings.Count(log, "plain http") != 1 || !strings.Contains(log, "[ warn] [output:umc_invite:umc_invite.0] UMC_URL is plain http to umc-server") {
		t.Fatalf("want exactly one warning, for instance 0:\n%s", log)
	}
	if strings.Contains(log, "s3cret") {
		t.Fatalf("the password is in the log:\n%s", log)
	}
}

func TestDeliversAndRetriesThroughTheABI(t *testing.T) {
	umc := &umctest.UMC{Fail: func(user string, n int) int {
		if user == "bob" && n <= 2 {
			return 500
		}
		return 0
	}}
	dir := t.TempDir()
	c := queue(t, dir, "alice", "bob", "carol")
	out, log := host(t,
		"register",
		"init 0 UMC_URL="+umctest.NewServer(t, umc)+" Queue_Dir="+dir+" Language=de-DE",
		"flush 0 "+c+" umc_invite",
		"flush 0 "+c+" umc_invite",
		"flush 0 "+c+" umc_invite",
		"exit 0",
	)
	// bob's 500 leaves it waiting its own pause (Backoff_Min 5s): the
	// tries right after cost UMC nothing and say RETRY.
	want := []string{"init 0 1", "flush 0 2", "flush 0 2", "flush 0 2", "exit 0 1"}
	if fmt.Sprint(out[1:]) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v\nlog:\n%s", out[1:], want, log)
	}
	if d := umc.Delivered(); len(d) != 2 || d["alice"] != 1 || d["carol"] != 1 {
		t.Fatalf("delivered %v", d)
	}
	if a := umc.Attempts(); a["alice"] != 1 || a["bob"] != 1 {
		t.Fatalf("calls %v", a)
	}
	if umc.Calls()[0].Language != "de-DE" {
		t.Fatal("Language not passed")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*.send")); len(left) != 1 {
		t.Fatalf("queue %v: want bob waiting", left)
	}
}

// A user whose mail fails waits with its own pause (no call while it is
// not due: RETRY), and on the chunk's last try (Chunk_Retry_Limit) is
// carried over into a new record: the chunk is done with (OK), nobody is
// a dead letter.
func TestWaitingUserIsCarriedOverOnTheLastTry(t *testing.T) {
	umc := &umctest.UMC{Fail: func(user string, n int) int {
		if user == "bob" {
			return 500 // bob's own: alice is served
		}
		return 0
	}}
	dir := t.TempDir()
	c := queue(t, dir, "alice", "bob")
	script := []string{"init 0 UMC_URL=" + umctest.NewServer(t, umc) + " Queue_Dir=" + dir + " Chunk_Retry_Limit=2 Quick_Retries=0"}
	for range 3 {
		script = append(script, "flush 0 "+c+" umc_invite")
	}
	out, log := host(t, script...)
	if fmt.Sprint(out) != "[init 0 1 flush 0 2 flush 0 2 flush 0 1]" {
		t.Fatalf("%v\n%s", out, log)
	}
	if umc.Attempts()["bob"] != 1 {
		t.Fatalf("calls %v: bob's pause (Backoff_Min 5s) is not over", umc.Attempts())
	}
	if letters := umctest.ReadDeadLetters(t, umctest.DeadLetterDir(dir)); len(letters) != 0 {
		t.Fatalf("dead letters: %+v", letters)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "bob.send")); err != nil || !strings.Contains(string(data), `"first_seen"`) {
		t.Fatalf("bob not carried over: %q %v", data, err)
	}
}

func TestTwoInstancesDoNotMix(t *testing.T) {
	umcA, umcB := &umctest.UMC{}, &umctest.UMC{Prefix: "/univention"}
	dirA, dirB := t.TempDir(), t.TempDir()
	chunkA := queue(t, dirA, "a1", "a2")
	chunkB := queue(t, dirB, "b1", "b2", "b3")
	out, log := host(t,
		"init 0 UMC_URL="+umctest.NewServer(t, umcA)+" Queue_Dir="+dirA,
		"init 1 UMC_URL="+umctest.NewServer(t, umcB)+"/univention Queue_Dir="+dirB+" Language=de-DE",
		"par 2",
		"flush 0 "+chunkA+" tenant_a",
		"flush 1 "+chunkB+" tenant_b",
		"flush 1 "+chunkB+" tenant_b",
		"exit 0", "exit 1",
	)
	if fmt.Sprint(out) != "[init 0 1 init 1 1 flush 0 1 flush 1 1 flush 1 1 exit 0 1 exit 1 1]" {
		t.Fatalf("%v\n%s", out, log)
	}
	if fmt.Sprint(umcA.Delivered()) != "map[a1:1 a2:1]" || fmt.Sprint(umcB.Delivered()) != "map[b1:1 b2:1 b3:1]" {
		t.Fatalf("A got %v, B got %v", umcA.Delivered(), umcB.Delivered())
	}
	for _, c := range umcB.Calls() {
		if c.Language != "de-DE" {
			t.Fatal("instance 1's settings leaked")
		}
	}
}

func TestConcurrentWorkerThreads(t *testing.T) {
	umc := &umctest.UMC{Latency: 5 * time.Millisecond}
	dir := t.TempDir()
	script := []string{"init 0 UMC_URL=" + umctest.NewServer(t, umc) + " Queue_Dir=" + dir, "par 4"}
	for w := range 4 {
		var users []string
		for i := range 20 {
			users = append(users, fmt.Sprintf("w%d-%d", w, i))
		}
		script = append(script, "flush 0 "+queue(t, dir, users...)+" umc_invite")
	}
	out, log := host(t, script...)
	if fmt.Sprint(out) != "[init 0 1 flush 0 1 flush 0 1 flush 0 1 flush 0 1]" {
		t.Fatalf("%v\n%s", out, log)
	}
	if err := umc.CheckOnce(80); err != nil {
		t.Fatal(err)
	}
}

// A malformed, truncated or foreign chunk must be an error, never a crash
// or a silent end, and the records before it must still be handled.
func TestMalformedChunkIsAnErrorNotACrash(t *testing.T) {
	umc := &umctest.UMC{}
	dir := t.TempDir()
	good, _ := os.ReadFile(queue(t, dir, "alice"))
	bad := []byte{0x92, 0x92, 0xd4, 0x00, 0x01, 0x80, 0x80} // [[fixext1 type 0, {}], {}]
	scalar := []byte{0xa3, 'a', 'b', 'c'}                   // a string where an array belongs
	truncated := good[:len(good)-3]
	out, log := host(t,
		"init 0 UMC_URL="+umctest.NewServer(t, umc)+" Queue_Dir="+dir,
		"flush 0 "+writeChunk(t, append(good, bad...))+" umc_invite",
		"flush 0 "+writeChunk(t, scalar)+" umc_invite",
		"flush 0 "+writeChunk(t, truncated)+" umc_invite",
		"flush 0 "+writeChunk(t, nil)+" umc_invite",
		"exit 0",
	)
	if fmt.Sprint(out) != "[init 0 1 flush 0 0 flush 0 0 flush 0 0 flush 0 1 exit 0 1]" {
		t.Fatalf("%v\n%s", out, log)
	}
	if umc.Delivered()["alice"] != 1 {
		t.Fatal("the record before the malformed one was not delivered")
	}
	if !strings.Contains(log, "malformed record 2: EventTime of 1 bytes, want 8 (skipped)") || !strings.Contains(log, "malformed record 1: want a [header, body] array, got a string") ||
		strings.Count(log, "malformed chunk after 0 record(s)") != 1 {
		t.Fatalf("log:\n%s", log)
	}
}

func TestFlushForUnknownContext(t *testing.T) {
	out, _ := host(t, "flush 5 /dev/null umc_invite")
	if out[0] != "flush 5 0" {
		t.Fatalf("%v", out)
	}
}
