package chunkdec

import (
	"testing"

	"github.com/ugorji/go/codec"
)

// one event of the wrong shape (its body not a map) is a
// complete msgpack value: the decoder stands right after it, and the
// events after it are intact. Decode stops there anyway, so the plugin
// never sees the good records behind it and answers FLB_ERROR: Fluent Bit
// drops the whole chunk, and those users are lost without a dead letter.
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
	events, err := Decode(data)
	t.Logf("events %d, err %v", len(events), err)
	if len(events) != 2 {
		t.Fatalf("decoded %d event(s) of 2 good ones: bob, after the bad one, is dropped with the chunk", len(events))
	}
}
