package helm

// Installing the chart: what a values set or a README command renders,
// and what it refuses at install, saying why.

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

	corev1 "k8s.io/api/core/v1"
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

// listener.ldap.hostDn was documented (values.yaml, docs/nubus.md's table)
// as the listener's LDAP_HOST_DN: the DN it binds as, with the password
// from listener.ldap.auth.existingSecret. The base image's command.sh
// hard-codes -D cn=admin,<base>, so another DN would be rendered and
// ignored: the listener would bind as cn=admin with that other account's
// password and queue nobody. The chart keeps the base image's command and
// accepts only the DN the image binds as (empty or cn=admin,<base>),
// refusing any other with a message that says why: it promises nothing
// the image ignores.
func TestListenerBindsOnlyAsTheImagesDN(t *testing.T) {
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

// Issue 19 item 3: the chart works "as a subchart of a Nubus release".
// Nubus's umbrella (univention/nubus-stack helm/nubus/Chart.yaml) switches
// every subchart with `condition: <alias>.enabled` and sets
// `<alias>: {enabled: true, ...}` in its values; Helm passes that
// `enabled` on to the subchart, whose values.schema.json must take it.
// The root schema has additionalProperties false without `enabled`, so an
// umbrella that includes umc-invite the way Nubus includes its own charts
// fails `helm install`.
func TestSubchartWithNubusStyleConditionRenders(t *testing.T) {
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
// (nubus-ldap-server-primary-notifier:389, the one beside the notifier), the admin password in Secret
// nubus-ldap-server-admin and the notifier nubus-ldap-notifier. The
// command above names the release nubus-umc-invite, and the defaults are
// "{{ .Release.Name }}-ldap-server-primary" and so on: the listener gets
// nubus-umc-invite-ldap-server-primary, nubus-umc-invite-ldap-notifier and
// a Secret nubus-umc-invite-ldap-server-admin that does not exist, so the
// pod never starts and nobody is invited. (Naming the release "nubus"
// instead collides with Nubus's own release in the same namespace.)
func TestReadmeInstallFindsNubusLDAP(t *testing.T) {
	release, namespace, set := readmeSidecarInstall(t)
	out, err := Template(Options{Release: release, Namespace: namespace, Set: set})
	if err != nil {
		t.Fatalf("docs/nubus.md's command does not render: %v", err)
	}
	objs := objects(t, Split(out))
	tpl, cs := podOf(t, objs)
	env := envOf(cs["listener"])
	for name, want := range map[string]string{"LDAP_HOST": "nubus-ldap-server-primary-notifier", "NOTIFIER_SERVER": "nubus-ldap-notifier"} {
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
func TestShortGraceIsRefusedAtInstall(t *testing.T) {
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

// A grace under the rollout rule is refused at install, and the message
// says why (not only which bound).
func TestShortGraceRefusedSayingWhy(t *testing.T) {
	for _, name := range []string{"sidecar", "daemonset"} {
		o := cases[name]
		_, err := Template(Options{Release: "umc-invite", Namespace: "umc-invite", ValueFiles: o.ValueFiles,
			Set: append(append([]string{}, o.Set...), "terminationGracePeriodSeconds=30")})
		if err == nil {
			t.Fatalf("%s: a 30 s grace rendered", name)
		}
		for _, want := range []string{"terminationGracePeriodSeconds", "110", "Flush_Timeout", "invited twice"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: the refusal does not say %q: %v", name, want, err)
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
func TestProbeHintAgreesWithTheChartsUMCURL(t *testing.T) {
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
