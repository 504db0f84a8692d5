package configs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"umc-invite/tests/series"
)

// umcInviteName is a series name of the plugin's in a PromQL expression;
// recording rules' names (umc_invite:…) have a colon and do not match.
var umcInviteName = regexp.MustCompile(`\bumc_invite_[A-Za-z0-9_]+`)

// Every umc_invite_* name an alert or recording rule's expression uses is
// one the plugin exports: a renamed metric must not leave a rule that
// never fires.
func TestPrometheusRuleNamesExportedSeries(t *testing.T) {
	const rel = "build/kubernetes/prometheusrule.yaml"
	if _, err := os.Stat(filepath.Join(root(), rel)); errors.Is(err, fs.ErrNotExist) {
		t.Skipf("%s does not exist yet: nothing to check", rel)
	}
	exported := series.Exported(t)
	checked := 0
	for _, doc := range documents(t, rel) {
		if doc["kind"] != "PrometheusRule" {
			continue
		}
		spec, _ := doc["spec"].(map[string]any)
		groups, _ := spec["groups"].([]any)
		for _, g := range groups {
			group, _ := g.(map[string]any)
			rules, _ := group["rules"].([]any)
			for _, r := range rules {
				rule, _ := r.(map[string]any)
				expr, _ := rule["expr"].(string)
				name, _ := rule["alert"].(string)
				if name == "" {
					name, _ = rule["record"].(string)
				}
				for _, series := range umcInviteName.FindAllString(expr, -1) {
					checked++
					if !slices.Contains(exported, series) {
						t.Errorf("%s: rule %s uses %s, which the plugin does not export (it exports %v)", rel, name, series, exported)
					}
				}
			}
		}
	}
	if checked == 0 {
		t.Errorf("%s: no rule expression names a umc_invite_* series", rel)
	}
}

// The checker itself, on a rule that is right and one that is not.
func TestUMCInviteNamesInAnExpression(t *testing.T) {
	expr := `increase(umc_invite_invitations_total{result="dead_letter"}[15m]) > 0 or
	  histogram_quantile(0.95, sum by (le) (rate(umc_invite_umc_request_duration_seconds_bucket[5m]))) > 10 or
	  umc_invite:ratio:rate5m > 1 or umc_invite_invitation_total > 0`
	got := umcInviteName.FindAllString(expr, -1)
	want := []string{"umc_invite_invitations_total", "umc_invite_umc_request_duration_seconds_bucket", "umc_invite_invitation_total"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v", got)
	}
	exported := series.Exported(t)
	if !slices.Contains(exported, got[0]) || !slices.Contains(exported, got[1]) || slices.Contains(exported, got[2]) {
		t.Fatalf("exported %v", exported)
	}
}
