package config

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// The key table of docs/configuration.md is the Keys table: the same keys in the same
// order, each row's default and meaning exactly the key's Default and
// Help, so that neither can drift from the other.
func TestDocumentedKeyTableIsTheCode(t *testing.T) {
	readme, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Configuration keys\n")
	if !ok {
		t.Fatal("docs/configuration.md has no '## Configuration keys' section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	rows := regexp.MustCompile("(?m)^\\| `([A-Za-z_]+)` \\| (.*) \\| (.*) \\|$").FindAllStringSubmatch(section, -1)
	for i, k := range Keys {
		want := [3]string{k.Name, "unset", k.Help}
		if k.Default != "" {
			want[1] = "`" + k.Default + "`"
		}
		if i >= len(rows) {
			t.Errorf("docs/configuration.md lacks row %d: | `%s` | %s | %s |", i+1, want[0], want[1], want[2])
			continue
		}
		got := [3]string{rows[i][1], rows[i][2], rows[i][3]}
		if got != want {
			t.Errorf("docs/configuration.md row %d:\n got  | `%s` | %s | %s |\n want | `%s` | %s | %s |", i+1, got[0], got[1], got[2], want[0], want[1], want[2])
		}
	}
	for _, r := range rows[min(len(rows), len(Keys)):] {
		t.Errorf("docs/configuration.md documents %s, which the code does not read", r[1])
	}
}
