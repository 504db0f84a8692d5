package helm

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/yaml"
)

// cases are the value sets CI renders: the defaults, the two shipped
// shapes, and every optional part switched on.
var cases = map[string]Options{
	"defaults":  {Set: []string{"global.ldap.baseDn=dc=example\\,dc=org"}},
	"sidecar":   {ValueFiles: []string{"ci/sidecar-values.yaml"}},
	"daemonset": {ValueFiles: []string{"ci/daemonset-values.yaml"}},
	"sidecar-everything": {ValueFiles: []string{"ci/sidecar-values.yaml"}, Set: []string{
		"serviceMonitor.enabled=true", "prometheusRule.enabled=true", "dashboards.enabled=true", "umc.auth.user=self-service-invitation", "umc.auth.existingSecret.name=nubus-umc",
		"umc.auth.existingSecret.keyMapping.password=pw", "listener.tls.mode=secure", "listener.tls.existingSecret.name=nubus-ca",
		"global.imageRegistry=artifacts.example.org", "global.imagePullSecrets[0]=pull-global",
		"additionalLabels.team=idm", "extraEnvVars[0].name=X", "extraEnvVars[0].value=y", "queue.persistence.storageClass=fast", "nodeSelector.disk=ssd",
		"tolerations[0].key=dedicated", "tolerations[0].operator=Exists", "podAnnotations.a=b",
		"imagePullSecrets[0]=pull", "umc.rateLimit=600", "check.enabled=false",
		"extraVolumes[0].name=x", "extraVolumes[0].emptyDir.medium=Memory",
		"extraVolumeMounts[0].name=x", "extraVolumeMounts[0].mountPath=/x",
		"prometheusRule.additionalRules[0].alert=Extra", "prometheusRule.additionalRules[0].expr=vector(1)",
		"networkPolicy.enabled=true",
	}},
	"daemonset-everything": {ValueFiles: []string{"ci/daemonset-values.yaml"}, Set: []string{
		"serviceMonitor.enabled=true", "prometheusRule.enabled=true", "existingConfigMap=mine",
		"tenants[0].auth.user=svc", "tenants[0].auth.existingSecret.name=tenant-a-umc", "daemonset.updateStrategy.type=RollingUpdate",
		"affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key=role",
		"affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator=Exists",
		"networkPolicy.enabled=true",
	}},
}

// existingSecrets are the Secrets the cases name in existingSecret.
var existingSecrets = map[string]bool{"nubus-umc": true, "tenant-a-umc": true, "c-umc": true, "umc-invite-ldap-server-admin": true, "nubus-ca": true}

func render(t *testing.T, o Options) []Doc {
	t.Helper()
	if o.Release == "" {
		o.Release, o.Namespace = "umc-invite", "umc-invite"
	}
	out, err := Template(o)
	if err != nil {
		t.Fatal(err)
	}
	return Split(out)
}

func TestLint(t *testing.T) {
	for name, o := range cases {
		t.Run(name, func(t *testing.T) {
			findings, err := Lint(o)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range findings {
				t.Log(f)
			}
		})
	}
}

// object is what every rendered document is decoded into, by kind.
func object(kind string) any {
	switch kind {
	case "ConfigMap":
		return &corev1.ConfigMap{}
	case "Secret":
		return &corev1.Secret{}
	case "Service":
		return &corev1.Service{}
	case "StatefulSet":
		return &appsv1.StatefulSet{}
	case "DaemonSet":
		return &appsv1.DaemonSet{}
	case "ServiceMonitor":
		return &monitoringv1.ServiceMonitor{}
	case "PrometheusRule":
		return &monitoringv1.PrometheusRule{}
	case "Pod":
		return &corev1.Pod{}
	case "NetworkPolicy":
		return &networkingv1.NetworkPolicy{}
	}
	return nil
}

// objects decodes every document strictly into its Kubernetes type: an
// unknown or misspelt field, or a value of the wrong type, fails.
func objects(t *testing.T, docs []Doc) map[string][]any {
	t.Helper()
	out := map[string][]any{}
	for _, d := range docs {
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal([]byte(d.YAML), &head); err != nil {
			t.Fatalf("%s: %v", d.Source, err)
		}
		obj := object(head.Kind)
		if obj == nil {
			t.Fatalf("%s: kind %q has no Go type in this test: add it", d.Source, head.Kind)
		}
		if err := yaml.UnmarshalStrict([]byte(d.YAML), obj); err != nil {
			t.Fatalf("%s (%s): %v", d.Source, head.Kind, err)
		}
		out[head.Kind] = append(out[head.Kind], obj)
	}
	return out
}

func TestRenderedObjectsAreStrictlyValid(t *testing.T) {
	for name, o := range cases {
		t.Run(name, func(t *testing.T) {
			objs := objects(t, render(t, o))
			var pod *corev1.PodSpec
			switch {
			case len(objs["StatefulSet"]) == 1:
				set := objs["StatefulSet"][0].(*appsv1.StatefulSet)
				pod = &set.Spec.Template.Spec
				svc := objs["Service"][0].(*corev1.Service)
				if set.Spec.ServiceName != svc.Name {
					t.Errorf("serviceName %s, Service %s", set.Spec.ServiceName, svc.Name)
				}
			case len(objs["DaemonSet"]) == 1:
				pod = &objs["DaemonSet"][0].(*appsv1.DaemonSet).Spec.Template.Spec
			default:
				t.Fatal("want one StatefulSet or one DaemonSet")
			}
			checkPod(t, pod, objs)
			if sms := objs["ServiceMonitor"]; len(sms) > 0 {
				svc := objs["Service"][0].(*corev1.Service)
				ports := map[string]bool{}
				for _, p := range svc.Spec.Ports {
					ports[p.Name] = true
				}
				for _, e := range sms[0].(*monitoringv1.ServiceMonitor).Spec.Endpoints {
					if !ports[e.Port] {
						t.Errorf("ServiceMonitor scrapes port %q, the Service has %v", e.Port, ports)
					}
				}
			}
		})
	}
}

// checkPod: every mount has a volume, every secret volume a Secret (or an
// existingSecret), ports are named as the probes use them, and the
// ConfigMap is mounted.
func checkPod(t *testing.T, pod *corev1.PodSpec, objs map[string][]any) {
	t.Helper()
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	secrets := map[string]*corev1.Secret{}
	for _, s := range objs["Secret"] {
		secrets[s.(*corev1.Secret).Name] = s.(*corev1.Secret)
	}
	claims := map[string]bool{"queue": true, "listener-state": true}
	for _, c := range append(append([]corev1.Container{}, pod.InitContainers...), pod.Containers...) {
		for _, m := range c.VolumeMounts {
			if _, ok := volumes[m.Name]; !ok && !claims[m.Name] {
				t.Errorf("container %s mounts %s: no such volume", c.Name, m.Name)
			}
		}
	}
	for _, v := range pod.Volumes {
		if v.Secret != nil && secrets[v.Secret.SecretName] == nil && !existingSecrets[v.Secret.SecretName] {
			t.Errorf("volume %s: Secret %s is neither rendered nor an existingSecret", v.Name, v.Secret.SecretName)
		}
		if v.ConfigMap != nil && v.Name != "config" && v.Name != "listener-config" {
			t.Errorf("unexpected ConfigMap volume %s", v.Name)
		}
	}
	if _, ok := volumes["config"]; !ok {
		t.Error("no config volume")
	}
	var fb *corev1.Container
	for i := range pod.Containers {
		if pod.Containers[i].Name == "umc-invite" {
			fb = &pod.Containers[i]
		}
	}
	if fb == nil {
		t.Fatal("no container umc-invite")
	}
	ports := map[string]bool{}
	for _, p := range fb.Ports {
		ports[p.Name] = true
	}
	for _, p := range []*corev1.Probe{fb.ReadinessProbe, fb.LivenessProbe} {
		if p == nil || p.HTTPGet == nil || !ports[p.HTTPGet.Port.String()] {
			t.Errorf("probe %+v: want an httpGet on a named port of %v", p, ports)
		}
	}
	// Item 7: a UMC outage turns /api/v1/health to 500; readiness on it
	// would make every pod NotReady and stall rollouts.
	if fb.ReadinessProbe.HTTPGet.Path != "/" || fb.LivenessProbe.HTTPGet.Path != "/" {
		t.Errorf("readiness on %s, liveness on %s: want / and / (docs/operations.md, Liveness)",
			fb.ReadinessProbe.HTTPGet.Path, fb.LivenessProbe.HTTPGet.Path)
	}
}

// The raw manifests are the chart's output: `make manifests` writes them.
func TestManifestsAreRenderedFromTheChart(t *testing.T) {
	for _, m := range Manifests {
		want, err := m.Render()
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(Root(), m.File))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("%s is not what the chart renders: run `make manifests` and commit it\n%s", m.File, firstDiff(string(got), want))
		}
		objects(t, Split(want))
	}
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("line %d:\n  file:  %q\n  chart: %q", i+1, x, y)
		}
	}
	return ""
}

// section is one [SECTION] of a classic config, keys lower-cased.
type section struct {
	name string
	keys map[string]string
}

func parseClassic(t *testing.T, text string) []section {
	t.Helper()
	var out []section
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			out = append(out, section{strings.ToLower(strings.Trim(line, "[]")), map[string]string{}})
		case len(out) == 0:
			t.Fatalf("line %d: key outside a section", n)
		default:
			key, value, _ := strings.Cut(line, " ")
			key = strings.ToLower(key)
			if _, dup := out[len(out)-1].keys[key]; dup {
				t.Fatalf("line %d: %s twice", n, key)
			}
			out[len(out)-1].keys[key] = strings.TrimSpace(value)
		}
	}
	return out
}

func configOf(t *testing.T, docs []Doc) string {
	t.Helper()
	for _, o := range objects(t, docs)["ConfigMap"] {
		if conf, ok := o.(*corev1.ConfigMap).Data["fluent-bit.conf"]; ok {
			return conf
		}
	}
	t.Fatal("no ConfigMap with fluent-bit.conf")
	return ""
}

// The sidecar's config is the shipped fluent-bit.conf, section by section
// and key by key.
func TestSidecarConfigIsTheShippedConfig(t *testing.T) {
	shipped, err := os.ReadFile(filepath.Join(Root(), "fluent-bit.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.ToLower(string(shipped)), "metrics_listen") {
		t.Skip("fluent-bit.conf has no Metrics_Listen yet: it predates the keys the chart renders " +
			"(Intake_Dir, Queue_Window, Rate_Limit, Metrics_Listen, ${UMC_CONCURRENCY}); compared once they are merged")
	}
	want := parseClassic(t, string(shipped))
	got := parseClassic(t, configOf(t, render(t, cases["sidecar"])))
	if len(got) != len(want) {
		t.Fatalf("%d sections, fluent-bit.conf has %d", len(got), len(want))
	}
	for i := range want {
		if got[i].name != want[i].name {
			t.Errorf("section %d: [%s], fluent-bit.conf has [%s]", i, got[i].name, want[i].name)
		}
		for k, v := range want[i].keys {
			if got[i].keys[k] != v {
				t.Errorf("[%s] %s: chart %q, fluent-bit.conf %q", want[i].name, k, got[i].keys[k], v)
			}
		}
		for k, v := range got[i].keys {
			if _, ok := want[i].keys[k]; !ok {
				t.Errorf("[%s] %s %s: not in fluent-bit.conf", want[i].name, k, v)
			}
		}
	}
}

// The settings the issue fixes, in every rendered config.
func TestConfigSettings(t *testing.T) {
	for _, name := range []string{"defaults", "sidecar", "daemonset"} {
		t.Run(name, func(t *testing.T) {
			conf := parseClassic(t, configOf(t, render(t, cases[name])))
			service := conf[0].keys
			for k, v := range map[string]string{"flush": "0.2", "scheduler.base": "2", "scheduler.cap": "30",
				"storage.sync": "full", "http_server": "On", "health_check": "On", "hc_errors_count": "5",
				"hc_retry_failure_count": "0", "hc_period": "60", "http_port": "${HTTP_PORT:-2020}"} {
				if service[k] != v {
					t.Errorf("[SERVICE] %s %q, want %q", k, service[k], v)
				}
			}
			if !strings.HasSuffix(service["storage.path"], "/storage") {
				t.Errorf("storage.path %q", service["storage.path"])
			}
			var inputs, outputs []map[string]string
			for _, s := range conf {
				switch s.name {
				case "input":
					inputs = append(inputs, s.keys)
				case "output":
					outputs = append(outputs, s.keys)
				}
			}
			if len(inputs) == 0 || len(inputs) != len(outputs) {
				t.Fatalf("%d inputs, %d outputs", len(inputs), len(outputs))
			}
			for i, in := range inputs {
				for k, v := range map[string]string{"name": "tail", "refresh_interval": "0.250000000", "path_key": "path",
					"offset_key": "offset", "skip_long_lines": "On", "storage.type": "filesystem", "read_from_head": "On",
					"exclude_path": "*[[:cntrl:]]*"} {
					if in[k] != v {
						t.Errorf("input %d: %s %q, want %q", i, k, in[k], v)
					}
				}
				out := outputs[i]
				for k, v := range map[string]string{"name": "umc_invite", "match": in["tag"], "retry_limit": "5",
					"chunk_retry_limit": "5", "queue_dir": strings.TrimSuffix(in["path"], "/*.send"),
					"metrics_listen": "${METRICS_LISTEN:-:2021}"} {
					if out[k] != v {
						t.Errorf("output %d: %s %q, want %q", i, k, out[k], v)
					}
				}
				for _, k := range []string{"umc_url", "language", "intake_dir", "queue_window", "concurrency", "rate_limit", "workers"} {
					if out[k] == "" {
						t.Errorf("output %d: no %s", i, k)
					}
				}
				// The sidecar's INTAKE_DIR comes from the pod's env; unset, the
				// plugin takes <Queue_Dir>/incoming.
				if in["db"] == "" || out["intake_dir"] != "${INTAKE_DIR:-}" && !strings.HasSuffix(out["intake_dir"], "/incoming") {
					t.Errorf("input %d: DB %q, Intake_Dir %q", i, in["db"], out["intake_dir"])
				}
			}
		})
	}
}

// A tenant is a few lines of values: its own input, output, Secret, mount
// and directory.
func TestDaemonSetTenants(t *testing.T) {
	o := cases["daemonset"]
	// --set edits the values file's list in place: two tenants more.
	o.Set = []string{
		"tenants[2].name=tenant-c", "tenants[2].gid=70003", "tenants[2].url=http://umc.tenant-c.svc",
		"tenants[2].auth.user=svc", "tenants[2].auth.existingSecret.name=c-umc", "tenants[2].auth.existingSecret.keyMapping.password=secret",
		"tenants[3].name=tenant-d", "tenants[3].gid=70004", "tenants[3].url=http://umc.tenant-d.svc",
	}
	docs := render(t, o)
	objs := objects(t, docs)
	conf := parseClassic(t, configOf(t, docs))
	ds := objs["DaemonSet"][0].(*appsv1.DaemonSet)
	pod := ds.Spec.Template.Spec
	mounts := map[string]string{}
	for _, m := range pod.Containers[0].VolumeMounts {
		mounts[m.MountPath] = m.Name
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	prepare := strings.Join(pod.InitContainers[0].Command, " ")
	tags := map[string]bool{}
	var outputs []map[string]string
	for _, s := range conf {
		if s.name == "input" {
			if tags[s.keys["tag"]] {
				t.Errorf("tag %s twice", s.keys["tag"])
			}
			tags[s.keys["tag"]] = true
		}
		if s.name == "output" {
			outputs = append(outputs, s.keys)
		}
	}
	if len(outputs) != 4 {
		t.Fatalf("%d outputs, want 4", len(outputs))
	}
	for _, out := range outputs {
		tenant := out["match"]
		if !strings.Contains(prepare, `"$root/`+tenant+`"`) || !strings.Contains(prepare, `"$root/`+tenant+`/incoming"`) {
			t.Errorf("%s: the init container does not prepare its directories", tenant)
		}
		if tenant == "tenant-a" || tenant == "tenant-d" {
			if out["auth_user"] != "" || out["auth_password_file"] != "" {
				t.Errorf("%s has no credentials, got %v", tenant, out)
			}
			continue
		}
		file := out["auth_password_file"]
		v, ok := volumes[mounts[path.Dir(file)]]
		if !ok || v.Secret == nil {
			t.Fatalf("%s: %s is in no Secret volume", tenant, file)
		}
		want := map[string]string{"tenant-b": "umc-invite-tenant-b", "tenant-c": "c-umc"}[tenant]
		if v.Secret.SecretName != want || path.Base(file) != map[string]string{"tenant-b": "password", "tenant-c": "secret"}[tenant] {
			t.Errorf("%s: %s from Secret %s", tenant, file, v.Secret.SecretName)
		}
	}
	if n := len(objs["Secret"]); n != 1 {
		t.Errorf("%d Secrets, want tenant-b's only (tenant-c has its own, tenant-a and tenant-d none)", n)
	}
}

func TestValuesThatCannotWork(t *testing.T) {
	for name, set := range map[string][]string{
		"unknown mode":            {"mode=deployment"},
		"daemonset without":       {"mode=daemonset"},
		"user without password":   {"global.ldap.baseDn=dc=x", "umc.auth.user=u"},
		"no base DN":              {"umc.auth.user="},
		"tenants on the sidecar":  {"global.ldap.baseDn=dc=x", "tenants[0].name=a", "tenants[0].url=http://x"},
		"tenant name":             {"mode=daemonset", "tenants[0].name=Tenant_A", "tenants[0].url=http://x"},
		"tenant without url":      {"mode=daemonset", "tenants[0].name=a"},
		"tenant twice":            {"mode=daemonset", "tenants[0].name=a", "tenants[0].gid=70001", "tenants[0].url=http://x", "tenants[1].name=a", "tenants[1].gid=70002", "tenants[1].url=http://y"},
		"tenant user no password": {"mode=daemonset", "tenants[0].name=a", "tenants[0].url=http://x", "tenants[0].auth.user=u"},
		"ports collide":           {"global.ldap.baseDn=dc=x", "metrics.port=2020"},
	} {
		if _, err := Template(Options{Release: "r", Namespace: "n", Set: set}); err == nil {
			t.Errorf("%s (%v): rendered", name, set)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

func TestPrometheusRule(t *testing.T) {
	o := cases["sidecar"]
	o.Set = []string{"prometheusRule.enabled=true"}
	var rule *monitoringv1.PrometheusRule
	for _, r := range objects(t, render(t, o))["PrometheusRule"] {
		rule = r.(*monitoringv1.PrometheusRule)
	}
	if rule == nil {
		t.Fatal("no PrometheusRule")
	}
	exprs := ""
	for _, r := range rule.Spec.Groups[0].Rules {
		e := r.Expr.String()
		exprs += e + "\n"
		d := r.Annotations["description"]
		if d == "" || !strings.Contains(d, "umc-invite") {
			t.Errorf("%s: the description must say what to do, got %q", r.Alert, d)
		}
	}
	for _, want := range []string{
		`increase(umc_invite_invitations_total{result=~"dead_letter|expired"}[15m]) > 0`,
		`umc_invite_oldest_waiting_seconds > 3600`,
		`umc_invite_queue_files > 0 and (time() - umc_invite_last_success_timestamp_seconds > 900)`,
		`umc_invite_queue_files > 0 unless umc_invite_last_success_timestamp_seconds > 0`,
		`umc_invite_umc_requests_total{class="unavailable"}`,
		`umc_invite_umc_requests_total{class="unauthorized"}`,
		`umc_invite_umc_request_duration_seconds_bucket`,
		`fluentbit_output_retries_failed_total`,
	} {
		if !strings.Contains(exprs, want) {
			t.Errorf("no rule with %s", want)
		}
	}
	all := fmt.Sprint(rule.Spec.Groups)
	for _, cmd := range []string{"umc-invite requeue", "umc-invite dead-letters", "umc-invite queue"} {
		if !strings.Contains(all, cmd) {
			t.Errorf("no description mentions %q", cmd)
		}
	}
}

// The rendered configs pass `umc-invite check`, with the pod's
// environment pointed at temporary directories.
func TestRenderedConfigPassesCheck(t *testing.T) {
	if _, err := os.Stat(filepath.Join(Root(), "cmd", "umc-invite")); err != nil {
		t.Skip("no ./cmd/umc-invite in this tree yet (the check command is built in parallel): not checked")
	}
	for _, name := range []string{"sidecar", "daemonset"} {
		t.Run(name, func(t *testing.T) {
			work := t.TempDir()
			conf := configOf(t, render(t, cases[name]))
			conf = strings.ReplaceAll(conf, "/run/secrets/umc-invite", filepath.Join(work, "secrets"))
			for _, tenant := range []string{"", "tenant-a", "tenant-b"} {
				os.MkdirAll(filepath.Join(work, "secrets", tenant), 0o755)
				os.WriteFile(filepath.Join(work, "secrets", tenant, "password"), []byte("pw\n"), 0o600)
				os.MkdirAll(filepath.Join(work, "root", tenant, "incoming"), 0o755)
			}
			file := filepath.Join(work, "fluent-bit.conf")
			if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
				t.Fatal(err)
			}
			queue := filepath.Join(work, "root")
			env := append(os.Environ(),
				"UMC_URL=http://umc-server", "UMC_AUTH_USER=self-service-invitation",
				"UMC_AUTH_PASSWORD_FILE="+filepath.Join(work, "secrets", "password"), "UMC_LANGUAGE=de-DE",
				"QUEUE_DIR="+queue, "INTAKE_DIR="+filepath.Join(queue, "incoming"), "QUEUE_WINDOW=1000",
				"STATE_DIR="+filepath.Join(queue, ".fluent-bit"), "HTTP_PORT=2020", "UMC_CONCURRENCY=8",
				"UMC_RATE_LIMIT=0", "METRICS_LISTEN=:2021", "UMC_INVITE_ROOT="+queue)
			cmd := exec.Command("go", "run", "./cmd/umc-invite", "check", "-c", file)
			cmd.Dir, cmd.Env = Root(), env
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("umc-invite check -c %s: %v\n%s\nconfig:\n%s", file, err, out, conf)
			}
			t.Logf("umc-invite check: %s", out)
		})
	}
}

// The strict decoding above is strict: a misspelt field fails.
func TestStrictDecodingRefusesUnknownFields(t *testing.T) {
	for kind, text := range map[string]string{
		"StatefulSet":    "apiVersion: apps/v1\nkind: StatefulSet\nspec:\n  replica: 1\n",
		"DaemonSet":      "apiVersion: apps/v1\nkind: DaemonSet\nspec:\n  template:\n    spec:\n      containers:\n        - name: x\n          imagePullPolicy: Always\n          volumeMount: []\n",
		"PrometheusRule": "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nspec:\n  groups:\n    - name: g\n      rules:\n        - alert: A\n          expression: up\n",
		"ServiceMonitor": "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nspec:\n  endpoint: []\n",
	} {
		if err := yaml.UnmarshalStrict([]byte(text), object(kind)); err == nil {
			t.Errorf("%s with an unknown field decoded", kind)
		}
	}
}
