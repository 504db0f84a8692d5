package helm

import (
	"os"
	"strings"
	"testing"
)

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func mkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

// cleanEnv is this process's environment without what the configs read.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "UMC_URL", "QUEUE_DIR", "STATE_DIR", "INTAKE_DIR", "UMC_AUTH_USER", "UMC_AUTH_PASSWORD_FILE", "UMC_INVITE_CONFIG":
			continue
		}
		out = append(out, kv)
	}
	return out
}
