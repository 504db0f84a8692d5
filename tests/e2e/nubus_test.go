package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"umc-invite/tests/umctest"
)

// listenerAdds runs the listener module's handler as the rendered
// listener container would: the registry the chart renders for it, its
// environment (queue paths moved under root), a user add per uid.
func listenerAdds(t *testing.T, s *sidecarSite, uids ...string) {
	t.Helper()
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found: the listener module needs it")
	}
	ucr := map[string]string{}
	for _, line := range strings.Split(s.manifest.data["base.conf"], "\n") {
		if k, v, ok := strings.Cut(line, ": "); ok {
			ucr[k] = v
		}
	}
	var events [][]any
	for _, uid := range uids {
		events = append(events, []any{"uid=" + uid + ",cn=users,dc=example,dc=org",
			map[string][]string{"uid": {uid}, "univentionPasswordSelfServiceEmail": {uid + "@example.org"}}, map[string][]string{}, "a"})
	}
	input, _ := json.Marshal(events)
	registry, _ := json.Marshal(ucr)
	env := s.manifest.env["listener"]
	cmd := exec.Command(python, filepath.Join(repoRoot, "tests", "listener", "drive.py"),
		filepath.Join(repoRoot, "build", "listener", "selfservice-invitation-json.py"),
		filepath.Join(s.root, env["UMC_INVITE_QUEUE_DIR"]), string(registry))
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "UMC_INVITE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "UMC_INVITE_DOMAIN_LISTENER="+env["UMC_INVITE_DOMAIN_LISTENER"],
		"UMC_INVITE_INTAKE_DIR="+filepath.Join(s.root, env["UMC_INVITE_INTAKE_DIR"]))
	cmd.Stdin = strings.NewReader(string(input))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("listener module: %v\n%s", err, out)
	}
}

// The "done when": a new user written in a Nubus-shaped setup
// reaches UMC exactly once through the listener module and the plugin,
// with the configuration the chart renders (build/kubernetes/sidecar.yaml:
// the listener's registry and environment, Fluent Bit's config and
// environment). Then every command of the alerts' runbooks and of the
// Operations section (docs/operations.md) runs as printed in the umc-invite container
// (its environment, its config at the image's path, no directory flag)
// against that queue, and exits 0; requeue brings a refused user back.
func TestNubusNewUserInvitedOnceAndRunbooks(t *testing.T) {
	needFluentBit(t)
	umc := &umctest.UMC{Refused: func(u string) bool { return u == "bob" }}
	s := newSidecarSite(t, umc)
	// Issue 21: a refusal counts only Refusal_Grace (default 15m) after
	// the first one; bob is refused on his second call here.
	outputKey(t, s.conf, "Refusal_Grace", "2s")
	p := s.start(t)
	listenerAdds(t, s, "alice", "bob")
	waitFor(t, "alice invited, bob refused", 20*time.Second, p, func() bool {
		return umc.Delivered()["alice"] == 1 && len(umctest.Refusals(t, s.dead)) == 1
	})
	time.Sleep(2 * time.Second)
	if err := umc.CheckOnce(1); err != nil {
		t.Fatal(err)
	}

	// The runbooks' and docs/operations.md's commands, as printed.
	bin := filepath.Join(t.TempDir(), "umc-invite")
	build := exec.Command("go", "build", "-o", bin, "./cmd/umc-invite")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var printed []string
	seen := map[string]bool{}
	add := func(c string) {
		if c = strings.TrimSpace(c); !seen[c] {
			seen[c] = true
			printed = append(printed, c)
		}
	}
	for _, d := range readManifest(t, "prometheusrule.yaml").rules {
		for _, m := range regexp.MustCompile(`"(umc-invite [^"]+)"`).FindAllStringSubmatch(d, -1) {
			add(m[1])
		}
	}
	readme, _ := os.ReadFile(filepath.Join(repoRoot, "docs", "operations.md"))
	ops := string(readme)[strings.Index(string(readme), "\n## Operations"):]
	ops = ops[:strings.Index(ops[1:], "\n## ")+1]
	for _, m := range regexp.MustCompile(`(?m)^kubectl exec [^\n]*? -- (umc-invite [^\n]+)$`).FindAllStringSubmatch(ops, -1) {
		add(m[1])
	}
	if len(printed) < 4 {
		t.Fatalf("commands %v: want the runbooks' dead-letters, requeue, check and docs/operations.md's", printed)
	}
	env := append(append([]string{}, s.env...), "UMC_INVITE_CONFIG="+s.conf)
	for _, c := range printed {
		args := strings.Fields(c)[1:]
		for i, a := range args {
			if strings.HasPrefix(a, "/fluent-bit/etc/") { // the container's path, moved under root
				args[i] = filepath.Join(s.root, a)
			}
		}
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("%q: %v\n%s", c, err, out)
			continue
		}
		t.Logf("$ %s\n%s", c, out)
		if strings.HasPrefix(c, "umc-invite dead-letters") && !strings.Contains(string(out), "bob") {
			t.Errorf("%q does not list bob:\n%s", c, out)
		}
	}
	// requeue --all put bob back: the plugin takes him again.
	waitFor(t, "bob asked for again", 20*time.Second, p, func() bool { return umc.Attempts()["bob"] >= 2 })
}
