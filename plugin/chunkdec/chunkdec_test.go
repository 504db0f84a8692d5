package chunkdec

import (
	"strings"
	"testing"
	"time"

	"github.com/ugorji/go/codec"

	"umc-invite/tests/chunk"
)

func TestDecode(t *testing.T) {
	ts := time.Unix(1700000000, 123)
	good := chunk.Encode(chunk.Tail(ts, "/q/alice.send", "alice", 0), chunk.Tail(ts, "/q/bob.send", "", 7))
	cases := []struct {
		name string
		data []byte
		n    int
		err  string
	}{
		{"two records", good, 2, ""},
		{"empty", nil, 0, ""},
		{"v1 int timestamp", []byte{0x92, 0x01, 0x80}, 1, ""},
		{"truncated", good[:len(good)-3], 1, "malformed chunk after 1 record(s)"},
		{"truncated EventTime", good[:6], 0, "malformed chunk after 0 record(s)"},
		{"EventTime of 1 byte", append(append([]byte{}, good...), 0x92, 0x92, 0xd4, 0x00, 0x01, 0x80, 0x80), 2, "malformed chunk after 2 record(s): EventTime of 1 bytes, want 8"},
		{"scalar", []byte{0xa3, 'a', 'b', 'c'}, 0, "malformed record 1: want a [header, body] array, got []uint8"},
		{"map", []byte{0x80}, 0, "malformed record 1: want a [header, body] array"},
		{"empty header", []byte{0x92, 0x90, 0x80}, 0, "malformed record 1: empty event header"},
		{"string timestamp", []byte{0x92, 0xa1, 'x', 0x80}, 0, "malformed record 1: timestamp is a"},
		{"body not a map", []byte{0x92, 0x01, 0x01}, 0, "malformed record 1: body is a"},
		{"huge array length", []byte{0xdd, 0xff, 0xff, 0xff, 0xff, 0x01}, 0, "malformed chunk after 0 record(s)"},
		{"array as map key", []byte{0x92, 0x01, 0x81, 0x91, 0x01, 0x01}, 0, "malformed chunk after 0 record(s)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			events, err := Decode("tail", tc.data)
			if len(events) != tc.n || (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("%d events, error %v; want %d, %q", len(events), err, tc.n, tc.err)
			}
		})
	}
	events, _ := Decode("tail", good)
	if !events[0].Time.Equal(ts) || events[0].Tag != "tail" || events[0].Fields["log"] != "alice" || events[1].Fields["offset"] != int64(7) {
		t.Fatalf("%+v", events)
	}
}

// FuzzDecode: no input crashes the decoder, and the events before damage
// are kept: a chunk that decodes stays decoded with anything appended.
func FuzzDecode(f *testing.F) {
	ts := time.Unix(1700000000, 0)
	f.Add(chunk.Encode(chunk.Tail(ts, "/q/alice.send", "alice", 0)))
	f.Fuzz(func(t *testing.T, data []byte) {
		events, err := Decode("tail", data)
		if err != nil {
			return
		}
		more, err := Decode("tail", append(append([]byte{}, data...), 0xc1))
		if err == nil || len(more) != len(events) {
			t.Fatalf("with a bad byte appended: %d events (want %d), error %v", len(more), len(events), err)
		}
	})
}

// An event of the wrong shape (its body not a map) is a whole msgpack
// value: it is skipped with an error, and the records after it are still
// decoded, so that their users are not dropped with the chunk.
func TestEventsAfterAWrongShapedOneAreDecoded(t *testing.T) {
	var data []byte
	enc := codec.NewEncoderBytes(&data, new(codec.MsgpackHandle))
	for _, ev := range []any{
		[]any{int64(1700000000), map[string]any{"log": "alice"}},
		[]any{int64(1700000000), "not a map"},
		[]any{int64(1700000000), map[string]any{"log": "bob"}},
	} {
		if err := enc.Encode(ev); err != nil {
			t.Fatal(err)
		}
	}
	records, err := Decode("tail", data)
	if len(records) != 2 || records[1].Fields["log"] != "bob" || err == nil || !strings.Contains(err.Error(), "malformed record 2") {
		t.Fatalf("decoded %d record(s) of 2 good ones, error %v: bob, after the bad one, must be kept and the bad one named", len(records), err)
	}
}
