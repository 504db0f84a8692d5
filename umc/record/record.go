// Package record holds one decoded Fluent Bit record and what the plugin
// reads from it: the username and a stable identity.
package record

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
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
		out[text(normalize(k))] = normalize(v)
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

// text is fmt.Sprint(v), without its copy for the usual keys and offsets.
func text(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	case uint64:
		return strconv.FormatUint(v, 10)
	}
	return fmt.Sprint(v)
}

// String returns the field as a string, if it is one.
func (r Record) String(key string) (string, bool) {
	s, ok := r.Fields[key].(string)
	return s, ok
}

// Identity names the record stably across retries and restarts: path and
// offset where tail added them, else a digest of tag, time and body; with
// the time, so a file re-created later is a new record.
func (r Record) Identity(pathKey, offsetKey string) string {
	path, hasPath := r.String(pathKey)
	offset, hasOffset := r.Fields[offsetKey]
	if hasPath && hasOffset {
		return path + "#" + text(offset) + "@" + strconv.FormatInt(r.Time.UnixNano(), 10)
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
