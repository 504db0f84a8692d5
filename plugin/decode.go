package main

import (
	"umc-invite/plugin/chunkdec"
	"umc-invite/umc/record"
)

// decodeChunk decodes the records of a chunk it can (see chunkdec.Decode).
func decodeChunk(tag string, data []byte) ([]record.Record, error) {
	events, err := chunkdec.Decode(data)
	records := make([]record.Record, 0, len(events))
	for _, e := range events {
		records = append(records, record.New(tag, e.Time, e.Body))
	}
	return records, err
}
