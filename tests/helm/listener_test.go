package helm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// nubusGlobals are values as Nubus's umbrella chart hands them to a
// subchart (univention/nubus-stack, helm/nubus/values.yaml): its globals,
// with global.ldap.connection.host the load-balanced <release>-ldap-server,
// in a Nubus that runs several LDAP primaries.
const nubusGlobals = `global:
  nubusDeployment: true
  domain: example.org
  ldap:
    baseDn: dc=example,dc=org
    connection:
      host: "{{ .Release.Name }}-ldap-server"
    auth:
      admin:
        existingSecret:
          name: "{{ .Release.Name }}-ldap-server-admin"
          keyMapping:
            password: password
listener:
  image:
    registry: registry.example.org
    repository: umc-invite-listener
image:
  registry: registry.example.org
  repository: umc-invite
`

// listenerConfig is the UCR (base.conf) and ldap.conf the chart renders
// for the listener.
func listenerConfig(t *testing.T, objs map[string][]any) (map[string]string, string) {
	t.Helper()
	for _, o := range objs["ConfigMap"] {
		cm := o.(*corev1.ConfigMap)
		if _, ok := cm.Data["base.conf"]; !ok {
			continue
		}
		ucr := map[string]string{}
		for _, line := range strings.Split(cm.Data["base.conf"], "\n") {
			if k, v, ok := strings.Cut(line, ": "); ok {
				ucr[k] = v
			}
		}
		return ucr, cm.Data["ldap.conf"]
	}
	t.Fatal("no listener ConfigMap")
	return nil, ""
}

// Item 9: in Nubus (several LDAP primaries, global.ldap.connection.host
// the balanced Service) the listener reads LDAP from the primary the
// notifier runs beside, as Nubus's own udm-listener does: the notifier's
// transaction IDs are that server's.
func TestListenerReadsTheNotifiersPrimary(t *testing.T) {
	values := filepath.Join(t.TempDir(), "nubus.yaml")
	if err := os.WriteFile(values, []byte(nubusGlobals), 0o644); err != nil {
		t.Fatal(err)
	}
	const want = "nubus-ldap-server-primary-notifier"
	out, err := Template(Options{Release: "nubus", Namespace: "nubus", ValueFiles: []string{values}})
	if err != nil {
		t.Fatal(err)
	}
	objs := objects(t, Split(out))
	_, cs := podOf(t, objs)
	env := envOf(cs["listener"])
	ucr, ldapConf := listenerConfig(t, objs)
	if env["LDAP_HOST"] != want || ucr["ldap/master"] != want || !strings.Contains(ldapConf, "URI ldap://"+want+":389") {
		t.Errorf("the listener's LDAP: LDAP_HOST %q, ldap/master %q, ldap.conf\n%s\nwant %s, the notifier's primary",
			env["LDAP_HOST"], ucr["ldap/master"], ldapConf, want)
	}
	if env["NOTIFIER_SERVER"] != "nubus-ldap-notifier" {
		t.Errorf("NOTIFIER_SERVER %q", env["NOTIFIER_SERVER"])
	}
	// Installed beside Nubus as a release of its own: Nubus's names.
	out, err = Template(Options{Release: "invite", Namespace: "nubus", ValueFiles: []string{values}, Set: []string{"nubusRelease=nubus"}})
	if err != nil {
		t.Fatal(err)
	}
	_, cs = podOf(t, objects(t, Split(out)))
	if got := envOf(cs["listener"])["LDAP_HOST"]; got != want {
		t.Errorf("beside Nubus: LDAP_HOST %q, want %s", got, want)
	}
}

// Item 7: the listener container has a startup and a readiness probe
// (umc-invite-listener-probe, which the listener image puts on PATH), and
// helm test runs its connect check with the listener's environment and
// Secrets; PodSecurity restricted is checked for every pod elsewhere.
func TestListenerProbesAndHelmTest(t *testing.T) {
	objs := nubus(t)
	_, cs := podOf(t, objs)
	l := cs["listener"]
	for name, p := range map[string]*corev1.Probe{"startup": l.StartupProbe, "ready": l.ReadinessProbe} {
		if p == nil || p.Exec == nil || strings.Join(p.Exec.Command, " ") != "umc-invite-listener-probe "+name {
			t.Errorf("listener %s probe %+v: want exec umc-invite-listener-probe %s", name, p, name)
			continue
		}
		if p.PeriodSeconds < 1 || p.TimeoutSeconds < 5 || p.FailureThreshold < 1 {
			t.Errorf("%s probe timing %+v", name, p)
		}
	}
	if l.StartupProbe != nil && l.StartupProbe.PeriodSeconds*l.StartupProbe.FailureThreshold < 600 {
		t.Error("startup probe gives a first start (the initial import) less than 10 minutes")
	}
	if envOf(l)["UMC_INVITE_PROBE_MAX_LAG"] != "600" {
		t.Errorf("UMC_INVITE_PROBE_MAX_LAG %q", envOf(l)["UMC_INVITE_PROBE_MAX_LAG"])
	}
	var test *corev1.Pod
	for _, o := range objs["Pod"] {
		if p := o.(*corev1.Pod); p.Name == "nubus-umc-invite-listener-probe" {
			test = p
		}
	}
	if test == nil {
		t.Fatal("no helm test pod for the listener")
	}
	if test.Annotations["helm.sh/hook"] != "test" {
		t.Errorf("listener probe pod annotations %v", test.Annotations)
	}
	c := test.Spec.Containers[0]
	if strings.Join(c.Command, " ") != "umc-invite-listener-probe connect" || c.Image != l.Image {
		t.Errorf("helm test runs %v in %s, want umc-invite-listener-probe connect in the listener image %s", c.Command, c.Image, l.Image)
	}
	for _, k := range []string{"LDAP_HOST", "LDAP_PORT", "LDAP_BASE_DN", "LDAP_PASSWORD_FILE", "NOTIFIER_SERVER", "TLS_MODE"} {
		if envOf(&c)[k] != envOf(l)[k] {
			t.Errorf("helm test %s=%q, the listener has %q", k, envOf(&c)[k], envOf(l)[k])
		}
	}
	if len(c.VolumeMounts) != 1 || c.VolumeMounts[0].MountPath != "/var/secrets" {
		t.Errorf("helm test mounts %+v, want the listener's /var/secrets", c.VolumeMounts)
	}
	dockerfile, err := os.ReadFile(filepath.Join(Root(), "build", "listener", "Dockerfile"))
	if err != nil || !strings.Contains(string(dockerfile), "umc-invite-listener-probe") || !strings.Contains(string(dockerfile), "/usr/local/bin/") {
		t.Error("build/listener/Dockerfile does not install umc-invite-listener-probe on PATH")
	}
}

// Item 5: the switch-over's cut-over reaches the module; anything but a
// UTC time is refused before the listener would misread it.
func TestListenerCutOver(t *testing.T) {
	_, cs := podOf(t, nubus(t, "listener.queueCreatedFrom=2026-12-06T05:00:00Z"))
	if got := envOf(cs["listener"])["UMC_INVITE_QUEUE_CREATED_FROM"]; got != "2026-12-06T05:00:00Z" {
		t.Errorf("UMC_INVITE_QUEUE_CREATED_FROM %q", got)
	}
	_, cs = podOf(t, nubus(t))
	if _, ok := envOf(cs["listener"])["UMC_INVITE_QUEUE_CREATED_FROM"]; ok {
		t.Error("a cut-over without listener.queueCreatedFrom")
	}
	for _, bad := range []string{"tomorrow", "2026-12-06T05:00:00+01:00", "2026-12-06"} {
		if _, err := Template(Options{Release: "nubus", ValueFiles: []string{"ci/sidecar-values.yaml"}, Set: []string{"listener.queueCreatedFrom=" + bad}}); err == nil {
			t.Errorf("listener.queueCreatedFrom=%s rendered", bad)
		}
	}
}
