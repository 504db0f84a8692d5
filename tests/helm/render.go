// Package helm renders and lints the umc-invite chart with Helm's own Go
// packages (no helm binary), for the tests, `make manifests` and
// cmd/render.
package helm

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/cli/values"
	"helm.sh/helm/v3/pkg/getter"
	"helm.sh/helm/v3/pkg/lint/support"
	"helm.sh/helm/v3/pkg/release"
)

// Root is the repository's root directory.
func Root() string {
	_, self, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(self), "..", "..")
}

// ChartDir is the chart's directory.
func ChartDir() string { return filepath.Join(Root(), "build", "helm", "umc-invite") }

// Options are what `helm template` takes.
type Options struct {
	Release    string
	Namespace  string
	ValueFiles []string // -f, relative to the chart directory or absolute
	Set        []string // --set
	ShowOnly   []string // --show-only, e.g. templates/prometheusrule.yaml
	NoHooks    bool     // --no-hooks: leave the helm test Pod out
	SkipSchema bool     // --skip-schema-validation: the templates' own checks alone
}

func (o Options) values() (map[string]any, error) {
	files := make([]string, len(o.ValueFiles))
	for i, f := range o.ValueFiles {
		if !filepath.IsAbs(f) {
			if _, err := os.Stat(f); err != nil {
				f = filepath.Join(ChartDir(), f)
			}
		}
		files[i] = f
	}
	v := values.Options{ValueFiles: files, Values: o.Set}
	return v.MergeValues(getter.Providers{})
}

// install renders the chart as a client-only dry-run install, the way
// `helm install --dry-run` and `helm template` do.
func install(o Options) (*release.Release, *chart.Chart, error) {
	ch, err := loader.Load(ChartDir())
	if err != nil {
		return nil, nil, err
	}
	vals, err := o.values()
	if err != nil {
		return nil, nil, err
	}
	in := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	in.DryRun, in.ClientOnly, in.Replace, in.IncludeCRDs = true, true, true, true
	in.ReleaseName, in.Namespace = o.Release, o.Namespace
	in.SkipSchemaValidation = o.SkipSchema
	rel, err := in.Run(ch, vals)
	return rel, ch, err
}

// Notes renders the chart's NOTES.txt as `helm install` prints it.
func Notes(o Options) (string, error) {
	rel, _, err := install(o)
	if err != nil {
		return "", err
	}
	return rel.Info.Notes, nil
}

// Template renders the chart as `helm template` (an install, client only,
// dry run) does, and returns the manifest: every rendered object in
// template order, each starting with "---\n# Source: …".
func Template(o Options) (string, error) {
	rel, ch, err := install(o)
	if err != nil {
		return "", err
	}
	manifest := rel.Manifest
	if !o.NoHooks {
		for _, h := range rel.Hooks {
			manifest += fmt.Sprintf("---\n# Source: %s\n%s\n", h.Path, h.Manifest)
		}
	}
	if len(o.ShowOnly) > 0 {
		var kept []string
		for _, doc := range Split(manifest) {
			for _, want := range o.ShowOnly {
				if doc.Source == filepath.ToSlash(filepath.Join(ch.Name(), want)) {
					kept = append(kept, doc.Text)
				}
			}
		}
		if len(kept) == 0 {
			return "", fmt.Errorf("show-only %v: nothing rendered", o.ShowOnly)
		}
		manifest = strings.Join(kept, "")
	}
	return manifest, nil
}

// Doc is one rendered object.
type Doc struct {
	Source string // umc-invite/templates/x.yaml
	Text   string // "---\n# Source: …\n<yaml>\n"
	YAML   string // the object alone
}

var sourceLine = regexp.MustCompile(`(?m)^# Source: (.*)$`)

// Split cuts a manifest into its objects.
func Split(manifest string) []Doc {
	var out []Doc
	for _, part := range strings.Split("\n"+manifest, "\n---\n") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		d := Doc{Text: "---\n" + strings.TrimLeft(part, "\n")}
		if !strings.HasSuffix(d.Text, "\n") {
			d.Text += "\n"
		}
		if m := sourceLine.FindStringSubmatch(part); m != nil {
			d.Source = m[1]
		}
		d.YAML = sourceLine.ReplaceAllString(part, "")
		if onlyComments(d.YAML) {
			continue
		}
		out = append(out, d)
	}
	return out
}

// Lint runs `helm lint --strict` with the given values files and returns
// its findings; an error or warning fails.
func Lint(o Options) ([]string, error) {
	vals, err := o.values()
	if err != nil {
		return nil, err
	}
	lint := action.NewLint()
	lint.Strict = true
	lint.Namespace = o.Namespace
	res := lint.Run([]string{ChartDir()}, vals)
	var findings []string
	for _, m := range res.Messages {
		findings = append(findings, m.Error())
	}
	for _, e := range res.Errors {
		if e != nil {
			findings = append(findings, "error: "+e.Error())
		}
	}
	sort.Strings(findings)
	bad := false
	for _, m := range res.Messages {
		if m.Severity >= support.WarningSev {
			bad = true
		}
	}
	if bad || len(res.Errors) > 0 {
		return findings, fmt.Errorf("helm lint: %s", strings.Join(findings, "; "))
	}
	return findings, nil
}

// Manifest is one file of build/kubernetes rendered from the chart.
type Manifest struct {
	File   string // relative to the repository root
	Header string // comment lines written before the rendered objects
	Options
}

// Manifests are the rendered manifests `make manifests` writes and the
// tests keep in sync.
var Manifests = []Manifest{
	{
		File: "build/kubernetes/sidecar.yaml",
		Header: `# umc-invite as a sidecar next to a Nubus release named "nubus" in namespace
# nubus: the directory listener and Fluent Bit share the queue volume (a
# PVC: queued invitations, tail's DB and Fluent Bit's chunk buffer survive
# restarts); the listener keeps its state on a PVC of its own.
# REPLACE before applying:
#   registry.example.org/replace-me/umc-invite:0.1.0           no registry serves it:
#       docker build -t <your-registry>/umc-invite:0.1.0 . && docker push ...
#   registry.example.org/replace-me/umc-invite-listener:0.1.0  likewise, from
#       docker build -f build/listener/Dockerfile -t <your-registry>/umc-invite-listener:0.1.0 .
#   dc=example,dc=org (your base DN), nubus-* (your Nubus release's name);
#   the namespace nubus, if yours differs.
# Nothing else: send_token is called anonymously, as Nubus's own sender calls
# it (UMC_AUTH_USER and UMC_AUTH_PASSWORD_FILE are empty, there is no
# Secret). Credentials only if your UMC wants them: render the chart with
# umc.auth.user and umc.auth.existingSecret instead.
# Before applying: Nubus must send mail (stackDataContext.smtpHost and
# friends, nubusUmcServer.smtp) and its own sender must go (docs/nubus.md,
# the switch-over); then:
#   kubectl apply -f sidecar.yaml
`,
		Options: Options{Release: "nubus", Namespace: "nubus", ValueFiles: []string{"ci/sidecar-values.yaml"}, NoHooks: true},
	},
	{
		File: "build/kubernetes/daemonset.yaml",
		Header: `# umc-invite as a shared DaemonSet: one Fluent Bit per node serves several
# tenants. Each tenant's listener writes its queue files into
# /var/lib/umc-invite/<tenant>/ on the node (a hostPath it mounts as its
# queue directory); each tenant has its own tail input (own tag and DB) and
# its own umc_invite output (own UMC, credentials and dead letters).
# REPLACE before applying: registry.example.org/replace-me/umc-invite:0.1.0
# (no registry serves it: docker build -t <your-registry>/umc-invite:0.1.0 .
# && docker push ...). tenant-a calls UMC anonymously; tenant-b shows
# credentials: replace self-service-invitation / change-me-b, or drop them.
# Apply with: kubectl create namespace umc-invite; kubectl apply -f daemonset.yaml
# A new tenant: a few lines in the chart's values (see docs/nubus.md).
`,
		Options: Options{Release: "umc-invite", Namespace: "umc-invite", ValueFiles: []string{"ci/daemonset-values.yaml"}, NoHooks: true},
	},
	{
		File: "build/kubernetes/prometheusrule.yaml",
		Header: `# umc-invite's alerts for the Prometheus Operator, in the namespace of the
# sidecar (render the chart with prometheusRule.enabled=true for yours).
`,
		Options: Options{Release: "nubus", Namespace: "nubus", ValueFiles: []string{"ci/sidecar-values.yaml"},
			Set: []string{"prometheusRule.enabled=true"}, ShowOnly: []string{"templates/prometheusrule.yaml"}},
	},
}

// GeneratedBy is the line every rendered manifest carries.
const GeneratedBy = "# Generated from build/helm/umc-invite by `make manifests`: do not edit.\n"

// Render returns a manifest file's content.
func (m Manifest) Render() (string, error) {
	out, err := Template(m.Options)
	if err != nil {
		return "", fmt.Errorf("%s: %w", m.File, err)
	}
	return GeneratedBy + m.Header + out, nil
}

func onlyComments(text string) bool {
	for _, line := range strings.Split(text, "\n") {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
			return false
		}
	}
	return true
}
