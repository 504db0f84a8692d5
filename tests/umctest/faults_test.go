package umctest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// answer is what a client of the stand-in sees.
type answer struct {
	Status  int
	Message string
}

func (a answer) String() string { return fmt.Sprintf("%d %q", a.Status, a.Message) }

// post makes one send_token call as the plugin does.
func post(t testing.TB, base, user, method string) (answer, error) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"options": map[string]string{"username": user, "method": method}})
	req, err := http.NewRequest(http.MethodPost, base+"/command/passwordreset/send_token", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	var m struct {
		Message *string `json:"message"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&m)
	a := answer{Status: resp.StatusCode}
	if m.Message != nil {
		a.Message = *m.Message
	}
	return a, nil
}

func mustPost(t testing.TB, base, user, method string) answer {
	t.Helper()
	a, err := post(t, base, user, method)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// The plugin's two probes: an impossible user with the configured method,
// and with a made-up one.
const (
	impossible = "umc-invite-probe:0123456789abcdef"
	madeUp     = "umc-invite-no-such-method-0123"
)

// while is how long a timed fault lasts in these tests: long enough that
// the calls made during it fall into it on a loaded machine.
const while = time.Second

var (
	ok          = answer{http.StatusOK, ""}
	missing     = answer{http.StatusBadRequest, MissingContactInformation}
	disabled    = answer{http.StatusBadRequest, Disabled}
	wrongMethod = answer{http.StatusBadRequest, UnknownMethod(madeUp)}
)

func TestThrottleFailsAShareOfMailingCallsWhoeverTheUser(t *testing.T) {
	umc := &UMC{Refused: func(u string) bool { return u == "nomail" }}
	base := NewServer(t, umc)
	umc.SetThrottle(Throttle{Share: 0.75, Seed: 7})
	failed := 0
	var picks []int
	for i := range 200 {
		a := mustPost(t, base, fmt.Sprintf("user%03d", i%20), "email")
		switch {
		case a.Status == http.StatusInternalServerError && strings.HasPrefix(a.Message, "Error sending token: "):
			failed++
			picks = append(picks, i)
		case a != ok:
			t.Fatalf("call %d: %v", i, a)
		}
	}
	if failed < 120 || failed > 180 {
		t.Errorf("%d of 200 mailing calls failed, want about 150", failed)
	}
	if umc.Throttled() != failed {
		t.Errorf("Throttled() = %d, want %d", umc.Throttled(), failed)
	}
	// Calls that mail no one are answered as ever.
	for range 20 {
		if a := mustPost(t, base, impossible, "email"); a != missing {
			t.Fatalf("impossible user while throttling: %v", a)
		}
		if a := mustPost(t, base, impossible, madeUp); a != wrongMethod {
			t.Fatalf("made-up method while throttling: %v", a)
		}
		if a := mustPost(t, base, "nomail", "email"); a != missing {
			t.Fatalf("refused user while throttling: %v", a)
		}
	}
	// The same seed picks the same calls.
	again := &UMC{}
	base2 := NewServer(t, again)
	again.SetThrottle(Throttle{Share: 0.75, Seed: 7})
	var picks2 []int
	for i := range 200 {
		if mustPost(t, base2, "x", "email").Status != http.StatusOK {
			picks2 = append(picks2, i)
		}
	}
	if fmt.Sprint(picks) != fmt.Sprint(picks2) {
		t.Errorf("seed 7 picked differently:\n%v\n%v", picks, picks2)
	}
	umc.SetThrottle(Throttle{})
	for i := range 20 {
		if a := mustPost(t, base, fmt.Sprintf("user%03d", i), "email"); a != ok {
			t.Fatalf("after the throttle: %v", a)
		}
	}
}

func TestThrottleEveryKthAndForAWhile(t *testing.T) {
	t.Parallel()
	umc := &UMC{}
	base := NewServer(t, umc)
	umc.SetThrottle(Throttle{Every: 4})
	for i := 1; i <= 12; i++ {
		a := mustPost(t, base, "u", "email")
		if want := i%4 == 0; (a.Status == http.StatusInternalServerError) != want {
			t.Errorf("call %d: %v", i, a)
		}
	}
	umc.ThrottleFor(1, 1, while)
	if a := mustPost(t, base, "u", "email"); a.Status != http.StatusInternalServerError {
		t.Errorf("during ThrottleFor: %v", a)
	}
	time.Sleep(while + 100*time.Millisecond)
	if a := mustPost(t, base, "u", "email"); a != ok {
		t.Errorf("after ThrottleFor: %v", a)
	}
}

// While the administrator has switched the service off, everything gets
// the "disabled" 400, the plugin's probes too; switched on, the probes get
// their two different refusals again.
func TestDisabledAnswersEverythingAlike(t *testing.T) {
	t.Parallel()
	umc := &UMC{Refused: func(u string) bool { return u == "nomail" }}
	base := NewServer(t, umc)
	check := func(when string, want map[[2]string]answer) {
		t.Helper()
		for call, w := range want {
			if a := mustPost(t, base, call[0], call[1]); a != w {
				t.Errorf("%s: %s/%s: %v, want %v", when, call[0], call[1], a, w)
			}
		}
	}
	on := map[[2]string]answer{
		{"alice", "email"}:    ok,
		{"nomail", "email"}:   missing,
		{impossible, "email"}: missing,
		{impossible, madeUp}:  wrongMethod,
		{"alice", madeUp}:     {http.StatusBadRequest, UnknownMethod(madeUp)},
	}
	off := map[[2]string]answer{}
	for call := range on {
		off[call] = disabled
	}
	check("on", on)
	umc.SetDisabled(true)
	if !umc.IsDisabled() {
		t.Error("IsDisabled false after SetDisabled(true)")
	}
	check("off", off)
	umc.SetDisabled(false)
	check("on again", on)
	umc.DisableFor(while)
	check("off for a while", off)
	time.Sleep(while + 100*time.Millisecond)
	check("on after the while", on)
	// Every call was recorded with its message.
	for _, c := range umc.Calls() {
		if c.Status != http.StatusOK && c.Message == "" {
			t.Errorf("call without its message: %+v", c)
		}
	}
}

// A user UMC cannot see yet is refused exactly as a user that cannot exist,
// then served.
func TestUnknownForReplicationLag(t *testing.T) {
	t.Parallel()
	umc := &UMC{}
	base := NewServer(t, umc)
	umc.UnknownFor("newkid", while)
	for range 3 {
		a := mustPost(t, base, "newkid", "email")
		if p := mustPost(t, base, impossible, "email"); a != missing || p != a {
			t.Fatalf("newkid %v, impossible user %v: want both %v", a, p, missing)
		}
	}
	if a := mustPost(t, base, "other", "email"); a != ok {
		t.Errorf("another user: %v", a)
	}
	time.Sleep(while + 100*time.Millisecond)
	if a := mustPost(t, base, "newkid", "email"); a != ok {
		t.Errorf("newkid after the lag: %v", a)
	}
	if d := umc.Delivered(); d["newkid"] != 1 || d["other"] != 1 {
		t.Errorf("delivered %v", d)
	}
}

func TestOutageThenRecovery(t *testing.T) {
	t.Parallel()
	umc := &UMC{}
	base := NewServer(t, umc)
	umc.SetOutage(http.StatusServiceUnavailable)
	if !umc.InOutage() {
		t.Error("InOutage false")
	}
	for _, call := range [][2]string{{"alice", "email"}, {impossible, "email"}, {impossible, madeUp}} {
		if a := mustPost(t, base, call[0], call[1]); a.Status != http.StatusServiceUnavailable {
			t.Errorf("%v during the outage: %v", call, a)
		}
	}
	umc.SetOutage(Drop)
	if _, err := post(t, base, "alice", "email"); err == nil {
		t.Error("Drop answered")
	}
	umc.SetOutage(0)
	if a := mustPost(t, base, "alice", "email"); a != ok {
		t.Errorf("after the outage: %v", a)
	}
	umc.OutageFor(http.StatusBadGateway, while)
	if a := mustPost(t, base, "bob", "email"); a.Status != http.StatusBadGateway {
		t.Errorf("during OutageFor: %v", a)
	}
	time.Sleep(while + 100*time.Millisecond)
	if a := mustPost(t, base, "bob", "email"); a != ok {
		t.Errorf("after OutageFor: %v", a)
	}
	if err := umc.CheckOnce(2); err != nil {
		t.Error(err)
	}
	// Drop is recorded, without a message.
	var drops int
	for _, c := range umc.Calls() {
		if c.Status == Drop {
			drops++
		}
	}
	if drops != 1 {
		t.Errorf("%d drops recorded, want 1", drops)
	}
}

// Down refuses connections at the same address, Up serves there again.
func TestServerDownRefusesConnections(t *testing.T) {
	umc := &UMC{}
	srv := NewSwitchableServer(t, umc)
	if a := mustPost(t, srv.URL, "alice", "email"); a != ok {
		t.Fatalf("up: %v", a)
	}
	srv.Down()
	if srv.IsUp() {
		t.Error("IsUp after Down")
	}
	// A kept-alive connection closed by Down shows as EOF; a new one is refused.
	http.DefaultClient.CloseIdleConnections()
	_, err := post(t, srv.URL, "bob", "email")
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("while down: %v, want connection refused", err)
	}
	if err := srv.Up(); err != nil {
		t.Fatal(err)
	}
	if a := mustPost(t, srv.URL, "bob", "email"); a != ok {
		t.Errorf("up again: %v", a)
	}
	if err := umc.CheckOnce(2); err != nil {
		t.Error(err)
	}
}

// Faults switched while calls are served: no race, every call answered.
func TestFaultsSwitchWhileServing(t *testing.T) {
	umc := &UMC{}
	base := NewServer(t, umc)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			umc.SetDisabled(i%2 == 0)
			umc.SetThrottle(Throttle{Share: 0.5, Seed: int64(i)})
			umc.UnknownFor(fmt.Sprintf("u%d", i%4), time.Millisecond)
			umc.SetOutage([]int{0, 503}[i%2])
			time.Sleep(time.Millisecond)
		}
	}()
	var calls sync.WaitGroup
	for w := range 4 {
		calls.Add(1)
		go func() {
			defer calls.Done()
			for i := range 50 {
				if _, err := post(t, base, fmt.Sprintf("u%d", (w+i)%4), "email"); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	calls.Wait()
	close(stop)
	wg.Wait()
	if n := len(umc.Calls()); n != 200 {
		t.Errorf("%d calls recorded, want 200", n)
	}
	if n := len(umc.UserCalls()); n != 200 {
		t.Errorf("%d user calls, want 200", n)
	}
}

func TestIsProbe(t *testing.T) {
	for _, tc := range []struct {
		c    Call
		want bool
	}{
		{Call{Username: "alice", Method: "email"}, false},
		{Call{Username: impossible, Method: "email"}, true},
		{Call{Username: impossible, Method: madeUp}, true},
		{Call{Username: "alice", Method: madeUp}, true},
	} {
		if c, want := tc.c, tc.want; IsProbe(c) != want {
			t.Errorf("IsProbe(%+v) = %v", c, !want)
		}
	}
}
