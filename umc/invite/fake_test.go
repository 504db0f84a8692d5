package invite

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"umc-invite/umc"
	"umc-invite/umc/config"
)

// fakeUMC answers the sender's calls in the test's own process, without
// HTTP: answer gives a user's answer to its n-th call (from 1); probe, if
// set, answers the evidence probe, which is otherwise never answered (a
// refusal is weighed with no evidence).
type fakeUMC struct {
	mu     sync.Mutex
	answer func(username string, n int) umc.Answer
	probe  func() (umc.Baseline, error)
	calls  map[string]int
}

func (u *fakeUMC) SendToken(_ context.Context, username string) umc.Answer {
	u.mu.Lock()
	if u.calls == nil {
		u.calls = map[string]int{}
	}
	u.calls[username]++
	n, answer := u.calls[username], u.answer
	u.mu.Unlock()
	return answer(username, n)
}

func (u *fakeUMC) AskBaseline(context.Context, func() error) (umc.Baseline, error) {
	if u.probe != nil {
		return u.probe()
	}
	return umc.Baseline{}, errors.New("no probe in this test")
}

func (u *fakeUMC) Close() {}

// called is how often username was called.
func (u *fakeUMC) called(username string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.calls[username]
}

func served() umc.Answer {
	return umc.Answer{Status: http.StatusOK, FromUMC: true, Message: "Successfully sent token."}
}

func refused() umc.Answer {
	return umc.Answer{Status: http.StatusBadRequest, FromUMC: true, Message: "The user could not be found."}
}

func unavailable() umc.Answer {
	return umc.Answer{Status: http.StatusServiceUnavailable, Message: "Service Unavailable"}
}

// newFakeFixture is a fixture whose output asks fake instead of an HTTP
// server; UMC_URL names a port nothing listens on.
func newFakeFixture(t *testing.T, fake *fakeUMC, keys config.Map) *fixture {
	t.Helper()
	dir := t.TempDir()
	keys["UMC_URL"] = "http://127.0.0.1:1"
	keys["Queue_Dir"] = dir
	cfg, err := config.Load(keys)
	if err != nil {
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	out, err := New(cfg, NewLogger(&syncWriter{w: logs}, "test"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(out.Close)
	f := &fixture{out: out, queue: dir, logs: logs, clock: time.Now(), fake: fake}
	out.now, out.client = f.now, fake
	out.prober.now, out.prober.client = f.now, fake
	return f
}
