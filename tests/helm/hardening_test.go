package helm

// The pod hardened: no Secret guessable from a manifest, no API token, a
// hostPath of its own, and an optional NetworkPolicy.

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// podSpecs are every pod template and Pod a manifest renders.
func podSpecs(objs map[string][]any) map[string]*corev1.PodSpec {
	out := map[string]*corev1.PodSpec{}
	for _, o := range objs["DaemonSet"] {
		d := o.(*appsv1.DaemonSet)
		out["DaemonSet/"+d.Name] = &d.Spec.Template.Spec
	}
	for _, o := range objs["StatefulSet"] {
		s := o.(*appsv1.StatefulSet)
		out["StatefulSet/"+s.Name] = &s.Spec.Template.Spec
	}
	for _, o := range objs["Pod"] {
		p := o.(*corev1.Pod)
		out["Pod/"+p.Name] = &p.Spec
	}
	return out
}

// Anyone with the built-in view role reads a pod's annotations but not
// Secrets: no annotation may be computed from a Secret, nor hold any of its
// values' hashes.
func TestNoManifestCarriesASecretDerivedAnnotation(t *testing.T) {
	for name, o := range cases {
		docs := render(t, o)
		var secrets []string
		for _, d := range docs {
			if strings.Contains(d.YAML, "kind: Secret") {
				secrets = append(secrets, d.Text, d.YAML)
				for _, m := range regexp.MustCompile(`(?m)^  \S+: (.+)$`).FindAllStringSubmatch(d.YAML, -1) {
					secrets = append(secrets, strings.Trim(m[1], `"`))
				}
			}
		}
		all := strings.Join(func() []string {
			var s []string
			for _, d := range docs {
				s = append(s, d.YAML)
			}
			return s
		}(), "\n")
		if strings.Contains(all, "checksum/secret") {
			t.Errorf("%s: a checksum/secret annotation is rendered", name)
		}
		for _, s := range secrets {
			sum := sha256.Sum256([]byte(s))
			if strings.Contains(all, hex.EncodeToString(sum[:])) {
				t.Errorf("%s: a manifest carries the SHA-256 of a Secret's text", name)
			}
		}
		// The chart's own Secret as it renders with a guessed password: no
		// annotation changes with the guess.
		if strings.Contains(name, "everything") {
			continue
		}
		with := func(password string) []Doc {
			set := []string{"umc.auth.user=u", "umc.auth.password=" + password}
			if name == "daemonset" {
				set = []string{"tenants[1].auth.password=" + password}
			}
			return render(t, Options{ValueFiles: o.ValueFiles, Set: append(append([]string{}, o.Set...), set...)})
		}
		guess, other := with("guess-1"), with("guess-2")
		for i := range guess {
			if strings.Contains(guess[i].YAML, "kind: Secret") {
				continue
			}
			if guess[i].YAML != other[i].YAML {
				t.Errorf("%s: %s changes with the password: %s", name, guess[i].Source, firstDiff(guess[i].YAML, other[i].YAML))
			}
		}
	}
}

// No container talks to the Kubernetes API: none gets a token.
func TestEveryPodHasNoServiceAccountToken(t *testing.T) {
	for name, o := range cases {
		for pod, spec := range podSpecs(objects(t, render(t, o))) {
			if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
				t.Errorf("%s: %s mounts a service account token", name, pod)
			}
		}
	}
}

// The init container runs as root on the hostPath: the schema refuses a
// path that is not a directory of the chart's own.
func TestHostPathMustBeADirectoryOfItsOwn(t *testing.T) {
	for _, bad := range []string{"/", "/var/lib/kubelet", "/var/lib", "/etc", "/var/lib/umc-invite/../kubelet", "/var/lib/kubelet/umc-invite", "relative/umc-invite", "/var/lib/umc-invite/.."} {
		_, err := Template(Options{Release: "r", Namespace: "n", ValueFiles: []string{"ci/daemonset-values.yaml"}, Set: []string{"daemonset.hostPath=" + bad}})
		if err == nil {
			t.Errorf("hostPath %q rendered", bad)
		} else if !strings.Contains(err.Error(), "hostPath") {
			t.Errorf("hostPath %q: error does not name hostPath: %v", bad, err)
		}
	}
	for _, good := range []string{"/var/lib/umc-invite", "/srv/umc-invite/node-a", "/var/lib/umc-invite-prod"} {
		if _, err := Template(Options{Release: "r", Namespace: "n", ValueFiles: []string{"ci/daemonset-values.yaml"}, Set: []string{"daemonset.hostPath=" + good}}); err != nil {
			t.Errorf("hostPath %q refused: %v", good, err)
		}
	}
}

// Off by default; on, the pods take connections to health and metrics
// from the monitoring namespace only, and reach DNS, UMC and (with the
// listener) LDAP and the notifier only.
func TestNetworkPolicyIsOptionalAndNarrow(t *testing.T) {
	if n := len(objects(t, render(t, cases["daemonset"]))["NetworkPolicy"]); n != 0 {
		t.Errorf("a NetworkPolicy is rendered by default (%d)", n)
	}
	for _, mode := range []string{"sidecar", "daemonset"} {
		objs := objects(t, render(t, Options{ValueFiles: []string{"ci/" + mode + "-values.yaml"}, Set: []string{"networkPolicy.enabled=true"}}))
		if len(objs["NetworkPolicy"]) != 1 {
			t.Fatalf("%s: %d NetworkPolicies, want 1", mode, len(objs["NetworkPolicy"]))
		}
		np := objs["NetworkPolicy"][0].(*networkingv1.NetworkPolicy)
		var pod *corev1.PodTemplateSpec
		if mode == "sidecar" {
			pod = &objs["StatefulSet"][0].(*appsv1.StatefulSet).Spec.Template
		} else {
			pod = &objs["DaemonSet"][0].(*appsv1.DaemonSet).Spec.Template
		}
		for k, v := range np.Spec.PodSelector.MatchLabels {
			if pod.Labels[k] != v {
				t.Errorf("%s: the policy selects %s=%s, the pod has %q", mode, k, v, pod.Labels[k])
			}
		}
		if len(np.Spec.PolicyTypes) != 2 {
			t.Errorf("%s: policyTypes %v, want Ingress and Egress", mode, np.Spec.PolicyTypes)
		}
		if len(np.Spec.Ingress) != 1 || len(np.Spec.Ingress[0].From) != 1 || np.Spec.Ingress[0].From[0].NamespaceSelector == nil {
			t.Fatalf("%s: ingress %+v: want one rule from the monitoring namespace", mode, np.Spec.Ingress)
		}
		ports := map[int32]bool{}
		for _, p := range np.Spec.Ingress[0].Ports {
			ports[p.Port.IntVal] = true
		}
		if len(ports) != 2 || !ports[2020] || !ports[2021] {
			t.Errorf("%s: ingress ports %v, want health 2020 and metrics 2021 only", mode, ports)
		}
		egress := map[int32]bool{}
		for _, r := range np.Spec.Egress {
			if len(r.To) == 0 {
				t.Errorf("%s: an egress rule to anywhere: %+v", mode, r)
			}
			for _, p := range r.Ports {
				egress[p.Port.IntVal] = true
			}
		}
		want := map[string][]int32{"sidecar": {53, 443, 389, 6669}, "daemonset": {53, 443}}[mode]
		for _, p := range want {
			if !egress[p] {
				t.Errorf("%s: no egress to port %d", mode, p)
			}
		}
		if mode == "daemonset" && (egress[389] || egress[6669]) {
			t.Errorf("daemonset: egress to LDAP or the notifier, which only the listener needs: %v", egress)
		}
	}
}

// One tenant's backlog delays that tenant only: every tail input keeps its
// chunks on disk and bounds its memory, pausing on storage.max_chunks_up,
// which is counted for every input together and so in the DaemonSet holds
// every tenant's whole backlog; each DaemonSet tenant's tail runs in a
// thread of its own, and every output bounds its chunks on disk.
func TestEveryPipelineBoundsItsChunksAndPausesNoOtherTenant(t *testing.T) {
	for _, name := range []string{"defaults", "sidecar", "daemonset"} {
		windows, chunksUp := 0, 0
		for _, s := range parseClassic(t, configOf(t, render(t, cases[name]))) {
			switch s.name {
			case "service":
				chunksUp, _ = strconv.Atoi(s.keys["storage.max_chunks_up"])
			case "input":
				if !strings.EqualFold(s.keys["storage.type"], "filesystem") || s.keys["mem_buf_limit"] == "" || !strings.EqualFold(s.keys["storage.pause_on_chunks_overlimit"], "on") {
					t.Errorf("%s: tail input %s: storage.type %q, storage.pause_on_chunks_overlimit %q", name, s.keys["tag"], s.keys["storage.type"], s.keys["storage.pause_on_chunks_overlimit"])
				}
				if name == "daemonset" && !strings.EqualFold(s.keys["threaded"], "on") {
					t.Errorf("daemonset: tail input %s is not threaded", s.keys["tag"])
				}
			case "output":
				if w, _ := strconv.Atoi(s.keys["queue_window"]); name == "daemonset" {
					windows += w
				}
				if s.keys["storage.total_limit_size"] == "" {
					t.Errorf("%s: output %s has no storage.total_limit_size", name, s.keys["match"])
				}
			}
		}
		// Every tenant's whole backlog up at once leaves the others room.
		if name == "daemonset" && chunksUp < 128+2*windows {
			t.Errorf("daemonset: storage.max_chunks_up %d, want at least 128 + 2 x the windows (%d)", chunksUp, windows)
		}
	}
}
