package helm

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"sigs.k8s.io/yaml"
)

// alertTests are the `promtool test rules` cases of the chart's alerts.
const alertTests = "testdata/alerts.test.yaml"

// renderedRules renders the chart's PrometheusRule as the sidecar's
// values give it.
func renderedRules(t *testing.T) *monitoringv1.PrometheusRule {
	t.Helper()
	o := cases["sidecar"]
	o.Set = []string{"prometheusRule.enabled=true"}
	rules := objects(t, render(t, o))["PrometheusRule"]
	if len(rules) != 1 {
		t.Fatalf("%d PrometheusRules, want 1", len(rules))
	}
	return rules[0].(*monitoringv1.PrometheusRule)
}

// writeRuleFile writes the rule groups as a Prometheus rule file.
func writeRuleFile(t *testing.T, path string, groups []monitoringv1.RuleGroup) {
	t.Helper()
	out, err := yaml.Marshal(map[string]any{"groups": groups})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, string(out))
}

func promtool(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	if err != nil {
		// The version whose PromQL parser these tests use; .ci/run
		// installs that one.
		version := "latest"
		if out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "github.com/prometheus/prometheus").Output(); err == nil {
			version = strings.TrimSpace(string(out))
		}
		t.Skip("promtool is not on PATH: the alert rules are not run against their cases. " +
			"Install it with `go install github.com/prometheus/prometheus/cmd/promtool@" + version + "` (.ci/run does)")
	}
	return bin
}

// Each alert fires in the situation it names (an outage, a user waiting
// an hour, a wrong password, a dead letter, UMC slow, a chunk given up)
// and stays quiet in normal operation (a bulk import with carry-overs, a
// short blip, a restart that resets the counters, a password rotation):
// the chart's rules, as rendered, under `promtool test rules`.
func TestAlertRulesFireWhenTheyShould(t *testing.T) {
	bin := promtool(t)
	rule := renderedRules(t)
	dir := t.TempDir()

	// The rules as rendered, descriptions included: their templates must
	// be valid.
	writeRuleFile(t, filepath.Join(dir, "rules.yaml"), rule.Spec.Groups)
	if out, err := exec.Command(bin, "check", "rules", filepath.Join(dir, "rules.yaml")).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}

	// The cases compare each alert's labels and summary; the long
	// descriptions are left out of the comparison.
	groups := append([]monitoringv1.RuleGroup(nil), rule.Spec.Groups...)
	for g := range groups {
		groups[g].Rules = append([]monitoringv1.Rule(nil), groups[g].Rules...)
		for r := range groups[g].Rules {
			ann := map[string]string{}
			for k, v := range groups[g].Rules[r].Annotations {
				if k != "description" {
					ann[k] = v
				}
			}
			groups[g].Rules[r].Annotations = ann
		}
	}
	writeRuleFile(t, filepath.Join(dir, "alerts.yaml"), groups)
	tests, err := os.ReadFile(alertTests)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "alerts.test.yaml"), string(tests))
	cmd := exec.Command(bin, "test", "rules", "alerts.test.yaml")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules %s: %v\n%s", alertTests, err, out)
	}
	t.Logf("promtool test rules:\n%s", out)
}

// Every alert the chart renders has a case that makes it fire and one
// that keeps it quiet; every case names an alert the chart has.
func TestEveryAlertHasAFiringAndAQuietCase(t *testing.T) {
	text, err := os.ReadFile(alertTests)
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Tests []struct {
			Name          string `json:"name"`
			AlertRuleTest []struct {
				Alertname string `json:"alertname"`
				ExpAlerts []any  `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	if err := yaml.Unmarshal(text, &file); err != nil {
		t.Fatal(err)
	}
	fires, quiet := map[string]int{}, map[string]int{}
	for _, tc := range file.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname]++
			} else {
				quiet[a.Alertname]++
			}
		}
	}
	alerts := map[string]bool{}
	for _, g := range renderedRules(t).Spec.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts[r.Alert] = true
			if fires[r.Alert] == 0 || quiet[r.Alert] == 0 {
				t.Errorf("%s: %d firing and %d quiet cases in %s: want one of each at least", r.Alert, fires[r.Alert], quiet[r.Alert], alertTests)
			}
		}
	}
	for name := range fires {
		if !alerts[name] {
			t.Errorf("%s tests %s, which the chart does not render", alertTests, name)
		}
	}
	for name := range quiet {
		if !alerts[name] {
			t.Errorf("%s tests %s, which the chart does not render", alertTests, name)
		}
	}
}

// Every alert's expression parses as PromQL and names only series and
// labels the plugin exports (or Fluent Bit's own).
func TestAlertRulesNameExportedSeries(t *testing.T) {
	series := exported(t)
	n := 0
	for _, g := range renderedRules(t).Spec.Groups {
		for _, r := range g.Rules {
			n++
			for _, problem := range checkPromQL(r.Expr.String(), series) {
				t.Errorf("%s: %s: %s", r.Alert, r.Expr.String(), problem)
			}
		}
	}
	if n == 0 {
		t.Fatal("no rules")
	}
}
