package helm

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// A grace under the rollout rule is refused at install, and the message
// says why (not only which bound).
func TestShortGraceRefusedSayingWhy(t *testing.T) {
	for _, name := range []string{"sidecar", "daemonset"} {
		o := cases[name]
		_, err := Template(Options{Release: "umc-invite", Namespace: "umc-invite", ValueFiles: o.ValueFiles,
			Set: append(append([]string{}, o.Set...), "terminationGracePeriodSeconds=30")})
		if err == nil {
			t.Fatalf("%s: a 30 s grace rendered", name)
		}
		for _, want := range []string{"terminationGracePeriodSeconds", "110", "Flush_Timeout", "invited twice"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: the refusal does not say %q: %v", name, want, err)
			}
		}
	}
}

// A resource the template cannot add up is refused by the schema or with
// a message naming the key and the forms it takes.
func TestDaemonSetResourcesRefuseWhatTheyCannotAdd(t *testing.T) {
	o := cases["daemonset"]
	for _, set := range []string{"daemonset.resourcesBase.limits.memory=lots", "daemonset.resourcesPerTenant.requests.cpu=2Gi"} {
		_, err := Template(Options{Release: "umc-invite", Namespace: "umc-invite", ValueFiles: o.ValueFiles,
			Set: append(append([]string{}, o.Set...), set)})
		key := strings.SplitN(set, "=", 2)[0]
		if err == nil || !strings.Contains(err.Error(), strings.ReplaceAll(strings.TrimPrefix(key, "daemonset."), ".", "/")) && !strings.Contains(err.Error(), key) {
			t.Errorf("%s: not refused naming the key: %v", set, err)
		}
	}
	// Quantities in other forms add up: 0.5 cpu is 500m, 1G is 953.67Mi.
	out, err := Template(Options{Release: "umc-invite", Namespace: "umc-invite", ValueFiles: o.ValueFiles,
		Set: append(append([]string{}, o.Set...), "daemonset.resourcesBase.requests.cpu=0.5", "daemonset.resourcesBase.limits.memory=1G")})
	if err != nil {
		t.Fatal(err)
	}
	docs := Split(out)
	for _, d := range docs {
		if !strings.Contains(d.Text, "kind: DaemonSet") {
			continue
		}
		if !strings.Contains(d.Text, "cpu: 500m") {
			t.Errorf("cpu 0.5 not rendered as 500m")
		}
	}
}

// The DaemonSet's helm test Pod probes the whole rendered config (each
// tenant's umc_invite output) with every tenant's password mounted where
// the config reads it.
func TestDaemonSetHelmTestProbesEveryOutput(t *testing.T) {
	objs := objects(t, render(t, cases["daemonset"]))
	if len(objs["Pod"]) != 1 {
		t.Fatalf("want one helm test Pod, got %d", len(objs["Pod"]))
	}
	pod := objs["Pod"][0].(*corev1.Pod)
	c := pod.Spec.Containers[0]
	if strings.Join(append(append([]string{}, c.Command...), c.Args...), " ") != "umc-invite probe -c /fluent-bit/etc/umc-invite/fluent-bit.conf" {
		t.Errorf("probe command %v %v", c.Command, c.Args)
	}
	conf := configOf(t, render(t, cases["daemonset"]))
	mounted := map[string]bool{}
	for _, m := range c.VolumeMounts {
		mounted[m.MountPath] = true
	}
	for _, tenant := range []string{"tenant-a", "tenant-b"} {
		if !strings.Contains(conf, "/run/secrets/umc-invite/"+tenant+"/") {
			continue
		}
		if !mounted["/run/secrets/umc-invite/"+tenant] {
			t.Errorf("%s's password is not mounted in the probe Pod", tenant)
		}
	}
}
