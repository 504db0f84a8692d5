package record

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"umc-invite/umc/policy"
)

var keys = Keys{Username: "username", Path: "path"}

func rec(fields map[any]any) Record {
	return New("umc_invite", time.Unix(1700000000, 5), fields)
}

func TestUsernameForms(t *testing.T) {
	cases := []struct {
		name   string
		fields map[any]any
		want   string
	}{
		{"record key (tail with a JSON parser)", map[any]any{"username": []byte("alice")}, "alice"},
		{"record key wins over log", map[any]any{"username": "alice", "log": []byte("bob")}, "alice"},
		{"JSON log line", map[any]any{"log": []byte(`{"username": "bob", "extra": 1}`)}, "bob"},
		{"JSON log line with CRLF", map[any]any{"log": []byte("{\"username\": \"bob\"}\r")}, "bob"},
		{"bare log line", map[any]any{"log": []byte("carol")}, "carol"},
		{"bare log line with spaces around", map[any]any{"log": []byte("  carol \r")}, "carol"},
		{"empty line: file name", map[any]any{"log": []byte(""), "path": []byte("/var/cache/listener/dave.send")}, "dave"},
		{"no log: file name", map[any]any{"path": []byte("/q/erin.send")}, "erin"},
		{"unicode name", map[any]any{"log": []byte("jürgen.müller")}, "jürgen.müller"},
		{"241 characters", map[any]any{"log": []byte(strings.Repeat("ä", 241))}, strings.Repeat("ä", 241)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Username(rec(tc.fields), keys)
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestUsernameKeyIsConfigurable(t *testing.T) {
	k := Keys{Username: "uid", Path: "file"}
	for _, fields := range []map[any]any{
		{"uid": "frank"},
		{"log": `{"uid": "frank"}`},
		{"log": "", "file": "/q/frank.send"},
	} {
		if got, err := Username(rec(fields), k); err != nil || got != "frank" {
			t.Errorf("%v: got %q, %v", fields, got, err)
		}
	}
}

func TestBadInput(t *testing.T) {
	cases := []struct {
		name   string
		fields map[any]any
		want   string
	}{
		{"nothing at all", map[any]any{"other": "x"}, `no "username", "log" or "path" key`},
		{"empty line, no path", map[any]any{"log": []byte("")}, `empty line and no "path" key`},
		{"empty line, foreign file", map[any]any{"log": []byte(""), "path": "/q/alice.txt"}, `does not end in .send`},
		{"empty line, file named .send", map[any]any{"log": []byte(""), "path": "/q/.send"}, `".send" is no queue file's`},
		{"username not a string", map[any]any{"username": int64(42)}, `key "username" is a int64, not a string`},
		{"empty username key", map[any]any{"username": ""}, "empty username"},
		{"malformed JSON", map[any]any{"log": []byte(`{"username": "alice"`)}, "log line looks like JSON but does not parse"},
		{"JSON without the key", map[any]any{"log": []byte(`{"user": "alice"}`)}, `JSON log line has no "username" key`},
		{"JSON number", map[any]any{"log": []byte(`{"username": 7}`)}, `JSON key "username" is a number, not a string`},
		{"invalid UTF-8", map[any]any{"log": []byte("al\xffice")}, "not valid UTF-8"},
		{"control character", map[any]any{"log": []byte("ali\x1bce")}, "U+001B (a control character)"},
		{"newline inside JSON value", map[any]any{"log": []byte(`{"username": "a\nb"}`)}, "U+000A (a control character)"},
		{"too long", map[any]any{"log": []byte(strings.Repeat("a", 242))}, "242 characters long, UMC takes at most 241"},
		{"spaces inside JSON value", map[any]any{"log": []byte(`{"username": " alice"}`)}, "leading or trailing spaces"},
		{"log not a string", map[any]any{"log": map[any]any{"a": 1}}, `key "log" is a map`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Username(rec(tc.fields), keys)
			if !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %q, %v; want bad input with %q", got, err, tc.want)
			}
		})
	}
}

func TestIdentity(t *testing.T) {
	a := rec(map[any]any{"log": []byte(""), "path": []byte("/q/alice.send"), "offset": int64(0)})
	again := rec(map[any]any{"offset": int64(0), "path": []byte("/q/alice.send"), "log": []byte("")})
	if a.Identity("path", "offset") != again.Identity("path", "offset") {
		t.Error("the same record must keep its identity")
	}
	if id := a.Identity("path", "offset"); !strings.HasPrefix(id, "/q/alice.send#0@") {
		t.Errorf("path identity %q", id)
	}
	later := New("umc_invite", time.Unix(1700000100, 0), map[any]any{"log": []byte(""), "path": []byte("/q/alice.send"), "offset": int64(0)})
	if a.Identity("path", "offset") == later.Identity("path", "offset") {
		t.Error("a queue file re-created later must be a new record")
	}
	b := rec(map[any]any{"username": "bob"})
	c := rec(map[any]any{"username": "carol"})
	if b.Identity("path", "offset") == c.Identity("path", "offset") || !strings.HasPrefix(b.Identity("path", "offset"), "sha256:") {
		t.Error("records without path must differ by body")
	}
	otherTag := New("other", b.Time, map[any]any{"username": "bob"})
	if b.Identity("path", "offset") == otherTag.Identity("path", "offset") {
		t.Error("the tag is part of a digest identity")
	}
}

func TestNewNormalizesNestedValues(t *testing.T) {
	r := rec(map[any]any{"k": map[any]any{"inner": []byte("v")}, "list": []any{[]byte("x")}})
	inner := r.Fields["k"].(map[string]any)
	if inner["inner"] != "v" || r.Fields["list"].([]any)[0] != "x" {
		t.Errorf("got %#v", r.Fields)
	}
}

// A carried-over line's state survives tail's "Parser json", which makes
// the line's keys the record's own; an older version's line is one too.
func TestCarriedFromParsedFields(t *testing.T) {
	seen := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	line := CarryLine("username", "alice", policy.User{FirstSeen: seen, LastAnswer: "HTTP 500", Pause: 40 * time.Second})
	for _, tc := range []struct {
		name    string
		fields  map[any]any
		carried bool
		want    policy.User
	}{
		{"log line", map[any]any{"log": line[:len(line)-1]}, true, policy.User{FirstSeen: seen, LastAnswer: "HTTP 500", Pause: 40 * time.Second}},
		{"parsed", map[any]any{"username": []byte("alice"), "first_seen": []byte(seen.Format(time.RFC3339Nano)), "pause_s": int64(40)}, true, policy.User{FirstSeen: seen, Pause: 40 * time.Second}},
		{"the previous version's line", map[any]any{"log": []byte(`{"first_seen":"2026-11-30T10:00:00Z","last_answer":"HTTP 500","letter":"expired","pause_s":40,"reason":"too old","username":"alice"}`)},
			true, policy.User{FirstSeen: seen, LastAnswer: "HTTP 500", Pause: 40 * time.Second, Letter: "expired", Reason: "too old"}},
		{"a pause out of range", map[any]any{"log": []byte(`{"first_seen":"2026-11-30T10:00:00Z","pause_s":1e12}`)}, true, policy.User{FirstSeen: seen}},
		{"older version", map[any]any{"log": []byte(`{"charged":2,"username":"alice","refused":"no address"}`)}, true, policy.User{Letter: "refused", Reason: "no address"}},
		{"older version parsed", map[any]any{"username": []byte("alice"), "charged": int64(3)}, true, policy.User{}},
		{"parsed, not carried", map[any]any{"username": []byte("alice")}, false, policy.User{}},
		{"a user's JSON line", map[any]any{"log": []byte(`{"username":"alice"}`)}, false, policy.User{}},
		{"a bare name", map[any]any{"log": []byte(`alice`)}, false, policy.User{}},
		{"a bad time", map[any]any{"log": []byte(`{"username":"alice","first_seen":"soon"}`)}, false, policy.User{}},
		{"a key written with an escape", map[any]any{"log": []byte(`{"username":"alice","\u0066irst_seen":"2026-11-30T10:00:00Z"}`)}, true, policy.User{FirstSeen: seen}},
		{"an escaped older key", map[any]any{"log": []byte(`{"username":"alice","ch\u0061rged":1}`)}, true, policy.User{}},
	} {
		got, ok := New("t", time.Time{}, tc.fields).Carried()
		if ok != tc.carried || !got.FirstSeen.Equal(tc.want.FirstSeen) || got.LastAnswer != tc.want.LastAnswer ||
			got.Pause != tc.want.Pause || got.Letter != tc.want.Letter || got.Reason != tc.want.Reason {
			t.Errorf("%s: Carried() = %+v, %t; want %+v, %t", tc.name, got, ok, tc.want, tc.carried)
		}
	}
}

func TestCarryLineStaysSmall(t *testing.T) {
	long := strings.Repeat("é", 5000)
	line := CarryLine("username", "alice", policy.User{FirstSeen: time.Now(), LastAnswer: long, Reason: long})
	if len(line) > 2048 || !utf8.Valid(line) {
		t.Errorf("carry line of %d bytes", len(line))
	}
}

// A record's keys read as fmt prints them, whatever their msgpack types.
func TestRecordKeysReadAsPrinted(t *testing.T) {
	for _, v := range []any{"name", int64(-7), uint64(1 << 63), int8(3), 2.5, true, nil} {
		fields := New("t", time.Time{}, map[any]any{v: "x"}).Fields
		if want := fmt.Sprint(normalize(v)); len(fields) != 1 || fields[want] != "x" {
			t.Errorf("%#v: fields %v, want the key %q", v, fields, want)
		}
	}
}
