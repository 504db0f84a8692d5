package config

import (
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// The README's key table documents every key the code reads, and no other.
func TestREADMEDocumentsEveryKey(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Configuration keys\n")
	if !ok {
		t.Fatal("README has no '## Configuration keys' section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var documented []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([A-Za-z_]+)` \\|").FindAllStringSubmatch(section, -1) {
		documented = append(documented, m[1])
	}
	var code []string
	for _, k := range Keys {
		code = append(code, k.Name)
	}
	sort.Strings(documented)
	sort.Strings(code)
	if strings.Join(documented, " ") != strings.Join(code, " ") {
		t.Fatalf("README documents %v\nthe code reads   %v", documented, code)
	}
}
