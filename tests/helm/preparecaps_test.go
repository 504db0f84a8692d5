package helm

// The init container runs as root with only the capabilities its
// securityContext adds: without DAC_OVERRIDE (or DAC_READ_SEARCH) root may
// not enter a directory it has given away with mode 0700 or 0710. It runs
// on every start of the pod, on a hostPath prepared before.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
)

// prepareCapabilities is the init container's capability set, as setpriv
// spells a bounding set: -all,+chown,+fowner.
func prepareCapabilities(t *testing.T) string {
	t.Helper()
	ds := objects(t, render(t, cases["daemonset"]))["DaemonSet"][0].(*appsv1.DaemonSet)
	for _, c := range ds.Spec.Template.Spec.InitContainers {
		if c.Name != "prepare-queues" {
			continue
		}
		if c.SecurityContext == nil || c.SecurityContext.Capabilities == nil {
			t.Fatal("prepare-queues has no capabilities set")
		}
		set := "-all"
		for _, add := range c.SecurityContext.Capabilities.Add {
			set += ",+" + strings.ToLower(string(add))
		}
		return set
	}
	t.Fatal("no init container prepare-queues")
	return ""
}

func TestPrepareWorksWithTheInitContainersCapabilitiesOnEveryStart(t *testing.T) {
	needRoot(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Fatal("needs setpriv (util-linux) to run the script with the init container's capabilities")
	}
	caps := prepareCapabilities(t)
	root := filepath.Join(t.TempDir(), "umc-invite")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	script := prepareScript(t, root)
	for _, start := range []string{"first start", "restart"} {
		out, err := exec.Command("setpriv", "--bounding-set", caps, "sh", "-c", script).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: prepare-queues (capabilities %s) fails, the pod never starts: %v\n%s", start, caps, err, out)
		}
		if strings.Contains(string(out), "skipped") {
			t.Errorf("%s: prepare-queues (capabilities %s) skips healthy tenants:\n%s", start, caps, out)
		}
		for _, dir := range []string{"tenant-a/incoming", "tenant-b/incoming", "tenant-a/failed", "tenant-b/failed"} {
			if _, err := os.Lstat(filepath.Join(root, dir)); err != nil {
				t.Errorf("%s: %s not made: %v", start, dir, err)
			}
		}
	}
}
