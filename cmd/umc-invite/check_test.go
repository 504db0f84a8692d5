package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

func root() string {
	_, self, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(self), "..", "..")
}

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func check(t *testing.T, env map[string]string, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := runCheck(args, &out, &errOut, envOf(env))
	return out.String(), errOut.String(), code
}

// The shipped configs pass, with the environment they expect and the
// directories they name made here.
func TestShippedConfigsPass(t *testing.T) {
	tmp := t.TempDir()
	queue := filepath.Join(tmp, "queue")
	if err := os.MkdirAll(filepath.Join(queue), 0o755); err != nil {
		t.Fatal(err)
	}
	pw := filepath.Join(tmp, "password")
	os.WriteFile(pw, []byte("secret\n"), 0o600)
	env := map[string]string{
		"UMC_URL": "http://umc-server", "QUEUE_DIR": queue, "STATE_DIR": filepath.Join(tmp, "state"),
		"UMC_AUTH_USER": "self-service-invitation", "UMC_AUTH_PASSWORD_FILE": pw,
	}
	for _, rel := range []string{"fluent-bit.conf", "build/fluent-bit.yaml"} {
		out, errOut, code := check(t, env, "-c", filepath.Join(root(), rel))
		if code != 0 {
			t.Errorf("%s: exit %d\n%s%s", rel, code, out, errOut)
		}
	}
	// The DaemonSet's ConfigMap names the pod's secrets and host paths:
	// --offline checks everything else.
	out, errOut, code := check(t, map[string]string{}, "--offline", "-c", filepath.Join(root(), "build/kubernetes/daemonset.yaml"))
	if code != 0 || !strings.Contains(errOut, "2 umc_invite output(s): all well") {
		t.Errorf("daemonset: exit %d\n%s%s", code, out, errOut)
	}
	// Without --offline, the missing secret (tenant-b's; tenant-a calls
	// anonymously) is named with the manifest's line.
	out, _, code = check(t, map[string]string{}, "-c", filepath.Join(root(), "build/kubernetes/daemonset.yaml"))
	if code != 1 || !regexp.MustCompile(`daemonset.yaml:\d+: umc_invite output #2: Auth_Password_File: cannot read`).MatchString(out) {
		t.Errorf("daemonset without --offline: exit %d\n%s", code, out)
	}
}

func write(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fluent-bit.conf")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMisspeltKeyWithLineAndGuess(t *testing.T) {
	p := write(t, `[SERVICE]
    Flush 1

[OUTPUT]
    Name               umc_invite
    Match              *
    UMC_URL            http://umc-server
    Auth_User          svc
    Auth_Pasword_File  /run/secrets/pw
    Retry_Limit        5
`)
	out, _, code := check(t, nil, "-c", p)
	want := p + ":9: umc_invite output #1: Auth_Pasword_File: unknown key (did you mean Auth_Password_File?)"
	if code != 1 || !strings.Contains(out, want) {
		t.Fatalf("exit %d, output:\n%s\nwant a line %q", code, out, want)
	}
}

func TestExpansionAndDefaults(t *testing.T) {
	p := write(t, `@SET lang=de-DE
[OUTPUT]
    Name          umc_invite
    Match         *
    UMC_URL       ${UMC_URL:-http://umc-server}
    Language      ${lang}
    Timeout       ${TIMEOUT:-soon}
    Retry_Limit   5
`)
	out, _, code := check(t, map[string]string{"TIMEOUT": "10s"}, "-c", p)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	out, _, code = check(t, nil, "-c", p)
	if code != 1 || !strings.Contains(out, `:7: umc_invite output #1: Timeout: "soon" is not a duration`) {
		t.Fatalf("the default was not used: exit %d:\n%s", code, out)
	}
	// An empty variable takes the default too, as in the shell.
	out, _, code = check(t, map[string]string{"UMC_URL": "", "TIMEOUT": "5s"}, "-c", p)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

func TestRetryLimitOutOfStep(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{"Retry_Limit 3", "Retry_Limit: 3 is not Chunk_Retry_Limit 5"},
		{"Retry_Limit 5\n    Max_Attempts 6", "Max_Attempts: no longer read, and refused at start: users are no longer ended by a count"},
		{"Retry_Limit no_limits", "Retry_Limit: no_limits retries a chunk forever"},
		{"Retry_Limit False", "Retry_Limit: False retries a chunk forever"},
		{"", "Retry_Limit: not set, so Fluent Bit's default 1"},
		{"Retry_Limit 5", ""},
	} {
		p := write(t, "[OUTPUT]\n    Name umc_invite\n    UMC_URL http://umc-server\n    "+tc.line+"\n")
		out, _, code := check(t, nil, "-c", p)
		if tc.want == "" {
			if code != 0 {
				t.Errorf("%q: exit %d:\n%s", tc.line, code, out)
			}
			continue
		}
		if code != 1 || !strings.Contains(out, tc.want) {
			t.Errorf("%q: exit %d:\n%s\nwant %q", tc.line, code, out, tc.want)
		}
	}
}

func TestYAMLFindingsHaveLines(t *testing.T) {
	p := filepath.Join(t.TempDir(), "fb.yaml")
	os.WriteFile(p, []byte(`env:
  URL: http://umc-server
pipeline:
  outputs:
    - name: umc_invite
      match: '*'
      umc_url: ${URL}
      concurrency: 0
      retry_limit: 5
      tls.verify: off
`), 0o644)
	out, _, code := check(t, nil, "-c", p)
	for _, want := range []string{
		p + ":8: umc_invite output #1: Concurrency: 0 is outside 1..256",
		p + ":10: umc_invite output #1: tls.verify: Fluent Bit's own key: the plugin never sees it (use TLS_Verify)",
	} {
		if code != 1 || !strings.Contains(out, want) {
			t.Errorf("exit %d:\n%s\nwant %q", code, out, want)
		}
	}
}

func TestIncludeAndUsageErrors(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "out.conf"), []byte("[OUTPUT]\n    Name umc_invite\n    UMC_URL http://umc-server\n    Retry_Limt 5\n"), 0o644)
	main := filepath.Join(dir, "main.conf")
	os.WriteFile(main, []byte("[SERVICE]\n    Flush 1\n@INCLUDE out.conf\n"), 0o644)
	out, _, code := check(t, nil, "-c", main)
	if code != 1 || !strings.Contains(out, "out.conf:4: umc_invite output #1: Retry_Limt: unknown key (did you mean Retry_Limit?)") {
		t.Errorf("exit %d:\n%s", code, out)
	}
	if _, _, code := check(t, nil, "-c", filepath.Join(dir, "missing.conf")); code != 2 {
		t.Errorf("a missing file: exit %d, want 2", code)
	}
	if _, _, code := check(t, nil); code != 2 {
		t.Errorf("no file: exit %d, want 2", code)
	}
}

// check --offline, on the chart's read-only root file system without a
// /tmp volume, writes nothing: the keys whose files are not here are
// stood in for without a temporary directory, and each is still named.
func TestCheckOfflineWritesNothing(t *testing.T) {
	t.Setenv("TMPDIR", filepath.Join(t.TempDir(), "no-such-dir"))
	conf := write(t, `[OUTPUT]
    Name                umc_invite
    Match               umc_invite
    UMC_URL             https://ucs.example.org/univention
    Auth_User           self-service-invitation
    Auth_Password_File  /nonexistent/run/secrets/password
    TLS_CA_File         /nonexistent/ca.pem
    Queue_Dir           /nonexistent/var/cache/listener
    Intake_Dir          /nonexistent/var/cache/listener/incoming
    Retry_Limit         5
    Chunk_Retry_Limit   5
`)
	out, errOut, code := check(t, map[string]string{}, "--offline", "-c", conf)
	if code != 0 || !strings.Contains(errOut, "not found here, not checked: Auth_Password_File, Queue_Dir, TLS_CA_File") ||
		!strings.Contains(errOut, "1 umc_invite output(s): all well") {
		t.Errorf("exit %d\n%s%s", code, out, errOut)
	}
	// What the stand-ins leave checked: a password needs its user.
	conf = write(t, `[OUTPUT]
    Name                umc_invite
    Match               umc_invite
    UMC_URL             https://ucs.example.org/univention
    Auth_Password_File  /nonexistent/run/secrets/password
    Queue_Dir           /nonexistent/var/cache/listener
    Retry_Limit         5
    Chunk_Retry_Limit   5
`)
	out, errOut, code = check(t, map[string]string{}, "--offline", "-c", conf)
	if code != 1 || !strings.Contains(out, "Auth_User: must be set when a password is given") {
		t.Errorf("a password without its user: exit %d\n%s%s", code, out, errOut)
	}
}

// One tenant's queue directory that is no directory is named with its
// line, but fails no check: the plugin disables that output alone and
// Fluent Bit starts (the chart runs check before it, for every tenant). A
// mistake that stops Fluent Bit still fails.
func TestCheckNamesATenantsBadDirectoryWithoutFailing(t *testing.T) {
	tmp := t.TempDir()
	good, file := filepath.Join(tmp, "tenant-b"), filepath.Join(tmp, "tenant-a")
	os.Mkdir(good, 0o755)
	os.WriteFile(file, nil, 0o644)
	conf := func(extra string) string {
		return write(t, `[OUTPUT]
    Name                umc_invite
    Match               a
    UMC_URL             http://umc-server
    Queue_Dir           `+file+`
    Retry_Limit         5
    Chunk_Retry_Limit   5
[OUTPUT]
    Name                umc_invite
    Match               b
    UMC_URL             http://umc-server
    Queue_Dir           `+good+`
    Retry_Limit         5
    Chunk_Retry_Limit   5
`+extra)
	}
	out, errOut, code := check(t, nil, "-c", conf(""))
	if code != 0 || !regexp.MustCompile(`fluent-bit.conf:5: umc_invite output #1: Queue_Dir: \S+/tenant-a: .*tenant-a: not a directory: this output starts disabled`).MatchString(out) ||
		strings.Contains(out, "output #2") || strings.Contains(errOut, "all well") {
		t.Errorf("exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = check(t, nil, "-c", conf("    Concurrency         0\n"))
	if code != 1 || !strings.Contains(out, "output #2: Concurrency: 0 is outside 1..256") {
		t.Errorf("a bad value with a bad directory: exit %d\n%s%s", code, out, errOut)
	}
}
