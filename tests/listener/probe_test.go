package listener

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeNotifier answers the notifier protocol's version handshake and
// GET_ID on loopback with the ID it holds, as univention-directory-notifier
// does on port 6669.
func fakeNotifier(t *testing.T, id *atomic.Int64) (host, port string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					var msg []string
					for {
						line, err := r.ReadString('\n')
						if err != nil {
							return
						}
						if line == "\n" {
							break
						}
						msg = append(msg, strings.TrimSuffix(line, "\n"))
					}
					switch {
					case len(msg) > 0 && strings.HasPrefix(msg[0], "Version:"):
						c.Write([]byte("Version: 3\nCapabilities: \n\n"))
					case len(msg) == 2 && msg[1] == "GET_ID":
						c.Write([]byte(msg[0] + "\n" + strconv.FormatInt(id.Load(), 10) + "\n\n"))
					default:
						return
					}
				}
			}(c)
		}
	}()
	host, port, _ = net.SplitHostPort(l.Addr().String())
	return host, port
}

// fakeListener runs a process whose command is univention-directory-listener.
func fakeListener(t *testing.T) {
	t.Helper()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("sleep not found")
	}
	bin := filepath.Join(t.TempDir(), "univention-directory-listener")
	if err := os.Symlink(sleep, bin); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
}

type probeEnv struct {
	state, health string
	env           []string
}

// realPython is the interpreter python3 runs (not a version manager's
// shim in front of it, which costs a second a call), or "".
var realPython = sync.OnceValue(func() string {
	out, err := exec.Command("python3", "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
})

func (p probeEnv) run(t *testing.T, what string) (string, bool) {
	t.Helper()
	python := realPython()
	if python == "" {
		t.Skip("python3 not found")
	}
	cmd := exec.Command(python, filepath.Join(root(), "build", "listener", "umc-invite-listener-probe"), what)
	cmd.Env = append(moduleEnv(), p.env...)
	out, err := cmd.CombinedOutput()
	if _, exit := err.(*exec.ExitError); err != nil && !exit {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out)), err == nil
}

func (p probeEnv) setListenerID(t *testing.T, id int) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(p.state, "notifier_id"), []byte(strconv.Itoa(id)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The listener container's probes: startup when the listener runs and has
// connected, ready when it also advances with the notifier and its module
// can queue; each failure names its reason.
func TestListenerProbe(t *testing.T) {
	var notifier atomic.Int64
	host, port := fakeNotifier(t, &notifier)
	state := t.TempDir()
	p := probeEnv{state: state, health: filepath.Join(state, "umc-invite-queue-failing")}
	p.env = []string{"UMC_INVITE_STATE_DIR=" + state, "NOTIFIER_SERVER=" + host, "UMC_INVITE_NOTIFIER_PORT=" + port,
		"UMC_INVITE_PROBE_SAMPLES=" + filepath.Join(t.TempDir(), "samples.json"), "UMC_INVITE_PROBE_MAX_LAG=1"}
	expect := func(what string, ok bool, says string) {
		t.Helper()
		out, passed := p.run(t, what)
		if passed != ok || !strings.Contains(out, says) {
			t.Errorf("probe %s: passed %v, said %q; want passed %v saying %q", what, passed, out, ok, says)
		}
	}

	expect("startup", false, "univention-directory-listener is not running")
	fakeListener(t)
	expect("startup", false, "has not connected yet")
	notifier.Store(7)
	p.setListenerID(t, 7)
	expect("startup", true, "at transaction 7, the notifier at 7")
	expect("ready", true, "at transaction 7, the notifier at 7")

	// The module cannot write a queue file: not ready, started all the same.
	if err := os.WriteFile(p.health, []byte("2026-12-06T04:30:00Z cannot queue the invitation of 'alice': No space left on device\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	expect("ready", false, "No space left on device")
	expect("startup", true, "")
	// Left by a listener that stopped while failing (the module rewrites
	// it at every try): stale after 3 minutes.
	old := time.Now().Add(-4 * time.Minute)
	if err := os.Chtimes(p.health, old, old); err != nil {
		t.Fatal(err)
	}
	expect("ready", true, "at transaction 7")
	os.Remove(p.health)

	// Behind the notifier: ready while it catches up within the lag, not
	// once the notifier was ahead longer than that.
	notifier.Store(12)
	expect("ready", true, "at transaction 7, the notifier at 12")
	time.Sleep(1200 * time.Millisecond)
	expect("ready", false, "it does not advance")
	p.setListenerID(t, 12)
	expect("ready", true, "at transaction 12, the notifier at 12")

	// Ahead of the notifier (another directory, a restored notifier).
	p.setListenerID(t, 20)
	expect("ready", false, "ahead of the notifier")

	// The notifier does not answer.
	p.env = append(p.env, "NOTIFIER_SERVER=127.0.0.1", "UMC_INVITE_NOTIFIER_PORT=1")
	expect("startup", false, "does not answer GET_ID")
}

// umc-invite-listener starts the listener with the base image's arguments
// and StartTLS as TLS_MODE says: required (-ZZ) for unvalidated and
// secure, tried (-Z) for off; secure without a CA, or an unknown mode,
// does not start.
func TestListenerStartFollowsTLSMode(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash not found")
	}
	dir := t.TempDir()
	fake := filepath.Join(dir, "univention-directory-listener")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(dir, "ca_cert")
	if err := os.WriteFile(ca, []byte("-----BEGIN CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		mode, ca string
		ok       bool
		tls      string
	}{
		{"off", "", true, "-Z"},
		{"unvalidated", ca, true, "-ZZ"},
		{"secure", ca, true, "-ZZ"},
		{"secure", filepath.Join(dir, "missing"), false, "needs the CA certificate"},
		{"on", ca, false, "want off, unvalidated or secure"},
	} {
		cmd := exec.Command(bash, filepath.Join(root(), "build", "listener", "umc-invite-listener"))
		cmd.Env = append(moduleEnv(), "UMC_INVITE_LISTENER_BIN="+fake, "TLS_MODE="+c.mode, "CA_CERT_FILE="+c.ca,
			"DEBUG_LEVEL=2", "LDAP_BASE_DN=dc=example,dc=org", "NOTIFIER_SERVER=nubus-ldap-notifier", "LDAP_PASSWORD_FILE=/var/secrets/ldap_secret")
		out, err := cmd.CombinedOutput()
		got := strings.TrimSpace(string(out))
		if (err == nil) != c.ok {
			t.Errorf("TLS_MODE=%s: exit %v: %s", c.mode, err, got)
			continue
		}
		if !c.ok {
			if !strings.Contains(got, c.tls) {
				t.Errorf("TLS_MODE=%s: %q, want it to say %q", c.mode, got, c.tls)
			}
			continue
		}
		want := "-F -x -d 2 -b dc=example,dc=org -D cn=admin,dc=example,dc=org -n nubus-ldap-notifier " +
			"-m /usr/lib/univention-directory-listener/system -c /var/lib/univention-directory-listener -y /var/secrets/ldap_secret " + c.tls
		if got != want {
			t.Errorf("TLS_MODE=%s: listener started with\n%s\nwant\n%s", c.mode, got, want)
		}
	}
}

// helm test's check of the listener side (umc-invite-listener-probe
// connect), against a real slapd and a notifier stand-in: it passes with
// the listener's password and fails, naming LDAP, with a wrong one, and
// fails naming the notifier when that does not answer.
func TestListenerConnectCheck(t *testing.T) {
	python := pythonWithLDAP()
	if python == "" {
		t.Skip("python3 with python-ldap not found (Debian: apt-get install python3-ldap)")
	}
	s := startSlapd(t)
	var notifier atomic.Int64
	notifier.Store(3)
	nhost, nport := fakeNotifier(t, &notifier)
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(s.uri, "ldap://"))
	run := func(password, notifierPort string) (string, bool) {
		pw := filepath.Join(t.TempDir(), "ldap_secret")
		if err := os.WriteFile(pw, []byte(password), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(python, filepath.Join(root(), "build", "listener", "umc-invite-listener-probe"), "connect")
		cmd.Env = append(moduleEnv(), "LDAP_HOST="+host, "LDAP_PORT="+port, "LDAP_BASE_DN="+s.base, "LDAP_HOST_DN="+s.admin,
			"LDAP_PASSWORD_FILE="+pw, "TLS_MODE=off", "NOTIFIER_SERVER="+nhost, "UMC_INVITE_NOTIFIER_PORT="+notifierPort)
		out, err := cmd.CombinedOutput()
		return strings.TrimSpace(string(out)), err == nil
	}
	if out, ok := run(s.password, nport); !ok || !strings.Contains(out, "LDAP bind as the listener works") {
		t.Errorf("right password: passed %v: %s", ok, out)
	}
	if out, ok := run("wrong", nport); ok || !strings.Contains(out, "refuses the listener") {
		t.Errorf("wrong password: passed %v: %s", ok, out)
	}
	if out, ok := run(s.password, "1"); ok || !strings.Contains(out, "does not answer GET_ID") {
		t.Errorf("no notifier: passed %v: %s", ok, out)
	}
}
