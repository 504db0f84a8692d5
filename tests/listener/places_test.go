package listener

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// nubusUCR is the registry of Nubus's listener container: what
// listener-base-entrypoint.envsh sets at every start (univention/
// container-listener-base), and what the chart renders in its place.
func nubusUCR() map[string]string {
	return map[string]string{
		"server/role": "memberserver", "ldap/master": "nubus-ldap-server-primary", "ldap/master/port": "389",
		"ldap/hostdn": "cn=admin,dc=example,dc=org", "ldap/base": "dc=example,dc=org",
		"directory/manager/starttls": "0", "listener/debug/level": "2",
	}
}

// ucsUCR is a UCS node's registry of the given role.
func ucsUCR(role string) map[string]string {
	return map[string]string{
		"server/role": role, "ldap/base": "dc=example,dc=org", "ldap/master": "primary.example.org",
		"ldap/hostdn": "cn=node,cn=dc,cn=computers,dc=example,dc=org",
	}
}

// dockerfileEnv is the ENV build/listener/Dockerfile gives the listener.
func dockerfileEnv(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root(), "build", "listener", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, m := range regexp.MustCompile(`(UMC_INVITE_[A-Z_]+)=(\S+)`).FindAllStringSubmatch(string(data), -1) {
		if m[1] != "UMC_INVITE_QUEUE_DIR" { // the test's own queue
			env = append(env, m[1]+"="+m[2])
		}
	}
	if len(env) == 0 {
		t.Fatal("build/listener/Dockerfile sets no UMC_INVITE_* variable")
	}
	return env
}

// Item 1: one queueing listener per domain, with the registry each place
// really has: Nubus's listener container (memberserver, and the image's
// ENV), a UCS Primary; never a Backup or a Replica (they see the same
// users), nor a Managed Node or a plain listener base without our image.
func TestQueuesOncePerDomain(t *testing.T) {
	image := dockerfileEnv(t)
	for _, c := range []struct {
		place string
		ucr   map[string]string
		env   []string
		want  bool
	}{
		{"Nubus listener container (build/listener/Dockerfile)", nubusUCR(), image, true},
		{"Nubus's listener base without our image's ENV", nubusUCR(), nil, false},
		{"UCS Primary Directory Node", ucsUCR("domaincontroller_master"), nil, true},
		{"UCS Backup Directory Node", ucsUCR("domaincontroller_backup"), nil, false},
		{"UCS Replica Directory Node", ucsUCR("domaincontroller_slave"), nil, false},
		{"UCS Backup, even with the image's ENV", ucsUCR("domaincontroller_backup"), image, false},
		{"UCS Replica, even with the image's ENV", ucsUCR("domaincontroller_slave"), image, false},
		{"UCS Managed Node", ucsUCR("memberserver"), nil, false},
	} {
		t.Run(c.place, func(t *testing.T) {
			queue := t.TempDir()
			driveUCR(t, queue, c.env, c.ucr, add("alice"))
			got := parse(t, queue)
			if (got["alice.send"] == "alice") != c.want {
				t.Fatalf("queued %v, want queued: %v", got, c.want)
			}
		})
	}
}

// A move is 'r' then 'a' for the same entry; any other add after an 'r'
// is a new user and is queued (the rename is forgotten after one call).
func TestRenameSkipsOnlyTheMovedEntry(t *testing.T) {
	queue := t.TempDir()
	alice, bob := add("alice"), add("bob")
	alice.new["entryUUID"] = []string{"1111"}
	bob.new["entryUUID"] = []string{"2222"}
	renamed := event{dn: alice.dn, command: "r", old: alice.new}
	driveUCR(t, queue, dockerfileEnv(t), nubusUCR(), renamed, bob, add("carol"))
	if got := parse(t, queue); got["bob.send"] != "bob" || got["carol.send"] != "carol" || len(got) != 2 {
		t.Errorf("after alice's rename, new users bob and carol queued %v, want both", got)
	}
}

// The switch-over's cut-over (listener.queueCreatedFrom): the module
// queues a new user created at or after it, by the createTimestamp the
// listener passes with the entry, and leaves one created before it to
// umc-invite-switch-over; an entry without a createTimestamp is queued.
func TestCutOverByCreateTimestamp(t *testing.T) {
	created := func(uid, ts string) event {
		e := add(uid)
		if ts != "" {
			e.new["createTimestamp"] = []string{ts}
		}
		return e
	}
	queue := t.TempDir()
	env := append(dockerfileEnv(t), "UMC_INVITE_QUEUE_CREATED_FROM=2026-12-06T05:00:00Z")
	driveUCR(t, queue, env, nubusUCR(),
		created("before", "20261206045959Z"), created("at", "20261206050000Z"), created("after", "20261207000000Z"),
		created("unknown", ""))
	got := parse(t, queue)
	if len(got) != 3 || got["at.send"] != "at" || got["after.send"] != "after" || got["unknown.send"] != "unknown" {
		t.Fatalf("queued %v: want at, after and unknown (no createTimestamp), not before", got)
	}
	// A cut-over the module cannot read (set by hand, past the chart's
	// schema): every new user is queued rather than none.
	queue = t.TempDir()
	driveUCR(t, queue, append(dockerfileEnv(t), "UMC_INVITE_QUEUE_CREATED_FROM=tomorrow"), nubusUCR(), created("before", "20261206045959Z"))
	if got := parse(t, queue); got["before.send"] != "before" {
		t.Fatalf("with an unreadable cut-over queued %v, want before", got)
	}
}
