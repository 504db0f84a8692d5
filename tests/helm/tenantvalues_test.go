package helm

// A tenant's values end up in the one Fluent Bit config every tenant
// shares: none may carry a line of its own into it, or one tenant's entry
// could route every other tenant's users to its own UMC.

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestATenantValueCannotAddAKeyToTheSharedConfig(t *testing.T) {
	// Match_Regex is a key Fluent Bit takes on every output, and it wins
	// over Match: tenant-a's output would take tenant-b's records.
	const injected = "\n    Match_Regex .*"
	for field, entry := range map[string]string{
		"language":  "    language: %q\n",
		"url":       "    url: %q\n",
		"auth.user": "    auth:\n      user: %q\n      password: pw\n",
	} {
		t.Run(field, func(t *testing.T) {
			value := map[string]string{
				"language":  "de-DE",
				"url":       "https://portal.tenant-a.example.org/univention",
				"auth.user": "svc",
			}[field] + injected
			tenantA := "  - name: tenant-a\n    gid: 70001\n"
			if field != "url" {
				tenantA += "    url: https://portal.tenant-a.example.org/univention\n"
			}
			tenantA += fmt.Sprintf(entry, value) // %q: a YAML double-quoted string
			values := "mode: daemonset\ntenants:\n" + tenantA +
				"  - name: tenant-b\n    gid: 70002\n    url: https://portal.tenant-b.example.org/univention\n"
			file := filepath.Join(t.TempDir(), "values.yaml")
			if err := os.WriteFile(file, []byte(values), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := Template(Options{Release: "umc-invite", Namespace: "umc-invite", ValueFiles: []string{file}})
			if err != nil {
				t.Logf("refused: %v", err)
				return
			}
			for _, s := range parseClassic(t, configOf(t, Split(out))) {
				if s.name == "output" && s.keys["output_name"] == "tenant-a" && s.keys["match_regex"] != "" {
					t.Errorf("tenants[0].%s %q rendered: tenant-a's output has Match %q and Match_Regex %q, so it takes tenant-b's records and sends them to tenant-a's UMC",
						field, value, s.keys["match"], s.keys["match_regex"])
				}
			}
		})
	}
}

// A tenant's url is rendered as a template: it must not reach another
// tenant's password (and put it into the ConfigMap, which the built-in view
// role reads, and into the path of every call to this tenant's UMC).
func TestATenantURLCannotReadAnotherTenantsPassword(t *testing.T) {
	const password = "change-me-b" // tenants[1].auth.password in the values
	out, err := Template(Options{Release: "umc-invite", Namespace: "umc-invite", ValueFiles: []string{"ci/daemonset-values.yaml"},
		Set: []string{"tenants[0].url=https://portal.tenant-a.example.org/univention/{{ (index .Values.tenants 1).auth.password }}"}})
	if err != nil {
		t.Logf("refused: %v", err)
		return
	}
	for _, d := range Split(out) {
		if !strings.Contains(d.YAML, "kind: Secret") && strings.Contains(d.YAML, password) {
			t.Errorf("%s holds tenant-b's password: %s", d.Source, strings.TrimSpace(lineWith(d.YAML, password)))
		}
	}
}

func lineWith(text, s string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

// A tenant value the plugin refuses at start is refused when the chart is
// rendered: rendered, it stops the pod's check, or Fluent Bit, for every
// tenant on the node at the next rollout.
func TestATenantValueThePluginRefusesIsRefusedByTheChart(t *testing.T) {
	for name, set := range map[string]string{
		"concurrency over 256":        "tenants[0].concurrency=1000",
		"a negative rate limit":       "tenants[0].rateLimit=-1",
		"a window over 100,000":       "tenants[0].window=200000",
		"a language that is no range": "tenants[0].language=de DE",
	} {
		if _, err := Template(Options{Release: "r", Namespace: "n", ValueFiles: []string{"ci/daemonset-values.yaml"}, Set: []string{set}}); err == nil {
			t.Errorf("%s (%s): rendered", name, set)
		}
	}
}
