//go:build linux

package intake

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// dirs makes a queue directory; the intake is created by Open.
func dirs(t testing.TB) (queue, intake string) {
	t.Helper()
	queue = filepath.Join(t.TempDir(), "queue")
	if err := os.Mkdir(queue, 0o755); err != nil {
		t.Fatal(err)
	}
	return queue, filepath.Join(queue, "incoming")
}

func open(t testing.TB, queue, intake string, size int) *Window {
	t.Helper()
	w, err := Open(queue, intake, size)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

var base = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// put writes <user>.send holding the user, modified at base+age seconds.
func put(t testing.TB, dir, user string, age int) {
	t.Helper()
	path := filepath.Join(dir, user+".send")
	if err := os.WriteFile(path, []byte(`{"username": "`+user+`"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	at := base.Add(time.Duration(age) * time.Second)
	if err := os.Chtimes(path, at, at); err != nil {
		t.Fatal(err)
	}
}

// names lists the queue files in dir, sorted.
func names(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if candidate(e.Name()) && e.Type().IsRegular() {
			out = append(out, strings.TrimSuffix(e.Name(), ".send"))
		}
	}
	sort.Strings(out)
	return out
}

func join(s []string) string { return strings.Join(s, ",") }

// once checks that every user is pending in exactly one directory.
func once(t testing.TB, queue, intake string, users []string) {
	t.Helper()
	seen := map[string]int{}
	for _, u := range names(t, queue) {
		seen[u]++
	}
	for _, u := range names(t, intake) {
		seen[u]++
	}
	for _, u := range users {
		if seen[u] != 1 {
			t.Errorf("%s pending %d times", u, seen[u])
		}
		delete(seen, u)
	}
	if len(seen) > 0 {
		t.Errorf("unexpected files %v", seen)
	}
}

func TestOpenCreatesIntakeLikeQueue(t *testing.T) {
	queue, intake := dirs(t)
	if err := os.Chmod(queue, 0o770|os.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	w := open(t, queue, intake, 10)
	st, err := os.Stat(intake)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode()&(os.ModePerm|os.ModeSetgid) != 0o770|os.ModeSetgid {
		t.Fatalf("intake mode %v, want the queue's", st.Mode())
	}
	if w.LinkMode() {
		t.Log("this file system lacks RENAME_NOREPLACE: link mode")
	}
	if _, err := Open(queue, queue, 10); err == nil {
		t.Fatal("intake = queue accepted")
	}
	if _, err := Open(filepath.Join(queue, "nope"), intake, 10); err == nil {
		t.Fatal("missing queue directory accepted")
	}
}

func TestTopUpAtStartFillsOldestFirst(t *testing.T) {
	queue, intake := dirs(t)
	if err := os.Mkdir(intake, 0o755); err != nil {
		t.Fatal(err)
	}
	// Written in another order than their age; two share a timestamp.
	ages := map[string]int{"u07": 7, "u03": 3, "u09": 9, "u01": 1, "u05": 5, "u02b": 2, "u02a": 2, "u08": 8, "u04": 4, "u06": 6}
	var users []string
	for u, a := range ages {
		put(t, intake, u, a)
		users = append(users, u)
	}
	w := open(t, queue, intake, 4)
	moved, err := w.TopUp()
	if err != nil || moved != 4 {
		t.Fatalf("moved %d, %v", moved, err)
	}
	if got := join(names(t, queue)); got != "u01,u02a,u02b,u03" {
		t.Fatalf("queue %s: want the four oldest, ties by name", got)
	}
	if moved, _ := w.TopUp(); moved != 0 {
		t.Fatalf("a full window moved %d", moved)
	}
	once(t, queue, intake, users)
}

func TestRefillAfterFilesLeave(t *testing.T) {
	queue, intake := dirs(t)
	w := open(t, queue, intake, 3)
	for i := range 8 {
		put(t, intake, fmt.Sprintf("u%d", i), i)
	}
	if n, err := w.TopUp(); n != 3 || err != nil {
		t.Fatalf("%d %v", n, err)
	}
	// Two deliveries: the plugin removes the files and says so.
	for _, u := range []string{"u0", "u2"} {
		if err := os.Remove(filepath.Join(queue, u+".send")); err != nil {
			t.Fatal(err)
		}
	}
	w.Left(2)
	if n, err := w.TopUp(); n != 2 || err != nil {
		t.Fatalf("refill moved %d, %v", n, err)
	}
	if got := join(names(t, queue)); got != "u1,u3,u4" {
		t.Fatalf("queue %s", got)
	}
	// A removal nobody reported is found by a recount (the background loop
	// does one every second; Count does one too).
	if err := os.Remove(filepath.Join(queue, "u1.send")); err != nil {
		t.Fatal(err)
	}
	if n, _ := w.TopUp(); n != 0 {
		t.Fatalf("moved %d before the recount", n)
	}
	if err := w.recount(); err != nil {
		t.Fatal(err)
	}
	if n, _ := w.TopUp(); n != 1 {
		t.Fatalf("after the recount moved %d", n)
	}
	once(t, queue, intake, []string{"u3", "u4", "u5", "u6", "u7"})
}

// A file that arrives while the names in memory are not used up waits its
// turn; once they are, the intake is listed again.
func TestNewArrivalsAfterListing(t *testing.T) {
	queue, intake := dirs(t)
	w := open(t, queue, intake, 2)
	put(t, intake, "a", 1)
	if n, _ := w.TopUp(); n != 1 {
		t.Fatalf("moved %d", n)
	}
	time.Sleep(2 * mtimeSlack) // the listing is now sure of the directory's mtime
	if n, _ := w.TopUp(); n != 0 {
		t.Fatalf("nothing new, moved %d", n)
	}
	put(t, intake, "b", 2)
	if n, _ := w.TopUp(); n != 1 {
		t.Fatalf("new arrival: moved %d", n)
	}
}

func TestStraightIntoQueueCountsAndStays(t *testing.T) {
	queue, intake := dirs(t)
	for i := range 3 {
		put(t, queue, fmt.Sprintf("direct%d", i), 100+i)
	}
	before, _ := os.Stat(filepath.Join(queue, "direct0.send"))
	w := open(t, queue, intake, 5)
	for i := range 6 {
		put(t, intake, fmt.Sprintf("in%d", i), i)
	}
	if n, err := w.TopUp(); n != 2 || err != nil {
		t.Fatalf("moved %d, %v: want the window's room, 5-3", n, err)
	}
	after, _ := os.Stat(filepath.Join(queue, "direct0.send"))
	if !os.SameFile(before, after) {
		t.Fatal("a file written straight into the queue was touched")
	}
	q, in, err := w.Count()
	if err != nil || q != 5 || in != 4 {
		t.Fatalf("Count = %d, %d, %v; want 5, 4", q, in, err)
	}
}

func TestOnlyPlainQueueFilesMove(t *testing.T) {
	queue, intake := dirs(t)
	w := open(t, queue, intake, 100)
	put(t, intake, "ok", 1)
	for _, name := range []string{".alice.tmp", ".bob.send", "carol.txt", ".send"} {
		if err := os.WriteFile(filepath.Join(intake, name), []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	target := filepath.Join(t.TempDir(), "elsewhere.send")
	put(t, filepath.Dir(target), "elsewhere", 0)
	if err := os.Symlink(target, filepath.Join(intake, "link.send")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(intake, "dir.send"), 0o755); err != nil {
		t.Fatal(err)
	}
	put(t, filepath.Join(intake, "dir.send"), "deep", 0)
	if n, err := w.TopUp(); n != 1 || err != nil {
		t.Fatalf("moved %d, %v", n, err)
	}
	ents, _ := os.ReadDir(queue)
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if join(got) != StageDir+",incoming,ok.send" {
		t.Fatalf("queue holds %v", got)
	}
	if q, in, _ := w.Count(); q != 1 || in != 0 {
		t.Fatalf("Count = %d, %d", q, in)
	}
}

func TestCollisionIsNotOverwritten(t *testing.T) {
	queue, intake := dirs(t)
	w := open(t, queue, intake, 10)
	w.resync = 20 * time.Millisecond
	put(t, queue, "alice", 50) // re-queued straight into the queue
	put(t, intake, "alice", 1) // and queued again through the intake
	if err := os.WriteFile(filepath.Join(intake, "alice.send"), []byte("intake copy\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	put(t, intake, "bob", 2)
	if n, err := w.TopUp(); n != 1 || err != nil {
		t.Fatalf("moved %d, %v: want bob only", n, err)
	}
	data, _ := os.ReadFile(filepath.Join(queue, "alice.send"))
	if strings.Contains(string(data), "intake copy") {
		t.Fatal("the queued alice.send was replaced")
	}
	if got := join(names(t, intake)); got != "alice" {
		t.Fatalf("intake %s: alice must wait there", got)
	}
	// Delivered: the waiting copy is admitted once its retry time comes.
	if err := os.Remove(filepath.Join(queue, "alice.send")); err != nil {
		t.Fatal(err)
	}
	w.Left(1)
	time.Sleep(2 * w.resync)
	if n, err := w.TopUp(); n != 1 || err != nil {
		t.Fatalf("moved %d, %v", n, err)
	}
	data, _ = os.ReadFile(filepath.Join(queue, "alice.send"))
	if string(data) != "intake copy\n" {
		t.Fatalf("alice.send holds %q", data)
	}
}

// Link mode, for file systems without RENAME_NOREPLACE: a crash between link
// and unlink leaves one inode under both names; the next Start finishes the
// move before tail can deliver it, and a collision does so too.
func TestLinkModeCrashIsRepaired(t *testing.T) {
	queue, intake := dirs(t)
	w := open(t, queue, intake, 10)
	w.adm.linkMode = true
	for i := range 4 {
		put(t, intake, fmt.Sprintf("u%d", i), i)
	}
	if n, err := w.TopUp(); n != 4 || err != nil {
		t.Fatalf("link mode moved %d, %v", n, err)
	}
	once(t, queue, intake, []string{"u0", "u1", "u2", "u3"})
	// The crashed state: u4 linked into the queue, not yet unlinked.
	put(t, intake, "u4", 4)
	if err := os.Link(filepath.Join(intake, "u4.send"), filepath.Join(queue, "u4.send")); err != nil {
		t.Fatal(err)
	}
	put(t, intake, "u5", 5)
	if err := os.Link(filepath.Join(intake, "u5.send"), filepath.Join(queue, "u5.send")); err != nil {
		t.Fatal(err)
	}
	w2 := open(t, queue, intake, 10)
	w2.adm.linkMode = true
	w2.Start(nil)
	once(t, queue, intake, []string{"u0", "u1", "u2", "u3", "u4", "u5"})
	if int(w2.queued.Load()) != 6 {
		t.Fatalf("queued %d", int(w2.queued.Load()))
	}
	// A collision with the same inode (found by a running window) also
	// finishes the move rather than admitting it twice. The file gets both
	// names before the window can see it (it watches the intake).
	scratch := filepath.Join(filepath.Dir(queue), "scratch")
	if err := os.Mkdir(scratch, 0o755); err != nil {
		t.Fatal(err)
	}
	put(t, scratch, "u6", 6)
	for _, dir := range []string{queue, intake} {
		if err := os.Link(filepath.Join(scratch, "u6.send"), filepath.Join(dir, "u6.send")); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Remove(filepath.Join(scratch, "u6.send")); err != nil {
		t.Fatal(err)
	}
	if n, err := w2.TopUp(); n != 0 || err != nil {
		t.Fatalf("moved %d, %v", n, err)
	}
	once(t, queue, intake, []string{"u0", "u1", "u2", "u3", "u4", "u5", "u6"})
}

// The process state is lost between moves (a new Window on the same
// directories): nothing is lost or doubled, and the new window carries on.
func TestRestartKeepsEachFileOnce(t *testing.T) {
	queue, intake := dirs(t)
	w := open(t, queue, intake, 5)
	var users []string
	for i := range 12 {
		u := fmt.Sprintf("u%02d", i)
		put(t, intake, u, i)
		users = append(users, u)
	}
	if n, _ := w.TopUp(); n != 5 {
		t.Fatalf("moved %d", n)
	}
	// "Crash": w is abandoned mid-life; a delivery happened meanwhile.
	os.Remove(filepath.Join(queue, "u00.send"))
	users = users[1:]
	w2 := open(t, queue, intake, 5)
	if int(w2.queued.Load()) != 4 {
		t.Fatalf("new window counts %d", int(w2.queued.Load()))
	}
	if n, _ := w2.TopUp(); n != 1 {
		t.Fatalf("moved %d", n)
	}
	if got := join(names(t, queue)); got != "u01,u02,u03,u04,u05" {
		t.Fatalf("queue %s", got)
	}
	once(t, queue, intake, users)
}

func TestConcurrentTopUpNeverOverfills(t *testing.T) {
	queue, intake := dirs(t)
	const size, total = 50, 1500
	w := open(t, queue, intake, size)
	w.backlogCap = 200 // several listings over the run
	for i := range total {
		put(t, intake, fmt.Sprintf("u%04d", i), i)
	}
	// Many movers at once, nothing leaving: exactly the window moves.
	var wg sync.WaitGroup
	var mu sync.Mutex
	sum := 0
	for range 64 {
		wg.Go(func() {
			n, err := w.TopUp()
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			sum += n
			mu.Unlock()
		})
	}
	wg.Wait()
	if got := len(names(t, queue)); sum != size || got != size {
		t.Fatalf("moved %d, queue holds %d, want %d", sum, got, size)
	}
	// Now a deliverer drains the queue while 16 movers keep topping up.
	delivered := map[string]int{}
	stop := make(chan struct{})
	for range 16 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := w.TopUp(); err != nil {
					t.Error(err)
					return
				}
				if q := int(w.queued.Load()); q > size {
					t.Errorf("window count %d > %d", q, size)
				}
			}
		})
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(delivered) < total && time.Now().Before(deadline) {
		// Only the deliverer removes, so a listing can only miss
		// removals, never count a file twice: its length bounds the queue.
		queued := names(t, queue)
		if len(queued) > size {
			t.Fatalf("queue holds %d > %d", len(queued), size)
		}
		for _, u := range queued {
			delivered[u]++
			if err := os.Remove(filepath.Join(queue, u+".send")); err != nil {
				t.Fatal(err)
			}
			w.Left(1)
		}
	}
	close(stop)
	wg.Wait()
	if len(delivered) != total {
		t.Fatalf("delivered %d of %d", len(delivered), total)
	}
	for u, n := range delivered {
		if n != 1 {
			t.Fatalf("%s delivered %d times", u, n)
		}
	}
	if q, in, _ := w.Count(); q != 0 || in != 0 {
		t.Fatalf("left over: %d, %d", q, in)
	}
}

// Admission order stays oldest first across listings cut short by the
// in-memory cap.
func TestOldestFirstAcrossListings(t *testing.T) {
	queue, intake := dirs(t)
	w := open(t, queue, intake, 7)
	w.backlogCap = 10
	const total = 95
	for i := range total {
		put(t, intake, fmt.Sprintf("u%03d", (i*37)%total), (i*37)%total) // scrambled creation order
	}
	var order []string
	for len(order) < total {
		if _, err := w.TopUp(); err != nil {
			t.Fatal(err)
		}
		batch := names(t, queue)
		if len(batch) == 0 {
			t.Fatalf("stalled after %d", len(order))
		}
		for _, u := range batch {
			order = append(order, u)
			os.Remove(filepath.Join(queue, u+".send"))
		}
		w.Left(len(batch))
	}
	for i, u := range order {
		if u != fmt.Sprintf("u%03d", i) {
			t.Fatalf("admitted %s at %d", u, i)
		}
	}
}

func TestBackgroundAdmitsPromptlyAndStops(t *testing.T) {
	for _, mode := range []string{"inotify", "poll"} {
		t.Run(mode, func(t *testing.T) {
			queue, intake := dirs(t)
			w := open(t, queue, intake, 2)
			w.noWatch = mode == "poll"
			errs := make(chan error, 10)
			w.Start(func(err error) {
				select {
				case errs <- err:
				default:
				}
			})
			w.Start(nil) // idempotent
			// A producer's atomic write: hidden temporary file, then rename.
			var worst time.Duration
			for i := range 2 {
				u := fmt.Sprintf("u%d", i)
				tmp := filepath.Join(intake, "."+u+".tmp")
				if err := os.WriteFile(tmp, []byte(u+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				if err := os.Rename(tmp, filepath.Join(intake, u+".send")); err != nil {
					t.Fatal(err)
				}
				worst = max(worst, waitFor(t, filepath.Join(queue, u+".send"), start))
			}
			t.Logf("%s: admitted within %v", mode, worst)
			if worst > 250*time.Millisecond {
				t.Errorf("admission took %v", worst)
			}
			// The window is full; a delivery reported by Left makes room.
			put(t, intake, "u2", 0)
			time.Sleep(50 * time.Millisecond)
			if _, err := os.Stat(filepath.Join(queue, "u2.send")); err == nil {
				t.Fatal("admitted into a full window")
			}
			os.Remove(filepath.Join(queue, "u0.send"))
			start := time.Now()
			w.Left(1)
			t.Logf("%s: refilled within %v of Left", mode, waitFor(t, filepath.Join(queue, "u2.send"), start))
			if mode == "poll" {
				if err := <-errs; !strings.Contains(err.Error(), "no inotify") {
					t.Errorf("report %v", err)
				}
			}
			w.Close()
			w.Close()
			select {
			case <-w.done:
			default:
				t.Fatal("the loop still runs after Close")
			}
			if n, err := w.TopUp(); n != 0 || err != nil {
				t.Fatalf("TopUp after Close: %v", err)
			}
		})
	}
}

func waitFor(t *testing.T, path string, start time.Time) time.Duration {
	t.Helper()
	for time.Since(start) < 2*time.Second {
		if _, err := os.Stat(path); err == nil {
			return time.Since(start)
		}
		time.Sleep(200 * time.Microsecond)
	}
	t.Fatalf("%s not admitted within 2 s", path)
	return 0
}

// TestCrashChild is the process TestKillLeavesEachFileOnce kills: it admits
// and "delivers" (logs, then removes) queue files as fast as it can.
func TestCrashChild(t *testing.T) {
	queue := os.Getenv("INTAKE_CRASH_QUEUE")
	if queue == "" {
		t.Skip("run by TestKillLeavesEachFileOnce")
	}
	w, err := Open(queue, filepath.Join(queue, "incoming"), 20)
	if err != nil {
		t.Fatal(err)
	}
	w.adm.linkMode = os.Getenv("INTAKE_CRASH_LINK") != ""
	log, err := os.OpenFile(filepath.Join(filepath.Dir(queue), "delivered"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := w.TopUp(); err != nil {
			t.Fatal(err)
		}
		for _, u := range names(t, queue) {
			log.WriteString(u + "\n")
			os.Remove(filepath.Join(queue, u+".send"))
			w.Left(1)
		}
	}
}

// kill -9 at random moments of admitting and delivering: afterwards every
// user is delivered or pending in exactly one place (the intake, the queue,
// or staged between them), never two, never none. A delivered user may still be queued: that is the plugin's
// in-flight window (logged, not yet removed), not the intake's.
func TestKillLeavesEachFileOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	for _, mode := range []string{"rename", "link"} {
		for run := range 4 {
			queue, intake := dirs(t)
			if err := os.Mkdir(intake, 0o755); err != nil {
				t.Fatal(err)
			}
			const total = 3000
			for i := range total {
				put(t, intake, fmt.Sprintf("u%04d", i), i)
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
			cmd.Env = append(os.Environ(), "INTAKE_CRASH_QUEUE="+queue)
			if mode == "link" {
				cmd.Env = append(cmd.Env, "INTAKE_CRASH_LINK=1")
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Kill once a given share is delivered, so every run cuts it mid-way.
			logPath := filepath.Join(filepath.Dir(queue), "delivered")
			target := int64(total * 6 * (1 + 2*run) / 10) // bytes: "u0000\n" is 6
			for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
				if st, err := os.Stat(logPath); err == nil && st.Size() >= target {
					break
				}
				time.Sleep(100 * time.Microsecond)
			}
			cmd.Process.Kill()
			cmd.Wait()
			data, _ := os.ReadFile(logPath)
			delivered := map[string]bool{}
			for _, u := range strings.Fields(string(data)) {
				delivered[u] = true
			}
			check := func(when string) {
				count := map[string]int{}
				for _, u := range append(names(t, queue), names(t, intake)...) {
					count[u]++
				}
				// Taken from the intake, not yet under its queue name: the
				// restart admits it.
				ents, _ := os.ReadDir(filepath.Join(queue, StageDir))
				for _, e := range ents {
					count[strings.TrimSuffix(e.Name(), ".send")]++
				}
				for i := range total {
					u := fmt.Sprintf("u%04d", i)
					switch {
					case count[u] > 1:
						t.Errorf("%s run %d %s: %s pending twice", mode, run, when, u)
					case count[u] == 0 && !delivered[u]:
						t.Errorf("%s run %d %s: %s lost", mode, run, when, u)
					}
				}
			}
			if mode == "rename" {
				check("after the kill")
			}
			w := open(t, queue, intake, 20)
			w.Start(nil) // the restart finishes a cut link move
			q, in, _ := w.Count()
			// Stopped before looking: a file the running window moves between
			// the listings of the queue and of the intake would be in neither.
			w.Close()
			check("after the restart")
			t.Logf("%s run %d: killed with %d delivered, %d queued, %d in the intake", mode, run, len(delivered), q, in)
		}
	}
}

// A name with a newline or invalid UTF-8 is never admitted: in
// the queue directory Fluent Bit's tail would write it into its log as it
// is, a line of its own.
func TestNamesThatWouldForgeALogLineStayInTheIntake(t *testing.T) {
	base := t.TempDir()
	q, in := filepath.Join(base, "queue"), filepath.Join(base, "queue", "incoming")
	os.MkdirAll(in, 0o755)
	for _, name := range []string{"x\n[ info] forged.send", "bad\xff.send", "ok.send"} {
		if err := os.WriteFile(filepath.Join(in, name), []byte("u\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	w, err := Open(q, in, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if n, err := w.TopUp(); n != 1 || err != nil {
		t.Fatalf("moved %d, %v; want ok.send alone", n, err)
	}
	if _, err := os.Stat(filepath.Join(q, "ok.send")); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(in); len(ents) != 2 {
		t.Fatalf("intake holds %v", ents)
	}
}
