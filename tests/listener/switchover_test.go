package listener

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ldapServer is a slapd of Debian's started for one test, with the
// standard schemas and the attributes the module's filter reads.
type ldapServer struct {
	uri, base, admin, password string
}

const testPassword = "secret"

// pythonWithLDAP is a python3 that imports python-ldap (Debian's
// python3-ldap, as the listener image has it), or "".
func pythonWithLDAP() string {
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		if path, err := exec.LookPath(p); err == nil && exec.Command(path, "-c", "import ldap").Run() == nil {
			return path
		}
	}
	return ""
}

func startSlapd(t *testing.T) *ldapServer {
	t.Helper()
	slapd, err := exec.LookPath("slapd")
	if err != nil {
		if _, e := os.Stat("/usr/sbin/slapd"); e != nil {
			t.Skip("slapd not found: the switch-over test needs a real LDAP server (Debian: apt-get install slapd ldap-utils python3-ldap)")
		}
		slapd = "/usr/sbin/slapd"
	}
	if _, err := exec.LookPath("ldapadd"); err != nil {
		t.Skip("ldapadd not found (Debian: apt-get install ldap-utils)")
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	s := &ldapServer{base: "dc=example,dc=org", admin: "cn=admin,dc=example,dc=org", password: testPassword}
	conf := fmt.Sprintf(`include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include %s
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile %s/slapd.pid
argsfile %s/slapd.args
database mdb
maxsize 10485760
suffix "%s"
rootdn "%s"
rootpw %s
directory %s
`, filepath.Join(root(), "tests", "listener", "testdata", "umc-invite-test.schema"), dir, dir, s.base, s.admin, s.password, data)
	if err := os.WriteFile(filepath.Join(dir, "slapd.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.uri = "ldap://" + l.Addr().String()
	l.Close()
	cmd := exec.Command(slapd, "-d", "0", "-f", filepath.Join(dir, "slapd.conf"), "-h", s.uri+"/")
	out, _ := os.Create(filepath.Join(dir, "slapd.log"))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		out.Close()
	})
	for i := 0; ; i++ {
		if c, err := net.Dial("tcp", strings.TrimPrefix(s.uri, "ldap://")); err == nil {
			c.Close()
			break
		}
		if i == 100 {
			log, _ := os.ReadFile(filepath.Join(dir, "slapd.log"))
			t.Fatalf("slapd does not listen on %s:\n%s", s.uri, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.ldif(t, "ldapadd", fmt.Sprintf("dn: %s\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: example\n\n"+
		"dn: cn=users,%s\nobjectClass: organizationalRole\ncn: users\n", s.base, s.base))
	return s
}

// ldif runs ldapadd or ldapmodify as the admin.
func (s *ldapServer) ldif(t *testing.T, tool, text string) {
	t.Helper()
	cmd := exec.Command(tool, "-x", "-H", s.uri, "-D", s.admin, "-w", s.password)
	cmd.Stdin = strings.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s\n%s", tool, err, out, text)
	}
}

// addUser creates a user as UMC/UDM does for an invitation: with a
// self-service e-mail (unless mail is false) and sambaPwdLastSet=0, the
// password to be set by the user. It returns the user's DN.
func (s *ldapServer) addUser(t *testing.T, uid string, mail bool) string {
	t.Helper()
	dn := "uid=" + uid + ",cn=users," + s.base
	entry := fmt.Sprintf("dn: %s\nobjectClass: inetOrgPerson\nobjectClass: umcInviteTestUser\nuid: %s\ncn: %s\nsn: %s\nsambaPwdLastSet: 0\n", dn, uid, uid, uid)
	if mail {
		entry += "univentionPasswordSelfServiceEmail: " + uid + "@example.org\n"
	}
	s.ldif(t, "ldapadd", entry)
	return dn
}

// nextSecond waits until the clock has left the current second and
// returns the new one: createTimestamp counts in whole seconds.
func nextSecond() time.Time {
	now := time.Now().UTC()
	next := now.Truncate(time.Second).Add(time.Second)
	time.Sleep(next.Sub(now) + 50*time.Millisecond)
	return next
}

// listen runs the module, in the listener container's configuration with
// the cut-over from, on the new entries dns as the listener daemon would.
func (s *ldapServer) listen(t *testing.T, python, queue, from string, dns ...string) string {
	t.Helper()
	input, _ := json.Marshal(dns)
	cmd := exec.Command(python, filepath.Join(root(), "tests", "listener", "listen.py"),
		filepath.Join(root(), "build", "listener", "selfservice-invitation-json.py"), queue,
		mustJSON(nubusUCR()), s.uri, s.admin, s.password)
	cmd.Env = append(moduleEnv(), dockerfileEnv(t)...)
	cmd.Env = append(cmd.Env, "UMC_INVITE_QUEUE_CREATED_FROM="+from)
	cmd.Stdin = strings.NewReader(string(input))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("listen.py: %v\n%s", err, out)
	}
	return string(out)
}

// switchOver runs umc-invite-switch-over as in the listener container
// (LDAP_* and UMC_INVITE_* as the chart sets them).
func (s *ldapServer) switchOver(t *testing.T, python, queue, journal, from string, args ...string) (string, error) {
	t.Helper()
	pw := filepath.Join(t.TempDir(), "ldap_secret")
	if err := os.WriteFile(pw, []byte(s.password), 0o600); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(s.uri, "ldap://"))
	cmd := exec.Command(python, append([]string{filepath.Join(root(), "build", "listener", "umc-invite-switch-over")}, args...)...)
	cmd.Env = append(moduleEnv(), dockerfileEnv(t)...)
	cmd.Env = append(cmd.Env, "LDAP_HOST="+host, "LDAP_PORT="+port, "LDAP_BASE_DN="+s.base, "LDAP_HOST_DN="+s.admin,
		"LDAP_PASSWORD_FILE="+pw, "TLS_MODE=off", "UMC_INVITE_QUEUE_DIR="+queue, "UMC_INVITE_QUEUE_CREATED_FROM="+from,
		"UMC_INVITE_MODULE="+filepath.Join(root(), "build", "listener", "selfservice-invitation-json.py"),
		"UMC_INVITE_SWITCH_OVER_JOURNAL="+journal)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// moduleEnv is this process's environment without the module's settings.
func moduleEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "UMC_INVITE_") {
			env = append(env, kv)
		}
	}
	return env
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func rfc3339(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// The switch-over from Nubus's own sender (docs/nubus.md): the listener
// runs with the cut-over T1 (listener.queueCreatedFrom) before Nubus's
// sender stops; T0 is the first second after the last user Nubus's sender
// invited; after T1 the command queues who was created in [T0, T1). Users
// created before T0 (Nubus invited them) are not queued, not even those
// who still have no password; every user created from T0 on who has no
// password is queued exactly once, by the command or by the module, and a
// second run of the command after delivery queues no one again.
func TestSwitchOverQueuesEachUserOnce(t *testing.T) {
	python := pythonWithLDAP()
	if python == "" {
		t.Skip("python3 with python-ldap not found: the switch-over test needs it (Debian: apt-get install python3-ldap)")
	}
	s := startSlapd(t)
	queue, journal := t.TempDir(), filepath.Join(t.TempDir(), "journal")

	// The cut-over is chosen first, in the future; the listener is
	// deployed with it and sees every user created from now on.
	var dns []string
	// Created while Nubus's sender ran: it invited them.
	dns = append(dns, s.addUser(t, "before1", true), s.addUser(t, "before2", true))
	// Nubus's sender is off; its last invitation was before2's.
	t0 := nextSecond()
	// Created between Nubus's sender stopping and the cut-over.
	dns = append(dns, s.addUser(t, "during1", true), s.addUser(t, "during2", true),
		s.addUser(t, "during-set-password", true), s.addUser(t, "during-no-mail", false))
	// during-set-password followed a mail of the administrator's and set
	// a password: UCS sets sambaPwdLastSet to the time.
	s.ldif(t, "ldapmodify", "dn: uid=during-set-password,cn=users,"+s.base+"\nchangetype: modify\nreplace: sambaPwdLastSet\nsambaPwdLastSet: 1765000000\n")
	t1 := nextSecond()
	// Created after the cut-over.
	dns = append(dns, s.addUser(t, "after1", true), s.addUser(t, "after2", true))

	// The listener daemon hands each new entry to the module.
	log := s.listen(t, python, queue, rfc3339(t1), dns...)
	if got := parse(t, queue); len(got) != 2 || got["after1.send"] != "after1" || got["after2.send"] != "after2" {
		t.Fatalf("the module queued %v: want after1 and after2, the users created from the cut-over %s on\n%s", got, rfc3339(t1), log)
	}
	if !strings.Contains(log, "created before "+rfc3339(t1)) {
		t.Errorf("the module does not say why it skipped users created before the cut-over:\n%s", log)
	}

	// Before the cut-over has passed the command refuses: users could still
	// be created in the interval.
	if out, err := s.switchOver(t, python, queue, journal, rfc3339(time.Now().Add(time.Hour)), "--since", rfc3339(t0)); err == nil ||
		!strings.Contains(out, "has not passed yet") {
		t.Errorf("with the cut-over an hour ahead the command ran: %v\n%s", err, out)
	}
	if got := parse(t, queue); len(got) != 2 {
		t.Fatalf("a refused run queued: %v", got)
	}

	// The cut-over has passed (the command refuses within its second).
	if time.Now().Before(t1.Add(time.Second)) {
		nextSecond()
	}
	out, err := s.switchOver(t, python, queue, journal, rfc3339(t1), "--since", rfc3339(t0), "--dry-run")
	if err != nil || !strings.Contains(out, "during1: would be queued") || len(parse(t, queue)) != 2 {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	out, err = s.switchOver(t, python, queue, journal, rfc3339(t1), "--since", rfc3339(t0))
	if err != nil {
		t.Fatalf("switch-over: %v\n%s", err, out)
	}
	want := map[string]string{"during1.send": "during1", "during2.send": "during2", "after1.send": "after1", "after2.send": "after2"}
	got := parse(t, queue)
	if len(got) != len(want) {
		t.Fatalf("after the switch-over the queue holds %v, want %v\n%s", got, want, out)
	}
	for f, u := range want {
		if got[f] != u {
			t.Errorf("%s: %q, want %q\n%s", f, got[f], u, out)
		}
	}

	// Fluent Bit delivers during1's invitation and removes the file; the
	// operator runs the command again (say after an error): nobody is
	// queued a second time.
	if err := os.Remove(filepath.Join(queue, "during1.send")); err != nil {
		t.Fatal(err)
	}
	out, err = s.switchOver(t, python, queue, journal, rfc3339(t1), "--since", rfc3339(t0))
	if err != nil || !strings.Contains(out, "during1: queued by an earlier run") {
		t.Fatalf("second run: %v\n%s", err, out)
	}
	if got := parse(t, queue); len(got) != 3 || got["during1.send"] != "" {
		t.Fatalf("a second run queued again: %v\n%s", got, out)
	}
}
