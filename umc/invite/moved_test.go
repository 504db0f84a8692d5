package invite

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"umc-invite/tests/umctest"
	"umc-invite/umc/config"
	"umc-invite/umc/spool"
)

// A held directory that is not the one at its path is named, with what
// became of it.
func TestADirectoryNotAtItsPathIsNamed(t *testing.T) {
	held, other := spool.DirID{Dev: 1, Ino: 10}, spool.DirID{Dev: 1, Ino: 11}
	cases := []struct {
		name   string
		atPath spool.DirID
		err    error
		want   string // "" in place
	}{
		{"in place", held, nil, ""},
		{"renamed away, a new one made", other, nil, `Intake_Dir "/q/incoming" is no longer the directory this output opened at start: it was renamed away or replaced`},
		{"renamed away", spool.DirID{}, unix.ENOENT, `Intake_Dir "/q/incoming" is gone`},
		{"replaced by a file", spool.DirID{}, unix.ENOTDIR, `Intake_Dir "/q/incoming" is no longer a directory`},
	}
	for _, c := range cases {
		got := notAtPath("Intake_Dir", "/q/incoming", held, c.atPath, c.err)
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

// A moved queue stops the output; a moved intake or Dead_Letter_Dir is
// said as loudly but the queue is sent. A lasting finding is said once a
// minute, a new one at once, the return to normal once.
func TestWhatAMovedDirectoryStopsAndWhenItIsSaid(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	queueMoved := map[string]string{"Queue_Dir": "Queue_Dir moved"}
	intakeMoved := map[string]string{"Intake_Dir": "Intake_Dir moved"}
	cases := []struct {
		name      string
		found     map[string]string
		last      string
		logged    time.Time
		wantLine  string // "" nothing logged
		wantError bool
		wantStop  bool
	}{
		{"all in place", map[string]string{}, "", t0, "", false, false},
		{"queue moved", queueMoved, "", t0, "Queue_Dir moved; this output sends nothing", true, true},
		{"queue still moved, said 10 s ago", queueMoved, "Queue_Dir moved", t0.Add(-10 * time.Second), "", false, true},
		{"queue still moved, said a minute ago", queueMoved, "Queue_Dir moved", t0.Add(-time.Minute), "Queue_Dir moved; this output sends nothing", true, true},
		{"intake moved", intakeMoved, "", t0, "Intake_Dir moved; its queue is sent", true, false},
		{"intake moved too, said 10 s ago", map[string]string{"Queue_Dir": "Queue_Dir moved", "Intake_Dir": "Intake_Dir moved"}, "Queue_Dir moved", t0.Add(-10 * time.Second),
			"Queue_Dir moved; Intake_Dir moved; this output sends nothing", true, true},
		{"back in place", map[string]string{}, "Queue_Dir moved", t0.Add(-10 * time.Second), "again the ones at their paths", false, false},
	}
	for _, c := range cases {
		_, line, isErr, stop := movedVerdict(c.found, c.last, c.logged, t0)
		if (c.wantLine == "") != (line == "") || !strings.Contains(line, c.wantLine) || isErr != c.wantError || stop != c.wantStop {
			t.Errorf("%s: %q error %v stop %v; want %q error %v stop %v", c.name, line, isErr, stop, c.wantLine, c.wantError, c.wantStop)
		}
	}
}

// Renamed away and replaced by a new directory under the running output,
// its queue is named in the log and nothing is sent from it: the user
// tail read at the path waits, its file in place. Back at its path, the
// output sends again. A replaced intake is named too; the queue is sent.
func TestARenamedQueueIsReportedAndSendsNothingUntilItIsBack(t *testing.T) {
	stub := &umctest.UMC{}
	f := newFixture(t, stub, config.Map{})
	away := f.queue + ".away"
	if err := os.Rename(f.queue, away); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(f.queue, 0o755); err != nil {
		t.Fatal(err)
	}
	recs := f.queueFiles(t, "bob")
	f.out.watch.check(f.now())
	if want := `Queue_Dir "` + f.queue + `" is no longer the directory this output opened at start`; !strings.Contains(f.logs.String(), want) {
		t.Fatalf("the log does not say %q:\n%s", want, f.logs)
	}
	if v := f.flush(context.Background(), recs); v != Retry || len(stub.Calls()) != 0 {
		t.Fatalf("from a queue not at its path: verdict %v, calls %v; want Retry and none", v, stub.Calls())
	}
	if _, err := os.Stat(filepath.Join(f.queue, "bob.send")); err != nil {
		t.Fatalf("bob's file: %v", err)
	}
	// The operator puts the queue back, bob's file in it.
	if err := os.Rename(filepath.Join(f.queue, "bob.send"), filepath.Join(away, "bob.send")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(f.queue); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(away, f.queue); err != nil {
		t.Fatal(err)
	}
	f.out.watch.check(f.now())
	if !strings.Contains(f.logs.String(), "again the ones at their paths") {
		t.Fatalf("the log does not say the queue is back:\n%s", f.logs)
	}
	if v := f.flush(context.Background(), recs); v != OK || len(stub.Delivered()) != 1 {
		t.Fatalf("the queue back at its path: verdict %v, delivered %v", v, stub.Delivered())
	}
	// The intake renamed away and replaced: said, and the queue is sent.
	intake := filepath.Join(f.queue, "incoming")
	if err := os.Rename(intake, intake+".away"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(intake, 0o755); err != nil {
		t.Fatal(err)
	}
	f.out.watch.check(f.now())
	if want := `Intake_Dir "` + intake + `" is no longer the directory`; !strings.Contains(f.logs.String(), want) {
		t.Fatalf("the log does not say %q:\n%s", want, f.logs)
	}
	if v := f.flush(context.Background(), f.queueFiles(t, "carol")); v != OK || len(stub.Delivered()) != 2 {
		t.Fatalf("with the intake moved: verdict %v, delivered %v; want the queue sent", v, stub.Delivered())
	}
}

// A flush that comes between the queue's rename and the next look at its
// path (up to dirCheckEvery later) does not give up the user tail read at
// the new directory: the record waits (or is sent), never counts as gone.
func TestAFlushBeforeTheMoveIsNoticedDoesNotDropTheUser(t *testing.T) {
	stub := &umctest.UMC{}
	f := newFixture(t, stub, config.Map{})
	away := f.queue + ".away"
	if err := os.Rename(f.queue, away); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(f.queue, 0o755); err != nil {
		t.Fatal(err)
	}
	recs := f.queueFiles(t, "bob")
	if v := f.flush(context.Background(), recs); v == OK && len(stub.Delivered()) == 0 {
		t.Fatalf("bob's record, read by tail at the queue's path, was given up (verdict OK, nothing sent); his file %s waits for nobody:\n%s",
			filepath.Join(f.queue, "bob.send"), f.logs)
	}
}

// A queue renamed away and replaced by a regular file (a mistaken cp or a
// script writing to the path) is named as loudly as a moved one, and
// nothing is sent while it is so.
func TestAQueueReplacedByAFileIsReportedAndSendsNothing(t *testing.T) {
	stub := &umctest.UMC{}
	f := newFixture(t, stub, config.Map{})
	recs := f.queueFiles(t, "bob")
	if err := os.Rename(f.queue, f.queue+".away"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.queue, []byte("not a directory\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.out.watch.check(f.now())
	if want := `Queue_Dir "` + f.queue + `" is no longer a directory`; !strings.Contains(f.logs.String(), want) {
		t.Fatalf("the log does not say %q:\n%s", want, f.logs)
	}
	if v := f.flush(context.Background(), recs); v != Retry || len(stub.Calls()) != 0 {
		t.Fatalf("with the queue replaced by a file: verdict %v, calls %v; want Retry and none", v, stub.Calls())
	}
}
