package helm

// The init container runs as root on the node's hostPath: its image is
// pinned by digest, so that a tag moved in the registry cannot change what
// runs there.

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
)

func TestThePrepareImageIsPinnedByDigest(t *testing.T) {
	for _, name := range []string{"daemonset", "daemonset-everything"} {
		ds := objects(t, render(t, cases[name]))["DaemonSet"][0].(*appsv1.DaemonSet)
		for _, c := range ds.Spec.Template.Spec.InitContainers {
			if c.Name == "prepare-queues" && !strings.Contains(c.Image, "@sha256:") {
				t.Errorf("%s: prepare-queues (root, CHOWN, FOWNER on the hostPath) runs %q: pinned by tag only", name, c.Image)
			}
		}
	}
}
