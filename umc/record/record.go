// Package record holds one decoded Fluent Bit record and what the plugin reads from it.
package record

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"umc-invite/umc/policy"
	"umc-invite/umc/spool"
)

// Record is one event of a chunk, msgpack's []byte strings made Go strings.
type Record struct {
	Tag    string
	Time   time.Time
	Fields map[string]any
}

// New normalizes a record as the fluent-bit-go decoder returns it.
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
			out[text(normalize(k))] = normalize(e)
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

// text is fmt.Sprint(v), without its copy for the usual string keys.
func text(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
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
	u.LastAnswer = cut(u.LastAnswer, maxCarriedText)
	u.LastUMC = cut(u.LastUMC, maxCarriedText)
	u.Reason = cut(u.Reason, 2*maxCarriedText)
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

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…" // a character cut in two is left out
}
