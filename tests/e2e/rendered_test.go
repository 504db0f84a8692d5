package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"umc-invite/tests/fluentbit"
	"umc-invite/tests/umctest"
)

// rendered is what a manifest of build/kubernetes (the chart's output)
// holds for a test: the ConfigMaps' data, each container's environment,
// and the pod's grace and Fluent Bit's memory limit.
type rendered struct {
	data  map[string]string            // ConfigMap key -> text, over all ConfigMaps
	env   map[string]map[string]string // container -> name -> value
	grace int
	limit string // the umc-invite container's memory limit
	rules []string
}

func readManifest(t *testing.T, file string) *rendered {
	t.Helper()
	text, err := os.ReadFile(filepath.Join(repoRoot, "build", "kubernetes", file))
	if err != nil {
		t.Fatal(err)
	}
	r := &rendered{data: map[string]string{}, env: map[string]map[string]string{}}
	type container struct {
		Name string `yaml:"name"`
		Env  []struct {
			Name  string `yaml:"name"`
			Value string `yaml:"value"`
		} `yaml:"env"`
		Resources struct {
			Limits map[string]string `yaml:"limits"`
		} `yaml:"resources"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(text)))
	for {
		var doc struct {
			Kind string            `yaml:"kind"`
			Data map[string]string `yaml:"data"`
			Spec struct {
				Template struct {
					Spec struct {
						Grace      int         `yaml:"terminationGracePeriodSeconds"`
						Containers []container `yaml:"containers"`
					} `yaml:"spec"`
				} `yaml:"template"`
				Groups []struct {
					Rules []struct {
						Annotations map[string]string `yaml:"annotations"`
					} `yaml:"rules"`
				} `yaml:"groups"`
			} `yaml:"spec"`
		}
		if err := dec.Decode(&doc); err != nil {
			break
		}
		switch doc.Kind {
		case "ConfigMap":
			for k, v := range doc.Data {
				r.data[k] = v
			}
		case "StatefulSet", "DaemonSet":
			r.grace = doc.Spec.Template.Spec.Grace
			for _, c := range doc.Spec.Template.Spec.Containers {
				r.env[c.Name] = map[string]string{}
				for _, e := range c.Env {
					r.env[c.Name][e.Name] = e.Value
				}
				if c.Name == "umc-invite" {
					r.limit = c.Resources.Limits["memory"]
				}
			}
		case "PrometheusRule":
			for _, g := range doc.Spec.Groups {
				for _, rule := range g.Rules {
					r.rules = append(r.rules, rule.Annotations["description"])
				}
			}
		}
	}
	if r.data["fluent-bit.conf"] == "" && r.rules == nil {
		t.Fatalf("%s: no ConfigMap with fluent-bit.conf", file)
	}
	return r
}

// sidecarSite runs the rendered sidecar's Fluent Bit config with the
// rendered container environment, its container paths moved under a
// temporary root, against the UMC stand-in (as Nubus's UMC: /univention,
// anonymous calls).
type sidecarSite struct {
	*site
	root, conf string
	env        []string // the umc-invite container's, mapped
	manifest   *rendered
}

const podQueue = "/var/cache/listener"

func newSidecarSite(t *testing.T, umc *umctest.UMC, serviceLines ...string) *sidecarSite {
	t.Helper()
	m := readManifest(t, "sidecar.yaml")
	// Anonymous, as the manifest calls: a stand-in without a user refuses
	// any credentials with 401.
	umc.Prefix, umc.User, umc.Password = "/univention", "", ""
	if u := m.env["umc-invite"]["UMC_AUTH_USER"]; u != "" {
		t.Fatalf("the rendered sidecar names Auth_User %q: want anonymous calls", u)
	}
	s := &sidecarSite{site: newSite(t, umc), manifest: m}
	s.root = t.TempDir()
	s.queue = filepath.Join(s.root, podQueue)
	s.dead = umctest.DeadLetterDir(s.queue)
	if err := os.MkdirAll(filepath.Join(s.queue, "incoming"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, v := range m.env["umc-invite"] {
		switch name {
		case "UMC_URL":
			if v != "http://nubus-umc-server/univention" {
				t.Fatalf("rendered UMC_URL %q, want Nubus's", v)
			}
			v = s.url + "/univention"
		case "HTTP_PORT":
			v = fmt.Sprint(s.port)
		case "METRICS_LISTEN":
			v = umctest.FreeAddr(t)
		default:
			if strings.HasPrefix(v, "/") {
				v = filepath.Join(s.root, v)
			}
		}
		s.env = append(s.env, name+"="+v)
	}
	conf := m.data["fluent-bit.conf"]
	for _, line := range serviceLines {
		key, value, _ := strings.Cut(line, " ")
		conf = replaceServiceKey(t, conf, key, value)
	}
	s.conf = filepath.Join(s.root, "fluent-bit/etc/umc-invite/fluent-bit.conf")
	os.MkdirAll(filepath.Dir(s.conf), 0o755)
	if err := os.WriteFile(s.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// replaceServiceKey changes a key the rendered [SERVICE] has.
func replaceServiceKey(t *testing.T, conf, key, value string) string {
	t.Helper()
	lines := strings.Split(conf, "\n")
	for i, l := range lines {
		if f := strings.Fields(l); len(f) >= 2 && strings.EqualFold(f[0], key) {
			lines[i] = "    " + key + " " + value
			return strings.Join(lines, "\n")
		}
	}
	t.Fatalf("rendered config has no %s", key)
	return ""
}

func (s *sidecarSite) start(t *testing.T) *fluentbit.Process {
	t.Helper()
	return start(t, s.conf, s.env)
}
