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

// Two outputs of one Fluent Bit on one queue (tenant-b's directory a
// symlink to tenant-a's) would send each file twice, to two UMCs. The
// second output is disabled, naming both outputs and both directories;
// the first sends each of its users once and Fluent Bit runs.
func TestAnOutputOnAnotherOutputsQueueIsDisabledAlone(t *testing.T) {
	needFluentBit(t)
	t.Parallel()
	file, root, tenants := daemonSetTenants(t)
	queueA, queueB := filepath.Join(root, "tenant-a"), filepath.Join(root, "tenant-b")
	if err := os.RemoveAll(queueB); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(queueA, queueB); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"anna", "arno"} {
		os.WriteFile(filepath.Join(queueA, u+".send"), []byte(`{"username": "`+u+`"}`+"\n"), 0o644)
	}
	p := start(t, file, []string{"UMC_INVITE_ROOT=" + root, "HTTP_PORT=" + strconv.Itoa(umctest.FreePort(t))})
	waitFor(t, "tenant-a's users delivered", 15*time.Second, p, func() bool { return len(tenants["tenant-a"].Delivered()) == 2 })
	want := `umc_invite:tenant-b] disabled: Queue_Dir "` + queueB + `" of output "tenant-b" is Queue_Dir "` + queueA + `" of output "tenant-a"`
	waitFor(t, "tenant-b's output disabled, naming both", 5*time.Second, p, func() bool { return strings.Contains(p.Log(), want) })
	time.Sleep(2 * time.Second)
	if err := tenants["tenant-a"].CheckOnce(2); err != nil {
		t.Error(err)
	}
	if c := tenants["tenant-b"].Calls(); len(c) != 0 {
		t.Errorf("tenant-b's UMC got tenant-a's users: %v", c)
	}
	if p.Exited() {
		t.Fatalf("Fluent Bit exited:\n%s", tail(p.Log(), 30))
	}
}
