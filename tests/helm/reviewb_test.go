package helm

// Review B: defects found in the merged issue-19 chart. Each test states
// the user-visible behaviour it expects and fails on the code as merged.

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// The listener container's effective command: the chart sets none, and
// build/listener/Dockerfile keeps the base image's CMD /command.sh, which
// (univention/container-listener-base, command.sh) starts
//
//	univention-directory-listener ... -b "${LDAP_BASE_DN}" -D "cn=admin,${LDAP_BASE_DN}" ... -y "${LDAP_PASSWORD_FILE}"
//
// LDAP_HOST_DN is read only by the base's entrypoint (for UCR ldap/hostdn),
// which build/listener/Dockerfile removes; the bind DN is always cn=admin.
func listenerBindDN(c *corev1.Container, env map[string]string) string {
	args := append(append([]string{}, c.Command...), c.Args...)
	for i, a := range args {
		if a == "-D" && i+1 < len(args) {
			return args[i+1]
		}
	}
	if len(args) == 0 {
		return "cn=admin," + env["LDAP_BASE_DN"]
	}
	return "(command without -D)"
}

// listener.ldap.hostDn was documented (values.yaml, docs/nubus.md's table) as the
// listener's LDAP_HOST_DN: the DN it binds as, with the password from
// listener.ldap.auth.existingSecret. The base image's command.sh hard-codes
// -D cn=admin,<base>: a different DN was rendered and ignored, the
// listener bound as cn=admin with that other account's password, and
// nobody was queued.
//
// Corrected in fix19: the review asserted the chart must bind as any
// hostDn. The chart instead keeps the base image's command and accepts
// only the DN the image binds as (empty or cn=admin,<base>), refusing any
// other with a message that says why; either fix removes the silent
// failure, and this one promises nothing the image ignores.
func TestReviewB_ListenerBindsAsConfiguredHostDn(t *testing.T) {
	const dn = "cn=umc-invite-listener,cn=users,dc=example,dc=org"
	_, err := Template(Options{Release: "nubus", Namespace: "nubus", ValueFiles: []string{"ci/sidecar-values.yaml"},
		Set: []string{"listener.ldap.hostDn=" + strings.ReplaceAll(dn, ",", "\\,")}})
	if err == nil || !strings.Contains(err.Error(), "listener.ldap.hostDn") || !strings.Contains(err.Error(), "cn=admin,dc=example,dc=org") {
		t.Errorf("listener.ldap.hostDn=%s, a DN the listener image never binds as, is not refused naming the key and "+
			"the DN it binds as: %v", dn, err)
	}
	for _, set := range [][]string{nil, {"listener.ldap.hostDn=cn=admin\\,dc=example\\,dc=org"}} {
		_, cs := podOf(t, nubus(t, set...))
		l := cs["listener"]
		env := envOf(l)
		if got := listenerBindDN(l, env); got != env["LDAP_HOST_DN"] {
			t.Errorf("%v: the listener binds as %q, LDAP_HOST_DN says %q", set, got, env["LDAP_HOST_DN"])
		}
	}
}

// Issue 19 item 4: a wrong UMC address or credentials must show up at
// `helm test`. The DaemonSet serves several tenants, each with its own URL
// and password, but only the sidecar gets a helm test Pod: a tenant with a
// typo in its URL is found by nobody until its users complain.
func TestReviewB_DaemonSetTenantsAreProbedByHelmTest(t *testing.T) {
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

// The DaemonSet's memory is resourcesBase + resourcesPerTenant × tenants.
// Kubernetes quantities such as 1Gi or 512M are valid values for these
// resource fields (values.schema.json accepts them), but the template only
// adds whole "Mi" numbers and refuses anything else: a value copied from
// any other chart fails `helm install`.
func TestReviewB_DaemonSetResourcesTakeKubernetesQuantities(t *testing.T) {
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
	// Corrected in fix19: the review expected 1Gi + 2 × 64Mi, the formula
	// before the tenants' windows counted (review B 5); what must hold is
	// that 1Gi counts as 1Gi: 896Mi more than the default base of 128Mi.
	if diff := got.Value() - dflt.Value(); diff != 896<<20 {
		t.Errorf("memory limit %s with base 1Gi, %s with base 128Mi: want 896Mi more", got, dflt)
	}
}

// Issue 19 item 3: the chart works "as a subchart of a Nubus release".
// Nubus's umbrella (univention/nubus-stack helm/nubus/Chart.yaml) switches
// every subchart with `condition: <alias>.enabled` and sets
// `<alias>: {enabled: true, ...}` in its values; Helm passes that
// `enabled` on to the subchart, whose values.schema.json must take it.
// The root schema has additionalProperties false without `enabled`, so an
// umbrella that includes umc-invite the way Nubus includes its own charts
// fails `helm install`.
func TestReviewB_SubchartWithNubusStyleConditionRenders(t *testing.T) {
	parent := t.TempDir()
	writeFile(t, filepath.Join(parent, "Chart.yaml"), `apiVersion: v2
name: my-nubus
version: 0.1.0
dependencies:
  - name: umc-invite
    alias: umcInvite
    version: ">=0.0.0"
    condition: umcInvite.enabled
`)
	writeFile(t, filepath.Join(parent, "values.yaml"), `global:
  ldap:
    baseDn: dc=example,dc=org
umcInvite:
  enabled: true
`)
	mkdir(t, filepath.Join(parent, "charts"))
	if err := os.Symlink(ChartDir(), filepath.Join(parent, "charts", "umc-invite")); err != nil {
		t.Fatal(err)
	}
	chart, err := loader.Load(parent)
	if err != nil {
		t.Fatal(err)
	}
	install := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	install.DryRun, install.ClientOnly, install.Replace = true, true, true
	install.ReleaseName, install.Namespace = "nubus", "nubus"
	rel, err := install.Run(chart, map[string]any{})
	if err != nil {
		t.Fatalf("umc-invite as a subchart switched on the way Nubus switches its subcharts (condition umcInvite.enabled, "+
			"umcInvite.enabled: true) does not install: %v", err)
	}
	if !strings.Contains(rel.Manifest, "kind: StatefulSet") {
		t.Errorf("no StatefulSet rendered:\n%s", rel.Manifest)
	}
}

// readmeSidecarInstall is the sidecar `helm install` command of
// docs/nubus.md (The Helm chart), split as the shell splits it (no quotes in it; `\\` is `\`).
func readmeSidecarInstall(t *testing.T) (release, namespace string, set []string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(Root(), "docs", "nubus.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	i := strings.Index(text, "helm install nubus-umc-invite ")
	if i < 0 {
		t.Fatal("docs/nubus.md: the sidecar's helm install command is gone")
	}
	cmd := text[i:]
	cmd = cmd[:strings.Index(cmd, "\n```")]
	cmd = strings.ReplaceAll(cmd, "\\\n", " ")
	args := strings.Fields(cmd)
	release = args[2]
	for j := 0; j < len(args); j++ {
		switch args[j] {
		case "--namespace", "-n":
			namespace = args[j+1]
		case "--set":
			set = append(set, strings.ReplaceAll(args[j+1], `\\`, `\`))
		}
	}
	return release, namespace, set
}

// docs/nubus.md "Nubus: from helm install to the first invitation", step 3: the
// sidecar installed with "the command above" finds Nubus's LDAP primary
// (nubus-ldap-server-primary:389), the admin password in Secret
// nubus-ldap-server-admin and the notifier nubus-ldap-notifier. The
// command above names the release nubus-umc-invite, and the defaults are
// "{{ .Release.Name }}-ldap-server-primary" and so on: the listener gets
// nubus-umc-invite-ldap-server-primary, nubus-umc-invite-ldap-notifier and
// a Secret nubus-umc-invite-ldap-server-admin that does not exist, so the
// pod never starts and nobody is invited. (Naming the release "nubus"
// instead collides with Nubus's own release in the same namespace.)
func TestReviewB_ReadmeInstallFindsNubusLDAP(t *testing.T) {
	release, namespace, set := readmeSidecarInstall(t)
	out, err := Template(Options{Release: release, Namespace: namespace, Set: set})
	if err != nil {
		t.Fatalf("docs/nubus.md's command does not render: %v", err)
	}
	objs := objects(t, Split(out))
	tpl, cs := podOf(t, objs)
	env := envOf(cs["listener"])
	for name, want := range map[string]string{"LDAP_HOST": "nubus-ldap-server-primary", "NOTIFIER_SERVER": "nubus-ldap-notifier"} {
		if env[name] != want {
			t.Errorf("helm install %s (docs/nubus.md) renders %s=%q, docs/nubus.md says %q (Nubus's Service)", release, name, env[name], want)
		}
	}
	for _, v := range tpl.Spec.Volumes {
		if v.Name != "listener-secrets" || v.Projected == nil {
			continue
		}
		if got := v.Projected.Sources[0].Secret.Name; got != "nubus-ldap-server-admin" {
			t.Errorf("helm install %s (docs/nubus.md) mounts the LDAP password from Secret %q, docs/nubus.md says Nubus's nubus-ldap-server-admin: "+
				"the Secret does not exist, the pod never starts", release, got)
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
func TestReviewB_DaemonSetMemoryFollowsTenantWindows(t *testing.T) {
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

// docs/operations.md "Rollouts": a rollout repeats no invitation only while the pod's
// terminationGracePeriodSeconds covers Fluent Bit's Grace (10 s) + the
// plugin's Flush_Timeout (60 s) + Timeout (30 s); with 30 s the rollout
// test invited 8 users twice. terminationGracePeriodSeconds is a value,
// and Nubus gives every one of its subcharts the same short one
// (univention/nubus-stack helm/nubus/values.yaml:
// `terminationGracePeriodSeconds: &nubusTerminationGracePeriodSeconds 5`,
// `*nubusTerminationGracePeriodSeconds` in each block). An operator who
// adds umc-invite the same way gets a pod whose SIGKILL cuts calls UMC
// serves: users invited twice at every rollout, with no word at install
// (issue 19 item 4: fail at install, not silently later).
func TestReviewB_ShortGraceIsRefusedAtInstall(t *testing.T) {
	for _, name := range []string{"sidecar", "daemonset"} {
		o := cases[name]
		set := append(append([]string{}, o.Set...), "terminationGracePeriodSeconds=5")
		out, err := Template(Options{Release: "umc-invite", Namespace: "umc-invite", ValueFiles: o.ValueFiles, Set: set})
		if err != nil {
			continue // refused at install: fine
		}
		for pod, tpl := range pods(objects(t, Split(out))) {
			if strings.HasPrefix(pod, "Pod/") {
				continue // the helm test Pod calls send_token for no one
			}
			if g := tpl.Spec.TerminationGracePeriodSeconds; g != nil && *g < 100 {
				t.Errorf("%s: terminationGracePeriodSeconds=5 (Nubus's value for its subcharts) renders a grace of %d s, "+
					"under Grace + Flush_Timeout + Timeout = 100 s: a rollout cuts calls in flight and invites those users twice; "+
					"the chart takes it without a word", pod, *g)
			}
		}
	}
}

// Issue 19 items 4 and 10: `helm test` names the failed check and the
// texts agree with the chart. The chart's default and docs/nubus.md say Nubus's
// UMC is http://<release>-umc-server/univention (as Nubus's own sender
// calls it). When that answers 404 (say, self-service not enabled in
// Nubus), the probe's hint tells the operator the in-cluster umc-server
// takes no path, i.e. to drop the /univention that is right
// (umc/probe/probe.go:157; umc/config/keys.go:36 says `http://umc-server`
// too).
func TestReviewB_ProbeHintAgreesWithTheChartsUMCURL(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }))
	defer srv.Close()
	objs := objects(t, render(t, cases["sidecar"]))
	var pod *corev1.Pod
	for _, o := range objs["Pod"] {
		pod = o.(*corev1.Pod)
	}
	work := t.TempDir()
	conf := filepath.Join(work, "fluent-bit.conf")
	writeFile(t, conf, configOf(t, render(t, cases["sidecar"])))
	queue := filepath.Join(work, "queue")
	mkdir(t, queue)
	var env []string
	for _, e := range pod.Spec.Containers[0].Env {
		v := e.Value
		switch e.Name {
		case "UMC_URL": // the chart's default form, on a UMC that answers 404
			v = srv.URL + "/univention"
		case "QUEUE_DIR", "STATE_DIR", "INTAKE_DIR":
			v = strings.Replace(v, "/var/cache/listener", queue, 1)
		case "UMC_AUTH_PASSWORD_FILE":
			v = ""
		}
		env = append(env, e.Name+"="+v)
	}
	cmd := exec.Command("go", "run", "./cmd/umc-invite", "probe", "-c", conf)
	cmd.Dir, cmd.Env = Root(), append(cleanEnv(), env...)
	out, _ := cmd.CombinedOutput()
	if !strings.Contains(string(out), "FAIL  endpoint") {
		t.Fatalf("no endpoint failure:\n%s", out)
	}
	if strings.Contains(string(out), "no path for the in-cluster umc-server") {
		t.Errorf("with the chart's own UMC URL form (http://<release>-umc-server/univention) the probe's hint says the "+
			"in-cluster umc-server takes no path, sending the operator to a wrong URL:\n%s", out)
	}
}
