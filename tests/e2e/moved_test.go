package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"umc-invite/tests/umctest"
)

// In the shipped DaemonSet, a tenant who can write another's directories
// renames tenant-b's intake away and makes a new one, and renames
// tenant-a's queue away and makes a new one. Within seconds each output's
// log names the directory that is no longer the one at its path, and its
// metrics say so. B's queue is still sent; A's user, read by tail from
// the new queue, is not sent from the directory A's output holds: it
// waits, its file in place.
func TestADirectoryRenamedAwayIsReported(t *testing.T) {
	needFluentBit(t)
	t.Parallel()
	file, root, tenants := daemonSetTenants(t)
	addr, env := metricsAddr(t)
	p := start(t, file, append(env, "UMC_INVITE_ROOT="+root, "HTTP_PORT="+strconv.Itoa(umctest.FreePort(t))))
	write := func(dir, user string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, user+".send"), []byte(`{"username": "`+user+`"}`+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	renameAndRemake := func(dir string) {
		t.Helper()
		if err := os.Rename(dir, dir+".away"); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(root, "tenant-b", "incoming"), "berta")
	waitFor(t, "tenant-b's first user delivered", 15*time.Second, p, func() bool { return len(tenants["tenant-b"].Delivered()) == 1 })

	intakeB := filepath.Join(root, "tenant-b", "incoming")
	renameAndRemake(intakeB)
	write(intakeB, "bodo")
	queueA := filepath.Join(root, "tenant-a")
	renameAndRemake(queueA)
	write(queueA, "anna")
	waitFor(t, "both moves named in the log", 10*time.Second, p, func() bool {
		return strings.Contains(p.Log(), `umc_invite:tenant-b] Intake_Dir "`+intakeB+`" is no longer the directory this output opened at start`) &&
			strings.Contains(p.Log(), `umc_invite:tenant-a] Queue_Dir "`+queueA+`" is no longer the directory this output opened at start`)
	})
	waitFor(t, "both moves in the metrics", 10*time.Second, p, func() bool {
		m := scrapeMetrics(addr)
		return m[`umc_invite_directory_moved{output="tenant-a"}`] == "1" && m[`umc_invite_directory_moved{output="tenant-b"}`] == "1"
	})
	// B's queue is still sent.
	write(filepath.Join(root, "tenant-b"), "bruno")
	waitFor(t, "tenant-b's queue still sent", 15*time.Second, p, func() bool { return len(tenants["tenant-b"].Delivered()) == 2 })
	// A's user waits: not sent, not taken for gone.
	time.Sleep(3 * time.Second)
	if c := tenants["tenant-a"].Calls(); len(c) != 0 {
		t.Errorf("tenant-a's output sent from a queue no longer at its path: %v", c)
	}
	if _, err := os.Stat(filepath.Join(queueA, "anna.send")); err != nil {
		t.Errorf("anna's queue file: %v", err)
	}
	if p.Exited() {
		t.Fatalf("Fluent Bit exited:\n%s", tail(p.Log(), 30))
	}
}

// A tenant's queue renamed away and replaced for longer than Fluent Bit
// retries a chunk: the user tail read from the new directory waits, as
// the log says, until the operator puts the queue back (its file with it);
// then it is invited, not lost with the chunk Fluent Bit gave up.
func TestAUserReadFromAMovedQueueIsInvitedOnceTheQueueIsBack(t *testing.T) {
	needFluentBit(t)
	file, root, tenants := daemonSetTenants(t)
	giveChunksUpAfterOneRetry(t, file)
	p := start(t, file, []string{"UMC_INVITE_ROOT=" + root, "HTTP_PORT=" + strconv.Itoa(umctest.FreePort(t)), "METRICS_LISTEN=127.0.0.1:" + strconv.Itoa(umctest.FreePort(t))})
	queueA := filepath.Join(root, "tenant-a")
	waitFor(t, "tenant-a started", 10*time.Second, p, func() bool { return strings.Contains(p.Log(), "umc_invite:tenant-a] sending to") })
	if err := os.Rename(queueA, queueA+".away"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(queueA, 0o755); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the move named in the log", 10*time.Second, p, func() bool {
		return strings.Contains(p.Log(), `umc_invite:tenant-a] Queue_Dir "`+queueA+`" is no longer the directory`)
	})
	if err := os.WriteFile(filepath.Join(queueA, "anna.send"), []byte(`{"username": "anna"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "Fluent Bit giving anna's chunk up", 60*time.Second, p, func() bool { return strings.Contains(p.Log(), "cannot be retried") })
	// The operator puts the queue back, anna's file in it.
	if err := os.Rename(filepath.Join(queueA, "anna.send"), filepath.Join(queueA+".away", "anna.send")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(queueA); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(queueA+".away", queueA); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the queue back, named in the log", 10*time.Second, p, func() bool { return strings.Contains(p.Log(), "again the ones at their paths") })
	waitFor(t, "anna invited once the queue is back", 30*time.Second, p, func() bool { return tenants["tenant-a"].Delivered()["anna"] == 1 })
}
