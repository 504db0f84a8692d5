package umc

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"umc-invite/tests/umctest"
	"umc-invite/umc/config"
	"umc-invite/umc/policy"
)

// rotatingUMC takes basic auth with one password at a time, which the
// test changes; what it accepts goes on to the UMC stand-in as anonymous.
type rotatingUMC struct {
	mu       sync.Mutex
	password string
	statuses []int
	stub     *umctest.UMC
}

func (r *rotatingUMC) set(password string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.password = password
}

func (r *rotatingUMC) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	_, pw, _ := req.BasicAuth()
	r.mu.Lock()
	ok := pw == r.password
	if ok {
		r.statuses = append(r.statuses, 200)
	} else {
		r.statuses = append(r.statuses, 401)
	}
	r.mu.Unlock()
	if !ok {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"status": 401, "message": "The authentication has failed, please login again."}`))
		return
	}
	req.Header.Del("Authorization")
	r.stub.ServeHTTP(w, req)
}

// rotateSecret swaps a Secret volume's ..data link to a new directory, as
// the kubelet does, and deletes the old one.
func rotateSecret(t *testing.T, root, dir, password string) {
	t.Helper()
	if err := os.Mkdir(filepath.Join(root, dir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, dir, "password"), []byte(password+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	old, _ := os.Readlink(filepath.Join(root, "..data"))
	if err := os.Symlink(dir, filepath.Join(root, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(root, "..data_tmp"), filepath.Join(root, "..data")); err != nil {
		t.Fatal(err)
	}
	if old != "" {
		_ = os.RemoveAll(filepath.Join(root, old))
	}
}

// A 401 right after a rotation is followed at once by a call with the new
// password: the user gets the mail in the same flush, nobody is charged.
func TestA401AfterARotationRetriesWithTheNewPassword(t *testing.T) {
	root := t.TempDir()
	rotateSecret(t, root, "..2026_11_27_09_00_00.1", "old")
	if err := os.Symlink("..data/password", filepath.Join(root, "password")); err != nil {
		t.Fatal(err)
	}
	umc := &rotatingUMC{password: "old", stub: &umctest.UMC{}}
	c := newClient(t, umctest.NewServer(t, umc), config.Map{"Auth_User": "invite", "Auth_Password_File": filepath.Join(root, "password")})
	var mu sync.Mutex
	var observed []int
	c.Observe = func(a Answer) { mu.Lock(); observed = append(observed, a.Status); mu.Unlock() }

	if a := c.SendToken(context.Background(), "alice"); !served(a) || a.Calls != 1 {
		t.Fatalf("before: %v (%d calls)", a, a.Calls)
	}
	// UMC and the Secret change together; the client looked at the file
	// a moment ago, so its next call still carries the old password.
	umc.set("new")
	rotateSecret(t, root, "..2026_11_27_09_05_00.2", "new")
	a := c.SendToken(context.Background(), "bob")
	if !served(a) || a.Calls != 2 {
		t.Fatalf("after the rotation: %v (%d calls)", a, a.Calls)
	}
	if got := umc.stub.Delivered(); got["alice"] != 1 || got["bob"] != 1 {
		t.Fatalf("delivered %v", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(observed) != 3 || observed[1] != http.StatusUnauthorized || observed[2] != http.StatusOK {
		t.Fatalf("observed %v", observed)
	}
}

// A 401 without a new password is UMC unavailable (a configuration
// fault), not tried again at once, and never charged.
func TestA401WithoutARotationIsUnavailable(t *testing.T) {
	root := t.TempDir()
	rotateSecret(t, root, "..1", "wrong")
	if err := os.Symlink("..data/password", filepath.Join(root, "password")); err != nil {
		t.Fatal(err)
	}
	umc := &rotatingUMC{password: "right", stub: &umctest.UMC{}}
	c := newClient(t, umctest.NewServer(t, umc), config.Map{"Auth_User": "invite", "Auth_Password_File": filepath.Join(root, "password")})
	a := c.SendToken(context.Background(), "alice")
	if a.Status != http.StatusUnauthorized || a.Calls != 1 || Classify(a).Kind != policy.Unauthorized {
		t.Fatalf("%v (%d calls, %v)", a, a.Calls, Classify(a))
	}
}
