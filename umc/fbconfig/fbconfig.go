// Package fbconfig reads Fluent Bit configs as Fluent Bit does, far enough
// to check them: classic and YAML, includes, variables, and the configs in
// a Kubernetes manifest's ConfigMaps. Every key keeps its file and line.
package fbconfig

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Entry is one key of a section, its value expanded.
type Entry struct {
	Key   string
	Value string
	File  string
	Line  int
}

// Section is a classic [SECTION] or one item of a YAML config's lists.
type Section struct {
	Kind    string // lower case: input, filter, output, ...
	File    string
	Line    int
	Entries []Entry
}

// Get returns the entry of key (case-insensitive), the last one when
// written twice, as Fluent Bit does.
func (s Section) Get(key string) (Entry, bool) {
	var found Entry
	ok := false
	for _, e := range s.Entries {
		if strings.EqualFold(e.Key, key) {
			found, ok = e, true
		}
	}
	return found, ok
}

// Value is the value of key, or "".
func (s Section) Value(key string) string {
	e, _ := s.Get(key)
	return e.Value
}

// Config is the sections of a file and its includes.
type Config struct {
	Sections []Section
}

// Outputs returns the output sections whose Name is name.
func (c *Config) Outputs(name string) []Section {
	var out []Section
	for _, s := range c.Sections {
		if s.Kind == "output" && strings.EqualFold(s.Value("Name"), name) {
			out = append(out, s)
		}
	}
	return out
}

// Env looks a variable up; os.LookupEnv by default.
type Env func(name string) (string, bool)

// Load reads a classic or YAML config, or a Kubernetes manifest, chosen
// by content.
func Load(path string, env Env) (*Config, error) {
	if env == nil {
		env = os.LookupEnv
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	r := &reader{env: env, vars: map[string]string{}}
	if isClassic(string(raw)) {
		err = r.classic(path, string(raw), 0, filepath.Dir(path), nil)
	} else {
		err = r.yamlFile(path, raw)
	}
	if err != nil {
		return nil, err
	}
	return &Config{Sections: r.sections}, nil
}

// isClassic: the first significant line opens a [SECTION] or an
// @-command, which no YAML Fluent Bit config does.
func isClassic(text string) bool {
	for _, line := range strings.Split(text, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		return strings.HasPrefix(t, "[") || strings.HasPrefix(t, "@")
	}
	return false
}

type reader struct {
	env      Env
	vars     map[string]string // @SET and YAML env:
	sections []Section
	depth    int
}

// maxIncludeDepth stops an @INCLUDE loop.
const maxIncludeDepth = 16

// lookup: @SET and env: variables first, then the environment.
func (r *reader) lookup(name string) (string, bool) {
	if v, ok := r.vars[name]; ok {
		return v, true
	}
	return r.env(name)
}

// expand replaces ${VAR} and ${VAR:-default}: unset is "" (as Fluent Bit
// does); the default replaces unset or empty (as the shell does).
func expand(s string, lookup func(string) (string, bool)) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		inner := s[i+2 : i+j]
		name, def, hasDef := strings.Cut(inner, ":-")
		v, ok := lookup(strings.TrimSpace(name))
		if hasDef && (!ok || v == "") {
			v = def
		}
		b.WriteString(v)
		s = s[i+j+1:]
	}
}

func (r *reader) expand(s string) string { return expand(s, r.lookup) }
