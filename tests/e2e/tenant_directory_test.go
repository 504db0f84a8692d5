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

// A disabled output keeps its records: once its directory is fixed and
// Fluent Bit restarts, the users queued meanwhile are invited, even when
// Fluent Bit gave their chunk up while the output was disabled.
func TestADisabledTenantsUsersAreInvitedOnceItsDirectoryIsFixed(t *testing.T) {
	needFluentBit(t)
	t.Parallel()
	file, root, tenants := daemonSetTenants(t)
	// Retries 3 s apart: Fluent Bit's 5 retries take seconds, not minutes.
	setKey(t, file, "scheduler.cap", "2")
	elsewhere := filepath.Join(filepath.Dir(root), "elsewhere")
	os.Mkdir(elsewhere, 0o755)
	failed := filepath.Join(root, "tenant-a", "failed")
	if err := os.Symlink(elsewhere, failed); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "tenant-a", "anna.send"), []byte(`{"username": "anna"}`+"\n"), 0o644)
	env := []string{"UMC_INVITE_ROOT=" + root, "HTTP_PORT=" + strconv.Itoa(umctest.FreePort(t))}
	p := start(t, file, env)
	waitFor(t, "tenant-a's output reported disabled", 5*time.Second, p, func() bool {
		return strings.Contains(p.Log(), "umc_invite:tenant-a] disabled")
	})
	waitFor(t, "Fluent Bit giving tenant-a's chunk up", 40*time.Second, p, func() bool {
		return strings.Contains(p.Log(), "cannot be retried")
	})
	p.Stop(15 * time.Second)
	if _, err := os.Stat(filepath.Join(root, "tenant-a", "anna.send")); err != nil {
		t.Fatalf("anna's queue file is gone while the output was disabled: %v", err)
	}

	// The operator fixes the directory and Fluent Bit restarts.
	if err := os.Remove(failed); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(failed, 0o755); err != nil {
		t.Fatal(err)
	}
	again := start(t, file, env)
	waitFor(t, "anna invited after the fix", 15*time.Second, again, func() bool { return len(tenants["tenant-a"].Delivered()) == 1 })
}
