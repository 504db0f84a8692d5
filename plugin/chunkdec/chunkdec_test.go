package chunkdec

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tinylib/msgp/msgp"

	"umc-invite/tests/chunk"
	"umc-invite/umc/record"
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
		{"EventTime of 1 byte", append(append([]byte{}, good...), 0x92, 0x92, 0xd4, 0x00, 0x01, 0x80, 0x80), 2, "malformed record 3: EventTime of 1 bytes, want 8 (skipped)"},
		{"scalar", []byte{0xa3, 'a', 'b', 'c'}, 0, "malformed record 1: want a [header, body] array, got a string"},
		{"map", []byte{0x80}, 0, "malformed record 1: want a [header, body] array"},
		{"empty header", []byte{0x92, 0x90, 0x80}, 0, "malformed record 1: empty event header"},
		{"string timestamp", []byte{0x92, 0xa1, 'x', 0x80}, 0, "malformed record 1: timestamp is a"},
		{"body not a map", []byte{0x92, 0x01, 0x01}, 0, "malformed record 1: body is a"},
		{"huge array length", []byte{0xdd, 0xff, 0xff, 0xff, 0xff, 0x01}, 0, "malformed chunk after 0 record(s)"},
		{"array as map key", []byte{0x92, 0x01, 0x81, 0x91, 0x01, 0x01}, 0, "malformed record 1: a map key that is an array (skipped)"},
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
	for _, ev := range []any{
		[]any{int64(1700000000), map[string]any{"log": "alice"}},
		[]any{int64(1700000000), "not a map"},
		[]any{int64(1700000000), map[string]any{"log": "bob"}},
	} {
		var err error
		if data, err = msgp.AppendIntf(data, ev); err != nil {
			t.Fatal(err)
		}
	}
	records, err := Decode("tail", data)
	if len(records) != 2 || records[1].Fields["log"] != "bob" || err == nil || !strings.Contains(err.Error(), "malformed record 2") {
		t.Fatalf("decoded %d record(s) of 2 good ones, error %v: bob, after the bad one, must be kept and the bad one named", len(records), err)
	}
}

// Values come out as the plugin reads them: strings for str and bin,
// int64 for signed and small integers, uint64 for unsigned encodings,
// float64 for both float sizes, scalar map keys spelled as fmt prints them.
func TestValuesComeOutAsTheRecordsHoldThem(t *testing.T) {
	b := msgp.AppendArrayHeader(nil, 2)
	b = msgp.AppendInt64(b, 1700000000)
	b = msgp.AppendMapHeader(b, 7)
	b = msgp.AppendString(msgp.AppendString(b, "log"), "alice")
	b = msgp.AppendString(b, "raw")
	b = msgp.AppendBytes(b, []byte("bin"))
	b = msgp.AppendString(b, "offset")
	b = append(b, 0xcd, 0x01, 0x00) // uint16 256, as Fluent Bit packs a positive int64
	b = msgp.AppendString(b, "small")
	b = append(b, 0x07) // positive fixint
	b = msgp.AppendString(b, "ratio")
	b = msgp.AppendFloat32(b, 0.5)
	b = msgp.AppendInt64(b, 42) // an integer key
	b = msgp.AppendNil(b)
	b = msgp.AppendString(b, "list")
	b = msgp.AppendArrayHeader(b, 1)
	b = msgp.AppendInt64(b, -3)
	records, err := Decode("tail", b)
	if err != nil || len(records) != 1 {
		t.Fatalf("%d records, error %v", len(records), err)
	}
	f := records[0].Fields
	want := map[string]any{"log": "alice", "raw": "bin", "offset": uint64(256), "small": int64(7), "ratio": 0.5, "42": nil, "list": []any{int64(-3)}}
	if fmt.Sprintf("%#v", f) != fmt.Sprintf("%#v", want) {
		t.Fatalf("fields %#v, want %#v", f, want)
	}
}

// A record nested deeper than any Fluent Bit writes is skipped without a
// deep recursion, and the record after it is kept.
func TestADeeplyNestedRecordIsSkippedAndTheNextKept(t *testing.T) {
	ts := time.Unix(1700000000, 0)
	deep := append([]byte{0x92, 0x01}, bytes.Repeat([]byte{0x91}, 10000)...)
	deep = append(deep, 0x80)
	data := append(deep, chunk.Encode(chunk.Tail(ts, "/q/bob.send", "bob", 0))...)
	records, err := Decode("tail", data)
	if len(records) != 1 || records[0].Fields["log"] != "bob" || err == nil || !strings.Contains(err.Error(), "malformed record 1: nested deeper than") {
		t.Fatalf("%d records, error %v; want bob kept and the deep one named", len(records), err)
	}
}

// Each hands the records over one at a time, each decoded when it is
// wanted: stopped after the first, it reads nothing past it, not even
// the damage further on.
func TestEachDecodesARecordWhenItIsWanted(t *testing.T) {
	ts := time.Unix(1700000000, 0)
	data := append(chunk.Encode(chunk.Tail(ts, "/q/alice.send", "alice", 0), chunk.Tail(ts, "/q/bob.send", "bob", 0)), 0xc1)
	var got []string
	n, err := Each("tail", data, func(r record.Record) bool {
		got = append(got, r.Fields["log"].(string))
		return false
	})
	if n != 1 || err != nil || strings.Join(got, " ") != "alice" {
		t.Fatalf("stopped after the first: %d record(s) %v, error %v; want alice alone and no error", n, got, err)
	}
	got = nil
	n, err = Each("tail", data, func(r record.Record) bool {
		got = append(got, r.Fields["log"].(string))
		return true
	})
	if n != 2 || err == nil || strings.Join(got, " ") != "alice bob" {
		t.Fatalf("read to the end: %d record(s) %v, error %v; want alice bob and the damage", n, got, err)
	}
}
