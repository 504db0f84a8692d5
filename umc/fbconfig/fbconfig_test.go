package fbconfig

import (
	"os"
	"path/filepath"
	"testing"
)

func TestExpand(t *testing.T) {
	env := map[string]string{"SET": "x", "EMPTY": ""}
	r := &reader{env: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	for in, want := range map[string]string{
		"${SET}":              "x",
		"${UNSET}":            "",
		"${UNSET:-d}/a":       "d/a",
		"${EMPTY:-d}":         "d",
		"${SET:-d}${SET}":     "xx",
		"no ${ closing brace": "no ${ closing brace",
	} {
		if got := r.expand(in); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
}

// A ConfigMap whose main entry includes another: the included outputs
// come once, with the manifest's line numbers.
func TestConfigMapIncludeAndLines(t *testing.T) {
	p := filepath.Join(t.TempDir(), "cm.yaml")
	os.WriteFile(p, []byte(`apiVersion: v1
kind: ConfigMap
metadata:
  name: x
data:
  fluent-bit.conf: |
    @SET url=http://umc-server
    [SERVICE]
        Flush 1
    @INCLUDE outputs.conf
  outputs.conf: |
    [OUTPUT]
        Name    umc_invite
        UMC_URL ${url}
---
apiVersion: v1
kind: Secret
`), 0o644)
	outs, err := Outputs(p, func(string) (string, bool) { return "", false }, "umc_invite")
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) != 1 {
		t.Fatalf("%d outputs, want 1", len(outs))
	}
	e, _ := outs[0].Get("umc_url")
	if outs[0].Line != 12 || e.Line != 14 || e.Value != "http://umc-server" || e.File != p {
		t.Fatalf("section line %d, entry %+v", outs[0].Line, e)
	}
}
