// Package fbconfig reads Fluent Bit configs (classic, YAML, a manifest's ConfigMaps; includes,
// variables) far enough to check them; every key keeps its file and line.
package fbconfig

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Entry is one key of a section, its value expanded.
type Entry struct {
	Key, Value, File string
	Line             int
}

// Section is a classic [SECTION] or one item of a YAML config's lists.
type Section struct {
	Kind, File string // Kind in lower case: input, filter, output, ...
	Line       int
	Entries    []Entry
}

// Get returns the last entry of key, case-insensitive, as Fluent Bit does.
func (s Section) Get(key string) (e Entry, ok bool) {
	for _, x := range s.Entries {
		if strings.EqualFold(x.Key, key) {
			e, ok = x, true
		}
	}
	return e, ok
}

// Value is the value of key, or "".
func (s Section) Value(key string) string { e, _ := s.Get(key); return e.Value }

// Env looks a variable up; os.LookupEnv by default.
type Env func(name string) (string, bool)

// Outputs returns the outputs named name of a classic or YAML config or a manifest, includes read.
func Outputs(path string, env Env, name string) ([]Section, error) {
	if env == nil {
		env = os.LookupEnv
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	r := &reader{env: env, vars: map[string]string{}}
	if err := r.text(path, string(raw), 0, filepath.Dir(path), nil, isClassic(string(raw))); err != nil {
		return nil, err
	}
	return slices.DeleteFunc(r.sections, func(s Section) bool {
		return s.Kind != "output" || !strings.EqualFold(s.Value("Name"), name)
	}), nil
}

// isClassic: the first significant line opens a [SECTION] or an @-command.
func isClassic(text string) bool {
	for line := range strings.Lines(text) {
		if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") {
			return strings.HasPrefix(t, "[") || strings.HasPrefix(t, "@")
		}
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

// expand replaces ${VAR} (unset: "", as Fluent Bit) and ${VAR:-default} (unset or empty); @SET and env: first.
func (r *reader) expand(s string) string {
	var b strings.Builder
	for {
		before, after, found := strings.Cut(s, "${")
		inner, rest, closed := strings.Cut(after, "}")
		if !found || !closed {
			return b.String() + s
		}
		b.WriteString(before)
		name, def, hasDef := strings.Cut(inner, ":-")
		name = strings.TrimSpace(name)
		v, ok := r.vars[name]
		if !ok {
			v, ok = r.env(name)
		}
		if hasDef && (!ok || v == "") {
			v = def
		}
		b.WriteString(v)
		s = rest
	}
}

// ParseError is a config Fluent Bit would not load, with where.
type ParseError struct {
	File string
	Line int
	Msg  string
}

func (e *ParseError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// classic reads the classic format; lineOffset and data (nil: files) serve a ConfigMap.
func (r *reader) classic(file, text string, lineOffset int, dir string, data map[string]entryText) error {
	cur := -1 // the section being read, in r.sections
	for i, line := range strings.Split(text, "\n") {
		n := i + 1 + lineOffset
		line = strings.TrimRight(line, "\r")
		t := strings.TrimSpace(line)
		indented := t != "" && (line[0] == ' ' || line[0] == '\t')
		switch {
		case t == "" || strings.HasPrefix(t, "#"):
		case strings.HasPrefix(t, "@"):
			cmd, arg, _ := strings.Cut(t, " ")
			arg = strings.TrimSpace(arg)
			switch strings.ToUpper(cmd) {
			case "@SET":
				name, value, ok := strings.Cut(arg, "=")
				if !ok || strings.TrimSpace(name) == "" {
					return &ParseError{file, n, "@SET wants KEY=VALUE"}
				}
				r.vars[strings.TrimSpace(name)] = r.expand(strings.TrimSpace(value))
			case "@INCLUDE":
				cur = -1
				if err := r.include(file, n, r.expand(arg), dir, data, true); err != nil {
					return err
				}
			default:
				return &ParseError{file, n, fmt.Sprintf("unknown command %s", cmd)}
			}
		case !indented && strings.HasPrefix(t, "[") && strings.HasSuffix(t, "]"):
			r.sections = append(r.sections, Section{Kind: strings.ToLower(strings.TrimSpace(t[1 : len(t)-1])), File: file, Line: n})
			cur = len(r.sections) - 1
		case !indented:
			return &ParseError{file, n, "a key must be indented below its [SECTION]"}
		case cur < 0:
			return &ParseError{file, n, "a key outside any [SECTION]"}
		default:
			key, value, _ := strings.Cut(strings.ReplaceAll(t, "\t", " "), " ")
			r.sections[cur].Entries = append(r.sections[cur].Entries, Entry{Key: key, Value: r.expand(strings.TrimSpace(value)), File: file, Line: n})
		}
	}
	return nil
}

// entryText is a ConfigMap entry and the manifest line before its first.
type entryText struct {
	text       string
	lineOffset int
}

// include reads an @INCLUDE's glob or a YAML include's name, from data (a ConfigMap's entries) or else dir.
func (r *reader) include(file string, line int, pattern, dir string, data map[string]entryText, classic bool) error {
	word := map[bool]string{false: "include", true: "@INCLUDE"}[classic]
	r.depth++
	defer func() { r.depth-- }()
	if r.depth > maxIncludeDepth {
		return &ParseError{file, line, word + " nested too deep (a loop?)"}
	}
	if data != nil {
		base := filepath.Base(pattern)
		names := slices.DeleteFunc(slices.Sorted(maps.Keys(data)), func(name string) bool {
			ok, _ := filepath.Match(base, name)
			return !(name == base || classic && ok)
		})
		if len(names) == 0 {
			return &ParseError{file, line, fmt.Sprintf("%s %s: no such entry in the ConfigMap", word, pattern)}
		}
		for _, name := range names {
			if err := r.text(file, data[name].text, data[name].lineOffset, dir, data, classic); err != nil {
				return err
			}
		}
		return nil
	}
	if !filepath.IsAbs(pattern) {
		pattern = filepath.Join(dir, pattern)
	}
	names := []string{pattern}
	if classic {
		if names, _ = filepath.Glob(pattern); len(names) == 0 {
			return &ParseError{file, line, fmt.Sprintf("@INCLUDE %s: no such file", pattern)}
		}
	}
	for _, name := range names {
		raw, err := os.ReadFile(name)
		if err != nil {
			return &ParseError{file, line, fmt.Sprintf("%s: %v", word, err)}
		}
		if err := r.text(name, string(raw), 0, filepath.Dir(name), nil, classic || isClassic(string(raw))); err != nil {
			return err
		}
	}
	return nil
}

// text reads a classic text, or YAML documents: configs or (in a file) manifests.
func (r *reader) text(file, text string, lineOffset int, dir string, data map[string]entryText, classic bool) error {
	if classic {
		return r.classic(file, text, lineOffset, dir, data)
	}
	dec := yaml.NewDecoder(strings.NewReader(text))
	for {
		var doc yaml.Node
		switch err := dec.Decode(&doc); {
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return &ParseError{file, 0, fmt.Sprintf("not valid YAML: %v", err)}
		case len(doc.Content) == 0:
			continue
		}
		d := doc.Content[0]
		if d.Kind != yaml.MappingNode {
			return &ParseError{file, d.Line, "a YAML config must be a mapping"}
		}
		shift(d, lineOffset)
		var err error
		if data == nil && get(d, "apiVersion") != nil && get(d, "kind") != nil {
			err = r.manifest(file, d)
		} else {
			err = r.yamlConfig(file, d, dir, data)
		}
		if err != nil {
			return err
		}
	}
}

func get(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if strings.EqualFold(m.Content[i].Value, key) {
			return m.Content[i+1]
		}
	}
	return nil
}

// manifest reads a ConfigMap's config entries that no other includes.
func (r *reader) manifest(path string, doc *yaml.Node) error {
	data := get(doc, "data")
	if get(doc, "kind").Value != "ConfigMap" || data == nil || data.Kind != yaml.MappingNode {
		return nil
	}
	entries := map[string]entryText{}
	for i := 0; i+1 < len(data.Content); i += 2 {
		v := data.Content[i+1]
		// A literal block's text starts on the line after its "|".
		offset := v.Line - 1
		if v.Style == yaml.LiteralStyle || v.Style == yaml.FoldedStyle {
			offset = v.Line
		}
		entries[data.Content[i].Value] = entryText{text: v.Value, lineOffset: offset}
	}
	included := map[string]bool{}
	for _, e := range entries {
		for line := range strings.Lines(e.text) {
			if cmd, arg, _ := strings.Cut(strings.TrimSpace(line), " "); strings.EqualFold(cmd, "@INCLUDE") {
				for name := range entries {
					if ok, _ := filepath.Match(filepath.Base(strings.TrimSpace(arg)), name); ok {
						included[name] = true
					}
				}
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(entries)) {
		yml := strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")
		if !included[name] && (yml || strings.HasSuffix(name, ".conf")) {
			if err := r.text(path, entries[name].text, entries[name].lineOffset, filepath.Dir(path), entries, !yml); err != nil {
				return err
			}
		}
	}
	return nil
}

func shift(n *yaml.Node, offset int) {
	n.Line += offset
	for _, c := range n.Content {
		shift(c, offset)
	}
}

// yamlConfig reads env first (for the rest), then includes and the pipeline.
func (r *reader) yamlConfig(path string, doc *yaml.Node, dir string, data map[string]entryText) error {
	if env := get(doc, "env"); env != nil && env.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(env.Content); i += 2 {
			r.vars[env.Content[i].Value] = r.expand(env.Content[i+1].Value)
		}
	}
	if inc := get(doc, "includes"); inc != nil && inc.Kind == yaml.SequenceNode {
		for _, item := range inc.Content {
			if err := r.include(path, item.Line, r.expand(item.Value), dir, data, false); err != nil {
				return err
			}
		}
	}
	pl := get(doc, "pipeline") // nil: get finds nothing in it
	for _, kind := range []string{"inputs", "filters", "outputs"} {
		list := get(pl, kind)
		if list == nil {
			continue
		}
		if list.Kind != yaml.SequenceNode {
			return &ParseError{path, list.Line, "pipeline." + kind + " must be a list"}
		}
		for _, item := range list.Content {
			if item.Kind != yaml.MappingNode {
				return &ParseError{path, item.Line, "each of pipeline." + kind + " must be a mapping"}
			}
			s := Section{Kind: strings.TrimSuffix(kind, "s"), File: path, Line: item.Line}
			for i := 0; i+1 < len(item.Content); i += 2 {
				k, v := item.Content[i], item.Content[i+1]
				value := ""
				if v.Kind == yaml.ScalarNode {
					value = r.expand(v.Value)
				}
				s.Entries = append(s.Entries, Entry{Key: k.Value, Value: value, File: path, Line: k.Line})
			}
			r.sections = append(r.sections, s)
		}
	}
	return nil
}
