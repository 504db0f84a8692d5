package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"umc-invite/tests/umctest"
)

// A tenant whose directory itself is no directory (a regular file, a link
// to nothing: the init container skips it) disables its own output only:
// Fluent Bit starts and the other tenant's users are invited.
func TestATenantDirectoryThatIsNoDirectoryDisablesOnlyItsOutput(t *testing.T) {
	needFluentBit(t)
	t.Parallel()
	for name, spoil := range map[string]func(dir string) error{
		"a regular file":  func(dir string) error { return os.WriteFile(dir, nil, 0o644) },
		"a dangling link": func(dir string) error { return os.Symlink(dir+"-gone", dir) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			file, root, tenants := daemonSetTenants(t)
			dir := filepath.Join(root, "tenant-a")
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			if err := spoil(dir); err != nil {
				t.Fatal(err)
			}
			for _, u := range []string{"berta", "bodo"} {
				os.WriteFile(filepath.Join(root, "tenant-b", u+".send"), []byte(`{"username": "`+u+`"}`+"\n"), 0o644)
			}
			p := start(t, file, []string{"UMC_INVITE_ROOT=" + root, "HTTP_PORT=" + strconv.Itoa(umctest.FreePort(t))})
			waitFor(t, "tenant-b delivered", 15*time.Second, p, func() bool { return len(tenants["tenant-b"].Delivered()) == 2 })
		})
	}
}
