// Package record holds one decoded Fluent Bit record and what the plugin
// reads from it: the username and a stable identity.
package record

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Record is one event of a chunk, with msgpack's []byte strings turned
// into Go strings.
type Record struct {
	Tag    string
	Time   time.Time
	Fields map[string]any
}

// New normalizes a record as the fluent-bit-go decoder returns it.
func New(tag string, ts time.Time, fields map[any]any) Record {
	return Record{Tag: tag, Time: ts, Fields: normalizeMap(fields)}
}

func normalizeMap(m map[any]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[fmt.Sprint(normalize(k))] = normalize(v)
	}
	return out
}

func normalize(v any) any {
	switch v := v.(type) {
	case []byte:
		return string(v)
	case map[any]any:
		return normalizeMap(v)
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

// Identity names the record stably across retries of its chunk and
// restarts of Fluent Bit: the queue file's path and the line's offset where
// tail added them, else a digest of tag, time and body. The time is part of
// both, so that a queue file re-created for the same user later is a new
// record, not a duplicate of the old one.
func (r Record) Identity(pathKey, offsetKey string) string {
	path, hasPath := r.String(pathKey)
	offset, hasOffset := r.Fields[offsetKey]
	if hasPath && hasOffset {
		return path + "#" + fmt.Sprint(offset) + "@" + strconv.FormatInt(r.Time.UnixNano(), 10)
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

// CarryLine is the line the plugin appends to a queue file to carry a
// record still open on its chunk's last try into a new record: the
// username, the failures charged to it so far, and a refusal decided but
// not yet written down.
func CarryLine(usernameKey, username string, charged int, refusal string) []byte {
	fields := map[string]any{usernameKey: username, "charged": charged}
	if refusal != "" {
		fields["refused"] = refusal
	}
	line, _ := json.Marshal(fields) // strings and an int always encode
	return append(line, '\n')
}

// Carried returns what a carried-over line says: the failures charged
// before and a refusal not yet written down; zero values otherwise.
func (r Record) Carried() (charged int, refusal string) {
	line, hasLog := r.String("log")
	if !hasLog {
		// tail with "Parser json": the line's keys are the record's.
		return r.carriedFields()
	}
	if !strings.HasPrefix(line, "{") || !strings.Contains(line, `"charged"`) {
		return 0, ""
	}
	var carried struct {
		Charged int    `json:"charged"`
		Refused string `json:"refused"`
	}
	if json.Unmarshal([]byte(line), &carried) != nil || carried.Charged < 0 {
		return 0, ""
	}
	return carried.Charged, carried.Refused
}

func (r Record) carriedFields() (charged int, refusal string) {
	var n int64
	switch v := r.Fields["charged"].(type) {
	case int64:
		n = v
	case uint64:
		n = int64(min(v, 1<<31))
	case float64:
		n = int64(v)
	default:
		return 0, ""
	}
	if n < 0 || n > 1<<31 {
		return 0, ""
	}
	refusal, _ = r.String("refused")
	return int(n), refusal
}
