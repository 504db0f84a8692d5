package helm

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
)

// Item 5: every command an alert's runbook prints runs as printed, in the
// sidecar's container (its environment, its config at the image's path),
// against a real queue, and exits 0. Only the absolute paths of the
// container are mapped onto a temporary directory.
func TestRunbookCommandsRunAsPrinted(t *testing.T) {
	o := cases["sidecar"]
	o.Set = []string{"prometheusRule.enabled=true"}
	docs := render(t, o)
	objs := objects(t, docs)
	var cmds []string
	seen := map[string]bool{}
	for _, r := range objs["PrometheusRule"] {
		for _, rule := range r.(*monitoringv1.PrometheusRule).Spec.Groups[0].Rules {
			for _, m := range regexp.MustCompile(`"(umc-invite [^"]+)"`).FindAllStringSubmatch(rule.Annotations["description"], -1) {
				if !seen[m[1]] {
					seen[m[1]] = true
					cmds = append(cmds, m[1])
				}
			}
		}
	}
	if len(cmds) < 3 {
		t.Fatalf("runbook commands %v: want dead-letters, requeue and check at least", cmds)
	}
	work := t.TempDir()
	bin := filepath.Join(work, "umc-invite")
	build := exec.Command("go", "build", "-o", bin, "./cmd/umc-invite")
	build.Dir = Root()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	queue := filepath.Join(work, "var/cache/listener")
	mkdir(t, filepath.Join(queue, "incoming"))
	mkdir(t, filepath.Join(queue, "failed"))
	writeFile(t, filepath.Join(work, "password"), "pw\n")
	conf := filepath.Join(work, "fluent-bit/etc/umc-invite/fluent-bit.conf")
	mkdir(t, filepath.Dir(conf))
	writeFile(t, conf, configOf(t, docs))
	env := []string{"UMC_INVITE_CONFIG=" + conf}
	for _, e := range objs["StatefulSet"][0].(*appsv1.StatefulSet).Spec.Template.Spec.Containers[0].Env {
		v := strings.Replace(e.Value, "/var/cache/listener", queue, 1)
		if e.Name == "UMC_AUTH_PASSWORD_FILE" && v != "" {
			v = filepath.Join(work, "password")
		}
		env = append(env, e.Name+"="+v)
	}
	for _, c := range cmds {
		args := strings.Fields(c)[1:]
		for i, a := range args {
			if strings.HasPrefix(a, "/fluent-bit/") {
				args[i] = filepath.Join(work, a)
			}
		}
		cmd := exec.Command(bin, args...)
		cmd.Env = append(cleanEnv(), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("%q: %v\n%s", c, err, out)
		} else {
			t.Logf("%q:\n%s", c, out)
		}
	}
}
