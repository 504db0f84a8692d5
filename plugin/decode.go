package main

import "C"

import (
	"fmt"
	"time"
	"unsafe"

	"github.com/fluent/fluent-bit-go/output"

	"umc-invite/umc/record"
)

// decodeChunk decodes every record of a chunk it can. The fluent-bit-go
// decoder panics on a value that is not an array; that, and any other
// undecodable value, ends the decoding with an error, keeping the records
// before it.
func decodeChunk(tag string, data unsafe.Pointer, length int) (records []record.Record, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed chunk after %d record(s): %v", len(records), r)
		}
	}()
	dec := output.NewDecoder(data, length)
	for {
		code, ts, fields := output.GetRecord(dec)
		switch {
		case code == -1: // end of the data
			return records, nil
		case code != 0:
			return records, fmt.Errorf("malformed record %d (decoder code %d)", len(records)+1, code)
		}
		records = append(records, record.New(tag, eventTime(ts), fields))
	}
}

func eventTime(ts any) time.Time {
	switch t := ts.(type) {
	case output.FLBTime:
		return t.Time
	case uint64:
		return time.Unix(int64(t), 0)
	case int64:
		return time.Unix(t, 0)
	}
	return time.Time{}
}
