package logtext

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestQuoteIsOneBoundedLine(t *testing.T) {
	for _, s := range []string{"a\nb", "x\r\n[info] invitation sent for \"mallory\"", "bad\xffutf8", strings.Repeat("é", 10000), "\u2028"} {
		q := Quote(s)
		if strings.ContainsAny(q, "\n\r\u2028") || !utf8.ValidString(q) || len(q) > 4*MaxName+10 {
			t.Errorf("Quote(%.40q) = %.80s (%d bytes)", s, q, len(q))
		}
	}
}

func TestLine(t *testing.T) {
	got := Line("file a\n[ info] forged\x00\xff\ttab")
	if want := `file a\n[ info] forged\x00\xff` + "\ttab"; got != want {
		t.Errorf("Line = %q, want %q", got, want)
	}
	if l := Line(strings.Repeat("x", 1<<20)); len(l) > MaxLine+len("…") {
		t.Errorf("a megabyte became %d bytes", len(l))
	}
	if Line("plain") != "plain" {
		t.Error("plain text changed")
	}
}
