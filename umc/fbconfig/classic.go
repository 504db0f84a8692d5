package fbconfig

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// ParseError is a config Fluent Bit would not load, with where.
type ParseError struct {
	File string
	Line int
	Msg  string
}

func (e *ParseError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// classic reads Fluent Bit's classic format. lineOffset shifts line
// numbers (a config inside a manifest); data, when not nil, holds the
// files an @INCLUDE may name (a ConfigMap's entries), else includes are
// read from dir.
func (r *reader) classic(file, text string, lineOffset int, dir string, data map[string]entryText) error {
	var cur *Section
	flush := func() {
		if cur != nil {
			r.sections = append(r.sections, *cur)
			cur = nil
		}
	}
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
				flush()
				if err := r.include(file, n, r.expand(arg), dir, data, true); err != nil {
					return err
				}
			default:
				return &ParseError{file, n, fmt.Sprintf("unknown command %s", cmd)}
			}
		case !indented && strings.HasPrefix(t, "[") && strings.HasSuffix(t, "]"):
			flush()
			cur = &Section{Kind: strings.ToLower(strings.TrimSpace(t[1 : len(t)-1])), File: file, Line: n}
		case !indented:
			return &ParseError{file, n, "a key must be indented below its [SECTION]"}
		case cur == nil:
			return &ParseError{file, n, "a key outside any [SECTION]"}
		default:
			key, value, _ := strings.Cut(strings.ReplaceAll(t, "\t", " "), " ")
			cur.Entries = append(cur.Entries, Entry{Key: key, Value: r.expand(strings.TrimSpace(value)), File: file, Line: n})
		}
	}
	flush()
	return nil
}

// entryText is a ConfigMap data entry: its text, and the manifest line
// before its first line.
type entryText struct {
	text       string
	lineOffset int
}

// include reads what an @INCLUDE (classic: a glob, read as classic) or a
// YAML include (a name, read by its content) names: from data, a
// ConfigMap's entries all in one directory, or else from dir.
func (r *reader) include(file string, line int, pattern, dir string, data map[string]entryText, classic bool) error {
	word := "include"
	if classic {
		word = "@INCLUDE"
	}
	r.depth++
	defer func() { r.depth-- }()
	if r.depth > maxIncludeDepth {
		return &ParseError{file, line, word + " nested too deep (a loop?)"}
	}
	if data != nil {
		var names []string
		for name := range data {
			ok := name == filepath.Base(pattern)
			if classic {
				ok, _ = filepath.Match(filepath.Base(pattern), name)
			}
			if ok {
				names = append(names, name)
			}
		}
		if len(names) == 0 {
			return &ParseError{file, line, fmt.Sprintf("%s %s: no such entry in the ConfigMap", word, pattern)}
		}
		sort.Strings(names)
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

// text reads one classic text or the YAML documents in it.
func (r *reader) text(file, text string, lineOffset int, dir string, data map[string]entryText, classic bool) error {
	if classic {
		return r.classic(file, text, lineOffset, dir, data)
	}
	docs, err := yamlDocs(file, []byte(text))
	if err != nil {
		return err
	}
	for _, d := range docs {
		shift(d, lineOffset)
		if err := r.yamlConfig(file, d, dir, data); err != nil {
			return err
		}
	}
	return nil
}
