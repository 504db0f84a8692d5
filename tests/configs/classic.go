// Package configs checks the shipped Fluent Bit configs and Kubernetes
// manifests against each other and against the plugin's keys.
package configs

import (
	"bufio"
	"fmt"
	"strings"
)

// Section is one [SECTION] of a classic config, keys lower-cased.
type Section struct {
	Name string
	Keys map[string]string
}

// ParseClassic reads Fluent Bit's classic format: [SECTION] lines, then
// "Key value" lines; # starts a comment line.
func ParseClassic(text string) ([]Section, error) {
	var out []Section
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			out = append(out, Section{Name: strings.ToLower(strings.Trim(line, "[]")), Keys: map[string]string{}})
		case len(out) == 0:
			return nil, fmt.Errorf("line %d: key outside a section", n)
		default:
			key, value, _ := strings.Cut(line, " ")
			key = strings.ToLower(key)
			if _, dup := out[len(out)-1].Keys[key]; dup {
				return nil, fmt.Errorf("line %d: %s twice in one section", n, key)
			}
			out[len(out)-1].Keys[key] = strings.TrimSpace(value)
		}
	}
	return out, sc.Err()
}

// Of returns the sections with the given name.
func Of(sections []Section, name string) []Section {
	var out []Section
	for _, s := range sections {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}
