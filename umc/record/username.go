package record

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"
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

// Username finds the record's username, in this order: the Username key;
// the "log" line, as a JSON object holding that key or as a bare name; for
// an empty line, the queue file's name without ".send". Errors wrap
// ErrBadInput and say what was wrong.
func Username(r Record, keys Keys) (string, error) {
	if v, ok := r.Fields[keys.Username]; ok {
		s, isString := v.(string)
		if !isString {
			return "", badInput("key %q is a %T, not a string", keys.Username, v)
		}
		return checkName(s, fmt.Sprintf("key %q", keys.Username))
	}
	logValue, hasLog := r.Fields["log"]
	if hasLog {
		line, isString := logValue.(string)
		if !isString {
			return "", badInput("key \"log\" is a %T, not a string", logValue)
		}
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "{") {
			return fromJSONLine(line, keys.Username)
		}
		if line != "" {
			return checkName(line, "log line")
		}
	}
	if path, ok := r.String(keys.Path); ok && path != "" {
		base := filepath.Base(path)
		if !strings.HasSuffix(base, QueueSuffix) {
			return "", badInput("empty line, and file name %q does not end in %s", base, QueueSuffix)
		}
		return checkName(strings.TrimSuffix(base, QueueSuffix), "file name")
	}
	if hasLog {
		return "", badInput("empty line and no %q key to take the name from", keys.Path)
	}
	return "", badInput("no %q, \"log\" or %q key", keys.Username, keys.Path)
}

func fromJSONLine(line, key string) (string, error) {
	var obj map[string]any
	if err := json.Unmarshal([]byte(line), &obj); err != nil {
		return "", badInput("log line is not valid JSON: %v", err)
	}
	v, ok := obj[key]
	if !ok {
		return "", badInput("JSON log line has no %q key", key)
	}
	s, isString := v.(string)
	if !isString {
		return "", badInput("JSON key %q is a %T, not a string", key, v)
	}
	return checkName(s, fmt.Sprintf("JSON key %q", key))
}

// checkName refuses names UMC cannot take or that would garble a log line.
func checkName(name, where string) (string, error) {
	switch {
	case name == "":
		return "", badInput("%s: empty username", where)
	case !utf8.ValidString(name):
		return "", badInput("%s: username is not valid UTF-8", where)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return "", badInput("%s: username %q holds control characters", where, name)
	case utf8.RuneCountInString(name) > MaxUsernameLength:
		return "", badInput("%s: username is %d characters long, UMC takes at most %d",
			where, utf8.RuneCountInString(name), MaxUsernameLength)
	case strings.TrimSpace(name) != name:
		return "", badInput("%s: username %q has leading or trailing spaces", where, name)
	}
	return name, nil
}

func badInput(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadInput, fmt.Sprintf(format, args...))
}
