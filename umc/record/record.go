// Package record holds one decoded Fluent Bit record and what the plugin reads from it.
package record

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"umc-invite/umc/logtext"
	"umc-invite/umc/policy"
	"umc-invite/umc/spool"
)

// Record is one event of a chunk, msgpack's []byte strings made Go strings.
type Record struct {
	Tag    string
	Time   time.Time
	Fields map[string]any
}

// New makes a record of fields keyed and valued as a generic msgpack
// decoder gives them: []byte strings and any keys normalized.
func New(tag string, ts time.Time, fields map[any]any) Record {
	return Record{Tag: tag, Time: ts, Fields: normalize(fields).(map[string]any)}
}

func normalize(v any) any {
	switch v := v.(type) {
	case []byte:
		return string(v)
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			key, ok := normalize(k).(string) // no copy for the usual string keys
			if !ok {
				key = fmt.Sprint(k)
			}
			out[key] = normalize(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = normalize(e)
		}
		return out
	}
	return v
}

// String returns the field as a string, if it is one.
func (r Record) String(key string) (string, bool) {
	s, ok := r.Fields[key].(string)
	return s, ok
}

// Identity names the record across retries and restarts: path, offset (else a digest) and time (a file may be re-created).
func (r Record) Identity(pathKey, offsetKey string) string {
	path, hasPath := r.String(pathKey)
	offset, hasOffset := r.Fields[offsetKey]
	if n, isInt := offset.(int64); hasPath && isInt { // tail's, spelled as %v would
		return path + "#" + strconv.FormatInt(n, 10) + "@" + strconv.FormatInt(r.Time.UnixNano(), 10)
	}
	if hasPath && hasOffset {
		return fmt.Sprintf("%s#%v@%d", path, offset, r.Time.UnixNano())
	}
	body, _ := json.Marshal(r.Fields) // maps marshal with sorted keys
	sum := sha256.New()
	fmt.Fprintf(sum, "%s\x00%d\x00", r.Tag, r.Time.UnixNano())
	sum.Write(body)
	return "sha256:" + hex.EncodeToString(sum.Sum(nil))
}

// Offset returns the line's offset in its file (tail's Offset_Key), or -1.
func (r Record) Offset(key string) int64 {
	switch v := r.Fields[key].(type) {
	case int64:
		return v
	case uint64:
		return int64(v)
	}
	return -1
}

// MaxQueueFileName leaves room within NAME_MAX for a producer's temporary name.
const MaxQueueFileName = 200

// QueueFileName is the listener module's: <user>.send, or <prefix>-<16 hex of sha256(user)>.send.
func QueueFileName(user string) string {
	if len(user)+len(spool.QueueSuffix) <= MaxQueueFileName {
		return user + spool.QueueSuffix
	}
	sum := sha256.Sum256([]byte(user))
	tail := "-" + hex.EncodeToString(sum[:8]) + spool.QueueSuffix
	prefix := user[:MaxQueueFileName-len(tail)]
	for len(prefix) > 0 && !utf8.ValidString(prefix) {
		prefix = prefix[:len(prefix)-1] // a character cut in two is left out
	}
	return prefix + tail
}

// maxCarriedText keeps a carried line far below tail's Buffer_Max_Size.
const maxCarriedText = 300

// CarryLine is the line that carries username over, with what is known.
func CarryLine(usernameKey, username string, u policy.User) []byte {
	u.LastAnswer = logtext.Cut(u.LastAnswer, maxCarriedText)
	u.LastUMC = logtext.Cut(u.LastUMC, maxCarriedText)
	u.Reason = logtext.Cut(u.Reason, 2*maxCarriedText)
	raw, _ := json.Marshal(u) // strings and times always encode
	var fields map[string]any
	_ = json.Unmarshal(raw, &fields)
	fields[usernameKey] = username
	line, _ := json.Marshal(fields)
	return append(line, '\n')
}

// Carried returns what a carried-over line (or tail's parsed fields) says: "first_seen", or an older "charged".
func (r Record) Carried() (policy.User, bool) {
	line, hasLog := r.String("log")
	if hasLog && !mayCarry(line) {
		return policy.User{}, false // most lines: no JSON parsed for nothing
	}
	raw := []byte(line)
	if !hasLog {
		raw, _ = json.Marshal(r.Fields) // nil on error: nothing carried
	}
	var probe map[string]json.RawMessage
	if json.Unmarshal(raw, &probe) != nil {
		return policy.User{}, false
	}
	_, isNew := probe["first_seen"]
	_, isOld := probe["charged"]
	var u policy.User
	if !isNew && !isOld || json.Unmarshal(raw, &u) != nil && isNew {
		return policy.User{}, false
	}
	return u, true
}

// mayCarry: a key that decodes to "first_seen" or "charged" is written
// so, or escaped.
func mayCarry(line string) bool {
	return strings.Contains(line, "first_seen") || strings.Contains(line, "charged") || strings.Contains(line, `\`)
}

// MaxUsernameLength is the longest name UMC's passwordreset takes (else 403).
const MaxUsernameLength = 241

// ErrBadInput marks a record that can never be sent, whatever UMC does.
var ErrBadInput = errors.New("bad input")

// Keys names the record keys the username may come from.
type Keys struct {
	Username string // top-level key, and key inside a JSON log line
	Path     string // tail's Path_Key
}

// isUIDUmlauts is UDM's uid_umlauts, r'(?u)(^\w[\w -.]*\w$)|\w*$' (" -." is
// U+0020..U+002E: o'brien): word characters, and inside a name also
// U+0020..U+002E. Written out: the regexp package would cost the loaded
// plugin a quarter of a megabyte.
func isUIDUmlauts(name string) bool {
	for i, r := range name {
		_, size := utf8.DecodeRuneInString(name[i:])
		inside := i > 0 && i+size < len(name)
		if !isWord(r) && !(inside && ' ' <= r && r <= '.') {
			return false
		}
	}
	return true
}

// Username is the Username key's (LDAP's uid: the listener keeps a "/"), the "log" line's (JSON, or a bare
// UDM name), else the file name's; errors wrap ErrBadInput.
func Username(r Record, keys Keys) (string, error) {
	if v, ok := r.Fields[keys.Username]; ok {
		s, isString := v.(string)
		if !isString {
			return "", badInput("key %q is a %T, not a string", keys.Username, v)
		}
		return checkUID(s, place{"key", keys.Username})
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
		line = strings.Trim(strings.TrimPrefix(line, "\uFEFF"), " \t\r\n") // one byte-order mark may open the file
		switch {
		case line == "":
		case strings.ContainsRune("{[\"", rune(line[0])):
			return fromJSONLine(line, keys.Username)
		default:
			return checkUCSName(line, place{what: "log line"})
		}
	}
	if path, ok := r.String(keys.Path); ok && path != "" {
		base := filepath.Base(path)
		if !spool.IsQueueName(base) {
			return "", badInput("empty line, and file name %q is no queue file's: it does not end in %s, or is hidden", base, spool.QueueSuffix)
		}
		return checkUCSName(strings.TrimSuffix(base, spool.QueueSuffix), place{what: "file name"})
	}
	if hasLog {
		return "", badInput("empty line and no %q key to take the name from", keys.Path)
	}
	return "", badInput("no %q, \"log\" or %q key", keys.Username, keys.Path)
}

// fromJSONLine takes the name from a line that opens like JSON.
func fromJSONLine(line, key string) (string, error) {
	var v any
	if err := json.Unmarshal([]byte(line), &v); err != nil {
		return "", badInput("log line looks like JSON but does not parse: %v", err)
	}
	obj, isObject := v.(map[string]any)
	if !isObject {
		return "", badInput("log line is a JSON %s, not an object with a %q key", jsonTypes[fmt.Sprintf("%T", v)][0], key)
	}
	field, ok := obj[key]
	if !ok {
		return "", badInput("JSON log line has no %q key", key)
	}
	s, isString := field.(string)
	if !isString {
		return "", badInput("JSON key %q is %s, not a string", key, jsonTypes[fmt.Sprintf("%T", field)][1])
	}
	return checkUID(s, place{"JSON key", key})
}

// jsonTypes name, by Go type, what json.Unmarshal made: bare, and with its article.
var jsonTypes = map[string][2]string{
	"<nil>": {"null", "null"}, "bool": {"boolean", "a boolean"}, "float64": {"number", "a number"}, "string": {"string", "a string"},
	"[]interface {}": {"array", "an array"}, "map[string]interface {}": {"object", "an object"},
}

// place says where a username was found; spelled out only in an error.
type place struct{ what, key string }

func (p place) String() string {
	if p.key == "" {
		return p.what
	}
	return p.what + " " + strconv.Quote(p.key)
}

// checkUID refuses names UMC cannot take or that hide what is sent.
func checkUID(name string, where place) (string, error) {
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
		return "", badInput("%s: username is %d characters long, UMC takes at most %d", where, n, MaxUsernameLength)
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

// checkUCSName also holds the name to UDM's syntax (isUIDUmlauts).
func checkUCSName(name string, where place) (string, error) {
	if _, err := checkUID(name, where); err != nil {
		return "", err
	}
	if isUIDUmlauts(name) {
		return name, nil
	}
	return "", badInput("%s: username %q is not a UCS user name (UDM syntax uid_umlauts): %s", where, name, whyNotUCS(name))
}

// whyNotUCS names the first character isUIDUmlauts refuses.
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
	return "it does not match the syntax" // not reached: the checks above cover isUIDUmlauts
}

// isWord is Python's Unicode \w as UDM's syntax uses it.
func isWord(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r)
}

// invisible names r's kind if it could make a name look like another's.
func invisible(r rune) string {
	switch {
	case r == '\uFEFF':
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
