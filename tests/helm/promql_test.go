package helm

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"umc-invite/tests/series"
	"umc-invite/umc/metrics"
)

// targetLabels are what Prometheus adds to every scraped series (the
// ServiceMonitor's target: job and instance, and Kubernetes' own).
var targetLabels = []string{"job", "instance", "namespace", "pod", "service", "container", "endpoint"}

// upcomingClasses are answer classes the plugin is about to count: a
// rule may name them before the plugin exports them.
var upcomingClasses = []string{"unauthorized"}

// exported is every series the plugin exports, from its metrics package,
// with the labels each carries beyond the target's: a label maps to its
// values (nil: any).
func exported(t *testing.T) map[string]map[string][]string {
	t.Helper()
	classes := slices.Clone(metrics.Classes)
	for _, c := range upcomingClasses {
		if !slices.Contains(classes, c) {
			classes = append(classes, c)
		}
	}
	out := map[string]map[string][]string{}
	exportedNames := series.Exported(t)
	for _, name := range exportedNames {
		out[name] = map[string][]string{"output": nil}
		if strings.HasSuffix(name, "_bucket") {
			out[name]["le"] = nil
		}
	}
	for name, l := range map[string]map[string][]string{
		"umc_invite_invitations_total":  {"result": metrics.Results},
		"umc_invite_umc_requests_total": {"class": classes},
	} {
		if out[name] == nil {
			t.Fatalf("the plugin no longer exports %s (it exports %v): update this test", name, exportedNames)
		}
		for k, v := range l {
			out[name][k] = v
		}
	}
	return out
}

// grafanaVariables stand in for the dashboard's variables, so that its
// queries parse as Prometheus would get them.
var grafanaVariables = map[string]string{
	"output": "umc_invite.0", "concurrency": "8",
	"__rate_interval": "2m", "__interval": "30s", "__range": "6h",
}

var grafanaVariable = regexp.MustCompile(`\$\{?(\w+)\}?`)

func substituteVariables(expr string) (string, error) {
	var err error
	out := grafanaVariable.ReplaceAllStringFunc(expr, func(v string) string {
		name := grafanaVariable.FindStringSubmatch(v)[1]
		value, ok := grafanaVariables[name]
		if !ok && err == nil {
			err = fmt.Errorf("unknown variable $%s", name)
		}
		return value
	})
	return out, err
}

// checkPromQL parses expr (Grafana's variables substituted) and returns
// what is wrong with it: a parse error, a series the plugin does not
// export, a label it does not carry or a value that label never has.
// Fluent Bit's own fluentbit_* series pass with any label.
func checkPromQL(expr string, series map[string]map[string][]string) []string {
	text, err := substituteVariables(expr)
	if err != nil {
		return []string{err.Error()}
	}
	root, err := parser.NewParser(parser.Options{}).ParseExpr(text)
	if err != nil {
		return []string{"does not parse: " + err.Error()}
	}
	var problems []string
	// allowed is the labels the selectors under node carry; nil: any.
	allowed := func(node parser.Node) map[string]bool {
		set := map[string]bool{}
		for _, l := range targetLabels {
			set[l] = true
		}
		anything := false
		parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
			if vs, ok := n.(*parser.VectorSelector); ok {
				if strings.HasPrefix(vs.Name, "fluentbit_") {
					anything = true
				}
				for l := range series[vs.Name] {
					set[l] = true
				}
			}
			return nil
		})
		if anything {
			return nil
		}
		return set
	}
	checkLabels := func(what string, names []string, node parser.Node) {
		set := allowed(node)
		for _, l := range names {
			if set != nil && !set[l] {
				problems = append(problems, fmt.Sprintf("%s %q: no series under it has that label", what, l))
			}
		}
	}
	parser.Inspect(root, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.VectorSelector:
			problems = append(problems, checkSelector(n, series)...)
		case *parser.AggregateExpr:
			if !n.Without {
				checkLabels("grouping by", n.Grouping, n.Expr)
			}
		case *parser.BinaryExpr:
			if n.VectorMatching != nil && n.VectorMatching.On {
				checkLabels("matching on", n.VectorMatching.MatchingLabels, n)
			}
		}
		return nil
	})
	return problems
}

var alternatives = regexp.MustCompile(`^[A-Za-z0-9_]+(\|[A-Za-z0-9_]+)*$`)

func checkSelector(vs *parser.VectorSelector, series map[string]map[string][]string) []string {
	if vs.Name == "" {
		return []string{fmt.Sprintf("%s: a selector without a metric name", vs)}
	}
	if strings.HasPrefix(vs.Name, "fluentbit_") {
		return nil
	}
	have, ok := series[vs.Name]
	if !ok {
		names := make([]string, 0, len(series))
		for n := range series {
			names = append(names, n)
		}
		sort.Strings(names)
		return []string{fmt.Sprintf("%s: the plugin exports no %s (it exports %v)", vs, vs.Name, names)}
	}
	var problems []string
	for _, m := range vs.LabelMatchers {
		if m.Name == model.MetricNameLabel {
			continue
		}
		values, ok := have[m.Name]
		if !ok && !slices.Contains(targetLabels, m.Name) {
			problems = append(problems, fmt.Sprintf("%s: %s has no label %s", vs, vs.Name, m.Name))
			continue
		}
		if values == nil {
			continue
		}
		var named []string
		switch {
		case m.Type == labels.MatchEqual || m.Type == labels.MatchNotEqual:
			named = []string{m.Value}
		case alternatives.MatchString(m.Value):
			named = strings.Split(m.Value, "|")
		}
		for _, v := range named {
			if !slices.Contains(values, v) {
				problems = append(problems, fmt.Sprintf("%s: %s is never %q (it is one of %v)", vs, m.Name, v, values))
			}
		}
	}
	return problems
}

// The checker finds what it is there to find.
func TestPromQLCheckerFindsWrongNames(t *testing.T) {
	series := exported(t)
	for expr, want := range map[string]string{
		`sum by (output, result) (increase(umc_invite_invitations_total{output=~"$output", result="sent"}[$__rate_interval]))`: "",
		`histogram_quantile(0.95, sum by (output, le) (rate(umc_invite_umc_request_duration_seconds_bucket[5m])))`:             "",
		`increase(umc_invite_umc_requests_total{class="unauthorized", namespace="x"}[5m]) > 0`:                                 "",
		`increase(fluentbit_output_retries_failed_total{name=~"umc_invite.*"}[5m]) > 0`:                                        "",
		`vector($concurrency)`:                                                  "",
		`umc_invite_invitation_total`:                                           "exports no umc_invite_invitation_total",
		`umc_invite_in_flight{tenant="a"}`:                                      "has no label tenant",
		`umc_invite_invitations_total{result="dead_leter"}`:                     `never "dead_leter"`,
		`umc_invite_invitations_total{result=~"sent|expird"}`:                   `never "expird"`,
		`umc_invite_umc_requests_total{class="timeout"}`:                        `never "timeout"`,
		`sum by (le) (rate(umc_invite_umc_request_duration_seconds_count[5m]))`: `grouping by "le"`,
		`umc_invite_queue_files > on (tenant) umc_invite_users_waiting`:         `matching on "tenant"`,
		`rate(umc_invite_umc_requests_total[5m]`:                                "does not parse",
		`umc_invite_queue_files{output="$tenant"}`:                              "unknown variable $tenant",
		`{output="umc_invite.0"}`:                                               "without a metric name",
	} {
		got := strings.Join(checkPromQL(expr, series), "; ")
		if want == "" && got != "" || !strings.Contains(got, want) {
			t.Errorf("%s: got %q, want %q", expr, got, want)
		}
	}
}
