package fbconfig

import (
	"fmt"
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
				if err := r.include(file, n, r.expand(arg), dir, data); err != nil {
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

// entryText is one data entry of a ConfigMap: its text and the manifest
// line its first line is on, less one.
type entryText struct {
	text       string
	lineOffset int
}

func (r *reader) include(file string, line int, pattern, dir string, data map[string]entryText) error {
	r.depth++
	defer func() { r.depth-- }()
	if r.depth > maxIncludeDepth {
		return &ParseError{file, line, "@INCLUDE nested too deep (a loop?)"}
	}
	if data != nil {
		// In a mounted ConfigMap every entry is a file of one directory.
		base := filepath.Base(pattern)
		var names []string
		for name := range data {
			if ok, _ := filepath.Match(base, name); ok {
				names = append(names, name)
			}
		}
		if len(names) == 0 {
			return &ParseError{file, line, fmt.Sprintf("@INCLUDE %s: no such entry in the ConfigMap", pattern)}
		}
		sort.Strings(names)
		for _, name := range names {
			if err := r.classic(file, data[name].text, data[name].lineOffset, dir, data); err != nil {
				return err
			}
		}
		return nil
	}
	if !filepath.IsAbs(pattern) {
		pattern = filepath.Join(dir, pattern)
	}
	names, err := filepath.Glob(pattern)
	if err != nil || len(names) == 0 {
		return &ParseError{file, line, fmt.Sprintf("@INCLUDE %s: no such file", pattern)}
	}
	for _, name := range names {
		raw, err := readFile(name)
		if err != nil {
			return &ParseError{file, line, fmt.Sprintf("@INCLUDE: %v", err)}
		}
		if err := r.classic(name, raw, 0, filepath.Dir(name), nil); err != nil {
			return err
		}
	}
	return nil
}
