package chunkdec

import (
	"fmt"

	"github.com/tinylib/msgp/msgp"
)

// smallHint is room made before a container's elements are read: Fluent
// Bit's records hold a few fields.
const smallHint = 16

// Extension is a msgpack extension value as read: its type and data.
type Extension struct {
	Type int8
	Data []byte
}

// value reads one msgpack value as the plugin's records hold it: strings
// and binaries as strings, maps with string keys (a scalar key spelled as
// fmt prints it), integers as int64 or, when encoded unsigned, uint64,
// floats as float64.
func value(b []byte, depth int) (v any, rest []byte, err error) {
	if depth > maxDepth {
		return nil, b, errTooDeep
	}
	switch msgp.NextType(b) {
	case msgp.StrType:
		s, rest, err := msgp.ReadStringZC(b)
		return string(s), rest, err
	case msgp.BinType:
		s, rest, err := msgp.ReadBytesZC(b)
		return string(s), rest, err
	case msgp.IntType:
		return msgp.ReadInt64Bytes(b)
	case msgp.UintType:
		return msgp.ReadUint64Bytes(b)
	case msgp.Float64Type:
		return msgp.ReadFloat64Bytes(b)
	case msgp.Float32Type:
		f, rest, err := msgp.ReadFloat32Bytes(b)
		return float64(f), rest, err
	case msgp.BoolType:
		return msgp.ReadBoolBytes(b)
	case msgp.NilType:
		rest, err := msgp.ReadNilBytes(b)
		return nil, rest, err
	case msgp.ArrayType:
		n, rest, err := msgp.ReadArrayHeaderBytes(b)
		if err != nil {
			return nil, b, err
		}
		// Grown as elements are read, not as declared: a declared length
		// costs nothing until its bytes are there.
		out := make([]any, 0, min(n, smallHint))
		for range n {
			var v any
			if v, rest, err = value(rest, depth+1); err != nil {
				return nil, b, err
			}
			out = append(out, v)
		}
		return out, rest, nil
	case msgp.MapType:
		return mapValue(b, depth)
	case msgp.ExtensionType, msgp.TimeType, msgp.Complex64Type, msgp.Complex128Type:
		return extension(b)
	}
	if len(b) == 0 {
		return nil, b, msgp.ErrShortBytes
	}
	return nil, b, msgp.InvalidPrefixError(b[0])
}

func mapValue(b []byte, depth int) (any, []byte, error) {
	n, rest, err := msgp.ReadMapHeaderBytes(b)
	if err != nil {
		return nil, b, err
	}
	out := make(map[string]any, min(n, smallHint)) // as an array's elements
	for range n {
		var k, v any
		if k, rest, err = value(rest, depth+1); err != nil {
			return nil, b, err
		}
		key, ok := k.(string)
		if !ok {
			switch k.(type) {
			case []any, map[string]any:
				return nil, b, shape("a map key that is %s", kind(k))
			}
			key = fmt.Sprint(k)
		}
		if v, rest, err = value(rest, depth+1); err != nil {
			return nil, b, err
		}
		out[key] = v
	}
	return out, rest, nil
}

// extension reads an extension's header by hand: msgp reads only the
// extension types it is told of.
func extension(b []byte) (any, []byte, error) {
	if len(b) < 2 {
		return nil, b, msgp.ErrShortBytes
	}
	var size, off int
	switch b[0] {
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1, 2, 4, 8, 16
		size, off = 1<<(b[0]-0xd4), 1
	case 0xc7: // ext 8
		size, off = int(b[1]), 2
	case 0xc8: // ext 16
		if len(b) < 3 {
			return nil, b, msgp.ErrShortBytes
		}
		size, off = int(b[1])<<8|int(b[2]), 3
	case 0xc9: // ext 32
		if len(b) < 5 {
			return nil, b, msgp.ErrShortBytes
		}
		size, off = int(uint32(b[1])<<24|uint32(b[2])<<16|uint32(b[3])<<8|uint32(b[4])), 5
	default:
		return nil, b, msgp.InvalidPrefixError(b[0])
	}
	if len(b) < off+1+size || size < 0 {
		return nil, b, msgp.ErrShortBytes
	}
	data := b[off+1 : off+1+size : off+1+size]
	return Extension{Type: int8(b[off]), Data: append([]byte(nil), data...)}, b[off+1+size:], nil
}

// skip steps over one well-encoded value without recursion: nesting of
// any depth costs a counter, and every step reads a byte at least.
func skip(b []byte) ([]byte, error) {
	for pending := 1; pending > 0; pending-- {
		var n uint32
		var err error
		switch msgp.NextType(b) {
		case msgp.ArrayType:
			n, b, err = msgp.ReadArrayHeaderBytes(b)
			pending += int(n)
		case msgp.MapType:
			n, b, err = msgp.ReadMapHeaderBytes(b)
			pending += 2 * int(n)
		default:
			b, err = msgp.Skip(b) // no container: no recursion
		}
		if err != nil {
			return b, err
		}
	}
	return b, nil
}
