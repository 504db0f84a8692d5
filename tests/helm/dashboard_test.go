package helm

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// grafanaDashboard is what the tests read of a dashboard.
type grafanaDashboard struct {
	Title      string `json:"title"`
	UID        string `json:"uid"`
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Query      any    `json:"query"`
			Definition string `json:"definition"`
			Multi      bool   `json:"multi"`
			IncludeAll bool   `json:"includeAll"`
		} `json:"list"`
	} `json:"templating"`
	Panels []grafanaPanel `json:"panels"`
}

type grafanaPanel struct {
	Title   string `json:"title"`
	Type    string `json:"type"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"`
}

// dashboards renders the chart with the dashboards on and returns each
// dashboard ConfigMap and the dashboards in it.
func dashboards(t *testing.T, set ...string) (map[string]*corev1.ConfigMap, map[string]grafanaDashboard) {
	t.Helper()
	o := cases["sidecar"]
	o.Set = append([]string{"dashboards.enabled=true"}, set...)
	cms := map[string]*corev1.ConfigMap{}
	dbs := map[string]grafanaDashboard{}
	for _, obj := range objects(t, render(t, o))["ConfigMap"] {
		cm := obj.(*corev1.ConfigMap)
		if !strings.Contains(cm.Name, "-dashboard-") {
			continue
		}
		cms[cm.Name] = cm
		for key, text := range cm.Data {
			var d grafanaDashboard
			if err := json.Unmarshal([]byte(text), &d); err != nil {
				t.Fatalf("%s %s: %v", cm.Name, key, err)
			}
			dbs[key] = d
		}
	}
	return cms, dbs
}

func panelsOf(ps []grafanaPanel) []grafanaPanel {
	var out []grafanaPanel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, panelsOf(p.Panels)...)
	}
	return out
}

// Grafana's sidecar picks the dashboard up only with its label; it is off
// by default.
func TestDashboardConfigMapFollowsFluentBitsChart(t *testing.T) {
	for _, obj := range objects(t, render(t, cases["sidecar"]))["ConfigMap"] {
		if strings.Contains(obj.(*corev1.ConfigMap).Name, "-dashboard-") {
			t.Fatalf("dashboards are off by default, rendered %s", obj.(*corev1.ConfigMap).Name)
		}
	}
	cms, dbs := dashboards(t)
	if len(cms) != 1 || len(dbs) != 1 {
		t.Fatalf("%d dashboard ConfigMaps, %d dashboards: want one", len(cms), len(dbs))
	}
	for name, cm := range cms {
		if cm.Labels["grafana_dashboard"] != "1" || cm.Namespace != "umc-invite" || len(cm.Annotations) != 0 {
			t.Errorf("%s: labels %v, namespace %q, annotations %v", name, cm.Labels, cm.Namespace, cm.Annotations)
		}
	}
	cms, _ = dashboards(t, "dashboards.labelKey=grafana_dashboard_umc", "dashboards.namespace=monitoring",
		"dashboards.annotations.grafana_folder=Nubus", "additionalAnnotations.team=idm")
	for name, cm := range cms {
		if cm.Labels["grafana_dashboard_umc"] != "1" || cm.Namespace != "monitoring" ||
			cm.Annotations["grafana_folder"] != "Nubus" || cm.Annotations["team"] != "idm" {
			t.Errorf("%s: labels %v, namespace %q, annotations %v", name, cm.Labels, cm.Namespace, cm.Annotations)
		}
	}
}

// The dashboard is per output (tenant), and its Concurrency line is the
// chart's.
func TestDashboardHasAnOutputVariableAndTheChartsConcurrency(t *testing.T) {
	_, dbs := dashboards(t, "umc.concurrency=12")
	for key, d := range dbs {
		vars := map[string]string{}
		for _, v := range d.Templating.List {
			vars[v.Name] = v.Type
			switch v.Name {
			case "output":
				if !v.Multi || !v.IncludeAll || !strings.Contains(v.Definition, "label_values(umc_invite_") {
					t.Errorf("%s: variable output %+v: want a multi-value query of the plugin's output label", key, v)
				}
			case "concurrency":
				if v.Query != "12" {
					t.Errorf("%s: concurrency %v, want umc.concurrency 12", key, v.Query)
				}
			}
		}
		if vars["output"] != "query" || vars["datasource"] != "datasource" || vars["concurrency"] != "textbox" {
			t.Errorf("%s: variables %v", key, vars)
		}
		// Every plugin series a panel shows is the chosen outputs'.
		plugin := regexp.MustCompile(`umc_invite_\w+(\{[^}]*\})?`)
		for _, p := range panelsOf(d.Panels) {
			for _, tg := range p.Targets {
				for _, sel := range plugin.FindAllString(tg.Expr, -1) {
					if !strings.Contains(sel, `output=~"$output"`) {
						t.Errorf("%s: panel %q: %s is not filtered by $output", key, p.Title, sel)
					}
				}
			}
		}
	}
}

// Every panel's query parses as PromQL and names only series and labels
// the plugin exports (or Fluent Bit's own); so does the output variable's.
func TestDashboardQueriesNameExportedSeries(t *testing.T) {
	series := exported(t)
	_, dbs := dashboards(t)
	labelValues := regexp.MustCompile(`^label_values\((\w+), *(\w+)\)$`)
	for key, d := range dbs {
		queries := 0
		for _, p := range panelsOf(d.Panels) {
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("%s: panel %q has no query", key, p.Title)
			}
			for _, tg := range p.Targets {
				queries++
				for _, problem := range checkPromQL(tg.Expr, series) {
					t.Errorf("%s: panel %q: %s: %s", key, p.Title, tg.Expr, problem)
				}
			}
		}
		for _, v := range d.Templating.List {
			if v.Type != "query" {
				continue
			}
			m := labelValues.FindStringSubmatch(v.Definition)
			if m == nil {
				t.Errorf("%s: variable %s: %q is not label_values(metric, label)", key, v.Name, v.Definition)
				continue
			}
			for _, problem := range checkPromQL(m[1]+"{"+m[2]+`="x"}`, series) {
				t.Errorf("%s: variable %s: %s", key, v.Name, problem)
			}
		}
		if queries < 10 {
			t.Errorf("%s: %d queries", key, queries)
		}
		t.Logf("%s: %d queries checked", key, queries)
	}
}
