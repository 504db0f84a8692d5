package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"umc-invite/tests/umctest"
)

// A tenant whose UMC answers slowly (its own server) while its producer
// keeps queueing users delays that tenant only: the other tenant's user
// is invited within seconds. Fluent Bit's storage.max_chunks_up is the
// whole process's: a slow tenant's chunks must not take every place.
func TestASlowTenantsBacklogDoesNotPauseAnotherTenant(t *testing.T) {
	needFluentBit(t)
	t.Parallel()
	file, root, tenants := daemonSetTenants(t)
	tenants["tenant-a"].Latency = 25 * time.Second // under the plugin's Timeout (30 s)
	p := start(t, file, []string{"UMC_INVITE_ROOT=" + root, "HTTP_PORT=" + strconv.Itoa(umctest.FreePort(t))})

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // tenant-a's producer: a user every 50 ms
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			u := fmt.Sprintf("a-%d", i)
			tmp := filepath.Join(root, "tenant-a", "incoming", "."+u)
			os.WriteFile(tmp, []byte(`{"username": "`+u+`"}`+"\n"), 0o644)
			os.Rename(tmp, filepath.Join(root, "tenant-a", "incoming", u+".send"))
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	time.Sleep(40 * time.Second) // tenant-a's chunks pile up behind its slow UMC
	os.WriteFile(filepath.Join(root, "tenant-b", "incoming", "berta.send"), []byte(`{"username": "berta"}`+"\n"), 0o644)
	sent := time.Now()
	t.Cleanup(func() {
		if t.Failed() { // why tenant-b's input stood still
			for _, line := range strings.Split(p.Log(), "\n") {
				if strings.Contains(line, "tail.1") || strings.Contains(line, "tenant-b") || strings.Contains(line, "berta") || strings.Contains(line, "error") {
					t.Log(line)
				}
			}
		}
	})
	waitFor(t, "tenant-b's user invited", 10*time.Second, p, func() bool { return len(tenants["tenant-b"].Delivered()) == 1 })
	t.Logf("tenant-b's user invited after %s", time.Since(sent).Round(100*time.Millisecond))
}
