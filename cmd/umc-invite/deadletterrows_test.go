package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umc-invite/umc/spool"
)

// Letters of entries that were no queue files (an evicted symlink, a FIFO,
// a socket) have no file and no user: each is a row of its own, never
// folded into "(3 lines)"; only letters of one queue file fold. A row shows
// what the letter carries, UMC's last answer and its age, not a count of
// attempts the plugin no longer keeps.
func TestDeadLettersFoldOnlyLettersOfOneQueueFile(t *testing.T) {
	dir := t.TempDir()
	now := time.Now().UTC()
	for i, what := range []string{"symlink", "FIFO", "socket"} {
		letter(t, dir, spool.DeadLetter{Time: now.Add(time.Duration(i-10) * time.Minute), Kind: spool.KindBadInput,
			Reason: `queue entry "x` + what + `.send" is a ` + what + `, not a regular file: removed, never read`})
	}
	for range 2 { // one file's letter written twice (its move failed once)
		letter(t, dir, spool.DeadLetter{Time: now.Add(-3 * time.Hour), Kind: spool.KindRefused, Username: "carol",
			Reason: "refused", Status: 400, Message: "No address has been stored", File: filepath.Join(dir, "carol.send")})
	}
	out, code := runCmd(t, deadLettersCmd, "--dir", dir)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != exitOK || len(lines) != 5 {
		t.Fatalf("exit %d, %d lines: want a header, three entries and carol's one row", code, len(lines))
	}
	if strings.Contains(out, "(3 lines)") || strings.Count(out, "(2 lines)") != 1 {
		t.Errorf("folded wrongly:\n%s", out)
	}
	for _, what := range []string{"symlink", "FIFO", "socket"} {
		if !strings.Contains(out, "x"+what+".send") {
			t.Errorf("the %s's letter is not shown", what)
		}
	}
	header := lines[0]
	if strings.Contains(header, "ATTEMPTS") || !strings.Contains(header, "LAST ANSWER") || !strings.Contains(header, "AGE") {
		t.Errorf("header %q: want AGE and LAST ANSWER, no ATTEMPTS", header)
	}
	carol := lines[4]
	if !strings.Contains(carol, "HTTP 400: No address has been stored") || !strings.Contains(carol, "3h0m") {
		t.Errorf("carol's row %q: want UMC's last answer and the age 3h0m", carol)
	}
}
