package helm

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	psapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

// restrictedFailures evaluates a pod with the Kubernetes project's own
// PodSecurity checks at level restricted and returns what fails.
func restrictedFailures(meta *corev1.PodTemplateSpec) []string {
	eval, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		panic(err)
	}
	var out []string
	for _, r := range eval.EvaluatePod(psapi.LevelVersion{Level: psapi.LevelRestricted, Version: psapi.LatestVersion()}, &meta.ObjectMeta, &meta.Spec) {
		if !r.Allowed {
			out = append(out, r.ForbiddenReason+": "+r.ForbiddenDetail)
		}
	}
	sort.Strings(out)
	return out
}

// pods are every pod the chart renders: workloads' templates and bare Pods.
func pods(objs map[string][]any) map[string]*corev1.PodTemplateSpec {
	out := map[string]*corev1.PodTemplateSpec{}
	for _, o := range objs["StatefulSet"] {
		s := o.(*appsv1.StatefulSet)
		out["StatefulSet/"+s.Name] = &s.Spec.Template
	}
	for _, o := range objs["DaemonSet"] {
		d := o.(*appsv1.DaemonSet)
		out["DaemonSet/"+d.Name] = &d.Spec.Template
	}
	for _, o := range objs["Pod"] {
		p := o.(*corev1.Pod)
		out["Pod/"+p.Name] = &corev1.PodTemplateSpec{ObjectMeta: p.ObjectMeta, Spec: p.Spec}
	}
	return out
}

// Item 9: every rendered pod of the sidecar shape passes PodSecurity
// restricted. The DaemonSet needs more, and only this: the hostPath of the
// tenants' queues and the root init container that hands it to Fluent
// Bit's user (docs/nubus.md, The Helm chart).
func TestPodSecurityRestricted(t *testing.T) {
	for name, o := range cases {
		t.Run(name, func(t *testing.T) {
			objs := objects(t, render(t, o))
			ps := pods(objs)
			if len(ps) == 0 {
				t.Fatal("no pods")
			}
			for pod, tpl := range ps {
				failures := restrictedFailures(tpl)
				if strings.HasPrefix(pod, "DaemonSet/") {
					want := []string{`restricted volume types: volume "queues" uses restricted volume type "hostPath"`,
						`runAsNonRoot != true: container "prepare-queues" must not set securityContext.runAsNonRoot=false`,
						`runAsUser=0: container "prepare-queues" must not set runAsUser=0`,
						`unrestricted capabilities: container "prepare-queues" must not include "CHOWN", "DAC_OVERRIDE", "FOWNER" in securityContext.capabilities.add`}
					if strings.Join(failures, "\n") != strings.Join(want, "\n") {
						t.Errorf("%s: restricted fails on\n%s\nwant only the stated exceptions\n%s", pod, strings.Join(failures, "\n"), strings.Join(want, "\n"))
					}
					continue
				}
				if len(failures) > 0 {
					t.Errorf("%s fails PodSecurity restricted:\n%s", pod, strings.Join(failures, "\n"))
				}
			}
		})
	}
}

// Item 8: the DaemonSet's memory follows its tenants.
func TestDaemonSetMemoryFollowsTenants(t *testing.T) {
	mem := func(n int) (req, lim resource.Quantity) {
		o := Options{Release: "r", Namespace: "n", Set: []string{"mode=daemonset"}}
		for i := range n {
			o.Set = append(o.Set, fmt.Sprintf("tenants[%d].name=t%d", i, i), fmt.Sprintf("tenants[%d].gid=%d", i, 70001+i), fmt.Sprintf("tenants[%d].url=http://umc.t%d/univention", i, i))
		}
		ds := objects(t, render(t, o))["DaemonSet"][0].(*appsv1.DaemonSet)
		r := ds.Spec.Template.Spec.Containers[0].Resources
		return r.Requests[corev1.ResourceMemory], r.Limits[corev1.ResourceMemory]
	}
	req1, lim1 := mem(1)
	req5, lim5 := mem(5)
	// 64Mi/128Mi + a tenant 16Mi/48Mi + its window, 1,000 files × 20Ki
	// (19.53Mi), rounded up.
	if req1.String() != "100Mi" || lim1.String() != "196Mi" || req5.String() != "242Mi" || lim5.String() != "466Mi" {
		t.Fatalf("1 tenant: %s/%s, 5 tenants: %s/%s; want 100Mi/196Mi and 242Mi/466Mi (64Mi/128Mi + 16Mi/48Mi and 1,000 × 20Ki a tenant)", &req1, &lim1, &req5, &lim5)
	}
}

// Item 6: the pod's grace covers Fluent Bit's Grace (flushes may start
// until then), a flush's Flush_Timeout (no new call after it) and a
// call's Timeout, with margin: the kubelet's SIGKILL never cuts a call UMC
// may serve (docs/operations.md, Rollouts; tests/e2e TestRolloutRepeatsNoInvitation).
func TestGraceCoversACall(t *testing.T) {
	const margin = 10
	for _, name := range []string{"sidecar", "daemonset"} {
		docs := render(t, cases[name])
		conf := parseClassic(t, configOf(t, docs))
		grace, _ := strconv.Atoi(conf[0].keys["grace"])
		// The plugin's defaults (umc/config): the chart sets neither.
		timeout, flushTimeout := 30, 60
		for _, s := range conf {
			for _, k := range []string{"timeout", "flush_timeout"} {
				if v, ok := s.keys[k]; ok && s.name == "output" {
					t.Fatalf("the chart sets %s %s: take it into account here", k, v)
				}
			}
		}
		pods := pods(objects(t, docs))
		for pod, tpl := range pods {
			if tpl.Spec.TerminationGracePeriodSeconds == nil || int(*tpl.Spec.TerminationGracePeriodSeconds) < grace+flushTimeout+timeout+margin {
				t.Errorf("%s: terminationGracePeriodSeconds %d < Grace %d + Flush_Timeout %d + Timeout %d + %d s", pod, *tpl.Spec.TerminationGracePeriodSeconds, grace, flushTimeout, timeout, margin)
			}
		}
	}
}

// Item 4: helm test runs `umc-invite probe` on the rendered config with
// the pod's environment; against a wrong UMC it fails, naming the check.
func TestHelmTestProbes(t *testing.T) {
	objs := objects(t, render(t, cases["sidecar"]))
	var pod *corev1.Pod
	for _, o := range objs["Pod"] {
		pod = o.(*corev1.Pod)
	}
	if pod == nil || pod.Annotations["helm.sh/hook"] != "test" {
		t.Fatal("no helm test Pod")
	}
	c := pod.Spec.Containers[0]
	if strings.Join(append(c.Command, c.Args...), " ") != "umc-invite probe -c /fluent-bit/etc/umc-invite/fluent-bit.conf" {
		t.Fatalf("helm test runs %v %v", c.Command, c.Args)
	}
	if pod.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("restartPolicy %s", pod.Spec.RestartPolicy)
	}
	// Run it: the rendered config, the pod's env, a UMC that is not there.
	work := t.TempDir()
	conf := filepath.Join(work, "fluent-bit.conf")
	writeFile(t, conf, configOf(t, render(t, cases["sidecar"])))
	queue := filepath.Join(work, "queue")
	mkdir(t, queue) // the pod's emptyDir: no intake yet
	writeFile(t, filepath.Join(work, "password"), "pw\n")
	env := []string{}
	for _, e := range c.Env {
		v := e.Value
		switch e.Name {
		case "UMC_URL":
			v = "http://127.0.0.1:1/univention" // nothing listens on port 1
		case "QUEUE_DIR", "STATE_DIR", "INTAKE_DIR":
			v = strings.Replace(v, "/var/cache/listener", queue, 1)
		case "UMC_AUTH_PASSWORD_FILE":
			if v != "" {
				v = filepath.Join(work, "password")
			}
		}
		env = append(env, e.Name+"="+v)
	}
	cmd := exec.Command("go", "run", "./cmd/umc-invite", "probe", "-c", conf)
	cmd.Dir, cmd.Env = Root(), append(cleanEnv(), env...)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("probe against no UMC: %v, want exit 1\n%s", err, out)
	}
	if !regexp.MustCompile(`(?m)^\s*FAIL\s+tcp\s`).Match(out) {
		t.Fatalf("the output does not name the failed check (tcp):\n%s", out)
	}
	t.Logf("helm test's output:\n%s", out)
}
