package helm

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// helmTestPod is the rendered helm test Pod whose container runs args[0].
func helmTestPod(t *testing.T, objs map[string][]any, command string) *corev1.Pod {
	t.Helper()
	for _, o := range objs["Pod"] {
		p := o.(*corev1.Pod)
		if len(p.Spec.Containers[0].Args) > 0 && p.Spec.Containers[0].Args[0] == command {
			return p
		}
	}
	return nil
}

// runPod runs the Pod's command as the Pod would: the rendered config, its
// environment with the stand-in's URL and temporary directories, the
// password (if mounted) in a file.
func runPod(t *testing.T, pod *corev1.Pod, docs []Doc, umcURL string) (string, int) {
	t.Helper()
	work := t.TempDir()
	conf := filepath.Join(work, "fluent-bit.conf")
	writeFile(t, conf, configOf(t, docs))
	queue := filepath.Join(work, "queue")
	mkdir(t, queue)
	writeFile(t, filepath.Join(work, "password"), "s3cret-of-the-test\n")
	c := pod.Spec.Containers[0]
	var env []string
	for _, e := range c.Env {
		v := e.Value
		switch e.Name {
		case "UMC_URL":
			v = umcURL
		case "QUEUE_DIR", "STATE_DIR", "INTAKE_DIR":
			v = strings.Replace(v, "/var/cache/listener", queue, 1)
		case "UMC_AUTH_PASSWORD_FILE":
			if v != "" {
				v = filepath.Join(work, "password")
			}
		}
		env = append(env, e.Name+"="+v)
	}
	args := append([]string{"run", "./cmd/umc-invite"}, c.Args...)
	args[4] = conf // -c <the rendered config>
	cmd := exec.Command("go", args...)
	cmd.Dir, cmd.Env = Root(), append(cleanEnv(), env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "s3cret-of-the-test") {
		t.Errorf("the password is in the output:\n%s", out)
	}
	return string(out), code
}

// umcAnswering is a UMC that answers every send_token with status, in
// UMC's JSON.
func umcAnswering(status int, message string) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		if status == http.StatusOK {
			w.Write([]byte(`{"status": 200, "result": true}`))
			return
		}
		fmt.Fprintf(w, `{"status": %d, "message": %q}`, status, message)
	}))
}

// Issue 26 item 1: the raw sidecar manifest calls send_token anonymously,
// as Nubus's own sender does: no user, no password file, no Secret; and
// the init container's `umc-invite check` takes that config.
func TestRawSidecarManifestCallsUMCAnonymously(t *testing.T) {
	text, err := Manifests[0].Render()
	if err != nil {
		t.Fatal(err)
	}
	objs := objects(t, Split(text))
	if len(objs["Secret"]) != 0 {
		t.Errorf("the raw sidecar manifest makes %d Secret(s): no credentials are needed", len(objs["Secret"]))
	}
	tpl, cs := podOf(t, objs)
	for _, c := range append(append([]corev1.Container{}, tpl.Spec.InitContainers...), *cs["umc-invite"]) {
		env := envOf(&c)
		if _, ok := env["UMC_URL"]; !ok {
			continue
		}
		if env["UMC_AUTH_USER"] != "" || env["UMC_AUTH_PASSWORD_FILE"] != "" {
			t.Errorf("%s: UMC_AUTH_USER=%q UMC_AUTH_PASSWORD_FILE=%q, want both empty", c.Name, env["UMC_AUTH_USER"], env["UMC_AUTH_PASSWORD_FILE"])
		}
	}
	for _, v := range tpl.Spec.Volumes {
		if v.Secret != nil {
			t.Errorf("volume %s mounts Secret %s", v.Name, v.Secret.SecretName)
		}
	}
	if strings.Contains(text, "change-me") || strings.Contains(text, "self-service-invitation") {
		t.Error("the raw sidecar manifest still names a UMC account or password to replace")
	}
	// The init container's check, on the manifest's config and environment.
	work := t.TempDir()
	conf := filepath.Join(work, "fluent-bit.conf")
	writeFile(t, conf, configOf(t, Split(text)))
	queue := filepath.Join(work, "queue")
	mkdir(t, filepath.Join(queue, "incoming"))
	var env []string
	for k, v := range envOf(cs["umc-invite"]) {
		if k == "QUEUE_DIR" || k == "STATE_DIR" || k == "INTAKE_DIR" {
			v = strings.Replace(v, "/var/cache/listener", queue, 1)
		}
		env = append(env, k+"="+v)
	}
	cmd := exec.Command("go", "run", "./cmd/umc-invite", "check", "-c", conf)
	cmd.Dir, cmd.Env = Root(), append(cleanEnv(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("umc-invite check on the raw manifest's config without Auth_User: %v\n%s", err, out)
	}
}

// A password without a user cannot work (the plugin refuses it): the chart
// says so at install, naming the anonymous default.
func TestPasswordWithoutUserIsRefusedAtInstall(t *testing.T) {
	for _, set := range [][]string{{"umc.auth.password=pw"}, {"umc.auth.existingSecret.name=umc-secret"}} {
		_, err := Template(Options{Release: "nubus", Namespace: "nubus", ValueFiles: []string{"ci/sidecar-values.yaml"}, Set: set})
		if err == nil || !strings.Contains(err.Error(), "needs auth.user") || !strings.Contains(err.Error(), "anonymously") {
			t.Errorf("%v: %v", set, err)
		}
	}
}

// Issue 26 item 2: `helm test` fails when UMC refuses the configured
// credentials (401) or forbids the call (403), naming Auth_User (or the
// anonymous calls) and the password file.
func TestHelmTestFailsWhenUMCRefusesTheCredentials(t *testing.T) {
	for _, c := range []struct {
		name   string
		set    []string
		status int
		want   []string
	}{
		{"anonymous, 401", nil, http.StatusUnauthorized, []string{"HTTP 401", "anonymous"}},
		{"credentials, 401", []string{"umc.auth.user=svc", "umc.auth.password=pw"}, http.StatusUnauthorized,
			[]string{"HTTP 401", `Auth_User "svc"`, "Auth_Password_File /"}},
		{"credentials, 403", []string{"umc.auth.user=svc", "umc.auth.password=pw"}, http.StatusForbidden,
			[]string{"HTTP 403", `Auth_User "svc"`, "Auth_Password_File /"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := umcAnswering(c.status, "The authentication has failed, please login again.")
			defer srv.Close()
			docs := render(t, Options{Release: "nubus", Namespace: "nubus", ValueFiles: []string{"ci/sidecar-values.yaml"}, Set: c.set})
			pod := helmTestPod(t, objects(t, docs), "probe")
			if pod == nil {
				t.Fatal("no helm test Pod running probe")
			}
			out, code := runPod(t, pod, docs, srv.URL+"/univention")
			if code != 1 {
				t.Fatalf("helm test's probe: exit %d, want 1:\n%s", code, out)
			}
			auth := regexp.MustCompile(`(?m)^\s*FAIL\s+auth\s.*$`).FindString(out)
			for _, w := range c.want {
				if !strings.Contains(auth, w) {
					t.Errorf("the failed auth line lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// Issue 26 item 3: the opt-in helm test inviting a designated user is
// rendered only when one is named, runs `umc-invite invite <uid>` with the
// probe's config and environment, and passes only on UMC's 200.
func TestInviteHelmTestIsOptInAndPassesOnlyOn200(t *testing.T) {
	if pod := helmTestPod(t, objects(t, render(t, cases["sidecar"])), "invite"); pod != nil {
		t.Fatal("an invite helm test Pod without helmTest.inviteUser")
	}
	docs := render(t, Options{Release: "nubus", Namespace: "nubus", ValueFiles: []string{"ci/sidecar-values.yaml"},
		Set: []string{"helmTest.inviteUser=ci-tester"}})
	objs := objects(t, docs)
	pod := helmTestPod(t, objs, "invite")
	if pod == nil {
		t.Fatal("no invite helm test Pod with helmTest.inviteUser=ci-tester")
	}
	if pod.Annotations["helm.sh/hook"] != "test" || pod.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("hook %q, restartPolicy %s", pod.Annotations["helm.sh/hook"], pod.Spec.RestartPolicy)
	}
	c := pod.Spec.Containers[0]
	if got := strings.Join(append(append([]string{}, c.Command...), c.Args...), " "); got != "umc-invite invite -c /fluent-bit/etc/umc-invite/fluent-bit.conf ci-tester" {
		t.Errorf("invite Pod runs %q", got)
	}
	if f := restrictedFailures(&corev1.PodTemplateSpec{Spec: pod.Spec}); len(f) > 0 {
		t.Errorf("the invite Pod fails PodSecurity restricted: %v", f)
	}
	ok := umcAnswering(http.StatusOK, "")
	defer ok.Close()
	if out, code := runPod(t, pod, docs, ok.URL+"/univention"); code != 0 || !strings.Contains(out, "UMC answered 200") {
		t.Errorf("UMC's 200: exit %d:\n%s", code, out)
	}
	refused := umcAnswering(http.StatusBadRequest, "The user has no mail address.")
	defer refused.Close()
	if out, code := runPod(t, pod, docs, refused.URL+"/univention"); code != 1 {
		t.Errorf("UMC's 400: exit %d, want 1:\n%s", code, out)
	}
	if _, err := Template(Options{Release: "nubus", Namespace: "nubus", ValueFiles: []string{"ci/sidecar-values.yaml"},
		Set: []string{"helmTest.inviteUser=two words"}}); err == nil {
		t.Error("helmTest.inviteUser with a space renders")
	}
}
