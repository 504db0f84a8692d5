package listener

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A uid LDAP accepts (up to 256 characters) whose queue file name,
// <uid>.send, is longer than a file name may be can never be written: that
// is no outage that passes. The listener must not wait on it for ever:
// the users created after it are queued.
func TestAUidTooLongForAFileNameDoesNotHoldUpTheUsersAfterIt(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found")
	}
	queue := t.TempDir()
	long := strings.Repeat("a", 251) // long.send: 256 bytes, NAME_MAX is 255
	events, _ := json.Marshal([][]any{
		{add(long).dn, add(long).new, nil, "a"},
		{add("bob").dn, add("bob").new, nil, "a"},
	})
	registry, _ := json.Marshal(map[string]string{"server/role": "domaincontroller_master"})
	cmd := exec.Command(python, filepath.Join(root(), "tests", "listener", "drive.py"),
		filepath.Join(root(), "build", "listener", "selfservice-invitation-json.py"), queue, string(registry))
	cmd.Env = append(moduleEnv(), "UMC_INVITE_HEALTH_FILE="+filepath.Join(t.TempDir(), "failing"),
		"UMC_INVITE_RETRY_PAUSE=0.05", "UMC_INVITE_RETRY_PAUSE_MAX=0.2")
	cmd.Stdin = bytes.NewReader(events)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		t.Fatalf("after 10 s the listener still waits on the %d-character uid (%d log lines, the last: %s); bob queued: %v",
			len(long), len(lines), lines[len(lines)-1], exists(filepath.Join(queue, "bob.send")))
	}
	if !exists(filepath.Join(queue, "bob.send")) {
		t.Fatalf("bob, created after the long uid, is not queued:\n%s", out.String())
	}
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
