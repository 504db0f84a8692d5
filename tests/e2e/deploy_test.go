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

// build/fluent-bit.yaml starts and delivers, loading the plugin from its
// plugins list (rewritten to this build's path).
func TestYAMLConfigDelivers(t *testing.T) {
	needFluentBit(t)
	t.Parallel()
	s := newSite(t, &umctest.UMC{})
	text, err := os.ReadFile(filepath.Join(repoRoot, "build", "fluent-bit.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	yamlConf := strings.Replace(string(text), "/fluent-bit/plugins/out_umc_invite.so", pluginPath, 1)
	file := filepath.Join(t.TempDir(), "fluent-bit.yaml")
	os.WriteFile(file, []byte(yamlConf), 0o644)
	s.enqueue(t, "yaml1", "yaml2")
	p := startArgs(t, []string{"-c", file}, s.env())
	waitFor(t, "empty queue", 15*time.Second, p, func() bool { return s.queued() == 0 })
	if d := s.umc.Delivered(); len(d) != 2 || d["yaml1"] != 1 || d["yaml2"] != 1 {
		t.Fatalf("delivered %v", d)
	}
	waitFor(t, "healthy", 5*time.Second, p, func() bool { return health(s.port) == 200 })
}

// The DaemonSet's config, as shipped in its ConfigMap: each tenant's queue
// files reach only that tenant's UMC, with that tenant's credentials.
func TestDaemonSetTenantsStayApart(t *testing.T) {
	needFluentBit(t)
	t.Parallel()
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
	secrets := filepath.Join(work, "secrets")
	tenants := map[string]*umctest.UMC{}
	port := umctest.FreePort(t)
	for _, tenant := range []string{"tenant-a", "tenant-b"} {
		umc := &umctest.UMC{Prefix: "/univention", User: "self-service-invitation", Password: "pw-" + tenant}
		tenants[tenant] = umc
		s := newSite(t, umc)
		conf = strings.Replace(conf, "https://portal."+tenant+".example.org/univention", s.url+"/univention", 1)
		os.MkdirAll(filepath.Join(secrets, tenant), 0o755)
		os.WriteFile(filepath.Join(secrets, tenant, "password"), []byte("pw-"+tenant+"\n"), 0o600)
		os.MkdirAll(filepath.Join(work, "root", tenant), 0o755)
	}
	conf = strings.ReplaceAll(conf, "/run/secrets/umc-invite", secrets)
	file := filepath.Join(work, "fluent-bit.conf")
	os.WriteFile(file, []byte(conf), 0o644)

	root := filepath.Join(work, "root")
	for tenant, users := range map[string][]string{"tenant-a": {"anna", "arne"}, "tenant-b": {"berta", "bodo", "britta"}} {
		for _, u := range users {
			os.WriteFile(filepath.Join(root, tenant, u+".send"), []byte(`{"username": "`+u+`"}`+"\n"), 0o644)
		}
	}
	p := start(t, file, []string{"UMC_INVITE_ROOT=" + root, "HTTP_PORT=" + strconv.Itoa(port)})
	waitFor(t, "both tenants delivered", 15*time.Second, p, func() bool {
		return len(tenants["tenant-a"].Delivered()) == 2 && len(tenants["tenant-b"].Delivered()) == 3
	})
	for tenant, umc := range tenants {
		for _, c := range umc.Calls() {
			if c.Status != 200 || !strings.HasPrefix(c.Username, tenant[len(tenant)-1:]) {
				t.Errorf("%s's UMC got %q with status %d", tenant, c.Username, c.Status)
			}
		}
	}
	if lang := tenants["tenant-a"].Calls()[0].Language; lang != "de-DE" {
		t.Errorf("tenant-a's language: %s", lang)
	}
}
