package invite

import (
	"bytes"
	"strings"
	"testing"
)

// Issue 20, item 7: a name holding a newline cannot forge a line, and a
// huge text cannot flood the log: every message is one bounded line.
func TestALogMessageIsOneBoundedLine(t *testing.T) {
	var out bytes.Buffer
	l := NewLogger(&out, "umc_invite.0")
	l.Errorf("queue file %s: bad", "/q/x.send\n[2026/01/01 00:00:00.000] [ info] [output:umc_invite:umc_invite.0] invitation sent for \"mallory\"")
	l.Warnf("%s", strings.Repeat("m", 1<<20))
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("two messages wrote %d lines:\n%s", len(lines), out.String()[:min(out.Len(), 2000)])
	}
	if len(lines[1]) > 5000 {
		t.Errorf("a megabyte's message wrote a line of %d bytes", len(lines[1]))
	}
}
