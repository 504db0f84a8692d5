// Package listener runs the shipped listener module (build/listener) with
// python3 against a stubbed listener API, and feeds what it writes to the
// plugin's record parser, so the producer and the consumer cannot drift.
package listener

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"umc-invite/umc/record"
)

func root() string {
	_, self, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(self), "..", "..")
}

type event struct {
	dn       string
	new, old map[string][]string
	command  string
}

// drive runs the module on events in a new queue directory, which it returns.
func drive(t *testing.T, role, enabled string, events ...event) string {
	t.Helper()
	queue := t.TempDir()
	driveIn(t, queue, role, enabled, events...)
	return queue
}

func driveIn(t *testing.T, queue, role, enabled string, events ...event) {
	t.Helper()
	driveEnv(t, queue, nil, role, enabled, events...)
}

// driveEnv runs the module with extra environment, e.g. UMC_INVITE_INTAKE_DIR,
// and a registry holding only the role and the on/off switch.
func driveEnv(t *testing.T, queue string, env []string, role, enabled string, events ...event) {
	t.Helper()
	driveUCR(t, queue, env, map[string]string{"server/role": role, "umc-invite/listener/enabled": enabled}, events...)
}

// driveUCR runs the module's handler with the configuration registry ucr
// and the environment env (on top of this process's, less the module's
// own switches), as the listener process of a place would.
func driveUCR(t *testing.T, queue string, env []string, ucr map[string]string, events ...event) {
	t.Helper()
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found: the listener module test needs it")
	}
	var list [][]any
	for _, e := range events {
		list = append(list, []any{e.dn, e.new, e.old, e.command})
	}
	input, _ := json.Marshal(list)
	registry, _ := json.Marshal(ucr)
	cmd := exec.Command(python, filepath.Join(root(), "tests", "listener", "drive.py"),
		filepath.Join(root(), "build", "listener", "selfservice-invitation-json.py"), queue, string(registry))
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "UMC_INVITE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdin = strings.NewReader(string(input))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "(&(univentionPasswordSelfServiceEmail=*)(uid=*)(sambaPwdLastSet=0))") {
		t.Fatalf("the module's filter changed: %s", out)
	}
}

func add(uid string) event {
	return event{dn: "uid=" + uid + ",cn=users,dc=example,dc=org", command: "a",
		new: map[string][]string{"uid": {uid}, "univentionPasswordSelfServiceEmail": {uid + "@example.org"}}}
}

// parse reads every queue file the way tail and the plugin do: one record
// per line, with the file's path, then the username.
func parse(t *testing.T, queue string) map[string]string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(queue, "*"))
	got := map[string]string{}
	for _, f := range files {
		if st, err := os.Lstat(f); err != nil || !st.Mode().IsRegular() {
			continue // the intake directory, say
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(string(data), "\n") || strings.Count(string(data), "\n") != 1 {
			t.Fatalf("%s: want exactly one line ending in a newline, got %q", f, data)
		}
		rec := record.New("umc_invite", time.Now(), map[any]any{
			"log": []byte(strings.TrimSuffix(string(data), "\n")), "path": []byte(f), "offset": int64(0)})
		user, err := record.Username(rec, record.Keys{Username: "username", Path: "path"})
		if err != nil {
			t.Fatalf("%s: the plugin refuses what the listener wrote: %v", f, err)
		}
		got[filepath.Base(f)] = user
	}
	return got
}

func TestListenerOutputIsWhatThePluginReads(t *testing.T) {
	queue := drive(t, "domaincontroller_master", "true",
		add("alice"), add("jürgen.müller"), add("o'brien"), add("with/slash"))
	got := parse(t, queue)
	want := map[string]string{
		"alice.send": "alice", "jürgen.müller.send": "jürgen.müller", "o'brien.send": "o'brien",
		"withslash.send": "with/slash", // the file name drops the slash, the line keeps the uid
	}
	if len(got) != len(want) {
		t.Fatalf("files %v", got)
	}
	for f, u := range want {
		if got[f] != u {
			t.Errorf("%s: plugin reads %q, want %q", f, got[f], u)
		}
	}
}

func TestOnlyNewUsersOnTheMaster(t *testing.T) {
	modify := add("bob")
	modify.old, modify.command = modify.new, "m"
	remove := add("carol")
	remove.new, remove.old, remove.command = nil, remove.new, "d"
	if got := parse(t, drive(t, "domaincontroller_master", "true", modify, remove)); len(got) != 0 {
		t.Fatalf("modify and delete queued %v", got)
	}
	if got := parse(t, drive(t, "domaincontroller_backup", "true", add("dave"))); len(got) != 0 {
		t.Fatalf("a backup queued %v", got)
	}
	if got := parse(t, drive(t, "domaincontroller_master", "false", add("erin"))); len(got) != 0 {
		t.Fatalf("disabled invitations queued %v", got)
	}
}

// A second add for a user still queued must not replace the file: tail
// would read the replacement as a new file and send a second invitation.
func TestQueuedFileIsNeverReplaced(t *testing.T) {
	queue := drive(t, "domaincontroller_master", "true", add("frank"))
	before, err := os.Stat(filepath.Join(queue, "frank.send"))
	if err != nil {
		t.Fatal(err)
	}
	driveIn(t, queue, "domaincontroller_master", "true", add("frank"))
	after, err := os.Stat(filepath.Join(queue, "frank.send"))
	if err != nil || !os.SameFile(before, after) {
		t.Fatalf("frank.send was replaced (%v)", err)
	}
	files, _ := os.ReadDir(queue)
	var names []string
	for _, f := range files {
		names = append(names, f.Name())
	}
	sort.Strings(names)
	if strings.Join(names, ",") != "frank.send" {
		t.Fatalf("files %v: want only frank.send, no leftover temporary file", names)
	}
}

// entries lists a directory's names, sorted, hidden ones included.
func entries(t *testing.T, dir string) string {
	t.Helper()
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, f.Name())
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

// With the plugin's intake present (it creates <queue>/incoming), the module
// writes there, and the plugin admits the files a window at a time.
func TestWritesIntoTheIntake(t *testing.T) {
	queue := t.TempDir()
	intake := filepath.Join(queue, "incoming")
	if err := os.Mkdir(intake, 0o755); err != nil {
		t.Fatal(err)
	}
	driveIn(t, queue, "domaincontroller_master", "true", add("alice"), add("with/slash"))
	if got := entries(t, queue); got != "incoming" {
		t.Fatalf("queue holds %s: want only the intake", got)
	}
	if got := entries(t, intake); got != "alice.send,withslash.send" {
		t.Fatalf("intake holds %s: want the queue files, no temporary file", got)
	}
	if got := parse(t, intake); got["alice.send"] != "alice" || got["withslash.send"] != "with/slash" {
		t.Fatalf("plugin reads %v", got)
	}
}

func TestIntakeDirFromTheEnvironment(t *testing.T) {
	queue, intake := t.TempDir(), t.TempDir()
	driveEnv(t, queue, []string{"UMC_INVITE_INTAKE_DIR=" + intake}, "domaincontroller_master", "true", add("bob"))
	if entries(t, queue) != "" || entries(t, intake) != "bob.send" {
		t.Fatalf("queue %q, intake %q", entries(t, queue), entries(t, intake))
	}
	// Configured but missing: the queue directory, as before.
	driveEnv(t, queue, []string{"UMC_INVITE_INTAKE_DIR=" + filepath.Join(intake, "nope")}, "domaincontroller_master", "true", add("carol"))
	if entries(t, queue) != "carol.send" {
		t.Fatalf("queue %q", entries(t, queue))
	}
}

// A user waiting in either directory is queued: a second add neither
// replaces the intake's file nor adds one beside a file in the queue.
func TestQueuedInEitherDirectoryIsNotQueuedAgain(t *testing.T) {
	queue := t.TempDir()
	intake := filepath.Join(queue, "incoming")
	if err := os.Mkdir(intake, 0o755); err != nil {
		t.Fatal(err)
	}
	driveIn(t, queue, "domaincontroller_master", "true", add("dave"))
	before, err := os.Stat(filepath.Join(intake, "dave.send"))
	if err != nil {
		t.Fatal(err)
	}
	driveIn(t, queue, "domaincontroller_master", "true", add("dave"))
	after, err := os.Stat(filepath.Join(intake, "dave.send"))
	if err != nil || !os.SameFile(before, after) {
		t.Fatalf("intake dave.send was replaced (%v)", err)
	}
	// erin already admitted into the queue (or re-queued straight there).
	if err := os.WriteFile(filepath.Join(queue, "erin.send"), []byte("erin\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	driveIn(t, queue, "domaincontroller_master", "true", add("erin"))
	if got := entries(t, intake); got != "dave.send" {
		t.Fatalf("intake holds %s: erin is already queued", got)
	}
	if data, _ := os.ReadFile(filepath.Join(queue, "erin.send")); string(data) != "erin\n" {
		t.Fatalf("queued erin.send changed: %q", data)
	}
}
