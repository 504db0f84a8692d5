package chunkdec

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tinylib/msgp/msgp"

	"umc-invite/tests/chunk"
)

// allocated returns the bytes f allocated on the heap.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// bobAfter is a good record that must survive whatever comes before it.
func bobAfter() []byte {
	return chunk.Encode(chunk.Tail(time.Unix(1700000000, 0), "/q/bob.send", "bob", 0))
}

// Short hostile chunks (lengths declared far beyond the bytes behind them)
// are each an error, never a panic, and cost next to nothing.
func TestHostileLengthsFailWithoutAllocatingThem(t *testing.T) {
	cases := []struct {
		name string
		data []byte
	}{
		{"array32 of 4 billion", []byte{0xdd, 0xff, 0xff, 0xff, 0xff, 0x01, 0x01}},
		{"map32 of 4 billion", []byte{0xdf, 0xff, 0xff, 0xff, 0xff, 0x01, 0x01}},
		{"map32 of 4 billion as a body", []byte{0x92, 0x01, 0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 'a'}},
		{"str32 beyond the data", []byte{0x92, 0x01, 0x81, 0xa1, 'a', 0xdb, 0xff, 0xff, 0xff, 0xf0, 'x'}},
		{"bin32 beyond the data", []byte{0x92, 0x01, 0x81, 0xa1, 'a', 0xc6, 0xff, 0xff, 0xff, 0xf0, 'x'}},
		{"ext32 of 2^32-1 bytes", []byte{0x92, 0x01, 0x81, 0xa1, 'a', 0xc9, 0xff, 0xff, 0xff, 0xff, 0x05, 'x'}},
		{"ext32 of 2^32-1 bytes as the EventTime", []byte{0x92, 0xc9, 0xff, 0xff, 0xff, 0xff, 0x00, 0x80}},
		{"ext16 beyond the data", []byte{0x92, 0x01, 0x81, 0xa1, 'a', 0xc8, 0xff, 0xff, 0x05}},
		{"fixext16 cut short", []byte{0x92, 0x01, 0x81, 0xa1, 'a', 0xd8, 0x05, 1, 2, 3}},
		{"the never-used byte 0xc1", []byte{0xc1}},
		{"an array header alone", []byte{0x92}},
		{"array16 header cut short", []byte{0xdc, 0x00}},
		{"nested array32s of 4 billion", bytes.Repeat([]byte{0xdd, 0xff, 0xff, 0xff, 0xff}, 50)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var records int
			var err error
			n := allocated(func() {
				rs, e := Decode("tail", tc.data)
				records, err = len(rs), e
			})
			if err == nil || records != 0 {
				t.Fatalf("%d records, error %v: want none and an error", records, err)
			}
			if strings.Contains(err.Error(), "panicked") {
				t.Fatalf("the decoder panicked: %v", err)
			}
			if n > 1<<20 {
				t.Fatalf("a %d-byte chunk allocated %d bytes", len(tc.data), n)
			}
		})
	}
}

// A chunk of nested arrays, each declaring as many elements as there are
// bytes left, followed by junk: each level's declared length passes the
// "one byte per element" check, and all levels are allocated at once
// before the junk is reached. The chunk must not cost memory far beyond
// its size (here: not 100 times it; a well-formed record costs some 20-60).
func TestAChunkOfNestedHugeArraysFailsWithoutAllocatingThem(t *testing.T) {
	const size = 64 << 10
	data := []byte{0x92, 0x01} // [1, <body>]: the body is the trap
	for range maxDepth - 4 {
		data = append(data, 0xdd, 0, 0, 0, 0)
	}
	data = append(data, bytes.Repeat([]byte{0xc1}, size)...)
	for i := 2; i+5 <= 2+5*(maxDepth-4); i += 5 { // each level: as many elements as bytes after its header
		n := uint32(len(data) - i - 5)
		data[i+1], data[i+2], data[i+3], data[i+4] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	}
	failsWithin100TimesItsSize(t, data)
}

// The same with maps, whose size hint costs more per declared pair.
func TestAChunkOfNestedHugeMapsFailsWithoutAllocatingThem(t *testing.T) {
	const size = 64 << 10
	data := []byte{0x92, 0x01}
	var heads []int
	for range maxDepth - 4 {
		heads = append(heads, len(data))
		data = append(data, 0xdf, 0, 0, 0, 0, 0xa0) // {"": <next level>, ...}
	}
	data = append(data, bytes.Repeat([]byte{0xc1}, size)...)
	for _, i := range heads {
		n := uint32(len(data)-i-5) / 2
		data[i+1], data[i+2], data[i+3], data[i+4] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	}
	failsWithin100TimesItsSize(t, data)
}

// Huge well-formed nesting is a whole msgpack value: skipped, and the
// record after it kept, however deep (the depth check is there for this).
func TestAVeryDeeplyNestedRecordIsSkippedAndTheNextKept(t *testing.T) {
	const depth = 200000
	deep := append([]byte{0x92, 0x01}, bytes.Repeat([]byte{0x91}, depth)...)
	deep = append(deep, 0x80)
	records, err := Decode("tail", append(deep, bobAfter()...))
	if len(records) != 1 || records[0].Fields["log"] != "bob" || err == nil || !strings.Contains(err.Error(), "malformed record 1") {
		t.Fatalf("%d records, error %v; want bob kept and the deep one named", len(records), err)
	}
}

// An event whose map has an array for a key is a whole, well-encoded
// msgpack value, not a broken encoding: it is skipped and named, and the
// users after it are not dropped.
func TestAnEventWithAnArrayMapKeyIsSkippedAndTheNextKept(t *testing.T) {
	bad := []byte{0x92, 0x01, 0x81, 0x91, 0x01, 0x01} // [1, {[1]: 1}]
	records, err := Decode("tail", append(bad, bobAfter()...))
	if len(records) != 1 || records[0].Fields["log"] != "bob" || err == nil || !strings.Contains(err.Error(), "malformed record 1") {
		t.Fatalf("%d records, error %v; want bob kept and record 1 named", len(records), err)
	}
}

// An EventTime (ext type 0) of the wrong length is a well-encoded value, as
// a string timestamp is: the event is skipped, the users after it kept.
func TestAnEventWithAShortEventTimeIsSkippedAndTheNextKept(t *testing.T) {
	bad := []byte{0x92, 0xd6, 0x00, 0, 0, 0, 1, 0x80} // [fixext4 type 0, {}]
	records, err := Decode("tail", append(bad, bobAfter()...))
	if len(records) != 1 || records[0].Fields["log"] != "bob" || err == nil || !strings.Contains(err.Error(), "malformed record 1") {
		t.Fatalf("%d records, error %v; want bob kept and record 1 named", len(records), err)
	}
}

// Every way an event can be of the wrong shape: each skipped with its
// number, and the record after each kept.
func TestWrongShapedEventsAreSkippedAndTheOthersKept(t *testing.T) {
	var data []byte
	bad := [][]byte{
		{0x90},                   // []
		{0x91, 0x01},             // [1]
		{0x93, 0x01, 0x80, 0x80}, // [1, {}, {}]
		{0x92, 0xc0, 0x80},       // [nil, {}]
		{0x92, 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x80}, // [uint64 max, {}]
		{0x92, 0x91, 0xa1, 'x', 0x80},                                      // [["x"], {}]
		{0x92, 0x01, 0x90},                                                 // [1, []]
		{0x92, 0x01, 0xc0},                                                 // [1, nil]
		{0xc3},                                                             // true
	}
	for _, b := range bad {
		data = append(data, b...)
		data = append(data, bobAfter()...)
	}
	records, err := Decode("tail", data)
	if len(records) != len(bad) || err == nil {
		t.Fatalf("%d records, error %v; want %d", len(records), err, len(bad))
	}
	for i := range bad {
		if want := fmt.Sprintf("malformed record %d:", 2*i+1); !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %q", err, want)
		}
	}
}

// Nothing decoded aliases the chunk: Fluent Bit frees it after the flush.
func TestDecodedRecordsDoNotShareTheChunksBytes(t *testing.T) {
	b := msgp.AppendArrayHeader(nil, 2)
	b = msgp.AppendArrayHeader(b, 2)
	b = append(b, 0xd7, 0x00, 0x65, 0x53, 0xf1, 0x00, 0x00, 0x00, 0x00, 0x7b) // EventTime 1700000000.000000123
	b = msgp.AppendMapHeader(b, 1)
	b = msgp.AppendString(msgp.AppendString(b, "meta"), "data")
	b = msgp.AppendMapHeader(b, 6)
	b = msgp.AppendString(msgp.AppendString(b, "log"), "alice")
	b = msgp.AppendString(b, "raw")
	b = msgp.AppendBytes(b, []byte("binary"))
	b = msgp.AppendString(b, "ext")
	b = append(b, 0xc7, 3, 0x09, 'e', 'x', 't')
	b = msgp.AppendString(b, "nested")
	b = msgp.AppendMapHeader(b, 1)
	b = msgp.AppendString(msgp.AppendString(b, "inner key"), "inner value")
	b = msgp.AppendString(b, "list")
	b = msgp.AppendArrayHeader(b, 2)
	b = msgp.AppendString(b, "one")
	b = msgp.AppendBytes(b, []byte("two"))
	b = append(b, 0xd4, 0x07, 'k') // a fixext1 key
	b = msgp.AppendString(b, "v")
	records, err := Decode("tail", b)
	if err != nil || len(records) != 1 {
		t.Fatalf("%d records, error %v", len(records), err)
	}
	before := fmt.Sprintf("%#v %v", records[0].Fields, records[0].Time.UnixNano())
	for i := range b {
		b[i] = 'Z'
	}
	if after := fmt.Sprintf("%#v %v", records[0].Fields, records[0].Time.UnixNano()); after != before {
		t.Fatalf("overwriting the chunk changed the record:\nbefore %s\nafter  %s", before, after)
	}
	if records[0].Time.UnixNano() != 1700000000000000123 {
		t.Fatalf("time %v", records[0].Time)
	}
}

// Every integer and float encoding comes out as the records hold it, and
// scalar keys as fmt prints them.
func TestEveryNumberEncodingComesOutAsTheRecordsHoldIt(t *testing.T) {
	type kv struct {
		key  []byte
		val  []byte
		want any
	}
	str := func(s string) []byte { return msgp.AppendString(nil, s) }
	pairs := []kv{
		{str("pfix"), []byte{0x7f}, int64(127)},
		{str("nfix"), []byte{0xe0}, int64(-32)},
		{str("i8"), []byte{0xd0, 0x80}, int64(-128)},
		{str("i16"), []byte{0xd1, 0x80, 0x00}, int64(-32768)},
		{str("i32"), []byte{0xd2, 0x80, 0, 0, 0}, int64(-1 << 31)},
		{str("i64"), []byte{0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0}, int64(-1 << 63)},
		{str("i8pos"), []byte{0xd0, 0x05}, int64(5)},
		{str("u8"), []byte{0xcc, 0xff}, uint64(255)},
		{str("u16"), []byte{0xcd, 0xff, 0xff}, uint64(65535)},
		{str("u32"), []byte{0xce, 0xff, 0xff, 0xff, 0xff}, uint64(1<<32 - 1)},
		{str("u64"), []byte{0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, uint64(1<<64 - 1)},
		{str("f32"), []byte{0xca, 0x3f, 0xc0, 0, 0}, float64(1.5)},
		{str("f64"), []byte{0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0}, float64(1.5)},
		{str("t"), []byte{0xc3}, true},
		{str("f"), []byte{0xc2}, false},
		{str("bin8"), []byte{0xc4, 1, 'b'}, "b"},
		{str("str8"), []byte{0xd9, 1, 's'}, "s"},
		{[]byte{0xcc, 0xff}, []byte{0x01}, int64(1)},                         // key uint8 255 -> "255"
		{[]byte{0xe0}, []byte{0x02}, int64(2)},                               // key -32 -> "-32"
		{[]byte{0xc3}, []byte{0x03}, int64(3)},                               // key true -> "true"
		{[]byte{0xc0}, []byte{0x04}, int64(4)},                               // key nil -> "<nil>"
		{[]byte{0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0}, []byte{0x05}, int64(5)}, // key 1.5 -> "1.5"
		{[]byte{0xc4, 1, 'k'}, []byte{0x06}, int64(6)},                       // bin key -> "k"
	}
	keys := []string{"pfix", "nfix", "i8", "i16", "i32", "i64", "i8pos", "u8", "u16", "u32", "u64", "f32", "f64", "t", "f", "bin8", "str8", "255", "-32", "true", "<nil>", "1.5", "k"}
	b := []byte{0x92, 0xce, 0x65, 0x53, 0xf1, 0x00} // uint32 timestamp 1700000000
	b = msgp.AppendMapHeader(b, uint32(len(pairs)))
	for _, p := range pairs {
		b = append(append(b, p.key...), p.val...)
	}
	records, err := Decode("tail", b)
	if err != nil || len(records) != 1 {
		t.Fatalf("%d records, error %v", len(records), err)
	}
	if !records[0].Time.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("time %v from a uint32 timestamp", records[0].Time)
	}
	f := records[0].Fields
	for i, p := range pairs {
		if got, ok := f[keys[i]]; !ok || fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", p.want) {
			t.Errorf("key %q: %#v (present %v), want %#v", keys[i], got, ok, p.want)
		}
	}
	if len(f) != len(pairs) {
		t.Errorf("%d fields, want %d: %#v", len(f), len(pairs), f)
	}
}

// Each timestamp form gives the record's Time.
func TestEachTimestampFormGivesTheRecordsTime(t *testing.T) {
	cases := []struct {
		name   string
		header []byte
		want   time.Time
	}{
		{"EventTime", []byte{0xd7, 0x00, 0x65, 0x53, 0xf1, 0x00, 0x3b, 0x9a, 0xc9, 0xff}, time.Unix(1700000000, 999999999)},
		{"EventTime with metadata", []byte{0x92, 0xd7, 0x00, 0x65, 0x53, 0xf1, 0x00, 0, 0, 0, 7, 0x80}, time.Unix(1700000000, 7)},
		{"EventTime of the highest second", []byte{0xd7, 0x00, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}, time.Unix(1<<32-1, 0)},
		{"int64", []byte{0xd3, 0, 0, 0, 0, 0x65, 0x53, 0xf1, 0x00}, time.Unix(1700000000, 0)},
		{"negative", []byte{0xff}, time.Unix(-1, 0)},
		{"uint64", []byte{0xcf, 0, 0, 0, 0, 0x65, 0x53, 0xf1, 0x00}, time.Unix(1700000000, 0)},
		{"float64", msgp.AppendFloat64(nil, 1700000000.5), time.Unix(1700000000, 500000000)},
		{"float32", msgp.AppendFloat32(nil, 1024.25), time.Unix(1024, 250000000)},
		{"int with metadata", []byte{0x92, 0x05, 0x80}, time.Unix(5, 0)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := append(append([]byte{0x92}, tc.header...), 0x80)
			records, err := Decode("tail", b)
			if err != nil || len(records) != 1 {
				t.Fatalf("%d records, error %v", len(records), err)
			}
			if !records[0].Time.Equal(tc.want) {
				t.Fatalf("time %v, want %v", records[0].Time, tc.want)
			}
		})
	}
}

// A chunk of many records costs time in proportion to its size.
func TestAChunkOfOnlyDeepRecordsDecodesInLinearTime(t *testing.T) {
	one := append([]byte{0x92, 0x01}, bytes.Repeat([]byte{0x91}, 2*maxDepth)...)
	one = append(one, 0x80)
	data := bytes.Repeat(one, (1<<20)/len(one))
	start := time.Now()
	records, err := Decode("tail", data)
	if len(records) != 0 || err == nil {
		t.Fatalf("%d records, error %v", len(records), err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("a 1 MB chunk took %v", d)
	}
}

// failsWithin100TimesItsSize decodes a damaged chunk: an error, after
// allocating at most 100 times the chunk's size.
func failsWithin100TimesItsSize(t *testing.T, data []byte) {
	t.Helper()
	var err error
	n := allocated(func() { _, err = Decode("tail", data) })
	if err == nil {
		t.Fatal("no error")
	}
	if n > 100*uint64(len(data)) {
		t.Fatalf("a %d-byte chunk allocated %d bytes (%d times its size) before its error: %v", len(data), n, n/uint64(len(data)), err)
	}
}
