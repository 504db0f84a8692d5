package record

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"umc-invite/umc/spool"
)

// logLine is a record as tail emits one line, without a path to fall
// back on.
func logLine(line string) Record { return rec(map[any]any{"log": []byte(line)}) }

func TestBareLines(t *testing.T) {
	good := []struct{ line, want string }{
		{"alice", "alice"},
		{"Alice.Smith", "Alice.Smith"},
		{"j.doe-2", "j.doe-2"},
		{"müller", "müller"},
		{"jürgen.müller", "jürgen.müller"},
		{"o'brien", "o'brien"}, // UDM's " -." range lets ' stand inside
		{"a", "a"},             // uid_umlauts' \w* takes one character
		{"_", "_"},
		{"42", "42"},
		{"user_1", "user_1"},
		{"김철수", "김철수"},
		{"admin", "admin"}, // current UDM no longer refuses it (its doctest)
		{"alice\r", "alice"},
		{"  carol \t", "carol"},
		{strings.Repeat("b", 241), strings.Repeat("b", 241)},
		{"\uFEFFalice", "alice"}, // one byte-order mark opening the file
		{"\uFEFF{\"username\": \"bob\"}", "bob"},
	}
	for _, tc := range good {
		got, err := Username(logLine(tc.line), keys)
		if err != nil || got != tc.want {
			t.Errorf("%q: got %q, %v; want %q", tc.line, got, err, tc.want)
		}
	}

	bad := []struct{ line, reason string }{
		{`"bob"`, `log line is a JSON string, not an object with a "username" key`},
		{`["bob"]`, "log line is a JSON array"},
		{`[bob`, "log line looks like JSON but does not parse"},
		{`{bob}`, "log line looks like JSON but does not parse"},
		{`{"username": "bob"} trailing`, "log line looks like JSON but does not parse"},
		{`"bob`, "log line looks like JSON but does not parse"},
		{"username: bob", `username "username: bob" holds U+0020 (white space)`},
		{"username:bob", "holds U+003A ':'"},
		{"bob smith", "holds U+0020 (white space)"},
		{"bob\u00A0smith", "holds U+00A0 (white space)"},
		{"bob\u3000smith", "holds U+3000 (white space)"},
		{"user$", "ends with U+0024 '$'"},
		{".alice", "starts with U+002E '.'"},
		{"-alice", "starts with U+002D '-'"},
		{"alice.", "ends with U+002E '.'"},
		{"'bob'", "starts with U+0027"},
		{"with/slash", "holds U+002F '/'"},
		{"a@b", "holds U+0040 '@'"},
		{"<bob>", "starts with U+003C '<'"},
		{"mu\u0308ller", "holds U+0308"}, // decomposed: UDM's \w has no combining marks
		{"al\u202Eice", "username holds U+202E (a bidirectional control)"},
		{"al\u200Eice", "U+200E (a bidirectional control)"},
		{"a\u2066b\u2069", "U+2066 (a bidirectional control)"},
		{"a\u061Cb", "U+061C (a bidirectional control)"},
		{"al\u200Bice", "username holds U+200B (a zero-width character)"},
		{"\u200Balice", "U+200B (a zero-width character)"},
		{"a\u200Db", "U+200D (a zero-width character)"},
		{"a\u2060b", "U+2060 (a zero-width character)"},
		{"a\u180Eb", "U+180E (a zero-width character)"},
		{"alice\uFEFF", "U+FEFF (a byte-order mark)"},
		{"\uFEFF\uFEFFalice", "U+FEFF (a byte-order mark)"},
		{" \uFEFFalice", "U+FEFF (a byte-order mark)"},
		{"a\u00ADb", "U+00AD (an invisible formatting character, Unicode category Cf)"},
		{"a\U000E0041b", "U+E0041 (an invisible formatting character, Unicode category Cf)"},
		{"a\u3164b", "U+3164 (an invisible filler character)"},
		{"ali\x1bce", "U+001B (a control character)"},
		{"ali\x85ce", "not valid UTF-8"},
		{"ali\u0085ce", "U+0085 (a control character)"},
		{strings.Repeat("b", 242), "242 characters long, UMC takes at most 241"},
		{strings.Repeat("ä", 242), "242 characters long"},
	}
	for _, tc := range bad {
		got, err := Username(logLine(tc.line), keys)
		if !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("%q: got %q, %v; want bad input with %q", tc.line, got, err, tc.reason)
		}
	}
}

func TestJSONLines(t *testing.T) {
	good := []struct{ line, want string }{
		{`{"username": "alice"}`, "alice"},
		{`{"username":"müller","extra":[1,2]}`, "müller"},
		{`{"username": "j\u00fcrgen"}`, "jürgen"},
		// The uid as LDAP holds it; only bare lines and file names must
		// be names UDM creates.
		{`{"username": "with/slash"}`, "with/slash"},
		{`{"username": "a@b"}`, "a@b"},
		{"\t{\"username\": \"bob\"}\r\n", "bob"},
	}
	for _, tc := range good {
		got, err := Username(logLine(tc.line), keys)
		if err != nil || got != tc.want {
			t.Errorf("%s: got %q, %v; want %q", tc.line, got, err, tc.want)
		}
	}

	bad := []struct{ line, reason string }{
		{`{"username": 5}`, `JSON key "username" is a number, not a string`},
		{`{"username": null}`, `JSON key "username" is null, not a string`},
		{`{"username": true}`, `is a boolean`},
		{`{"username": ["bob"]}`, `is an array`},
		{`{"username": {"name": "bob"}}`, `is an object`},
		{`{"username": ""}`, "empty username"},
		{`{"username": "bob smith"}`, "holds U+0020 (white space)"},
		{`{"username": "bob "}`, "leading or trailing spaces"},
		{`{"username": "al\u202eice"}`, "username holds U+202E (a bidirectional control)"},
		{`{"username": "\ufeffbob"}`, "U+FEFF (a byte-order mark)"},
		{`{"username": "bo\u200bb"}`, "U+200B (a zero-width character)"},
		{`{"username": "al\ufffdice"}`, "U+FFFD (the replacement character: the name was not valid UTF-8 before)"},
		{`{"username": "al\ud800ice"}`, "U+FFFD (the replacement character"},
		{"{\"username\": \"al\xffice\"}", "log line is not valid UTF-8"},
		{`{"username": "` + strings.Repeat("x", 242) + `"}`, "242 characters long"},
		{`{}`, `JSON log line has no "username" key`},
		{`{"user": "bob"}`, `JSON log line has no "username" key`},
		{`[]`, "log line is a JSON array"},
		{`"bob"`, "log line is a JSON string"},
		{`{"username": "bob"`, "log line looks like JSON but does not parse"},
	}
	for _, tc := range bad {
		got, err := Username(logLine(tc.line), keys)
		if !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("%s: got %q, %v; want bad input with %q", tc.line, got, err, tc.reason)
		}
	}
}

func TestRecordKeyAndFileName(t *testing.T) {
	cases := []struct {
		name   string
		fields map[any]any
		want   string // "" for bad input
		reason string
	}{
		{"key with slash", map[any]any{"username": "with/slash"}, "with/slash", ""},
		{"key with RLO", map[any]any{"username": "al\u202Eice"}, "", "U+202E (a bidirectional control)"},
		{"key with BOM", map[any]any{"username": "\uFEFFalice"}, "", "U+FEFF (a byte-order mark)"},
		{"key with space", map[any]any{"username": "bob smith"}, "", "U+0020 (white space)"},
		{"file o'brien", map[any]any{"log": "", "path": "/q/o'brien.send"}, "o'brien", ""},
		{"file müller", map[any]any{"log": "", "path": "/q/müller.send"}, "müller", ""},
		{"line only a BOM", map[any]any{"log": "\uFEFF", "path": "/q/alice.send"}, "alice", ""},
		{"hidden file", map[any]any{"log": "", "path": "/q/.alice.send"}, "", `".alice.send" is no queue file's`},
		{"file with ZWSP", map[any]any{"log": "", "path": "/q/al\u200Bice.send"}, "", "file name: username holds U+200B (a zero-width character)"},
		{"file with BOM", map[any]any{"log": "", "path": "/q/\uFEFFalice.send"}, "", "U+FEFF (a byte-order mark)"},
		{"file with RLO", map[any]any{"log": "", "path": "/q/evil\u202Etxt.send"}, "", "U+202E (a bidirectional control)"},
		{"file with space", map[any]any{"log": "", "path": "/q/bob smith.send"}, "", "U+0020 (white space)"},
		{"file user$", map[any]any{"log": "", "path": "/q/host$.send"}, "", "ends with U+0024 '$'"},
	}
	for _, tc := range cases {
		got, err := Username(rec(tc.fields), keys)
		if tc.want != "" {
			if err != nil || got != tc.want {
				t.Errorf("%s: got %q, %v; want %q", tc.name, got, err, tc.want)
			}
			continue
		}
		if !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("%s: got %q, %v; want bad input with %q", tc.name, got, err, tc.reason)
		}
	}
}

// ucsName is UDM's uid_umlauts pattern, r'(?u)(^\w[\w -.]*\w$)|\w*$'.
var ucsName = regexp.MustCompile(`^(?:[\p{L}\p{N}_][\p{L}\p{N}_ -.]*[\p{L}\p{N}_]|[\p{L}\p{N}_]*)$`)

// isUCSName checks UDM's uid_umlauts rule character by character, apart
// from the regular expression the code uses.
func isUCSName(s string) bool {
	word := func(r rune) bool { return r == '_' || unicode.In(r, unicode.L, unicode.N) }
	runes := []rune(s)
	if len(runes) == 0 || !word(runes[0]) || !word(runes[len(runes)-1]) {
		return false
	}
	for _, r := range runes {
		if !word(r) && !strings.ContainsRune("!\"#$%&'()*+,-.", r) {
			return false
		}
	}
	return true
}

func FuzzUsername(f *testing.F) {
	// The seed corpus is in testdata/fuzz/FuzzUsername.
	f.Fuzz(func(t *testing.T, line string) {
		wrapped, _ := json.Marshal(map[string]string{"username": line})
		// A log line that opens like JSON is read as the listener's JSON,
		// whose name is held only to the uid rules, as under the key.
		lineIsJSON, lineName := jsonName(line)
		sources := []struct {
			name   string
			fields map[any]any
			strict bool // must be a UCS name, not only a clean uid
			want   string
		}{
			{"log line", map[any]any{"log": []byte(line)}, !lineIsJSON, lineName},
			{"file name", map[any]any{"log": []byte(""), "path": []byte("/q/" + line + spool.QueueSuffix)}, true, ""},
			{"record key", map[any]any{"username": []byte(line)}, false, line},
			{"JSON line", map[any]any{"log": wrapped}, false, line},
		}
		for _, src := range sources {
			name, err := Username(rec(src.fields), keys)
			if err != nil {
				msg := err.Error()
				if !errors.Is(err, ErrBadInput) || name != "" {
					t.Fatalf("%s %q: got %q, %v", src.name, line, name, err)
				}
				if strings.ContainsAny(msg, "\n\r") || !utf8.ValidString(msg) || len(msg) > 4096 {
					t.Fatalf("%s %q: the reason is no clean log line: %q", src.name, line, msg)
				}
				continue
			}
			checkAccepted(t, src.name, line, name, src.strict, src.want)
		}
	})
}

// jsonName tells whether Username reads line as JSON and, if it holds one,
// the string under "username" that it must then accept unchanged.
func jsonName(line string) (isJSON bool, name string) {
	trimmed := strings.Trim(strings.TrimPrefix(line, "\uFEFF"), " \t\r\n")
	if trimmed == "" || !strings.ContainsRune("{[\"", rune(trimmed[0])) {
		return false, ""
	}
	var obj map[string]any
	if json.Unmarshal([]byte(trimmed), &obj) == nil {
		name, _ = obj["username"].(string)
	}
	return true, name
}

func checkAccepted(t *testing.T, source, line, name string, strict bool, want string) {
	t.Helper()
	fail := func(why string) { t.Fatalf("%s %q: accepted %q, which %s", source, line, name, why) }
	switch n := utf8.RuneCountInString(name); {
	case !utf8.ValidString(name):
		fail("is not valid UTF-8")
	case n == 0 || n > MaxUsernameLength:
		fail("has a bad length")
	case strings.IndexFunc(name, unicode.IsSpace) >= 0:
		fail("holds white space")
	case strings.IndexFunc(name, func(r rune) bool {
		return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) ||
			unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r) || r == utf8.RuneError
	}) >= 0:
		fail("holds a control, format, filler or replacement character")
	case strict && (!ucsName.MatchString(name) || !isUCSName(name)):
		fail("is not a UCS user name")
	case strict && source == "log line" && !strings.Contains(line, name):
		fail("is not in the line")
	case !strict && name != want:
		fail(fmt.Sprintf("is not exactly the name given (%q)", want))
	}
}

// The listener module names the file of a uid too long for a file name
// <uid prefix>-<hash>.send; the user is the one the file's JSON line names,
// never the file name.
func TestTheUserIsTheOneTheLineNamesNotTheFileName(t *testing.T) {
	long := strings.Repeat("a", 230)
	cases := []struct{ line, path, want string }{
		{`{"username": "` + long + `"}`, "/q/" + long[:183] + "-0123456789abcdef.send", long},
		{`{"username": "alice"}`, "/q/bob.send", "alice"},
	}
	for _, tc := range cases {
		got, err := Username(rec(map[any]any{"log": tc.line, "path": tc.path}), keys)
		if err != nil || got != tc.want {
			t.Errorf("%s in %s: got %q, %v; want %q", tc.line, tc.path, got, err, tc.want)
		}
	}
}

// The written-out uid_umlauts check accepts exactly what UDM's pattern does.
func FuzzUIDUmlautsAgreesWithUDMsPattern(f *testing.F) {
	for _, s := range []string{"", "a", "ab", "o'brien", "a b", " a", "a ", "a.", "ä-ö", "a/b", "a\xffb", "\xff", "1", "_", "a!b", "a\u200bb", "a\u0301"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := isUIDUmlauts(s), ucsName.MatchString(s); got != want {
			t.Errorf("%q: the check says %v, UDM's pattern %v", s, got, want)
		}
	})
}
