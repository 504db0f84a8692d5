package invite

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"umc-invite/tests/umctest"
	"umc-invite/umc/config"
)

// An administrator switching the self-service off moments after a probe
// found it working costs UMC a few calls, not one per queued user, and
// ends nobody: the same refusal for two users, unlike the one for a user
// that cannot exist, is asked about again.
func TestTheSelfServiceSwitchedOffJustAfterAProbeCostsAFewCalls(t *testing.T) {
	stub := &umctest.UMC{Refused: func(u string) bool { return u == "nobody" }, Latency: 20 * time.Millisecond}
	f := newFixture(t, stub, config.Map{})
	f.tick = time.Millisecond // each answer later than the one before
	ctx := context.Background()
	f.flush(ctx, f.queueFiles(t, "nobody")) // refused: the probe finds the self-service working
	stub.SetDisabled(true)
	var users []string
	for i := range 60 {
		users = append(users, fmt.Sprintf("user%02d", i))
	}
	before := len(stub.Calls())
	f.advance(5e9) // within seconds of the probe
	f.out.Flush(ctx, f.queueFiles(t, users...))
	// The calls in flight when the first answers come (Concurrency 8), those
	// made while the second is weighed by a probe (two calls), and the probe.
	if calls := len(stub.Calls()) - before; calls > 40 {
		t.Fatalf("%d calls for 60 users queued while the self-service is off, want a few\n%s", calls, f.logs)
	}
	if !f.out.gate.failing() {
		t.Fatalf("the self-service switched off opened no outage\n%s", f.logs)
	}
	for _, l := range f.deadLetters(t) {
		if l.Username != "nobody" {
			t.Fatalf("%s ended while the self-service was off: %+v", l.Username, l)
		}
	}
	stub.SetDisabled(false)
	for range 6 {
		f.advance(10e9)
		f.flush(ctx, f.queueFiles(t, users...))
	}
	if d := stub.Delivered(); len(d) != 60 {
		t.Fatalf("%d of 60 invited once the self-service was back\n%s", len(d), f.logs)
	}
}

// Users UMC refuses in the same words, words unlike those for a user that
// cannot exist, while the self-service works (a group not allowed to
// reset, say), cost one probe more, not one each: once a probe has seen
// those words, it stands for them until it is 30 s old.
func TestUsersRefusedInTheSameWordsWhileTheSelfServiceWorksCostOneProbe(t *testing.T) {
	const words = "The user is not allowed to reset the password."
	stub := &umctest.UMC{Refused: func(u string) bool { return u == "nobody" }}
	var probes atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req struct {
			Options struct{ Username, Method string }
		}
		_ = json.Unmarshal(body, &req)
		if req.Options.Method != "email" {
			probes.Add(1) // the probe's made-up method
		}
		if strings.HasPrefix(req.Options.Username, "barred") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]any{"status": 400, "message": words, "traceback": nil, "location": nil})
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		stub.ServeHTTP(w, r)
	})
	f := newFixtureWith(t, h, config.Map{})
	f.stub = stub
	f.tick = time.Millisecond
	ctx := context.Background()
	f.flush(ctx, f.queueFiles(t, "nobody")) // the probe finds the self-service working
	before := probes.Load()
	var users []string
	for i := range 20 {
		users = append(users, fmt.Sprintf("barred%02d", i))
	}
	f.advance(time.Second)
	f.out.Flush(ctx, f.queueFiles(t, users...))
	if n := probes.Load() - before; n > 1 {
		t.Fatalf("%d probes for 20 users refused in the same words, want at most 1\n%s", n, f.logs)
	}
	if f.out.gate.failing() {
		t.Fatalf("users refused while the self-service works opened an outage\n%s", f.logs)
	}
}
