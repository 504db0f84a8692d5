package listener

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"umc-invite/umc/policy"
	"umc-invite/umc/record"
	"umc-invite/umc/spool"
)

// fluentBitUID is the user the shipped manifests run Fluent Bit as
// (runAsUser/runAsGroup 65532), while the listener writes the queue files
// as its own user (root in the sidecar's listener container, the tenants'
// listeners on the DaemonSet's hostPath, root on UCS).
const fluentBitUID = 65532

// The plugin's carry-over appends a line to the queue file
// (spool.Queue.Append). The shipped listener module writes its files 0644,
// so Fluent Bit's user, which is in the queue directory's group (fsGroup,
// set-group-ID directory, chmod 2775 in the DaemonSet) but is not the
// file's owner, cannot append: every record still open on its chunk's last
// try (any UMC outage longer than about a minute) is dropped by Fluent Bit
// and stranded in Queue_Dir ("needs re-queueing"). umc-invite requeue
// writes 0664 for exactly this reason; the listener does not.
func TestCarryOverCanAppendToAListenerFile(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to play the listener (root) and Fluent Bit (65532)")
	}
	dir := t.TempDir()
	// t.TempDir's parent is 0700: let Fluent Bit's user reach the queue.
	if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	// The queue volume as the manifests prepare it: group 65532, 2775.
	if err := os.Chown(dir, 0, fluentBitUID); err != nil {
		t.Fatal(err)
	}
	if err := unix.Chmod(dir, 0o2775); err != nil {
		t.Fatal(err)
	}
	driveIn(t, dir, "domaincontroller_master", "true", add("alice"))
	path := filepath.Join(dir, "alice.send")
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("listener wrote %s with mode %v", path, st.Mode())

	q, err := spool.OpenQueue(dir)
	if err != nil {
		t.Fatal(err)
	}
	f, err := q.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	// Control: a file the listener had made group-writable (0664, as
	// requeue writes) takes the carry-over from Fluent Bit's user.
	driveIn(t, dir, "domaincontroller_master", "true", add("bob"))
	bob, err := q.Stat(filepath.Join(dir, "bob.send"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(bob.Path, 0o664); err != nil {
		t.Fatal(err)
	}
	if err := appendAs(q, bob, "bob"); err != nil {
		t.Fatalf("control: a 0664 file: %v", err)
	}
	if err := appendAs(q, f, "alice"); err != nil {
		t.Fatalf("carry-over as Fluent Bit's user into the listener's file fails: %v: "+
			"alice is stranded when Fluent Bit drops her chunk", err)
	}
}

// appendAs is the plugin's carry-over, made as Fluent Bit's user: the
// file-system ids of one locked thread only.
func appendAs(q *spool.Queue, f spool.File, user string) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		unix.Setfsgid(fluentBitUID)
		unix.Setfsuid(fluentBitUID)
		errc <- q.Append(f, record.CarryLine("username", user, policy.User{}))
	}()
	return <-errc
}
