// Package logtext makes text from outside (file names, usernames, UMC's
// messages, a redirect's Location) safe for one log line or a dead letter:
// quoted, without raw control characters, and cut to a bounded length, so
// that no input forges a line or floods the log.
package logtext

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

const (
	// MaxName is the length, in bytes of the original text, a quoted name
	// is cut to: far over a username's 241 characters or a queue file's name.
	MaxName = 300
	MaxLine = 4096 // of one log line's message
)

// Cut returns s cut to at most limit bytes, on a rune boundary, marked
// with "…" when something was cut off.
func Cut(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// Quote is s cut to MaxName and quoted as Go quotes a string: newlines,
// other control characters and invalid UTF-8 become escapes.
func Quote(s string) string { return strconv.Quote(Cut(s, MaxName)) }

// Line makes a formatted message one line: control characters other than
// a tab and invalid UTF-8 become escapes as strconv.Quote writes them, and
// the result is cut to MaxLine. Text already quoted stays as it is.
func Line(s string) string {
	var b strings.Builder // used only once a character needs escaping
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || (r < 0x20 && r != '\t') || r == 0x7f || r == 0x85 || r == 0x2028 || r == 0x2029 {
			if b.Len() == 0 {
				b.WriteString(s[:i])
			}
			q := strconv.Quote(s[i : i+size])
			b.WriteString(q[1 : len(q)-1])
		} else if b.Len() > 0 {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	if b.Len() > 0 {
		s = b.String()
	}
	return Cut(s, MaxLine)
}
