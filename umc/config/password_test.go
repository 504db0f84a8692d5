package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// secretDir is a Secret volume as the kubelet writes it: the file
// password -> ..data/password, ..data -> a timestamped directory.
type secretDir struct {
	t    *testing.T
	root string
	n    int
}

func newSecretDir(t *testing.T, password string) *secretDir {
	s := &secretDir{t: t, root: t.TempDir()}
	s.rotate(password)
	if err := os.Symlink(filepath.Join("..data", "password"), s.path()); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *secretDir) path() string { return filepath.Join(s.root, "password") }

// rotate writes a new timestamped directory, swaps ..data to it with a
// rename (atomic), and deletes the old directory, as the kubelet does.
func (s *secretDir) rotate(password string) {
	s.t.Helper()
	s.n++
	dir := fmt.Sprintf("..2026_11_27_09_00_%02d.%d", s.n, 1000+s.n)
	if err := os.Mkdir(filepath.Join(s.root, dir), 0o755); err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.root, dir, "password"), []byte(password), 0o644); err != nil {
		s.t.Fatal(err)
	}
	old, _ := os.Readlink(filepath.Join(s.root, "..data"))
	tmp := filepath.Join(s.root, "..data_tmp")
	if err := os.Symlink(dir, tmp); err != nil {
		s.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(s.root, "..data")); err != nil {
		s.t.Fatal(err)
	}
	if old != "" {
		if err := os.RemoveAll(filepath.Join(s.root, old)); err != nil {
			s.t.Fatal(err)
		}
	}
}

type notes struct {
	mu          sync.Mutex
	infos, warn []string
}

func (n *notes) hook(p *PasswordFile) {
	p.Infof = func(f string, a ...any) { n.mu.Lock(); n.infos = append(n.infos, fmt.Sprintf(f, a...)); n.mu.Unlock() }
	p.Warnf = func(f string, a ...any) { n.mu.Lock(); n.warn = append(n.warn, fmt.Sprintf(f, a...)); n.mu.Unlock() }
}

// passwordFile loads a config reading path and returns its PasswordFile
// on a clock the test moves.
func passwordFile(t *testing.T, path string) (*PasswordFile, *notes, *time.Time) {
	t.Helper()
	c, err := Load(Map{"UMC_URL": "https://umc", "Auth_User": "u", "Auth_Password_File": path})
	if err != nil {
		t.Fatal(err)
	}
	p := c.PasswordFile()
	now := time.Now()
	p.now = func() time.Time { return now }
	n := &notes{}
	n.hook(p)
	return p, n, &now
}

func TestPasswordFollowsAKubernetesSecretRotation(t *testing.T) {
	s := newSecretDir(t, "first\n")
	p, n, now := passwordFile(t, s.path())
	if p.Password() != "first" {
		t.Fatal("first")
	}
	s.rotate("second\n")
	if p.Password() != "first" {
		t.Fatal("looked again within the interval")
	}
	*now = now.Add(PasswordCheckInterval)
	if p.Password() != "second" {
		t.Fatal("rotation not seen")
	}
	if len(n.infos) != 1 || strings.Contains(n.infos[0], "second") || !strings.Contains(n.infos[0], "changed") {
		t.Fatalf("infos %q", n.infos)
	}
	// Unchanged: no read, no note.
	*now = now.Add(PasswordCheckInterval)
	if p.Password() != "second" || len(n.infos) != 1 || len(n.warn) != 0 {
		t.Fatalf("%q %q", n.infos, n.warn)
	}
}

func TestRecheckSeesARotationAtOnce(t *testing.T) {
	s := newSecretDir(t, "first")
	p, _, _ := passwordFile(t, s.path())
	if p.Recheck() {
		t.Fatal("changed without a rotation")
	}
	s.rotate("second")
	if !p.Recheck() || p.Password() != "second" {
		t.Fatal("Recheck missed the rotation")
	}
	// The same password in a new file is no change.
	s.rotate("second\n")
	if p.Recheck() {
		t.Fatal("same password reported as a change")
	}
}

func TestEmptyOrUnreadableNewFileKeepsThePassword(t *testing.T) {
	s := newSecretDir(t, "first")
	p, n, now := passwordFile(t, s.path())
	s.rotate("")
	for range 3 {
		*now = now.Add(PasswordCheckInterval)
		if p.Password() != "first" {
			t.Fatal("empty file taken")
		}
	}
	if len(n.warn) != 1 || !strings.Contains(n.warn[0], "is empty; keeping the password read before") {
		t.Fatalf("warnings %q", n.warn)
	}
	// Gone altogether (a broken link): kept, one more warning.
	if err := os.Remove(filepath.Join(s.root, "..data")); err != nil {
		t.Fatal(err)
	}
	n.warn = nil
	p.warned = false
	for range 3 {
		*now = now.Add(PasswordCheckInterval)
		if p.Password() != "first" {
			t.Fatal("lost")
		}
	}
	if len(n.warn) != 1 || !strings.Contains(n.warn[0], "cannot use") {
		t.Fatalf("warnings %q", n.warn)
	}
	// Fixed: taken, and a later problem warns again.
	s2 := newSecretDir(t, "third")
	_ = os.Remove(s.path())
	if err := os.Symlink(s2.path(), s.path()); err != nil {
		t.Fatal(err)
	}
	*now = now.Add(PasswordCheckInterval)
	if p.Password() != "third" {
		t.Fatal("fixed file not taken")
	}
	s2.rotate("")
	*now = now.Add(PasswordCheckInterval)
	if p.Password() != "third" || len(n.warn) != 2 {
		t.Fatalf("%q", n.warn)
	}
}

func TestTooLargeNewFileKeepsThePassword(t *testing.T) {
	s := newSecretDir(t, "first")
	p, n, now := passwordFile(t, s.path())
	s.rotate(strings.Repeat("x", maxPasswordFile+1))
	*now = now.Add(PasswordCheckInterval)
	if p.Password() != "first" || len(n.warn) != 1 || strings.Contains(n.warn[0], "xxx") {
		t.Fatalf("%q", n.warn)
	}
}

// A file rewritten in place (same inode, new size or mtime) counts as a
// change too.
func TestPasswordFileRewrittenInPlace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(path, []byte("first"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, _, now := passwordFile(t, path)
	if err := os.WriteFile(path, []byte("second-longer"), 0o600); err != nil {
		t.Fatal(err)
	}
	*now = now.Add(PasswordCheckInterval)
	if p.Password() != "second-longer" {
		t.Fatal("in-place rewrite missed")
	}
}

func TestNoPasswordFileNoSource(t *testing.T) {
	c, err := Load(Map{"UMC_URL": "https://umc", "Auth_User": "u", "Auth_Password": "inline"})
	if err != nil {
		t.Fatal(err)
	}
	if c.PasswordFile() != nil {
		t.Fatal("a source for an inline password")
	}
}

func TestPasswordFileIsSafeForConcurrentUse(t *testing.T) {
	s := newSecretDir(t, "first")
	c, err := Load(Map{"UMC_URL": "https://umc", "Auth_User": "u", "Auth_Password_File": s.path()})
	if err != nil {
		t.Fatal(err)
	}
	p := c.PasswordFile()
	var clock atomic.Int64 // every look a second later: each Password looks
	p.now = func() time.Time { return time.Unix(clock.Add(1), 0) }
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				if pw := p.Password(); pw != "first" && pw != "second" {
					t.Errorf("got %q", string(pw))
					return
				}
				p.Recheck()
			}
		}()
	}
	s.rotate("second")
	wg.Wait()
	if p.Password() != "second" {
		t.Fatal("rotation lost")
	}
}

func TestMetricsListenAndOutputName(t *testing.T) {
	good := []Map{
		{"Metrics_Listen": ":2021"}, {"Metrics_Listen": "127.0.0.1:2021"}, {"Metrics_Listen": "[::1]:2021"},
		{"Metrics_Listen": "localhost:9100"}, {"Metrics_Listen": "off"}, {"Metrics_Listen": "OFF"},
		{"Output_Name": "tenant_a"}, {"Output_Name": "umc_invite.0"}, {"Output_Name": "a:b-c"},
	}
	for _, m := range good {
		m["UMC_URL"] = "http://umc"
		c, err := Load(m)
		if err != nil {
			t.Errorf("%v: %v", m, err)
			continue
		}
		if strings.EqualFold(m["Metrics_Listen"], "off") && c.MetricsListen != "" {
			t.Errorf("off is %q", c.MetricsListen)
		}
	}
	bad := map[string]Map{
		"Metrics_Listen: \":99999\": port \"99999\" is outside 1..65535": {"Metrics_Listen": ":99999"},
		"Metrics_Listen: \":0\": port":                                   {"Metrics_Listen": ":0"},
		"Metrics_Listen: \"2021\" is not host:port":                      {"Metrics_Listen": "2021"},
		"Metrics_Listen: \"example.org:2021\": host":                     {"Metrics_Listen": "example.org:2021"},
		"Metrics_Listen: \":http\": port":                                {"Metrics_Listen": ":http"},
		"Output_Name: \"with space\"":                                    {"Output_Name": "with space"},
		"Output_Name: \".dot\"":                                          {"Output_Name": ".dot"},
		"Output_Name: \"" + strings.Repeat("x", 65) + "\"":               {"Output_Name": strings.Repeat("x", 65)},
	}
	for want, m := range bad {
		m["UMC_URL"] = "http://umc"
		_, err := Load(m)
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%v: %v, want %s…", m, err, want)
		}
	}
}
