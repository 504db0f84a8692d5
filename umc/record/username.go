package record

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"umc-invite/umc/queue"
)

// MaxUsernameLength is the longest name UMC's passwordreset module takes;
// it answers a longer one with 403.
const MaxUsernameLength = 241

// QueueSuffix ends every queue file's name.
const QueueSuffix = ".send"

// ErrBadInput marks a record that can never be sent, whatever UMC does.
var ErrBadInput = errors.New("bad input")

// Keys names the record keys the username may come from.
type Keys struct {
	Username string // top-level key, and key inside a JSON log line
	Path     string // tail's Path_Key
}

// byteOrderMark may open a file saved by an editor that marks UTF-8.
const byteOrderMark = '\uFEFF'

// ucsName is UDM's user name syntax, translated from the syntax class
// uid_umlauts in univention-corporate-server's
// management/univention-directory-manager-modules/modules/univention/admin/syntax.py
// (used by users/user's "username" property):
//
//	_re = re.compile(r'(?u)(^\w[\w -.]*\w$)|\w*$')   plus: no " " at all
//
// Python's Unicode \w is a letter, a number or "_": [\p{L}\p{N}_] here.
// " -." is, as UCS's own FIXME says, the ASCII range U+0020..U+002E, so
// !"#$%&'()*+,-. may stand inside a name (o'brien is a UCS name); the
// space in that range is refused separately, as UDM does. The ASCII-only
// class uid ([a-zA-Z0-9][a-zA-Z0-9._-]*[a-zA-Z0-9]) is a subset, so this
// is the union of what a UCS system can hold, with or without umlauts.
// min_length 1 and max_length 16 are marked "not enforced" in UDM; the
// upper limit here is UMC's 241.
var ucsName = regexp.MustCompile(`^(?:[\p{L}\p{N}_][\p{L}\p{N}_ -.]*[\p{L}\p{N}_]|[\p{L}\p{N}_]*)$`)

// Username finds the record's username, in this order: the Username key;
// the "log" line, as a JSON object holding that key or as a bare name; for
// an empty line, the queue file's name without ".send". Errors wrap
// ErrBadInput and say what was wrong.
//
// A bare line and a file name are guesses from free text, so they must be
// a name UDM creates (ucsName). A name given under the Username key, in
// the record or in a JSON object, is the listener's uid as LDAP holds it,
// which may predate or bypass UDM's syntax (the shipped listener keeps a
// "/" in it); it must only be free of invisible characters, white space
// and control characters.
func Username(r Record, keys Keys) (string, error) {
	if v, ok := r.Fields[keys.Username]; ok {
		s, isString := v.(string)
		if !isString {
			return "", badInput("key %q is a %T, not a string", keys.Username, v)
		}
		return checkUID(s, fmt.Sprintf("key %q", keys.Username))
	}
	logValue, hasLog := r.Fields["log"]
	if hasLog {
		line, isString := logValue.(string)
		if !isString {
			return "", badInput("key \"log\" is a %T, not a string", logValue)
		}
		if !utf8.ValidString(line) {
			return "", badInput("log line is not valid UTF-8")
		}
		// One byte-order mark opening the file is an encoding mark, not
		// part of the text (the file holds this one line).
		line = strings.TrimPrefix(line, string(byteOrderMark))
		line = strings.Trim(line, " \t\r\n")
		switch {
		case line == "":
		case strings.ContainsRune("{[\"", rune(line[0])):
			return fromJSONLine(line, keys.Username)
		default:
			return checkUCSName(line, "log line")
		}
	}
	if path, ok := r.String(keys.Path); ok && path != "" {
		base := filepath.Base(path)
		if !queue.IsQueueName(base) {
			return "", badInput("empty line, and file name %q is no queue file's: it does not end in %s, or is hidden", base, QueueSuffix)
		}
		return checkUCSName(strings.TrimSuffix(base, QueueSuffix), "file name")
	}
	if hasLog {
		return "", badInput("empty line and no %q key to take the name from", keys.Path)
	}
	return "", badInput("no %q, \"log\" or %q key", keys.Username, keys.Path)
}

// fromJSONLine takes the name from a line that opens like JSON; anything
// but an object with a string under key is bad input, never a bare name.
func fromJSONLine(line, key string) (string, error) {
	var v any
	if err := json.Unmarshal([]byte(line), &v); err != nil {
		return "", badInput("log line looks like JSON but does not parse: %v", err)
	}
	obj, isObject := v.(map[string]any)
	if !isObject {
		return "", badInput("log line is a JSON %s, not an object with a %q key", jsonType(v), key)
	}
	field, ok := obj[key]
	if !ok {
		return "", badInput("JSON log line has no %q key", key)
	}
	s, isString := field.(string)
	if !isString {
		return "", badInput("JSON key %q is %s, not a string", key, withArticle(jsonType(field)))
	}
	return checkUID(s, fmt.Sprintf("JSON key %q", key))
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func withArticle(t string) string {
	switch t {
	case "null":
		return t
	case "array", "object":
		return "an " + t
	}
	return "a " + t
}

// checkUID refuses names UMC cannot take or that would hide from a reader
// of the log or the dead letters what is actually sent.
func checkUID(name, where string) (string, error) {
	switch {
	case name == "":
		return "", badInput("%s: empty username", where)
	case !utf8.ValidString(name):
		return "", badInput("%s: username is not valid UTF-8", where)
	}
	for _, r := range name {
		if kind := invisible(r); kind != "" {
			return "", badInput("%s: username holds %U (%s)", where, r, kind)
		}
	}
	if n := utf8.RuneCountInString(name); n > MaxUsernameLength {
		return "", badInput("%s: username is %d characters long, UMC takes at most %d",
			where, n, MaxUsernameLength)
	}
	if strings.TrimSpace(name) != name {
		return "", badInput("%s: username %q has leading or trailing spaces", where, name)
	}
	if i := strings.IndexFunc(name, unicode.IsSpace); i >= 0 {
		r, _ := utf8.DecodeRuneInString(name[i:])
		return "", badInput("%s: username %q holds %U (white space); UCS user names have none", where, name, r)
	}
	return name, nil
}

// checkUCSName also holds the name to UDM's syntax (ucsName).
func checkUCSName(name, where string) (string, error) {
	if _, err := checkUID(name, where); err != nil {
		return "", err
	}
	if ucsName.MatchString(name) {
		return name, nil
	}
	return "", badInput("%s: username %q is not a UCS user name (UDM syntax uid_umlauts): %s",
		where, name, whyNotUCS(name))
}

// whyNotUCS names the first character ucsName refuses.
func whyNotUCS(name string) string {
	first, _ := utf8.DecodeRuneInString(name)
	last, _ := utf8.DecodeLastRuneInString(name)
	switch {
	case !isWord(first):
		return fmt.Sprintf("it starts with %U %q; a name starts with a letter, digit or _", first, first)
	case !isWord(last):
		return fmt.Sprintf("it ends with %U %q; a name ends with a letter, digit or _", last, last)
	}
	for _, r := range name {
		if !isWord(r) && (r < ' ' || r > '.') {
			return fmt.Sprintf("it holds %U %q; inside a name only letters, digits, _ and !\"#$%%&'()*+,-. may stand", r, r)
		}
	}
	return "it does not match the syntax" // not reached: the checks above cover ucsName
}

// isWord is Python's Unicode \w as UDM's syntax uses it.
func isWord(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r)
}

// invisible says what kind of invisible or control character r is, or
// "" for any other. They make a log line or a file name look like another
// user's name (bidirectional overrides, zero-width joins), so no source
// may carry them, even one UDM's syntax would not otherwise refuse (the
// Hangul fillers are letters to Unicode). U+FFFD is no one's name either:
// it stands where a decoder met bytes that were not UTF-8.
func invisible(r rune) string {
	switch {
	case r == byteOrderMark:
		return "a byte-order mark"
	case unicode.Is(unicode.Bidi_Control, r):
		return "a bidirectional control"
	case r == '\u200B' || r == '\u200C' || r == '\u200D' || r == '\u2060' || r == '\u180E':
		return "a zero-width character"
	case unicode.IsControl(r):
		return "a control character"
	case unicode.Is(unicode.Cf, r):
		return "an invisible formatting character, Unicode category Cf"
	case unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r):
		return "an invisible filler character"
	case r == utf8.RuneError:
		return "the replacement character: the name was not valid UTF-8 before"
	}
	return ""
}

func badInput(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadInput, fmt.Sprintf(format, args...))
}
