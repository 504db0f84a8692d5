package helm

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"sigs.k8s.io/yaml"
)

// nubusModel installs the model of Nubus's umbrella chart
// (testdata/nubus-model) with the given values, as `helm install` merges
// them, and returns the Secrets the register-consumers Job mounts
// (consumer -> Secret) and the Secrets the subcharts make.
func nubusModel(t *testing.T, vals map[string]any) (mounts map[string]string, made map[string]bool) {
	t.Helper()
	out, err := nubusModelErr(t, vals)
	if err != nil {
		t.Fatal(err)
	}
	mounts, made = map[string]string{}, map[string]bool{}
	for _, d := range Split(out) {
		var o struct {
			Kind     string
			Metadata struct{ Name string }
			Data     map[string]string
		}
		if err := yaml.Unmarshal([]byte(d.YAML), &o); err != nil {
			t.Fatal(err)
		}
		switch o.Kind {
		case "Secret":
			made[o.Metadata.Name] = true
		case "ConfigMap":
			for _, l := range strings.Fields(o.Data["mounts"]) {
				consumer, secret, _ := strings.Cut(l, "=")
				mounts[consumer] = secret
			}
		}
	}
	return mounts, made
}

func nubusModelErr(t *testing.T, vals map[string]any) (string, error) {
	t.Helper()
	ch, err := loader.Load(filepath.Join("testdata", "nubus-model"))
	if err != nil {
		t.Fatal(err)
	}
	in := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	in.DryRun, in.ClientOnly, in.Replace = true, true, true
	in.ReleaseName, in.Namespace = "nubus", "nubus"
	rel, err := in.Run(ch, vals)
	if err != nil {
		return "", err
	}
	return rel.Manifest, nil
}

func docsNubusValues(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(Root(), "docs", "nubus-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	v := map[string]any{}
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// Issue 26 item 4: the documented Nubus values switch Nubus's sender off
// without leaving the register-consumers Job a Secret that nobody makes,
// and keep the portal consumer's registration.
func TestNubusValuesSwitchTheSenderOffWithoutBreakingTheJob(t *testing.T) {
	// Nubus as installed: the Job mounts the consumer's own Secret.
	mounts, made := nubusModel(t, map[string]any{})
	if s := mounts["selfserviceConsumer"]; s == "" || !made[s] {
		t.Fatalf("the model does not show Nubus's default (mounts %v, Secrets %v)", mounts, made)
	}
	// enabled: false alone: the Job mounts a Secret nobody makes.
	mounts, made = nubusModel(t, map[string]any{"nubusSelfServiceConsumer": map[string]any{"enabled": false}})
	if s := mounts["selfserviceConsumer"]; s == "" || made[s] {
		t.Fatalf("the model does not show the broken Job of enabled: false alone (mounts %v, Secrets %v)", mounts, made)
	}
	// null, which Helm would take to delete a default: it keeps an empty
	// entry for the subchart, and the Job's template fails on it.
	if _, err := nubusModelErr(t, map[string]any{"nubusProvisioning": map[string]any{"registerConsumers": map[string]any{
		"createUsers": map[string]any{"selfserviceConsumer": nil}}}}); err == nil {
		t.Error("Helm now deletes a nulled entry: docs/nubus-values.yaml and docs/nubus.md can say selfserviceConsumer: null")
	}
	// The documented values.
	mounts, made = nubusModel(t, docsNubusValues(t))
	if len(made) != 0 {
		t.Errorf("the self-service consumer still makes %v", made)
	}
	const portal = "nubus-portal-consumer-provisioning-api" // Nubus's portal consumer makes it
	for consumer, s := range mounts {
		if s != portal {
			t.Errorf("the register-consumers Job mounts %s for %s, which nobody makes", s, consumer)
		}
	}
	if mounts["portalConsumer"] != portal {
		t.Errorf("the portal consumer's registration is gone: %v", mounts)
	}
}

// Every key the documented Nubus values set (and those they show for
// SMTP) is one Nubus's values name.
func TestNubusValuesUseNubusKeys(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "nubus-model", "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	nubus := map[string]any{}
	if err := yaml.Unmarshal(b, &nubus); err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	paths(nubus, "", func(p string) { known[p] = true })
	// The commented SMTP block too, uncommented.
	doc, err := os.ReadFile(filepath.Join(Root(), "docs", "nubus-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var smtp []string
	on := false
	for _, l := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(l, "# nubus") {
			on = true
		}
		if on && strings.HasPrefix(l, "# ") {
			smtp = append(smtp, strings.TrimPrefix(l, "# "))
		}
	}
	shown := map[string]any{}
	if err := yaml.Unmarshal([]byte(strings.Join(smtp, "\n")), &shown); err != nil || len(shown) == 0 {
		t.Fatalf("the SMTP example does not parse: %v\n%s", err, strings.Join(smtp, "\n"))
	}
	var unknown []string
	for _, v := range []map[string]any{docsNubusValues(t), shown} {
		paths(v, "", func(p string) {
			if !known[p] && !strings.HasPrefix(p, "nubusSelfServiceConsumer.enabled") {
				unknown = append(unknown, p)
			}
		})
	}
	// The Secret's name and key are the operator's; their parent is Nubus's.
	sort.Strings(unknown)
	for _, p := range unknown {
		if !strings.HasPrefix(p, "nubusUmcServer.smtp.auth.existingSecret.") {
			t.Errorf("%s: not a key of Nubus's values", p)
		}
	}
}

// paths calls f with every key path of v ("a.b.c"), leaves and inner keys.
func paths(v map[string]any, prefix string, f func(string)) {
	for k, x := range v {
		p := prefix + k
		f(p)
		if m, ok := x.(map[string]any); ok {
			paths(m, p+".", f)
		}
	}
}

// Issue 26 items 3 and 4: NOTES.txt names Nubus's mail values as a
// prerequisite, the complete switch-off (as docs/nubus-values.yaml), the
// left-over subscription, and the opt-in invitation test.
func TestNotesNameMailAndTheCompleteSwitchOff(t *testing.T) {
	notes, err := Notes(Options{Release: "nubus", Namespace: "nubus", ValueFiles: []string{"ci/sidecar-values.yaml"}})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(Root(), "docs", "nubus-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	secret := `name: "{{ .Release.Name }}-portal-consumer-provisioning-api"`
	if !strings.Contains(string(doc), secret) {
		t.Fatalf("docs/nubus-values.yaml does not name %s", secret)
	}
	for _, want := range []string{"stackDataContext", "smtpHost", "nubusUmcServer.smtp", "nubusSelfServiceConsumer", "enabled: false",
		"registerConsumers", "selfserviceConsumer", secret, "/v1/subscriptions/selfservice", "helmTest.inviteUser", "anonymous"} {
		if !strings.Contains(notes, want) {
			t.Errorf("NOTES.txt does not say %q:\n%s", want, notes)
		}
	}
	notes, err = Notes(Options{Release: "nubus", Namespace: "nubus", ValueFiles: []string{"ci/sidecar-values.yaml"},
		Set: []string{"helmTest.inviteUser=ci-tester", "umc.auth.user=svc", "umc.auth.password=pw"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(notes, `invites the test user "ci-tester"`) || !strings.Contains(notes, `Auth_User "svc"`) {
		t.Errorf("NOTES.txt with a test user and credentials:\n%s", notes)
	}
}
