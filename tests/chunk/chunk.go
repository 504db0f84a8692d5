// Package chunk writes Fluent Bit chunks in its event format for tests: a
// sequence of [[timestamp, metadata], body] arrays in msgpack, with the
// timestamp as Fluent Bit's EventTime extension.
package chunk

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"time"
)

// Event is one record of a chunk.
type Event struct {
	Time   time.Time
	Fields map[string]any
}

// Encode writes events as Fluent Bit v2+ does.
func Encode(events ...Event) []byte {
	var b []byte
	for _, e := range events {
		b = append(b, 0x92, 0x92) // [[ts, meta], body]
		b = appendEventTime(b, e.Time)
		b = append(b, 0x80) // empty metadata map
		b = appendValue(b, e.Fields)
	}
	return b
}

func appendEventTime(b []byte, t time.Time) []byte {
	b = append(b, 0xd7, 0x00) // fixext8, type 0
	b = binary.BigEndian.AppendUint32(b, uint32(t.Unix()))
	return binary.BigEndian.AppendUint32(b, uint32(t.Nanosecond()))
}

func appendValue(b []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(b, 0xc0)
	case bool:
		if v {
			return append(b, 0xc3)
		}
		return append(b, 0xc2)
	case int:
		return appendInt(b, int64(v))
	case int64:
		return appendInt(b, v)
	case string:
		return appendString(b, v)
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b = append(b, 0xdf)
		b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
		for _, k := range keys {
			b = appendString(b, k)
			b = appendValue(b, v[k])
		}
		return b
	case []any:
		b = append(b, 0xdd)
		b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
		for _, e := range v {
			b = appendValue(b, e)
		}
		return b
	}
	panic(fmt.Sprintf("chunk: cannot encode %T", v))
}

func appendInt(b []byte, n int64) []byte {
	if n >= 0 && n <= math.MaxInt8 {
		return append(b, byte(n))
	}
	b = append(b, 0xd3)
	return binary.BigEndian.AppendUint64(b, uint64(n))
}

func appendString(b []byte, s string) []byte {
	b = append(b, 0xdb)
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// Tail is the record Fluent Bit's tail input makes of one queue file line
// with Path_Key path and Offset_Key offset.
func Tail(t time.Time, path, line string, offset int64) Event {
	return Event{Time: t, Fields: map[string]any{"log": line, "path": path, "offset": offset}}
}
