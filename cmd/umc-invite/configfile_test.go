package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umc-invite/umc/spool"
)

// containerConfig writes a Fluent Bit config whose umc_invite output sets
// only UMC_URL, Queue_Dir and Config_File in its section; the TOML file
// holds the rest, as the README allows for any key. The password file it
// names does not exist: the commands read the queue, never UMC's secrets.
func containerConfig(t *testing.T, toml string) (queueDir string) {
	t.Helper()
	root := t.TempDir()
	queueDir = filepath.Join(root, "queue")
	if err := os.Mkdir(queueDir, 0o755); err != nil {
		t.Fatal(err)
	}
	tomlPath := filepath.Join(root, "umc-invite.toml")
	if err := os.WriteFile(tomlPath, []byte(strings.ReplaceAll(toml, "ROOT", root)), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(root, "fluent-bit.conf")
	if err := os.WriteFile(conf, []byte("[OUTPUT]\n    Name umc_invite\n    Match *\n    UMC_URL https://umc.example\n    Queue_Dir "+queueDir+
		"\n    Config_File "+tomlPath+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("UMC_INVITE_CONFIG", conf)
	return queueDir
}

const tomlWithDirsAndKey = `
auth_user = "invite-bot"
auth_password_file = "ROOT/missing-secret"
dead_letter_dir = "ROOT/letters"
intake_dir = "ROOT/intake"
username_key = "uid"
`

// dead-letters, requeue and queue without a directory flag resolve the
// output as the plugin does, its Config_File included: the dead letters
// are found where the TOML file puts them, requeue writes the user under
// the configured Username_Key into the configured intake, where the plugin
// will read it.
func TestTheCommandsReadTheOutputsConfigFile(t *testing.T) {
	q := containerConfig(t, tomlWithDirsAndKey)
	root := filepath.Dir(q)
	letters, intake := filepath.Join(root, "letters"), filepath.Join(root, "intake")
	if err := os.Mkdir(intake, 0o755); err != nil {
		t.Fatal(err)
	}
	letter(t, letters, spool.DeadLetter{Time: time.Now().Add(-time.Hour).UTC(), Kind: spool.KindRefused, Username: "bob",
		Reason: "refused", Status: 400, Message: "No address has been stored", File: filepath.Join(letters, "bob.send")})

	out, code := runCmd(t, deadLettersCmd)
	if code != exitOK || !strings.Contains(out, "bob") || strings.Contains(out, "no dead letters") {
		t.Fatalf("dead-letters: exit %d, want bob's letter from the Config_File's dead_letter_dir:\n%s", code, out)
	}
	out, code = runCmd(t, requeueCmd, "--all")
	if code != exitOK || !strings.Contains(out, "bob: queued as "+filepath.Join(intake, "bob.send")) {
		t.Fatalf("requeue --all: exit %d, want bob queued into the configured intake:\n%s", code, out)
	}
	raw, err := os.ReadFile(filepath.Join(intake, "bob.send"))
	if err != nil {
		t.Fatal(err)
	}
	var line map[string]any
	if err := json.Unmarshal(bytes.SplitN(raw, []byte("\n"), 2)[0], &line); err != nil || line["uid"] != "bob" {
		t.Fatalf("requeued file %q: want the user under the configured Username_Key uid", raw)
	}
	if _, ok := line["username"]; ok {
		t.Fatalf("requeued file %q also names the user under username", raw)
	}
}

// umc-invite queue names each waiting user by the output's Username_Key,
// from the container's config or, with --dir, from --username-key.
func TestQueueNamesUsersByTheOutputsUsernameKey(t *testing.T) {
	q := containerConfig(t, tomlWithDirsAndKey)
	if err := os.WriteFile(filepath.Join(q, "4711.send"), []byte(`{"uid": "alice"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"queue", "--json"}, {"queue", "--dir", q, "--username-key", "uid", "--json"}} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != exitOK {
			t.Fatalf("%v: exit %d: %s", args, code, errb.String())
		}
		var users []spool.WaitingUser
		if err := json.Unmarshal(out.Bytes(), &users); err != nil {
			t.Fatalf("%v: %v: %s", args, err, out.String())
		}
		if len(users) != 1 || users[0].Username != "alice" {
			t.Fatalf("%v: users %+v, want alice (the uid in the file)", args, users)
		}
	}
}
