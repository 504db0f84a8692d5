// Command render is `helm template` and `helm lint` for the umc-invite
// chart without a helm binary, and writes build/kubernetes/*.yaml:
//
//	go -C tests/helm run ./cmd/render [-name R] [-namespace NS] [-f values.yaml]... [-set k=v]... [-show-only templates/x.yaml]
//	go -C tests/helm run ./cmd/render -lint [-f values.yaml]...
//	go -C tests/helm run ./cmd/render -manifests     # what `make manifests` runs
//
// Values files are taken relative to the current directory, else to the
// chart's directory (ci/daemonset-values.yaml).
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"umc-invite/tests/helm"
)

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var o helm.Options
	var files, sets, showOnly list
	flag.StringVar(&o.Release, "name", "umc-invite", "release name")
	flag.StringVar(&o.Namespace, "namespace", "default", "namespace")
	flag.Var(&files, "f", "values file (repeatable)")
	flag.Var(&sets, "set", "key=value as helm --set (repeatable)")
	flag.Var(&showOnly, "show-only", "only this template, e.g. templates/prometheusrule.yaml (repeatable)")
	lint := flag.Bool("lint", false, "helm lint --strict instead of rendering")
	manifests := flag.Bool("manifests", false, "write build/kubernetes/*.yaml from the chart")
	flag.Parse()
	if flag.NArg() > 0 {
		fail(fmt.Errorf("unexpected arguments %v", flag.Args()))
	}
	for _, f := range files {
		if abs, err := filepath.Abs(f); err == nil {
			if _, err := os.Stat(abs); err == nil {
				f = abs
			}
		}
		o.ValueFiles = append(o.ValueFiles, f)
	}
	o.Set, o.ShowOnly = sets, showOnly

	switch {
	case *manifests:
		for _, m := range helm.Manifests {
			text, err := m.Render()
			if err != nil {
				fail(err)
			}
			if err := os.WriteFile(filepath.Join(helm.Root(), m.File), []byte(text), 0o644); err != nil {
				fail(err)
			}
			fmt.Println("wrote", m.File)
		}
	case *lint:
		findings, err := helm.Lint(o)
		for _, f := range findings {
			fmt.Println(f)
		}
		if err != nil {
			fail(err)
		}
		fmt.Println("1 chart(s) linted, 0 chart(s) failed")
	default:
		out, err := helm.Template(o)
		if err != nil {
			fail(err)
		}
		fmt.Print(out)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "render:", err)
	os.Exit(1)
}
