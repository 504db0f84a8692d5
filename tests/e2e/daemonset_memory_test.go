package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"umc-invite/tests/umctest"
)

// memoryBytes parses a Kubernetes memory quantity in Mi or Gi.
func memoryBytes(t *testing.T, q string) int64 {
	t.Helper()
	for suffix, unit := range map[string]int64{"Mi": 1 << 20, "Gi": 1 << 30} {
		if n, ok := strings.CutSuffix(q, suffix); ok {
			v, err := strconv.ParseInt(n, 10, 64)
			if err == nil {
				return v * unit
			}
		}
	}
	t.Fatalf("memory limit %q: want Mi or Gi", q)
	return 0
}

// Item 8: the rendered DaemonSet (build/kubernetes/daemonset.yaml, two
// tenants), every tenant importing at once, in a memory cgroup of the
// rendered limit of its Fluent Bit container: everyone invited once by
// their own UMC, no OOM kill, no restart. Root only (a memory cgroup), as
// the big-import test. Not parallel: it measures memory, so it runs alone.
func TestDaemonSetAllTenantsImportWithinTheRenderedLimit(t *testing.T) {
	needFluentBit(t)
	m := readManifest(t, "daemonset.yaml")
	limit := memoryBytes(t, m.limit)
	g := newMemoryCgroup(t, limit)
	const perTenant = 10000
	work := t.TempDir()
	conf := m.data["fluent-bit.conf"]
	secrets := filepath.Join(work, "secrets")
	conf = strings.ReplaceAll(conf, "/run/secrets/umc-invite", secrets)
	tenants := map[string]*umctest.UMC{}
	for _, tenant := range []string{"tenant-a", "tenant-b"} {
		umc := &umctest.UMC{Prefix: "/univention"} // tenant-a: anonymous
		if tenant == "tenant-b" {
			umc.User, umc.Password = "self-service-invitation", "change-me-b"
		}
		tenants[tenant] = umc
		url := umctest.NewServer(t, umc)
		from := "https://portal." + tenant + ".example.org/univention"
		if !strings.Contains(conf, from) {
			t.Fatalf("the rendered config has no %s", from)
		}
		conf = strings.Replace(conf, from, url+"/univention", 1)
		if umc.User != "" {
			os.MkdirAll(filepath.Join(secrets, tenant), 0o755)
			// The chart-made Secret's password (ci/daemonset-values.yaml).
			os.WriteFile(filepath.Join(secrets, tenant, "password"), []byte(umc.Password+"\n"), 0o600)
		}
		backlog(t, filepath.Join(work, "root", tenant, "incoming"), users(tenant+"-", perTenant))
	}
	// tenant-b's Rate_Limit (120 a minute) would spread its import over
	// 80 minutes; memory is about the windows both hold at once, so both
	// import at full speed here.
	rate := regexp.MustCompile(`(?m)^(\s*Rate_Limit\s+)\d+$`)
	if len(rate.FindAllString(conf, -1)) != 2 {
		t.Fatal("want a Rate_Limit per tenant in the rendered config")
	}
	conf = rate.ReplaceAllString(conf, "${1}0")
	file := filepath.Join(work, "fluent-bit.conf")
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	port := umctest.FreePort(t)
	env := []string{"UMC_INVITE_ROOT=" + filepath.Join(work, "root"), fmt.Sprintf("HTTP_PORT=%d", port), "METRICS_LISTEN=" + umctest.FreeAddr(t)}
	bin, args := g.wrap(fluentBit, []string{"-e", pluginPath, "-c", file})
	begin := time.Now()
	p := startBin(t, bin, args, env)
	deadline := time.Now().Add(6 * time.Minute)
	for len(tenants["tenant-a"].Delivered()) != perTenant || len(tenants["tenant-b"].Delivered()) != perTenant {
		if p.Exited() || time.Now().After(deadline) {
			t.Fatalf("after %s: tenant-a %d, tenant-b %d of %d invited; exited %v, OOM kills %d, cgroup peak %.1f MB\n%s",
				time.Since(begin).Round(time.Second), len(tenants["tenant-a"].Delivered()), len(tenants["tenant-b"].Delivered()), perTenant,
				p.Exited(), g.oomKills(), g.peakMB(), notInotify(p.Log(), 40))
		}
		time.Sleep(100 * time.Millisecond)
	}
	took := time.Since(begin)
	for name, umc := range tenants {
		if err := umc.CheckOnce(perTenant); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, c := range umc.Calls() {
			if !strings.HasPrefix(c.Username, name+"-") {
				t.Fatalf("%s's UMC got %s", name, c.Username)
			}
		}
	}
	if k := g.oomKills(); k != 0 || p.Exited() {
		t.Fatalf("OOM kills %d, exited %v", k, p.Exited())
	}
	t.Logf("2 tenants x %d users at once: all invited in %s; peak RSS %.1f MB, cgroup peak %.1f MB of the rendered limit %s",
		perTenant, took.Round(time.Second), float64(rssKB(p))/1024, g.peakMB(), m.limit)
}

// notInotify is the last lines of a log without tail's inotify lines.
func notInotify(log string, lines int) string {
	var kept []string
	for _, l := range strings.Split(log, "\n") {
		if !strings.Contains(l, "inotify_fs_") {
			kept = append(kept, l)
		}
	}
	return tail(strings.Join(kept, "\n"), lines)
}

// A tenant's flood is that tenant's: in the rendered DaemonSet config, in a
// memory cgroup of its Fluent Bit container's limit, tenant-a's producer
// writes 15,000 files into its intake (all it can write: the queue
// directory is not the producers', see TestProducerReachesItsOwnIntakeOnly)
// and one 12 MiB file of two-byte lines there too, while tenant-b's
// users arrive one by one. Each of tenant-b's users is invited within
// seconds, nobody is OOM-killed, and nothing of tenant-a's is lost: its
// 15,000 users are invited once each, the big file waits in its intake.
// Root only (a memory cgroup); heavy, so `make e2e` runs it, not `make test`.
func TestOneTenantsFloodDelaysNoOtherTenant(t *testing.T) {
	needFluentBit(t)
	m := readManifest(t, "daemonset.yaml")
	g := newMemoryCgroup(t, memoryBytes(t, m.limit))
	file, root, tenants := daemonSetTenants(t)
	a, b := tenants["tenant-a"], tenants["tenant-b"]
	port := umctest.FreePort(t)
	env := []string{"UMC_INVITE_ROOT=" + root, fmt.Sprintf("HTTP_PORT=%d", port), "METRICS_LISTEN=" + umctest.FreeAddr(t)}
	bin, args := g.wrap(fluentBit, []string{"-e", pluginPath, "-c", file})
	p := startBin(t, bin, args, env)
	waitFor(t, "Fluent Bit's health endpoint", 10*time.Second, p, func() bool { return health(port) == 200 })

	const flood = 15000
	begin := time.Now()
	umctest.Enqueue(t, filepath.Join(root, "tenant-a", "incoming"), users("flood-", flood)...)
	big := strings.Repeat("a\n", 6<<20)
	umctest.WriteQueueFile(t, filepath.Join(root, "tenant-a", "incoming"), "big.send", big)
	t.Logf("tenant-a's flood written in %s", time.Since(begin).Round(time.Millisecond))

	// tenant-b's users, one every 2 s, through its intake as its listener
	// writes them.
	var worst time.Duration
	for i, u := range users("berta-", 4) {
		if i > 0 {
			time.Sleep(2 * time.Second)
		}
		written := time.Now()
		umctest.Enqueue(t, filepath.Join(root, "tenant-b", "incoming"), u)
		var delay time.Duration
		for {
			if calls := b.CallsOf(u); len(calls) > 0 {
				delay = calls[0].Time.Sub(written)
				break
			}
			if p.Exited() || time.Since(written) > time.Minute {
				t.Fatalf("tenant-b's %s not invited within %s; exited %v, OOM kills %d, cgroup peak %.1f MB\n%s",
					u, time.Since(written).Round(time.Second), p.Exited(), g.oomKills(), g.peakMB(), notInotify(p.Log(), 40))
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Logf("tenant-b's %s invited %s after its file appeared; tenant-a has %d of %d invited", u, delay.Round(time.Millisecond), len(a.Delivered()), flood)
		worst = max(worst, delay)
	}
	if worst > 10*time.Second {
		t.Errorf("tenant-b's slowest user was invited %s after its file appeared, want within 10 s", worst.Round(time.Millisecond))
	}

	deadline := time.Now().Add(10 * time.Minute)
	for len(a.Delivered()) < flood {
		if p.Exited() || time.Now().After(deadline) {
			t.Fatalf("after %s: tenant-a %d of %d invited; exited %v, OOM kills %d, cgroup peak %.1f MB\n%s",
				time.Since(begin).Round(time.Second), len(a.Delivered()), flood, p.Exited(), g.oomKills(), g.peakMB(), notInotify(p.Log(), 40))
		}
		time.Sleep(100 * time.Millisecond)
	}
	took := time.Since(begin)
	if err := a.CheckOnce(flood); err != nil {
		t.Errorf("tenant-a: %v", err)
	}
	if err := b.CheckOnce(4); err != nil {
		t.Errorf("tenant-b: %v", err)
	}
	if data, err := os.ReadFile(filepath.Join(root, "tenant-a", "incoming", "big.send")); err != nil || string(data) != big {
		t.Errorf("tenant-a's big file no longer waits whole in its intake: %v", err)
	}
	if k := g.oomKills(); k != 0 || p.Exited() {
		t.Fatalf("OOM kills %d, exited %v", k, p.Exited())
	}
	t.Logf("tenant-a's 15,000 users all invited in %s; tenant-b's slowest user %s; peak RSS %.1f MB, cgroup peak %.1f MB of the rendered limit %s",
		took.Round(time.Second), worst.Round(time.Millisecond), float64(rssKB(p))/1024, g.peakMB(), m.limit)
}
