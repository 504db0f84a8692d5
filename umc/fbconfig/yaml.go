package fbconfig

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

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
