package listener

// The module on a UCS Primary Directory Node, beside UCS's own sender.
//
// On a UCS Primary the package univention-self-service-invitation installs
// UCS's own sender: the daemon /usr/lib/univention-self-service-master/
// univention-self-service-invitation (univention/univention-corporate-server,
// management/univention-self-service/univention-self-service-invitation)
// globs TRIGGER_DIR = /var/cache/univention-directory-listener/
// selfservice-invitation/*.send every 5 s, calls passwordreset/send_token for
// each and removes the file. Its one switch is UCR
// umc/self-service/invitation/enabled ("Enable the daemon for the self
// service invitation", debian/univention-self-service-invitation.
// univention-config-registry-variables).

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const ucsTriggerDir = "/var/cache/univention-directory-listener/selfservice-invitation"

// moduleDefault imports the module as a UCS Primary's listener does (no
// UMC_INVITE_* in its environment) and prints the queue directory it
// writes to.
func moduleDefault(t *testing.T) string {
	t.Helper()
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found")
	}
	script := `
import importlib.util, sys, types
listener = types.ModuleType('listener')
listener.configRegistry = {}
debug = types.ModuleType('univention.debug')
debug.LISTENER = debug.PROCESS = debug.WARN = 0
debug.debug = lambda *a: None
univention = types.ModuleType('univention'); univention.debug = debug
sys.modules.update({'listener': listener, 'univention': univention, 'univention.debug': debug})
spec = importlib.util.spec_from_file_location('m', sys.argv[1])
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
print(m.cache_dir)
`
	cmd := exec.Command(python, "-c", script, filepath.Join(root(), "build", "listener", "selfservice-invitation-json.py"))
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "UMC_INVITE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// On a UCS Primary every new user must get one invitation. Today there is
// no setting that does it:
//   - UCS's daemon left on (the default): the module's default queue is the
//     daemon's TRIGGER_DIR, so the daemon sends send_token and removes the
//     file while Fluent Bit's tail sends it too: two mails, the second
//     killing the first link (or the daemon takes the file and the plugin's
//     metrics and dead letters never see the user);
//   - UCS's daemon switched off (umc/self-service/invitation/enabled=false,
//     its only switch): the module reads the same variable and queues no
//     one: nobody is invited.
func TestPrimaryInvitesOnceWithUCSsOwnSender(t *testing.T) {
	t.Run("UCS daemon on: the module's queue is not the daemon's trigger directory", func(t *testing.T) {
		if got := moduleDefault(t); filepath.Clean(got) == ucsTriggerDir {
			t.Errorf("on a UCS Primary the module queues into %s, the directory UCS's univention-self-service-invitation "+
				"daemon sends from and empties: each new user is sent two invitations (or the daemon takes the file)", got)
		}
	})
	t.Run("UCS daemon off: the module still queues", func(t *testing.T) {
		queue := t.TempDir()
		ucr := ucsUCR("domaincontroller_master")
		ucr["umc/self-service/invitation/enabled"] = "false"
		driveUCR(t, queue, nil, ucr, add("alice"))
		if got := parse(t, queue); got["alice.send"] != "alice" {
			t.Errorf("UCS Primary with UCS's own invitation daemon switched off (umc/self-service/invitation/enabled=false): "+
				"queued %v, want alice: the module shares the daemon's switch, so the only way to stop the second sender "+
				"stops this one too and nobody is invited", got)
		}
	})
}
