package listener

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fullVolume is a queue directory whose writes fail until the returned
// function gives space again: as root a small tmpfs filled up (ENOSPC, a
// full queue volume), else a directory without write permission.
func fullVolume(t *testing.T) (dir string, free func()) {
	t.Helper()
	dir = t.TempDir()
	if os.Geteuid() != 0 {
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o755) })
		return dir, func() { os.Chmod(dir, 0o755) }
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs for the full queue volume: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	filler := filepath.Join(dir, ".filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	for chunk := make([]byte, 4096); ; {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	f.Close()
	return dir, func() {
		if err := os.Remove(filler); err != nil {
			t.Fatal(err)
		}
	}
}

// A full queue volume: the module does not return before alice's file is
// written. It says so in the listener's log, each time, and in the health
// file the container's probe reads; once there is space again alice is
// queued exactly once, the health file is gone, and the next user follows.
func TestFullQueueVolumeQueuesTheUserOnceSpaceIsBack(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found")
	}
	queue, free := fullVolume(t)
	health := filepath.Join(t.TempDir(), "umc-invite-queue-failing")
	events, _ := json.Marshal([][]any{
		{add("alice").dn, add("alice").new, nil, "a"},
		{add("bob").dn, add("bob").new, nil, "a"},
	})
	registry, _ := json.Marshal(map[string]string{"server/role": "domaincontroller_master"})
	cmd := exec.Command(python, filepath.Join(root(), "tests", "listener", "drive.py"),
		filepath.Join(root(), "build", "listener", "selfservice-invitation-json.py"), queue, string(registry))
	cmd.Env = append(moduleEnv(), "UMC_INVITE_HEALTH_FILE="+health, "UMC_INVITE_RETRY_PAUSE=0.05", "UMC_INVITE_RETRY_PAUSE_MAX=0.2")
	cmd.Stdin = bytes.NewReader(events)
	var out logBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer cmd.Process.Kill()

	// Failing: the handler keeps trying and the health file says why.
	deadline := time.Now().Add(30 * time.Second)
	for {
		data, _ := os.ReadFile(health)
		if strings.Contains(string(data), "cannot queue the invitation of 'alice'") && strings.Count(out.String(), "ERROR: selfservice-invitation-json: cannot queue") >= 3 {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the handler returned with alice not queued (%v):\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no health file %s and no repeated error in the log:\n%s", health, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(queue, "bob.send")); err == nil {
		t.Fatal("bob was queued before alice: the listener went on to the next transaction")
	}

	free()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("alice still not queued with space again:\n%s", out.String())
	}
	if got := entries(t, queue); got != "alice.send,bob.send" {
		t.Fatalf("queue holds %s: want alice.send and bob.send, once each, no temporary file\n%s", got, out.String())
	}
	if got := parse(t, queue); got["alice.send"] != "alice" || got["bob.send"] != "bob" {
		t.Fatalf("plugin reads %v", got)
	}
	if _, err := os.Stat(health); !os.IsNotExist(err) {
		t.Fatalf("health file still there once alice is queued: %v", err)
	}
	if !strings.Contains(out.String(), "queued the invitation of 'alice' after") {
		t.Errorf("the log does not say alice was queued in the end:\n%s", out.String())
	}
}

// logBuffer is the listener's output, read while the process writes it.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
