package helm

// The DaemonSet: every tenant probed by helm test, its resources in any
// Kubernetes quantity, its memory following the tenants and their windows.

import (
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Issue 19 item 4: a wrong UMC address or credentials must show up at
// `helm test`. The DaemonSet serves several tenants, each with its own URL
// and password, but only the sidecar gets a helm test Pod: a tenant with a
// typo in its URL is found by nobody until its users complain.
func TestDaemonSetTenantsAreProbedByHelmTest(t *testing.T) {
	docs := render(t, cases["daemonset"])
	var probes []string
	for _, d := range docs {
		if strings.Contains(d.Text, "helm.sh/hook: test") {
			probes = append(probes, d.Text)
		}
	}
	if len(probes) == 0 {
		t.Fatal("daemonset mode renders no helm test Pod: `helm test` checks none of the tenants' UMC URLs or credentials")
	}
	all := strings.Join(probes, "\n")
	for _, tenant := range []string{"tenant-a", "tenant-b"} {
		if !strings.Contains(all, tenant) {
			t.Errorf("helm test does not probe %s", tenant)
		}
	}
}

// The DaemonSet's helm test Pod probes the whole rendered config (each
// tenant's umc_invite output) with every tenant's password mounted where
// the config reads it.
func TestDaemonSetHelmTestProbesEveryOutput(t *testing.T) {
	objs := objects(t, render(t, cases["daemonset"]))
	if len(objs["Pod"]) != 1 {
		t.Fatalf("want one helm test Pod, got %d", len(objs["Pod"]))
	}
	pod := objs["Pod"][0].(*corev1.Pod)
	c := pod.Spec.Containers[0]
	if strings.Join(append(append([]string{}, c.Command...), c.Args...), " ") != "umc-invite probe -c /fluent-bit/etc/umc-invite/fluent-bit.conf --no-queue" {
		t.Errorf("probe command %v %v", c.Command, c.Args)
	}
	conf := configOf(t, render(t, cases["daemonset"]))
	mounted := map[string]bool{}
	for _, m := range c.VolumeMounts {
		mounted[m.MountPath] = true
	}
	for _, tenant := range []string{"tenant-a", "tenant-b"} {
		if !strings.Contains(conf, "/run/secrets/umc-invite/"+tenant+"/") {
			continue
		}
		if !mounted["/run/secrets/umc-invite/"+tenant] {
			t.Errorf("%s's password is not mounted in the probe Pod", tenant)
		}
	}
}

// The DaemonSet's memory is resourcesBase + resourcesPerTenant × tenants.
// Kubernetes quantities such as 1Gi or 512M are valid values for these
// resource fields (values.schema.json accepts them), but the template only
// adds whole "Mi" numbers and refuses anything else: a value copied from
// any other chart fails `helm install`.
func TestDaemonSetResourcesTakeKubernetesQuantities(t *testing.T) {
	o := cases["daemonset"]
	limit := func(set ...string) (*resource.Quantity, error) {
		out, err := Template(Options{Release: "umc-invite", Namespace: "umc-invite", ValueFiles: o.ValueFiles, Set: append(append([]string{}, o.Set...), set...)})
		if err != nil {
			return nil, err
		}
		ds := objects(t, Split(out))["DaemonSet"][0].(*appsv1.DaemonSet)
		for _, c := range ds.Spec.Template.Spec.Containers {
			if c.Name == "umc-invite" {
				return c.Resources.Limits.Memory(), nil
			}
		}
		t.Fatal("no umc-invite container")
		return nil, nil
	}
	dflt, err := limit()
	if err != nil {
		t.Fatal(err)
	}
	got, err := limit("daemonset.resourcesBase.limits.memory=1Gi", "daemonset.resourcesBase.limits.cpu=1")
	if err != nil {
		t.Fatalf("resourcesBase.limits.memory=1Gi, cpu=1 (valid Kubernetes quantities) refused: %v", err)
	}
	// What must hold is that 1Gi counts as 1Gi: 896Mi more than the
	// default base of 128Mi (the tenants' windows are added on both sides).
	if diff := got.Value() - dflt.Value(); diff != 896<<20 {
		t.Errorf("memory limit %s with base 1Gi, %s with base 128Mi: want 896Mi more", got, dflt)
	}
}

// A resource the template cannot add up is refused by the schema or with
// a message naming the key and the forms it takes.
func TestDaemonSetResourcesRefuseWhatTheyCannotAdd(t *testing.T) {
	o := cases["daemonset"]
	for _, set := range []string{"daemonset.resourcesBase.limits.memory=lots", "daemonset.resourcesPerTenant.requests.cpu=2Gi"} {
		_, err := Template(Options{Release: "umc-invite", Namespace: "umc-invite", ValueFiles: o.ValueFiles,
			Set: append(append([]string{}, o.Set...), set)})
		key := strings.SplitN(set, "=", 2)[0]
		if err == nil || !strings.Contains(err.Error(), strings.ReplaceAll(strings.TrimPrefix(key, "daemonset."), ".", "/")) && !strings.Contains(err.Error(), key) {
			t.Errorf("%s: not refused naming the key: %v", set, err)
		}
	}
	// Quantities in other forms add up: 0.5 cpu is 500m, 1G is 953.67Mi.
	out, err := Template(Options{Release: "umc-invite", Namespace: "umc-invite", ValueFiles: o.ValueFiles,
		Set: append(append([]string{}, o.Set...), "daemonset.resourcesBase.requests.cpu=0.5", "daemonset.resourcesBase.limits.memory=1G")})
	if err != nil {
		t.Fatal(err)
	}
	docs := Split(out)
	for _, d := range docs {
		if !strings.Contains(d.Text, "kind: DaemonSet") {
			continue
		}
		if !strings.Contains(d.Text, "cpu: 500m") {
			t.Errorf("cpu 0.5 not rendered as 500m")
		}
	}
}

// Issue 19 item 8: the DaemonSet is sized for its tenants. docs/performance.md (Sizing)
// gives tail's cost as about 19 KB per file in a window and lets each
// tenant set its own window (tenants[].window, up to 100,000). The
// rendered limit only counts tenants (resourcesBase + resourcesPerTenant ×
// n), never their windows: a tenant with window 20,000 needs about 380 MB
// in tail alone, the pod's limit stays 256Mi, and the first bulk import of
// that tenant gets Fluent Bit OOM-killed (and, with it, every tenant's
// deliveries on the node).
func TestDaemonSetMemoryFollowsTenantWindows(t *testing.T) {
	const perFile = 19 * 1000 // docs/performance.md, Sizing: "about 19 KB a file"
	o := cases["daemonset"]
	set := append(append([]string{}, o.Set...), "tenants[0].window=20000")
	out, err := Template(Options{Release: "umc-invite", Namespace: "umc-invite", ValueFiles: o.ValueFiles, Set: set})
	if err != nil {
		t.Fatal(err)
	}
	ds := objects(t, Split(out))["DaemonSet"][0].(*appsv1.DaemonSet)
	windows := int64(20000 + 1000) // tenant-a's and tenant-b's (default) windows
	for _, c := range ds.Spec.Template.Spec.Containers {
		if c.Name != "umc-invite" {
			continue
		}
		limit := c.Resources.Limits.Memory().Value()
		if need := windows * perFile; limit < need {
			t.Errorf("tenants' windows 20,000 + 1,000 files need about %d MB in tail alone (docs/performance.md: 19 KB a file); "+
				"the rendered memory limit is %s (%d MB): the first bulk import is OOM-killed",
				need/1000000, c.Resources.Limits.Memory(), limit/1000000)
		}
	}
}

// Where a shared hostPath cannot keep tenants apart, each tenant gets a
// release of its own (docs/security.md, Tenants): its pod mounts its own
// root only, is in its own group only, and holds only its own Secret.
func TestOneReleasePerTenantSharesNothing(t *testing.T) {
	pods := map[string]corev1.PodSpec{}
	for tenant, gid := range map[string]string{"tenant-a": "70001", "tenant-b": "70002"} {
		o := Options{Release: "umc-invite-" + tenant, Namespace: "umc-invite-" + tenant, Set: []string{
			"mode=daemonset", "daemonset.hostPath=/var/lib/umc-invite-" + tenant,
			"tenants[0].name=" + tenant, "tenants[0].gid=" + gid, "tenants[0].url=https://portal." + tenant + ".example.org/univention",
			"tenants[0].auth.user=self-service-invitation", "tenants[0].auth.password=pw-" + tenant}}
		ds := objects(t, render(t, o))["DaemonSet"][0].(*appsv1.DaemonSet)
		pods[tenant] = ds.Spec.Template.Spec
	}
	for tenant, pod := range pods {
		var hostPaths, secrets []string
		for _, v := range pod.Volumes {
			if v.HostPath != nil {
				hostPaths = append(hostPaths, v.HostPath.Path)
			}
			if v.Secret != nil {
				secrets = append(secrets, v.Secret.SecretName)
			}
		}
		if want := "/var/lib/umc-invite-" + tenant; len(hostPaths) != 1 || hostPaths[0] != want {
			t.Errorf("%s: host paths %v, want only %s", tenant, hostPaths, want)
		}
		if len(secrets) != 1 || !strings.Contains(secrets[0], tenant) {
			t.Errorf("%s: Secrets %v, want its own only", tenant, secrets)
		}
		if groups := pod.SecurityContext.SupplementalGroups; len(groups) != 1 || (tenant == "tenant-a") != (groups[0] == 70001) {
			t.Errorf("%s: supplementalGroups %v, want its own gid only", tenant, groups)
		}
	}
}

// helm test in daemonset mode runs the probe Pod as rendered: its queues
// are an emptyDir, where no tenant's directories exist. The probe there
// tests each tenant's UMC; it does not fail every tenant for directories
// the test Pod never had, or helm test fails on every install.
func TestDaemonSetHelmTestDoesNotFailOnTheQueuesItsPodLacks(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }))
	defer srv.Close()
	docs := render(t, cases["daemonset"])
	pod := objects(t, docs)["Pod"][0].(*corev1.Pod)
	work := t.TempDir()
	emptyDir := filepath.Join(work, "queues")
	mkdir(t, emptyDir)
	secrets := filepath.Join(work, "secrets")
	conf := configOf(t, docs)
	for _, tenant := range []string{"tenant-a", "tenant-b"} {
		mkdir(t, filepath.Join(secrets, tenant))
		writeFile(t, filepath.Join(secrets, tenant, "password"), "pw\n")
		conf = strings.Replace(conf, "https://portal."+tenant+".example.org/univention", srv.URL+"/univention", 1)
	}
	conf = strings.ReplaceAll(conf, "/run/secrets/umc-invite", secrets)
	file := filepath.Join(work, "fluent-bit.conf")
	writeFile(t, file, conf)
	var env []string
	for _, e := range pod.Spec.Containers[0].Env {
		v := e.Value
		if e.Name == "UMC_INVITE_ROOT" {
			v = emptyDir // the Pod's emptyDir "queues", mounted there
		}
		env = append(env, e.Name+"="+v)
	}
	// The Pod's own command line, its config path made the rendered file's.
	args := []string{"run", "./cmd/umc-invite"}
	for _, a := range pod.Spec.Containers[0].Args {
		if strings.HasSuffix(a, "/fluent-bit.conf") {
			a = file
		}
		args = append(args, a)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir, cmd.Env = Root(), append(cleanEnv(), env...)
	out, _ := cmd.CombinedOutput()
	if !strings.Contains(string(out), "endpoint") {
		t.Fatalf("the probe did not reach the tenants' UMC:\n%s", out)
	}
	if strings.Contains(string(out), "FAIL  queue") {
		t.Errorf("the helm test Pod's probe fails on the queue directories its own emptyDir lacks, whatever the tenants' UMC says:\n%s", out)
	}
}
