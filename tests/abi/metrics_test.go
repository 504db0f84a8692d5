package abi

import (
	"bufio"
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"

	"umc-invite/tests/fluentbit"
	"umc-invite/tests/umctest"
)

// session drives the C host one command at a time, so that the test can
// scrape the plugin's endpoint between commands.
type session struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	stderr *fluentbit.LockedBuffer
}

func newSession(t *testing.T) *session {
	t.Helper()
	s := &session{t: t, cmd: exec.Command(hostPath, soPath), stderr: &fluentbit.LockedBuffer{}}
	s.cmd.Stderr = s.stderr
	var err error
	if s.stdin, err = s.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s.stdout = bufio.NewReader(out)
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.stdin.Close()
		_ = s.cmd.Wait()
		if t.Failed() {
			t.Logf("plugin log:\n%s", s.stderr.String())
		}
	})
	return s
}

// do runs one command and returns its result line.
func (s *session) do(line string) string {
	s.t.Helper()
	if _, err := io.WriteString(s.stdin, line+"\n"); err != nil {
		s.t.Fatal(err)
	}
	res, err := s.stdout.ReadString('\n')
	if err != nil {
		s.t.Fatalf("%s: %v\n%s", line, err, s.stderr.String())
	}
	return strings.TrimSpace(res)
}

// scrape returns the endpoint's samples, "name{labels}" -> value as text.
func scrape(t *testing.T, addr string) map[string]string {
	t.Helper()
	m, err := umctest.Scrape(addr)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	return m
}

// A bad address is refused by the configuration: init fails with the
// key's name. A taken one disables that output only, so that one tenant's
// port does not stop the others.
func TestInitRefusesABadMetricsAddressAndDisablesOnATakenOne(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	out, log := host(t,
		"init 0 UMC_URL=http://127.0.0.1:1 Metrics_Listen=:99999",
		"init 1 UMC_URL=http://127.0.0.1:1 Metrics_Listen="+taken.Addr().String(),
	)
	if out[0] != "init 0 0" || out[1] != "init 1 1" {
		t.Fatalf("%v\n%s", out, log)
	}
	if !strings.Contains(log, `configuration refused: Metrics_Listen: ":99999": port "99999" is outside 1..65535`) ||
		!strings.Contains(log, "disabled: Metrics_Listen: listen tcp "+taken.Addr().String()+": bind: address already in use") {
		t.Fatalf("log:\n%s", log)
	}
}

// Two outputs share one endpoint, told apart by the output label. A hot
// reload (every instance exits, new ones start in the same process) keeps
// the endpoint serving, the names and the counters.
func TestEndpointSharedAndKeptAcrossAReload(t *testing.T) {
	umcA, umcB := &umctest.UMC{}, &umctest.UMC{Refused: func(string) bool { return true }}
	dirA, dirB := t.TempDir(), t.TempDir()
	addr := umctest.FreeAddr(t)
	keysA := "UMC_URL=" + umctest.NewServer(t, umcA) + " Queue_Dir=" + dirA + " Metrics_Listen=" + addr
	keysB := "UMC_URL=" + umctest.NewServer(t, umcB) + " Queue_Dir=" + dirB + " Metrics_Listen=" + addr + " Output_Name=tenant_b Refusal_Grace=0s"
	s := newSession(t)
	chunkB := queue(t, dirB, "b1")
	for _, c := range []struct{ cmd, want string }{
		{"init 0 " + keysA, "init 0 1"},
		{"init 1 " + keysB, "init 1 1"},
		{"flush 0 " + queue(t, dirA, "a1", "a2") + " umc_invite", "flush 0 1"},
		{"flush 1 " + chunkB + " umc_invite", "flush 1 1"}, // proven by UMC's probe, Refusal_Grace 0s: not an error
		{"flush 1 " + chunkB + " umc_invite", "flush 1 1"}, // its file has left
	} {
		if got := s.do(c.cmd); got != c.want {
			t.Fatalf("%s: %s", c.cmd, got)
		}
	}
	before := scrape(t, addr)
	sentA := `umc_invite_invitations_total{output="umc_invite.0",result="sent"}`
	reqB := `umc_invite_umc_requests_total{class="refused",output="tenant_b"}`
	// b1's call and the two calls of UMC's probe asked after it.
	if before[sentA] != "2" || before[reqB] != "3" || before[`umc_invite_invitations_total{output="tenant_b",result="sent"}`] != "0" {
		t.Fatalf("before the reload: %v", before)
	}

	// The reload: exit both, scrape in between, start both again.
	if s.do("exit 0") != "exit 0 1" || s.do("exit 1") != "exit 1 1" {
		t.Fatal("exit")
	}
	if between := scrape(t, addr); between[sentA] != "2" {
		t.Fatalf("between exit and init: %v", between)
	}
	if got := s.do("init 2 " + keysA); got != "init 2 1" {
		t.Fatalf("re-init on the same queue and address: %s\n%s", got, s.stderr.String())
	}
	if got := s.do("init 3 " + keysB); got != "init 3 1" {
		t.Fatalf("re-init: %s", got)
	}
	after := scrape(t, addr)
	for k, v := range before {
		if strings.Contains(k, "in_flight") || strings.Contains(k, "queue_files") {
			continue
		}
		if after[k] != v {
			t.Errorf("%s: %s before the reload, %s after", k, v, after[k])
		}
	}
	if len(after) != len(before) {
		t.Errorf("series before %d, after %d", len(before), len(after))
	}
	if log := s.stderr.String(); strings.Contains(log, "umc_invite.1]") || strings.Contains(log, "umc_invite.2]") ||
		strings.Count(log, `metrics at http://`+addr+`/metrics as output="umc_invite.0"`) != 2 {
		t.Fatalf("names changed across the reload:\n%s", log)
	}
	// The counters go on.
	if got := s.do("flush 2 " + queue(t, dirA, "a3") + " umc_invite"); got != "flush 2 1" {
		t.Fatal(got)
	}
	if got := scrape(t, addr)[sentA]; got != "3" {
		t.Fatalf("sent after the reload: %s", got)
	}
}
