// Package chunkdec decodes the msgpack chunks Fluent Bit hands an output
// plugin into records. It is plain Go, without cgo, so that it can be
// tested and fuzzed on its own.
package chunkdec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/ugorji/go/codec"

	"umc-invite/umc/record"
)

// eventTime is Fluent Bit's EventTime, msgpack extension 0: seconds and
// nanoseconds, each a big-endian uint32. It is read like fluent-bit-go's
// FLBTime, but a wrong length marks it bad instead of panicking.
type eventTime struct {
	time.Time
	size int // of the extension's data: 8 when well-formed
}

// WriteExt is never used: this package only decodes.
func (eventTime) WriteExt(any) []byte { return nil }

// ReadExt implements codec.BytesExt.
func (eventTime) ReadExt(dst any, b []byte) {
	if out, ok := dst.(*eventTime); ok {
		if out.size = len(b); len(b) == 8 {
			out.Time = time.Unix(int64(binary.BigEndian.Uint32(b)), int64(binary.BigEndian.Uint32(b[4:])))
		}
	}
}

// handle is set up once; a configured handle is safe for concurrent decoders.
var handle, handleErr = func() (*codec.MsgpackHandle, error) {
	h := new(codec.MsgpackHandle)
	return h, h.SetBytesExt(reflect.TypeOf(eventTime{}), 0, eventTime{})
}()

// Decode decodes every record of a chunk it can, tagged tag. An event of
// the wrong shape (no [header, body] pair, a body that is no map) is a
// whole msgpack value: it is skipped, its error joined to the others, and
// the events after it still decoded. At a broken encoding it stops,
// returning the records before it with the error. It tells the end of the
// chunk from a malformed or truncated event, which fluent-bit-go's
// GetRecord reports alike, and it recovers a panic of the decoder. The
// chunk is read in place: what is kept is copied.
func Decode(tag string, data []byte) (records []record.Record, err error) {
	var skipped []error
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed chunk after %d record(s): decoder panicked: %v", len(records), r)
		}
		err = errors.Join(append(skipped, err)...)
	}()
	if handleErr != nil {
		return nil, fmt.Errorf("set up decoder: %w", handleErr)
	}
	// The decoder slices its input up to the capacity, not the length: a
	// truncated value in a slice of a larger buffer would be completed from
	// the bytes after it. Clip the capacity so that it ends in an error.
	data = data[:len(data):len(data)]
	dec := codec.NewDecoderBytes(data, handle)
	// The decoder says EOF for a truncated value too: the end is where
	// every byte has been read.
	for dec.NumBytesRead() < len(data) {
		var v any
		if err := dec.Decode(&v); err != nil {
			return records, fmt.Errorf("malformed chunk after %d record(s): %w", len(records), err)
		}
		e, err := toRecord(tag, v)
		if errors.Is(err, errEventTime) { // a broken encoding, not a record of the wrong shape
			return records, fmt.Errorf("malformed chunk after %d record(s): %w", len(records), err)
		}
		if err != nil {
			skipped = append(skipped, fmt.Errorf("malformed record %d: %w (skipped)", len(records)+len(skipped)+1, err))
			continue
		}
		records = append(records, e)
	}
	return records, nil
}

// toRecord reads one event: [timestamp, body] (Fluent Bit before v2) or
// [[timestamp, metadata], body].
func toRecord(tag string, v any) (record.Record, error) {
	pair, ok := v.([]any)
	if !ok || len(pair) != 2 {
		return record.Record{}, fmt.Errorf("want a [header, body] array, got %T", v)
	}
	header := pair[0]
	if withMeta, ok := header.([]any); ok {
		if len(withMeta) < 1 {
			return record.Record{}, fmt.Errorf("empty event header")
		}
		header = withMeta[0]
	}
	if et, ok := header.(eventTime); ok && et.size != 8 {
		return record.Record{}, fmt.Errorf("EventTime of %d bytes, %w", et.size, errEventTime)
	}
	ts, ok := timeOf(header)
	if !ok {
		return record.Record{}, fmt.Errorf("timestamp is a %T", header)
	}
	body, ok := pair[1].(map[any]any)
	if !ok {
		return record.Record{}, fmt.Errorf("body is a %T, not a map", pair[1])
	}
	return record.New(tag, ts, body), nil
}

var errEventTime = errors.New("want 8")

func timeOf(ts any) (time.Time, bool) {
	switch t := ts.(type) {
	case eventTime:
		return t.Time, true
	case uint64:
		return time.Unix(int64(t), 0), true
	case int64:
		return time.Unix(t, 0), true
	case float64:
		return time.Unix(0, int64(t*1e9)), true
	}
	return time.Time{}, false
}
