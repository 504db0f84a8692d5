package main

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"umc-invite/tests/umctest"
)

// umcLike wraps the stand-in with what it lacks: UMC's checks before the
// user (the password reset switch, then the method), and a record of
// every username and method asked for.
type umcLike struct {
	stub     *umctest.UMC
	methods  []string // the only ones UMC knows
	disabled bool

	mu    sync.Mutex
	asked []string // username, method
}

func (u *umcLike) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req struct {
		Options struct{ Username, Method string } `json:"options"`
	}
	_ = json.Unmarshal(body, &req)
	u.mu.Lock()
	u.asked = append(u.asked, req.Options.Username+" "+req.Options.Method)
	u.mu.Unlock()
	fail := func(msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]any{"status": 400, "message": msg})
	}
	// Only past UMC's own checks (path, auth) does the module policy.
	if strings.HasSuffix(r.URL.Path, "/command/passwordreset/send_token") {
		if user, pw, ok := r.BasicAuth(); !ok || (user == u.stub.User && pw == u.stub.Password) {
			if u.disabled {
				fail("The password reset was disabled via the Univention Configuration Registry.")
				return
			}
			known := false
			for _, m := range u.methods {
				known = known || m == req.Options.Method
			}
			if !known {
				fail(fmt.Sprintf("Unknown recovery method '%s'.", req.Options.Method))
				return
			}
		}
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	u.stub.ServeHTTP(w, r)
}

func newUMC() *umcLike {
	known := map[string]bool{"alice": true}
	return &umcLike{
		stub: &umctest.UMC{Prefix: "/univention", User: "svc", Password: "right",
			Refused: func(name string) bool { return !known[name] }},
		methods: []string{"email"},
	}
}

func probeRun(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := runProbe(args, &out, &errOut)
	t.Log("\n" + out.String() + errOut.String())
	return out.String(), code
}

func line(out, check string) string {
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && f[1] == check {
			return l
		}
	}
	return ""
}

func passwordFile(t *testing.T, pw string) string {
	p := filepath.Join(t.TempDir(), "password")
	os.WriteFile(p, []byte(pw+"\n"), 0o600)
	return p
}

// The probe never asks for a user that could exist.
func onlyProbeUsers(t *testing.T, u *umcLike) {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.asked) == 0 {
		t.Fatal("no call reached the stand-in")
	}
	for _, a := range u.asked {
		if !strings.HasPrefix(a, "umc-invite-probe:") {
			t.Errorf("the probe asked for %q", a)
		}
	}
	for _, c := range u.stub.Calls() {
		if c.Status == http.StatusOK {
			t.Errorf("a call was delivered: %+v", c)
		}
	}
}

func TestProbeAllWell(t *testing.T) {
	u := newUMC()
	srv := httptest.NewServer(u)
	defer srv.Close()
	out, code := probeRun(t, "--umc-url", srv.URL+"/univention", "--auth-user", "svc", "--auth-password-file", passwordFile(t, "right"))
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, c := range []string{"config", "dns", "tcp", "tls", "endpoint", "auth", "send_token", "method"} {
		if l := line(out, c); !strings.HasPrefix(strings.TrimSpace(l), "ok") {
			t.Errorf("%s: %q", c, l)
		}
	}
	onlyProbeUsers(t, u)
}

func TestProbeWrongPassword(t *testing.T) {
	u := newUMC()
	srv := httptest.NewServer(u)
	defer srv.Close()
	out, code := probeRun(t, "--umc-url", srv.URL+"/univention", "--auth-user", "svc", "--auth-password-file", passwordFile(t, "wrong"))
	if code != 1 || !strings.Contains(line(out, "auth"), "FAIL") || !strings.Contains(line(out, "auth"), "HTTP 401") {
		t.Fatalf("exit %d, auth: %q", code, line(out, "auth"))
	}
	onlyProbeUsers(t, u)
}

func TestProbeWrongPath(t *testing.T) {
	u := newUMC()
	srv := httptest.NewServer(u)
	defer srv.Close()
	out, code := probeRun(t, "--umc-url", srv.URL) // no /univention
	if code != 1 || !strings.Contains(line(out, "endpoint"), "FAIL") || !strings.Contains(line(out, "endpoint"), "HTTP 404") {
		t.Fatalf("exit %d, endpoint: %q", code, line(out, "endpoint"))
	}
	if !strings.Contains(line(out, "auth"), "skip") {
		t.Errorf("auth after a 404: %q", line(out, "auth"))
	}
}

func TestProbeCertificate(t *testing.T) {
	u := newUMC()
	srv := httptest.NewUnstartedServer(u)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	srv.StartTLS()
	defer srv.Close()
	url := srv.URL + "/univention"
	out, code := probeRun(t, "--umc-url", url)
	if code != 1 || !strings.Contains(line(out, "tls"), "FAIL") || !strings.Contains(line(out, "tls"), "set TLS_CA_File") {
		t.Fatalf("exit %d, tls: %q", code, line(out, "tls"))
	}
	if !strings.Contains(line(out, "endpoint"), "skip") {
		t.Errorf("a call went out after TLS failed: %q", line(out, "endpoint"))
	}
	// With the CA that signed it, all is well.
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644)
	out, code = probeRun(t, "--umc-url", url, "--tls-ca-file", ca)
	if code != 0 || !strings.Contains(line(out, "tls"), "verified against TLS_CA_File") {
		t.Fatalf("exit %d, tls: %q", code, line(out, "tls"))
	}
	onlyProbeUsers(t, u)
}

func TestProbeMethodAndSwitch(t *testing.T) {
	u := newUMC()
	srv := httptest.NewServer(u)
	defer srv.Close()
	out, code := probeRun(t, "--umc-url", srv.URL+"/univention", "--method", "sms")
	if code != 1 || !strings.Contains(line(out, "method"), `does not know Method "sms"`) {
		t.Fatalf("exit %d, method: %q", code, line(out, "method"))
	}
	u.disabled = true
	out, code = probeRun(t, "--umc-url", srv.URL+"/univention")
	if code != 1 || !strings.Contains(line(out, "method"), "switched off") {
		t.Fatalf("exit %d, method: %q", code, line(out, "method"))
	}
	onlyProbeUsers(t, u)
}

// A stand-in that takes anyone is not UMC: the probe says so.
func TestProbeNotUMC(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status": 200, "result": true}`)
	}))
	defer srv.Close()
	out, code := probeRun(t, "--umc-url", srv.URL+"/univention")
	if code != 1 || !strings.Contains(line(out, "send_token"), "HTTP 200") {
		t.Fatalf("exit %d, send_token: %q", code, line(out, "send_token"))
	}
}

func TestProbeConfigFile(t *testing.T) {
	u := newUMC()
	srv := httptest.NewServer(u)
	defer srv.Close()
	p := write(t, "[OUTPUT]\n    Name umc_invite\n    UMC_URL "+srv.URL+"/univention\n    Retry_Limit 5\n")
	out, code := probeRun(t, "-c", p)
	if code != 0 || !strings.Contains(out, p+":1: umc_invite output #1: "+srv.URL+"/univention/command/passwordreset/send_token") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

// A refusal of the configured credentials is the operator's to fix: the
// probe fails (and with it `helm test`), naming who was refused and where
// the password comes from, and tries nothing after it.
func TestProbeFailsWhenUMCRefusesTheCredentials(t *testing.T) {
	for _, c := range []struct {
		name   string
		status int
		args   func(pw string) []string
		want   []string
	}{
		{"anonymous, 401", http.StatusUnauthorized, func(string) []string { return nil },
			[]string{"HTTP 401", "anonymous", "Auth_User and Auth_Password_File"}},
		{"anonymous, 403", http.StatusForbidden, func(string) []string { return nil },
			[]string{"HTTP 403", "anonymous", "Auth_User and Auth_Password_File"}},
		{"credentials, 403", http.StatusForbidden, func(pw string) []string {
			return []string{"--auth-user", "svc", "--auth-password-file", pw}
		}, []string{"HTTP 403", `Auth_User "svc"`, "Auth_Password_File /"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			u := newUMC()
			u.stub.Outage = func() int { return c.status }
			srv := httptest.NewServer(u)
			defer srv.Close()
			pw := passwordFile(t, "right")
			out, code := probeRun(t, append([]string{"--umc-url", srv.URL + "/univention"}, c.args(pw)...)...)
			auth := line(out, "auth")
			if code != 1 || !strings.Contains(auth, "FAIL") {
				t.Fatalf("exit %d, auth: %q", code, auth)
			}
			for _, w := range c.want {
				if !strings.Contains(auth, w) {
					t.Errorf("auth line without %q: %q", w, auth)
				}
			}
			if strings.Contains(out, "right") {
				t.Errorf("the password is in the output:\n%s", out)
			}
			for _, check := range []string{"send_token", "method"} {
				if !strings.Contains(line(out, check), "skip") {
					t.Errorf("%s after a refusal: %q", check, line(out, check))
				}
			}
		})
	}
}

func TestProbeWrongPasswordNamesUserAndPasswordFile(t *testing.T) {
	u := newUMC()
	srv := httptest.NewServer(u)
	defer srv.Close()
	pw := passwordFile(t, "wrong")
	out, code := probeRun(t, "--umc-url", srv.URL+"/univention", "--auth-user", "svc", "--auth-password-file", pw)
	if auth := line(out, "auth"); code != 1 || !strings.Contains(auth, `Auth_User "svc"`) || !strings.Contains(auth, "Auth_Password_File "+pw) {
		t.Fatalf("exit %d, auth: %q", code, auth)
	}
}

// A queue directory that is no directory fails the probe, named: that
// output would start disabled.
func TestProbeNamesAQueueDirThatIsNoDirectory(t *testing.T) {
	u := newUMC()
	srv := httptest.NewServer(u)
	defer srv.Close()
	missing := filepath.Join(t.TempDir(), "tenant-a")
	out, code := probeRun(t, "--umc-url", srv.URL+"/univention", "--auth-user", "svc", "--auth-password-file", passwordFile(t, "right"), "--queue-dir", missing)
	if l := line(out, "queue"); code != 1 || !strings.Contains(l, "FAIL") || !strings.Contains(l, missing) || !strings.Contains(l, "starts disabled") {
		t.Errorf("exit %d, queue line %q", code, l)
	}
}

// With --no-queue (the queues are on the node, not where probe runs) a
// missing Queue_Dir is named as not checked and fails nothing; UMC is
// still probed and its verdict decides the exit.
func TestProbeNoQueueLeavesAMissingQueueDirUnchecked(t *testing.T) {
	u := newUMC()
	srv := httptest.NewServer(u)
	defer srv.Close()
	missing := filepath.Join(t.TempDir(), "tenant-a")
	args := []string{"--umc-url", srv.URL + "/univention", "--auth-user", "svc", "--queue-dir", missing, "--no-queue"}
	out, code := probeRun(t, append(args, "--auth-password-file", passwordFile(t, "right"))...)
	if l := line(out, "queue"); code != 0 || !strings.HasPrefix(strings.TrimSpace(l), "off") || !strings.Contains(l, missing) {
		t.Errorf("exit %d, queue line %q", code, l)
	}
	if l := line(out, "auth"); !strings.HasPrefix(strings.TrimSpace(l), "ok") {
		t.Errorf("UMC was not probed: auth line %q", l)
	}
	out, code = probeRun(t, append(args, "--auth-password-file", passwordFile(t, "wrong"))...)
	if l := line(out, "auth"); code != 1 || !strings.Contains(l, "FAIL") {
		t.Errorf("wrong credentials with --no-queue: exit %d, auth line %q", code, l)
	}
}
