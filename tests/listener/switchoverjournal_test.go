package listener

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The switch-over command queues a user, then notes it in its journal.
// When the note cannot be written (the listener's volume full, the
// journal's directory missing), the user is queued all the same: the
// command must not say "not queued" then, and running it again, as it
// asks, after the invitation went out must not queue the user a second
// time.
func TestSwitchOverJournalFailureDoesNotInviteTwice(t *testing.T) {
	python := pythonWithLDAP()
	if python == "" {
		t.Skip("python3 with python-ldap not found (Debian: apt-get install python3-ldap)")
	}
	s := startSlapd(t)
	queue := t.TempDir()
	journalDir := filepath.Join(t.TempDir(), "state")
	journal := filepath.Join(journalDir, "journal") // its directory is missing at first
	t0 := nextSecond()
	s.addUser(t, "during1", true)
	t1 := nextSecond()
	nextSecond() // T1 has passed

	out, err := s.switchOver(t, python, queue, journal, rfc3339(t1), "--since", rfc3339(t0))
	queued := exists(filepath.Join(queue, "during1.send"))
	if strings.Contains(out, "during1: not queued") && queued {
		t.Errorf("the command says during1 is not queued, but its file is in the queue (%v):\n%s", err, out)
	}
	if !queued {
		return // nothing sent: a second run may queue
	}
	// Fluent Bit delivers during1's invitation; the operator fixes the
	// volume and runs the command again, as it said.
	if err := os.Remove(filepath.Join(queue, "during1.send")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(journalDir, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err = s.switchOver(t, python, queue, journal, rfc3339(t1), "--since", rfc3339(t0))
	if exists(filepath.Join(queue, "during1.send")) {
		t.Fatalf("the second run queued during1 again, after its invitation went out (a second mail) (%v):\n%s", err, out)
	}
}

// A run that noted it was queuing a user but not that it had (killed in
// between, or the journal failed after the write) may have invited the
// user: a rerun names the user and leaves it to the operator, it does not
// queue again.
func TestSwitchOverAsksAboutAUserAnEarlierRunMayHaveQueued(t *testing.T) {
	python := pythonWithLDAP()
	if python == "" {
		t.Skip("python3 with python-ldap not found (Debian: apt-get install python3-ldap)")
	}
	s := startSlapd(t)
	queue := t.TempDir()
	journal := filepath.Join(t.TempDir(), "journal")
	if err := os.WriteFile(journal, []byte("queuing during1\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	t0 := nextSecond()
	s.addUser(t, "during1", true)
	s.addUser(t, "during2", true)
	t1 := nextSecond()
	nextSecond() // T1 has passed

	out, err := s.switchOver(t, python, queue, journal, rfc3339(t1), "--since", rfc3339(t0))
	if exists(filepath.Join(queue, "during1.send")) {
		t.Fatalf("during1, whom an earlier run may have queued, is queued again:\n%s", out)
	}
	if !exists(filepath.Join(queue, "during2.send")) {
		t.Fatalf("during2 is not queued:\n%s", out)
	}
	if err == nil || !strings.Contains(out, "during1: an earlier run may have queued it") || !strings.Contains(out, "requeue during1") {
		t.Fatalf("the command does not ask the operator about during1 (%v):\n%s", err, out)
	}
}
