// Package chunkdec decodes the msgpack chunks Fluent Bit hands an output
// plugin into records. It is plain Go, without cgo, so that it can be
// tested and fuzzed on its own.
package chunkdec

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"umc-invite/umc/record"
)

// maxDepth bounds nesting: Fluent Bit's records are flat, and a deep one
// must not cost a deep recursion.
const maxDepth = 64

// Decode decodes every record of a chunk it can, tagged tag: Each's
// records, collected.
func Decode(tag string, data []byte) (records []record.Record, err error) {
	_, err = Each(tag, data, func(r record.Record) bool {
		records = append(records, r)
		return true
	})
	return records, err
}

// Each decodes the chunk's records one at a time, handing each to yield
// as it is read, until yield returns false; n is how many it handed over.
// An event of the wrong shape (no [header, body] pair, a body that is no
// map) is a whole msgpack value: it is skipped, its error joined to the
// others, and the events after it still decoded. At a broken encoding it
// stops, with the error. The chunk is read in place: what is kept is
// copied. A record is decoded when it is wanted, so that a flush holds
// the records it is working on, not the whole chunk.
func Each(tag string, data []byte, yield func(record.Record) bool) (n int, err error) {
	var skipped []error
	defer func() { err = errors.Join(append(skipped, err)...) }()
	for rest := data; len(rest) > 0; {
		e, after, err := next(tag, rest)
		if err != nil && !errors.As(err, new(shapeError)) { // a broken encoding: nothing after it can be trusted
			return n, fmt.Errorf("malformed chunk after %d record(s): %w", n, err)
		}
		rest = after
		if err != nil {
			skipped = append(skipped, fmt.Errorf("malformed record %d: %w (skipped)", n+len(skipped)+1, err))
			continue
		}
		n++
		if !yield(e) {
			return n, nil
		}
	}
	return n, nil
}

// next decodes the event at the start of b; after is where the next
// begins. A shapeError leaves after past the event; a panic of the
// decoder is an error, never the caller's.
func next(tag string, b []byte) (e record.Record, after []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			e, after, err = record.Record{}, b, fmt.Errorf("decoder panicked: %v", r)
		}
	}()
	v, after, err := value(b, 0)
	if errors.Is(err, errTooDeep) {
		err = shape("nested deeper than %d levels", maxDepth)
	}
	if errors.As(err, new(shapeError)) {
		// Well-encoded so far, but no record: the event's end, if it
		// has one, is where the next begins.
		skipped, skipErr := skip(b)
		return record.Record{}, skipped, cmp.Or(skipErr, err)
	}
	if err != nil {
		return record.Record{}, b, err
	}
	e, err = toRecord(tag, v)
	return e, after, err
}

// shapeError is a well-encoded event that is no record: it is skipped.
type shapeError string

func (e shapeError) Error() string { return string(e) }

func shape(format string, args ...any) error { return shapeError(fmt.Sprintf(format, args...)) }

var errTooDeep = errors.New("nested too deep")

// toRecord reads one event: [timestamp, body] (Fluent Bit before v2) or
// [[timestamp, metadata], body].
func toRecord(tag string, v any) (record.Record, error) {
	pair, ok := v.([]any)
	if !ok || len(pair) != 2 {
		return record.Record{}, shape("want a [header, body] array, got %s", kind(v))
	}
	header := pair[0]
	if withMeta, ok := header.([]any); ok {
		if len(withMeta) < 1 {
			return record.Record{}, shape("empty event header")
		}
		header = withMeta[0]
	}
	if ext, ok := header.(Extension); ok && ext.Type == 0 && len(ext.Data) != 8 {
		return record.Record{}, shape("EventTime of %d bytes, want 8", len(ext.Data))
	}
	ts, ok := timeOf(header)
	if !ok {
		return record.Record{}, shape("timestamp is %s", kind(header))
	}
	body, ok := pair[1].(map[string]any)
	if !ok {
		return record.Record{}, shape("body is %s, not a map", kind(pair[1]))
	}
	return record.Record{Tag: tag, Time: ts, Fields: body}, nil
}

func timeOf(ts any) (time.Time, bool) {
	switch t := ts.(type) {
	case Extension: // Fluent Bit's EventTime: seconds and nanoseconds, big-endian
		if t.Type == 0 && len(t.Data) == 8 {
			return time.Unix(int64(binary.BigEndian.Uint32(t.Data)), int64(binary.BigEndian.Uint32(t.Data[4:]))), true
		}
	case uint64:
		if t <= math.MaxInt64 {
			return time.Unix(int64(t), 0), true
		}
	case int64:
		return time.Unix(t, 0), true
	case float64:
		return time.Unix(0, int64(t*1e9)), true
	}
	return time.Time{}, false
}

func kind(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case map[string]any:
		return "a map"
	case []any:
		return "an array"
	case nil:
		return "nil"
	}
	return fmt.Sprintf("a %T", v)
}
