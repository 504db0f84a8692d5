package main

import (
	"fmt"
	"reflect"
	"time"

	"github.com/fluent/fluent-bit-go/output"
	"github.com/ugorji/go/codec"

	"umc-invite/umc/record"
)

// msgpackHandle is set up once; a configured handle is safe for concurrent
// decoders. Fluent Bit's EventTime is msgpack extension 0.
var msgpackHandle, msgpackHandleErr = newMsgpackHandle()

func newMsgpackHandle() (*codec.MsgpackHandle, error) {
	h := new(codec.MsgpackHandle)
	return h, h.SetBytesExt(reflect.TypeOf(output.FLBTime{}), 0, &output.FLBTime{})
}

// decodeChunk decodes every record of a chunk it can and stops at the
// first it cannot, keeping the records before it. It decodes like
// fluent-bit-go's GetRecord, but tells the end of the chunk from a
// malformed or truncated record, which GetRecord reports alike, and it
// recovers a panic of the decoder.
func decodeChunk(tag string, data []byte) (records []record.Record, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed chunk after %d record(s): decoder panicked: %v", len(records), r)
		}
	}()
	if msgpackHandleErr != nil {
		return nil, fmt.Errorf("set up decoder: %w", msgpackHandleErr)
	}
	dec := codec.NewDecoderBytes(data, msgpackHandle)
	// The decoder says EOF for a truncated value too: the end is where
	// every byte has been read.
	for dec.NumBytesRead() < len(data) {
		var event any
		if err := dec.Decode(&event); err != nil {
			return records, fmt.Errorf("malformed chunk after %d record(s): %w", len(records), err)
		}
		rec, err := toRecord(tag, event)
		if err != nil {
			return records, fmt.Errorf("malformed record %d: %w", len(records)+1, err)
		}
		records = append(records, rec)
	}
	return records, nil
}

// toRecord reads one event: [timestamp, body] (Fluent Bit before v2) or
// [[timestamp, metadata], body].
func toRecord(tag string, event any) (record.Record, error) {
	pair, ok := event.([]any)
	if !ok || len(pair) != 2 {
		return record.Record{}, fmt.Errorf("want a [header, body] array, got %T", event)
	}
	header := pair[0]
	if withMeta, ok := header.([]any); ok {
		if len(withMeta) < 1 {
			return record.Record{}, fmt.Errorf("empty event header")
		}
		header = withMeta[0]
	}
	ts, ok := eventTime(header)
	if !ok {
		return record.Record{}, fmt.Errorf("timestamp is a %T", header)
	}
	body, ok := pair[1].(map[any]any)
	if !ok {
		return record.Record{}, fmt.Errorf("body is a %T, not a map", pair[1])
	}
	return record.New(tag, ts, body), nil
}

func eventTime(ts any) (time.Time, bool) {
	switch t := ts.(type) {
	case output.FLBTime:
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
