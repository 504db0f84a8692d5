package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"umc-invite/tests/umctest"
)

// daemonSetTenants is the shipped DaemonSet's config with each tenant's
// UMC a test server and its root a temporary directory (every tenant's
// directory made): the file, the root and each tenant's UMC.
func daemonSetTenants(t *testing.T) (file, root string, tenants map[string]*umctest.UMC) {
	t.Helper()
	manifest, err := os.ReadFile(filepath.Join(repoRoot, "build", "kubernetes", "daemonset.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var conf string
	dec := yaml.NewDecoder(strings.NewReader(string(manifest)))
	for {
		var doc struct {
			Kind string            `yaml:"kind"`
			Data map[string]string `yaml:"data"`
		}
		if dec.Decode(&doc) != nil {
			break
		}
		if doc.Kind == "ConfigMap" {
			conf = doc.Data["fluent-bit.conf"]
		}
	}
	if conf == "" {
		t.Fatal("no ConfigMap with fluent-bit.conf in daemonset.yaml")
	}
	work := t.TempDir()
	root = filepath.Join(work, "root")
	secrets := filepath.Join(work, "secrets")
	tenants = map[string]*umctest.UMC{}
	for _, tenant := range []string{"tenant-a", "tenant-b"} {
		umc := &umctest.UMC{Prefix: "/univention", User: "self-service-invitation", Password: "pw-" + tenant}
		tenants[tenant] = umc
		s := newSite(t, umc)
		conf = strings.Replace(conf, "https://portal."+tenant+".example.org/univention", s.url+"/univention", 1)
		os.MkdirAll(filepath.Join(secrets, tenant), 0o755)
		os.WriteFile(filepath.Join(secrets, tenant, "password"), []byte("pw-"+tenant+"\n"), 0o600)
		os.MkdirAll(filepath.Join(root, tenant, "incoming"), 0o755)
	}
	conf = strings.ReplaceAll(conf, "/run/secrets/umc-invite", secrets)
	file = filepath.Join(work, "fluent-bit.conf")
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return file, root, tenants
}

// A tenant who replaces its failed/ (or its intake) by a symlink, or puts
// a regular file where its intake belongs, disables its own output: named
// in the log and by its own metric, its records kept. Fluent Bit runs and
// the other tenant's users are invited.
func TestBadTenantDirectoryDisablesOnlyItsOutput(t *testing.T) {
	needFluentBit(t)
	t.Parallel()
	for name, spoil := range map[string]func(dir string) error{
		"failed/ a symlink": func(dir string) error {
			elsewhere := filepath.Join(filepath.Dir(filepath.Dir(dir)), "elsewhere")
			os.Mkdir(elsewhere, 0o755)
			return os.Symlink(elsewhere, filepath.Join(dir, "failed"))
		},
		"incoming a symlink": func(dir string) error {
			os.Remove(filepath.Join(dir, "incoming"))
			return os.Symlink(filepath.Join(filepath.Dir(dir), "tenant-b"), filepath.Join(dir, "incoming"))
		},
		"incoming a regular file": func(dir string) error {
			os.Remove(filepath.Join(dir, "incoming"))
			return os.WriteFile(filepath.Join(dir, "incoming"), nil, 0o644)
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			file, root, tenants := daemonSetTenants(t)
			if err := spoil(filepath.Join(root, "tenant-a")); err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(root, "tenant-a", "anna.send"), []byte(`{"username": "anna"}`+"\n"), 0o644)
			for _, u := range []string{"berta", "bodo"} {
				os.WriteFile(filepath.Join(root, "tenant-b", u+".send"), []byte(`{"username": "`+u+`"}`+"\n"), 0o644)
			}
			addr, metricsEnv := metricsAddr(t)
			p := start(t, file, append(metricsEnv, "UMC_INVITE_ROOT="+root, "HTTP_PORT="+strconv.Itoa(umctest.FreePort(t))))
			waitFor(t, "tenant-b delivered", 15*time.Second, p, func() bool { return len(tenants["tenant-b"].Delivered()) == 2 })
			waitFor(t, "tenant-a's output reported disabled", 5*time.Second, p, func() bool {
				return strings.Contains(p.Log(), "umc_invite:tenant-a] disabled")
			})
			if d := tenants["tenant-a"].Delivered(); len(d) != 0 {
				t.Errorf("tenant-a's disabled output sent %v", d)
			}
			if _, err := os.Stat(filepath.Join(root, "tenant-a", "anna.send")); err != nil {
				t.Errorf("tenant-a's queued user is gone: %v", err)
			}
			m := scrapeMetrics(addr)
			if v := m[`umc_invite_output_disabled{output="tenant-a"}`]; v != "1" {
				t.Errorf("tenant-a's metrics: umc_invite_output_disabled %q, want 1", v)
			}
			if v := m[`umc_invite_output_disabled{output="tenant-b"}`]; v != "0" {
				t.Errorf("tenant-b's metrics: umc_invite_output_disabled %q, want 0", v)
			}
			if strings.Contains(p.Log(), "umc_invite:tenant-b] disabled") {
				t.Errorf("tenant-b disabled too:\n%s", tail(p.Log(), 30))
			}
		})
	}
}

// A tenant's output disabled for longer than Fluent Bit retries a chunk
// (its failed/ a symlink): once the directory is fixed and Fluent Bit
// restarted, the user queued meanwhile is invited, not left in the queue
// with tail's database saying it was read.
func TestAUserQueuedWhileItsOutputWasDisabledIsInvitedOnceItIsFixed(t *testing.T) {
	needFluentBit(t)
	file, root, tenants := daemonSetTenants(t)
	giveChunksUpAfterOneRetry(t, file)
	failed := filepath.Join(root, "tenant-a", "failed")
	elsewhere := filepath.Join(root, "elsewhere")
	os.Mkdir(elsewhere, 0o755)
	if err := os.Symlink(elsewhere, failed); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "tenant-a", "anna.send"), []byte(`{"username": "anna"}`+"\n"), 0o644)
	env := []string{"UMC_INVITE_ROOT=" + root, "HTTP_PORT=" + strconv.Itoa(umctest.FreePort(t)), "METRICS_LISTEN=127.0.0.1:" + strconv.Itoa(umctest.FreePort(t))}
	p := start(t, file, env)
	waitFor(t, "tenant-a's output reported disabled", 10*time.Second, p, func() bool {
		return strings.Contains(p.Log(), "umc_invite:tenant-a] disabled")
	})
	waitFor(t, "Fluent Bit giving tenant-a's chunk up", 60*time.Second, p, func() bool {
		return strings.Contains(p.Log(), "cannot be retried")
	})
	p.Stop(10 * time.Second)
	// The operator fixes the directory and restarts Fluent Bit.
	if err := os.Remove(failed); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(failed, 0o755); err != nil {
		t.Fatal(err)
	}
	q := start(t, file, env)
	waitFor(t, "anna, queued while tenant-a was disabled, invited after the fix", 30*time.Second, q, func() bool {
		return len(tenants["tenant-a"].Delivered()) == 1
	})
}

// A producer's one-line file longer than the line tail reads (Buffer_Max_Size,
// Skip_Long_Lines) but within the intake's 64 KiB: it is sent, refused in
// the intake, or set aside as bad input; it is never admitted to sit in the
// queue, holding a place of the window, with no record tail ever makes.
func TestALineTailSkipsIsNeverAdmittedToWaitForever(t *testing.T) {
	needFluentBit(t)
	file, root, tenants := daemonSetTenants(t)
	line := `{"username": "lena", "note": "` + strings.Repeat("x", 6000) + `"}` + "\n"
	if err := os.WriteFile(filepath.Join(root, "tenant-a", "incoming", "lena.send"), []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "tenant-a", "incoming", "anna.send"), []byte(`{"username": "anna"}`+"\n"), 0o644)
	env := []string{"UMC_INVITE_ROOT=" + root, "HTTP_PORT=" + strconv.Itoa(umctest.FreePort(t)), "METRICS_LISTEN=127.0.0.1:" + strconv.Itoa(umctest.FreePort(t))}
	p := start(t, file, env)
	waitFor(t, "anna invited", 15*time.Second, p, func() bool { return len(tenants["tenant-a"].Delivered()) >= 1 })
	time.Sleep(5 * time.Second) // tail's rescans and several flushes
	if tenants["tenant-a"].Delivered()["lena"] > 0 {
		return
	}
	if _, err := os.Stat(filepath.Join(root, "tenant-a", "lena.send")); err == nil {
		t.Errorf("lena's file was admitted to the queue, where tail skips its line: it is never sent nor set aside (only tail warns it skips the line), and holds a place of the window for good:\n%s",
			tail(p.Log(), 15))
	}
}

// A producer's file of one line without its final newline: the intake
// admits the user in a form tail makes a record of (or leaves it in the
// intake, said); it never waits in the queue for a newline nobody writes.
func TestAOneLineFileWithoutItsNewlineIsInvitedOrRefused(t *testing.T) {
	needFluentBit(t)
	file, root, tenants := daemonSetTenants(t)
	os.WriteFile(filepath.Join(root, "tenant-a", "incoming", "nora.send"), []byte(`{"username": "nora"}`), 0o644)
	os.WriteFile(filepath.Join(root, "tenant-a", "incoming", "anna.send"), []byte(`{"username": "anna"}`+"\n"), 0o644)
	env := []string{"UMC_INVITE_ROOT=" + root, "HTTP_PORT=" + strconv.Itoa(umctest.FreePort(t)), "METRICS_LISTEN=127.0.0.1:" + strconv.Itoa(umctest.FreePort(t))}
	p := start(t, file, env)
	waitFor(t, "anna invited", 15*time.Second, p, func() bool { return tenants["tenant-a"].Delivered()["anna"] > 0 })
	time.Sleep(5 * time.Second) // tail's rescans and several flushes
	if tenants["tenant-a"].Delivered()["nora"] > 0 {
		return
	}
	if _, err := os.Stat(filepath.Join(root, "tenant-a", "nora.send")); err == nil {
		t.Errorf("nora's file, one line without its newline, was admitted to the queue and is not sent: tail waits for the rest of the line:\n%s",
			tail(p.Log(), 10))
	}
}

// giveChunksUpAfterOneRetry makes the config file's Fluent Bit give a
// chunk up after one retry (the shipped 5 take a minute).
func giveChunksUpAfterOneRetry(t *testing.T, file string) {
	t.Helper()
	conf, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	short := strings.NewReplacer("Retry_Limit         5", "Retry_Limit         1", "Chunk_Retry_Limit   5", "Chunk_Retry_Limit   1").Replace(string(conf))
	if err := os.WriteFile(file, []byte(short), 0o644); err != nil {
		t.Fatal(err)
	}
}
