package helm

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// nubus renders the sidecar as a release named "nubus" beside Nubus.
func nubus(t *testing.T, set ...string) map[string][]any {
	t.Helper()
	o := Options{Release: "nubus", Namespace: "nubus", ValueFiles: []string{"ci/sidecar-values.yaml"}, Set: set}
	out, err := Template(o)
	if err != nil {
		t.Fatal(err)
	}
	return objects(t, Split(out))
}

func podOf(t *testing.T, objs map[string][]any) (*corev1.PodTemplateSpec, map[string]*corev1.Container) {
	t.Helper()
	if len(objs["StatefulSet"]) != 1 {
		t.Fatal("want one StatefulSet")
	}
	tpl := &objs["StatefulSet"][0].(*appsv1.StatefulSet).Spec.Template
	cs := map[string]*corev1.Container{}
	for i := range tpl.Spec.Containers {
		cs[tpl.Spec.Containers[i].Name] = &tpl.Spec.Containers[i]
	}
	return tpl, cs
}

func envOf(c *corev1.Container) map[string]string {
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	return env
}

// Item 3: the default UMC is Nubus's Service, through tpl.
func TestDefaultUMCIsNubusUMCServer(t *testing.T) {
	_, cs := podOf(t, nubus(t))
	if got := envOf(cs["umc-invite"])["UMC_URL"]; got != "http://nubus-umc-server/univention" {
		t.Fatalf("UMC_URL %q, want Nubus's http://nubus-umc-server/univention", got)
	}
	_, cs = podOf(t, nubus(t, "umc.connection.url=https://{{ .Release.Name }}.example.org/univention"))
	if got := envOf(cs["umc-invite"])["UMC_URL"]; got != "https://nubus.example.org/univention" {
		t.Fatalf("UMC_URL %q: tpl not applied", got)
	}
}

// Item 3: tags are strings; registry, global registry and digest as Nubus.
func TestImageReferences(t *testing.T) {
	for _, c := range []struct {
		set  []string
		want string
	}{
		{[]string{"image.tag=2"}, "registry.example.org/replace-me/umc-invite:2"},
		{[]string{"image.tag=1.10"}, "registry.example.org/replace-me/umc-invite:1.10"},
		{[]string{"image.registry=", "global.imageRegistry=artifacts.example.org"}, "artifacts.example.org/replace-me/umc-invite:0.1.0"},
		{[]string{"image.digest=sha256:" + strings.Repeat("ab", 32)}, "registry.example.org/replace-me/umc-invite:0.1.0@sha256:" + strings.Repeat("ab", 32)},
	} {
		_, cs := podOf(t, nubus(t, c.set...))
		if got := cs["umc-invite"].Image; got != c.want {
			t.Errorf("%v: image %q, want %q", c.set, got, c.want)
		}
	}
}

// Item 3: a misplaced or unknown key is refused, naming its path.
func TestSchemaRefusesMisplacedKeys(t *testing.T) {
	for set, path := range map[string]string{
		"tenants[0].existingSecret=x":  "/tenants/0",
		"umc.url=http://x":             "/umc",
		"umc.auth.existingSecret=name": "/umc/auth/existingSecret",
		"listener.env[0].name=X":       "/listener",
		"imag.tag=1":                   "imag",
		"listener.tls.mode=on":         "/listener/tls/mode",
	} {
		o := Options{Release: "r", Namespace: "n", ValueFiles: []string{"ci/daemonset-values.yaml"}, Set: []string{set}}
		_, err := Template(o)
		if err == nil {
			t.Errorf("%s: rendered", set)
			continue
		}
		if !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error does not name %s: %v", set, path, err)
		}
	}
}

// Item 5: kubectl exec and logs without -c reach umc-invite.
func TestDefaultContainerIsUMCInvite(t *testing.T) {
	for _, name := range []string{"sidecar", "daemonset"} {
		objs := objects(t, render(t, cases[name]))
		var tpl corev1.PodTemplateSpec
		if name == "sidecar" {
			tpl = objs["StatefulSet"][0].(*appsv1.StatefulSet).Spec.Template
		} else {
			tpl = objs["DaemonSet"][0].(*appsv1.DaemonSet).Spec.Template
		}
		if got := tpl.Annotations["kubectl.kubernetes.io/default-container"]; got != "umc-invite" {
			t.Errorf("%s: default container %q", name, got)
		}
	}
}

// Item 2: the listener container gets all Nubus's listener base needs,
// its password from an existingSecret's mapped key as a file, the CA
// unless TLS is off, its state on a PVC of its own.
func TestListenerIsConfigured(t *testing.T) {
	objs := nubus(t, "listener.tls.mode=secure", "listener.tls.existingSecret.name=nubus-ca",
		"listener.ldap.auth.existingSecret.keyMapping.password=adminpw")
	tpl, cs := podOf(t, objs)
	l := cs["listener"]
	if l == nil {
		t.Fatal("no listener container")
	}
	env := envOf(l)
	for k, want := range map[string]string{
		"LDAP_HOST": "nubus-ldap-server-primary-notifier", "LDAP_PORT": "389", "LDAP_BASE_DN": "dc=example,dc=org",
		"LDAP_HOST_DN": "cn=admin,dc=example,dc=org", "NOTIFIER_SERVER": "nubus-ldap-notifier",
		"LDAP_PASSWORD_FILE": "/var/secrets/ldap_secret", "CA_CERT_FILE": "/var/secrets/ca_cert", "TLS_MODE": "secure",
		"UMC_INVITE_DOMAIN_LISTENER": "true", "UMC_INVITE_QUEUE_DIR": "/var/cache/listener",
	} {
		if env[k] != want {
			t.Errorf("listener %s=%q, want %q", k, env[k], want)
		}
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range l.VolumeMounts {
		mounts[m.MountPath] = m
	}
	vols := map[string]corev1.Volume{}
	for _, v := range tpl.Spec.Volumes {
		vols[v.Name] = v
	}
	secrets := vols[mounts["/var/secrets"].Name]
	if secrets.Projected == nil || len(secrets.Projected.Sources) != 2 {
		t.Fatalf("/var/secrets: %+v", secrets)
	}
	pw, ca := secrets.Projected.Sources[0].Secret, secrets.Projected.Sources[1].Secret
	if pw.Name != "nubus-ldap-server-admin" || pw.Items[0].Key != "adminpw" || pw.Items[0].Path != "ldap_secret" {
		t.Errorf("LDAP password from %+v", pw)
	}
	if ca.Name != "nubus-ca" || ca.Items[0].Key != "ca.crt" || ca.Items[0].Path != "ca_cert" {
		t.Errorf("CA from %+v", ca)
	}
	state := mounts["/var/lib/univention-directory-listener"]
	claims := map[string]bool{}
	for _, c := range objs["StatefulSet"][0].(*appsv1.StatefulSet).Spec.VolumeClaimTemplates {
		claims[c.Name] = true
	}
	if state.Name != "listener-state" || !claims["listener-state"] {
		t.Errorf("state dir on %q, claims %v: want its own PVC", state.Name, claims)
	}
	for _, m := range cs["umc-invite"].VolumeMounts {
		if m.Name == "listener-state" {
			t.Error("Fluent Bit mounts the listener's state")
		}
	}
	if l.Resources.Limits.Memory().IsZero() || l.Resources.Requests.Memory().IsZero() {
		t.Error("listener without memory request and limit")
	}
	sc := l.SecurityContext
	if sc == nil || sc.RunAsGroup == nil || *sc.RunAsGroup != 65532 || sc.RunAsUser == nil || *sc.RunAsUser == 0 {
		t.Errorf("listener securityContext %+v: want non-root, group 65532 (Fluent Bit's)", sc)
	}
	// TLS off (Nubus's in-cluster LDAP): no CA source, and no CA_CERT_FILE.
	tpl, cs = podOf(t, nubus(t))
	if _, ok := envOf(cs["listener"])["CA_CERT_FILE"]; ok {
		t.Error("CA_CERT_FILE with TLS_MODE off")
	}
	for _, v := range tpl.Spec.Volumes {
		if v.Name == "listener-secrets" && len(v.Projected.Sources) != 1 {
			t.Errorf("TLS off: %d secret sources", len(v.Projected.Sources))
		}
	}
}

// Item 1 with the chart: the module, run with the registry the chart
// renders for the listener and the listener container's environment,
// queues a new user, where Fluent Bit's Queue_Dir is.
func TestRenderedListenerQueues(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found: the listener module test needs it")
	}
	objs := nubus(t)
	_, cs := podOf(t, objs)
	ucr := map[string]string{}
	for _, o := range objs["ConfigMap"] {
		cm := o.(*corev1.ConfigMap)
		for _, line := range strings.Split(cm.Data["base.conf"], "\n") {
			if k, v, ok := strings.Cut(line, ": "); ok {
				ucr[k] = v
			}
		}
	}
	if ucr["server/role"] != "memberserver" {
		t.Fatalf("rendered UCR %v: want server/role memberserver, as Nubus's listener base sets", ucr)
	}
	queue := t.TempDir()
	cmd := exec.Command(python, filepath.Join(Root(), "tests", "listener", "drive.py"),
		filepath.Join(Root(), "build", "listener", "selfservice-invitation-json.py"), queue, mustJSON(ucr))
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "UMC_INVITE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for k, v := range envOf(cs["listener"]) {
		if strings.HasPrefix(k, "UMC_INVITE_") && !strings.HasSuffix(k, "_DIR") {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	cmd.Stdin = strings.NewReader(`[["uid=alice,cn=users,dc=example,dc=org", {"uid": ["alice"], "univentionPasswordSelfServiceEmail": ["a@example.org"]}, {}, "a"]]`)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	data, err := os.ReadFile(filepath.Join(queue, "alice.send"))
	if err != nil || string(data) != "{\"username\": \"alice\"}\n" {
		t.Fatalf("alice.send %q, %v", data, err)
	}
	if envOf(cs["listener"])["UMC_INVITE_QUEUE_DIR"] != envOf(cs["umc-invite"])["QUEUE_DIR"] {
		t.Error("the listener queues where Fluent Bit does not read")
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// Item 4: NOTES.txt says to switch Nubus's own sender off, and why.
func TestNotesSayToSwitchNubusSenderOff(t *testing.T) {
	for _, name := range []string{"sidecar", "daemonset"} {
		o := cases[name]
		o.Release, o.Namespace = "nubus", "nubus"
		notes, err := Notes(o)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(notes, "nubusSelfServiceConsumer") || !strings.Contains(notes, "enabled: false") || !strings.Contains(notes, "two mails") {
			t.Errorf("%s NOTES.txt:\n%s", name, notes)
		}
	}
}

// Item 10: every image the raw manifests name is one a user can pull, or
// the file's header says plainly to replace it.
func TestManifestImagesArePullableOrNamedForReplacement(t *testing.T) {
	pullable := map[string]bool{"docker.io/library/busybox:1.36.1@sha256:73aaf090f3d85aa34ee199857f03fa3a95c8ede2ffd4cc2cdb5b94e566b11662": true}
	for _, m := range Manifests {
		text, err := m.Render()
		if err != nil {
			t.Fatal(err)
		}
		var all []any
		for _, objs := range objects(t, Split(text)) {
			all = append(all, objs...)
		}
		for _, o := range all {
			var spec *corev1.PodSpec
			switch w := o.(type) {
			case *appsv1.StatefulSet:
				spec = &w.Spec.Template.Spec
			case *appsv1.DaemonSet:
				spec = &w.Spec.Template.Spec
			default:
				continue
			}
			for _, c := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
				if pullable[c.Image] {
					continue
				}
				if !strings.Contains(m.Header, "REPLACE") || !strings.Contains(m.Header, c.Image) {
					t.Errorf("%s: container %s runs %s, which no registry serves, and the header does not say to replace it", m.File, c.Name, c.Image)
				}
			}
		}
	}
}
