package helm

// The DaemonSet's init container, run as root on a directory: each
// tenant's directories its own group's, no link followed, a bad tenant
// skipped while the others are prepared.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
)

const (
	fluentBitUID = 40104 // daemonset.runAsUser
	gidA, gidB   = 70001, 70002
)

// prepareScript is the rendered init container's script, on root.
func prepareScript(t *testing.T, root string) string {
	t.Helper()
	objs := objects(t, render(t, cases["daemonset"]))
	ds := objs["DaemonSet"][0].(*appsv1.DaemonSet)
	for _, c := range ds.Spec.Template.Spec.InitContainers {
		if c.Name == "prepare-queues" {
			script := c.Command[len(c.Command)-1]
			const rendered = `root="/var/lib/umc-invite"`
			if !strings.Contains(script, rendered) {
				t.Fatalf("the script does not start from %s:\n%s", rendered, script)
			}
			return strings.Replace(script, rendered, `root="`+root+`"`, 1)
		}
	}
	t.Fatal("no init container prepare-queues")
	return ""
}

func runPrepare(t *testing.T, root string) string {
	t.Helper()
	out, err := exec.Command("sh", "-c", prepareScript(t, root)).CombinedOutput()
	if err != nil {
		t.Fatalf("prepare-queues failed (the pod would never start): %v\n%s", err, out)
	}
	return string(out)
}

func needRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the init container chowns")
	}
}

// asUser runs a shell command as uid in group gid only, as a producer
// container runs.
func asUser(uid, gid uint32, command string) error {
	cmd := exec.Command("sh", "-c", command)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{gid}}}
	out, err := cmd.CombinedOutput()
	if err != nil && len(out) > 0 {
		return &exec.ExitError{ProcessState: cmd.ProcessState, Stderr: out}
	}
	return err
}

func ownerOf(t *testing.T, path string) (uid, gid uint32, mode os.FileMode) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return st.Uid, st.Gid, fi.Mode()
}

// A producer of tenant A (group 70001) writes A's intake and nothing else:
// not B's intake, not A's queue or dead letters, not Fluent Bit's state.
func TestProducerReachesItsOwnIntakeOnly(t *testing.T) {
	needRoot(t)
	base := t.TempDir()
	for _, d := range []string{filepath.Dir(base), base} { // passable, as a node's /var/lib is
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	root := filepath.Join(base, "umc-invite")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	runPrepare(t, root)
	// What an earlier run or a crash left: a dead letter and a tail DB.
	for _, f := range []string{"tenant-b/failed/bob.send", "tenant-a/failed/al.send", ".fluent-bit/tail-tenant-b.db"} {
		if err := os.WriteFile(filepath.Join(root, f), []byte(`{"username":"x"}`+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const producerA = 70501
	if err := asUser(producerA, gidA, "echo '{\"username\":\"al\"}' > "+root+"/tenant-a/incoming/al.send"); err != nil {
		t.Fatalf("A's producer cannot write A's intake: %v", err)
	}
	if _, gid, _ := ownerOf(t, filepath.Join(root, "tenant-a/incoming/al.send")); gid != gidA {
		t.Errorf("A's intake file has group %d, want A's %d (Fluent Bit reads it through that group)", gid, gidA)
	}
	for what, command := range map[string]string{
		"write B's intake":             "echo '{\"username\":\"bob-of-b\"}' > " + root + "/tenant-b/incoming/bob-of-b.send",
		"list B's intake":              "ls " + root + "/tenant-b/incoming",
		"read B's dead letters":        "cat " + root + "/tenant-b/failed/bob.send",
		"read its own dead letters":    "cat " + root + "/tenant-a/failed/al.send",
		"write its own queue":          "echo x > " + root + "/tenant-a/forged.send",
		"list its own queue":           "ls " + root + "/tenant-a",
		"rename its own intake away":   "mv " + root + "/tenant-a/incoming " + root + "/tenant-a/gone",
		"read B's tail database":       "cat " + root + "/.fluent-bit/tail-tenant-b.db",
		"list Fluent Bit's state":      "ls " + root + "/.fluent-bit",
		"write into the hostPath":      "mkdir " + root + "/tenant-c",
		"write B's queue":              "echo x > " + root + "/tenant-b/forged.send",
		"rename B's intake away":       "mv " + root + "/tenant-b/incoming " + root + "/tenant-b/gone",
		"make a link in B's directory": "ln -s /etc " + root + "/tenant-b/incoming/x",
	} {
		if err := asUser(producerA, gidA, command); err == nil {
			t.Errorf("A's producer may %s", what)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "tenant-b/incoming/bob-of-b.send")); err == nil {
		t.Error("A's file is in B's intake")
	}
}

// A link planted where a tenant's directory belongs, and a regular file
// where an intake belongs: the targets stay as they were, that tenant is
// skipped and named, the others are prepared, and the pod starts.
func TestPrepareFollowsNoLinkAndSkipsABadTenant(t *testing.T) {
	needRoot(t)
	base := t.TempDir()
	root := filepath.Join(base, "umc-invite")
	victim := filepath.Join(base, "victim")
	for _, d := range []string{root, victim, filepath.Join(root, "tenant-a")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(victim, filepath.Join(root, "tenant-a", "incoming")); err != nil {
		t.Fatal(err)
	}
	out := runPrepare(t, root)
	if uid, gid, mode := ownerOf(t, victim); uid != 0 || gid != 0 || mode.Perm() != 0o755 || mode&os.ModeSetgid != 0 {
		t.Errorf("the link's target changed: %d:%d %v", uid, gid, mode)
	}
	if !strings.Contains(out, "tenant-a") || !strings.Contains(out, "skipped") {
		t.Errorf("tenant-a's bad directory is not reported:\n%s", out)
	}
	if strings.Contains(out, "skipped: tenant-b") || strings.Contains(out, " tenant-b (") {
		t.Errorf("tenant-b was skipped:\n%s", out)
	}
	for path, want := range map[string]struct {
		uid, gid uint32
		mode     os.FileMode
	}{
		".fluent-bit":       {fluentBitUID, fluentBitUID, os.ModeDir | 0o700},
		"tenant-b":          {fluentBitUID, gidB, os.ModeDir | 0o710},
		"tenant-b/incoming": {fluentBitUID, gidB, os.ModeDir | os.ModeSetgid | 0o770},
		"tenant-b/failed":   {fluentBitUID, fluentBitUID, os.ModeDir | 0o700},
	} {
		uid, gid, mode := ownerOf(t, filepath.Join(root, path))
		if uid != want.uid || gid != want.gid || mode != want.mode {
			t.Errorf("%s: %d:%d %v, want %d:%d %v", path, uid, gid, mode, want.uid, want.gid, want.mode)
		}
	}

	// A regular file where B's intake belongs: B is skipped, A (fixed
	// meanwhile) is prepared, the script still succeeds.
	if err := os.Remove(filepath.Join(root, "tenant-a", "incoming")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(root, "tenant-b", "incoming")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "tenant-b", "incoming"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	out = runPrepare(t, root)
	if !strings.Contains(out, "tenant-b/incoming is not a directory") {
		t.Errorf("tenant-b's file is not reported:\n%s", out)
	}
	if _, gid, mode := ownerOf(t, filepath.Join(root, "tenant-a", "incoming")); gid != gidA || !mode.IsDir() {
		t.Errorf("tenant-a/incoming not prepared: group %d, %v", gid, mode)
	}
}

// The root init container's image, pinned by digest, is pulled by that
// digest: a tag moved on the registry cannot change what runs as root.
func TestPrepareImagePinnedByDigest(t *testing.T) {
	digest := "sha256:" + strings.Repeat("5e", 32)
	o := cases["daemonset"]
	o.Set = append(append([]string(nil), o.Set...), "daemonset.prepareImage.digest="+digest)
	ds := objects(t, render(t, o))["DaemonSet"][0].(*appsv1.DaemonSet)
	for _, c := range ds.Spec.Template.Spec.InitContainers {
		if c.Name == "prepare-queues" {
			if want := "docker.io/library/busybox:1.36.1@" + digest; c.Image != want {
				t.Errorf("prepare-queues image %q, want %q", c.Image, want)
			}
			return
		}
	}
	t.Fatal("no init container prepare-queues")
}
