package umc

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"umc-invite/tests/umcstub"
	"umc-invite/umc/config"
)

func newClient(t *testing.T, base string, keys config.Map) *Client {
	t.Helper()
	keys["UMC_URL"] = base
	cfg, err := config.Load(keys)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestDeliveredWithUMCsHeaders(t *testing.T) {
	stub := &umcstub.Server{Prefix: "/univention"}
	c := newClient(t, serve(t, stub)+"/univention", config.Map{"Language": "de-DE"})
	a := c.SendToken(context.Background(), "alice")
	if !a.Delivered() || a.Calls != 1 {
		t.Fatalf("answer %v (calls %d)", a, a.Calls)
	}
	call := stub.Calls()[0]
	if call.Username != "alice" || call.Method != "email" || call.Language != "de-DE" ||
		call.Header.Get("Accept") != "application/json" || call.Header.Get("Authorization") != "" {
		t.Errorf("call %+v", call)
	}
}

func TestBasicAuth(t *testing.T) {
	stub := &umcstub.Server{User: "invite", Password: "right"}
	base := serve(t, stub)
	if a := newClient(t, base, config.Map{"Auth_User": "invite", "Auth_Password": "right"}).SendToken(context.Background(), "alice"); !a.Delivered() {
		t.Fatalf("right credentials: %v", a)
	}
	a := newClient(t, base, config.Map{"Auth_User": "invite", "Auth_Password": "wrong", "Quick_Retries": "0"}).SendToken(context.Background(), "alice")
	if a.Status != 401 || !a.ConfigFault() || !strings.Contains(a.String(), "wrong Auth_User or password") {
		t.Fatalf("wrong credentials: %v", a)
	}
	if strings.Contains(a.String(), "wrong\"") || strings.Contains(a.String(), "right") {
		t.Fatalf("the answer text shows a password: %v", a)
	}
}

func TestErrorBodies(t *testing.T) {
	for _, html := range []bool{false, true} {
		stub := &umcstub.Server{HTMLErrors: html, Fail: func(string, int) int { return 500 }}
		a := newClient(t, serve(t, stub), config.Map{}).SendToken(context.Background(), "alice")
		if a.Status != 500 || a.Delivered() || a.Systemic() || a.Calls != 1 {
			t.Errorf("html=%v: %v", html, a)
		}
		if !html && !strings.Contains(a.Message, "Error sending token") {
			t.Errorf("UMC's message lost: %q", a.Message)
		}
		if html && a.Message != "" {
			t.Errorf("an HTML page is no message: %q", a.Message)
		}
	}
}

func TestStatusClassification(t *testing.T) {
	cases := []struct {
		status        int
		systemic, fix bool
		hint          string
	}{
		{400, true, true, "e-mail method enabled"},
		{401, true, true, "Auth_User"},
		{403, false, false, ""},
		{404, true, true, "wrong UMC_URL"},
		{422, true, false, ""},
		{500, false, false, ""},
		{591, false, false, ""},
		{502, true, false, ""},
		{503, true, false, ""},
	}
	for _, tc := range cases {
		status := tc.status
		stub := &umcstub.Server{Fail: func(string, int) int { return status }}
		a := newClient(t, serve(t, stub), config.Map{"Quick_Retries": "0"}).SendToken(context.Background(), "alice")
		if a.Status != status || a.Delivered() || a.Systemic() != tc.systemic || a.ConfigFault() != tc.fix || !strings.Contains(a.String(), tc.hint) {
			t.Errorf("%d: got %v systemic=%v configFault=%v", status, a, a.Systemic(), a.ConfigFault())
		}
	}
}

func TestWrongPathIs404(t *testing.T) {
	stub := &umcstub.Server{Prefix: "/univention"}
	a := newClient(t, serve(t, stub), config.Map{}).SendToken(context.Background(), "alice")
	if a.Status != 404 || !a.ConfigFault() {
		t.Fatalf("%v", a)
	}
}

// UMC sets a session cookie; a client that sent it back without the XSRF
// header would get 403 on its next call.
func TestNoCookiesKept(t *testing.T) {
	stub := &umcstub.Server{}
	base := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "UMCSessionId", Value: "abc", Path: "/"})
		stub.ServeHTTP(w, r)
	}))
	c := newClient(t, base, config.Map{})
	for _, user := range []string{"alice", "bob"} {
		if a := c.SendToken(context.Background(), user); !a.Delivered() {
			t.Fatalf("%s: %v", user, a)
		}
	}
	if h := stub.Calls()[1].Header.Get("Cookie"); h != "" {
		t.Fatalf("cookie sent back: %q", h)
	}
}

// UMC answers a POST without Content-Length with 411; the stub does too.
func TestFixedContentLength(t *testing.T) {
	var lengths []int64
	stub := &umcstub.Server{}
	base := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lengths = append(lengths, r.ContentLength)
		stub.ServeHTTP(w, r)
	}))
	if a := newClient(t, base, config.Map{}).SendToken(context.Background(), "alice"); !a.Delivered() || lengths[0] <= 0 {
		t.Fatalf("%v, length %v", a, lengths)
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/command/passwordreset/send_token", strings.NewReader(`{}`))
	req.ContentLength = -1 // chunked, as a streaming client would send
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 411 {
		t.Fatalf("the stand-in must refuse chunked bodies like UMC, got %d", resp.StatusCode)
	}
}

func TestTimeout(t *testing.T) {
	stub := &umcstub.Server{Latency: 2 * time.Second}
	start := time.Now()
	a := newClient(t, serve(t, stub), config.Map{"Timeout": "200ms"}).SendToken(context.Background(), "alice")
	if a.Err == nil || !a.Systemic() || a.Calls != 1 || time.Since(start) > 1900*time.Millisecond {
		t.Fatalf("%v after %s", a, time.Since(start))
	}
}

func TestQuickRetriesOnlyForCallsUMCDidNotTake(t *testing.T) {
	for status, wantCalls := range map[int]int{503: 3, 502: 3, 500: 1, 401: 1} {
		status := status
		stub := &umcstub.Server{Fail: func(_ string, n int) int {
			if n <= 5 {
				return status
			}
			return 0
		}}
		a := newClient(t, serve(t, stub), config.Map{"Quick_Retries": "2"}).SendToken(context.Background(), "alice")
		if a.Calls != wantCalls || len(stub.Calls()) != wantCalls || a.Status != status {
			t.Errorf("%d: %d calls, want %d (%v)", status, len(stub.Calls()), wantCalls, a)
		}
	}
	stub := &umcstub.Server{Fail: func(_ string, n int) int {
		if n == 1 {
			return 503
		}
		return 0
	}}
	if a := newClient(t, serve(t, stub), config.Map{}).SendToken(context.Background(), "alice"); !a.Delivered() || a.Calls != 2 {
		t.Fatalf("503 then 200: %v, %d calls", a, a.Calls)
	}
}

func TestQuickRetryOnRefusedConnection(t *testing.T) {
	srv := httptest.NewServer(&umcstub.Server{})
	base := srv.URL
	srv.Close() // nothing listens there now
	a := newClient(t, base, config.Map{"Quick_Retries": "1"}).SendToken(context.Background(), "alice")
	if a.Err == nil || a.Calls != 2 || !a.Systemic() || !strings.HasPrefix(a.String(), "network error") {
		t.Fatalf("%v (calls %d)", a, a.Calls)
	}
}

func TestRetryAfterIsHonouredUpToTheDeadline(t *testing.T) {
	var calls atomic.Int32
	base := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(503)
			return
		}
		w.WriteHeader(200)
	}))
	c := newClient(t, base, config.Map{})
	start := time.Now()
	if a := c.SendToken(context.Background(), "alice"); !a.Delivered() || time.Since(start) < time.Second {
		t.Fatalf("%v after %s: Retry-After 1 not waited for", a, time.Since(start))
	}
	calls.Store(0)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start = time.Now()
	if a := c.SendToken(ctx, "alice"); a.Status != 503 || a.Calls != 1 || time.Since(start) > 250*time.Millisecond {
		t.Fatalf("a wait past the flush deadline must be left to Fluent Bit: %v, %d calls, %s", a, a.Calls, time.Since(start))
	}
}

// Credentials must reach the configured host only.
func TestRedirectsAreNotFollowed(t *testing.T) {
	var leaked atomic.Bool
	elsewhere := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			leaked.Store(true)
		}
	}))
	base := serve(t, http.RedirectHandler(elsewhere+"/command/passwordreset/send_token", http.StatusTemporaryRedirect))
	a := newClient(t, base, config.Map{"Auth_User": "u", "Auth_Password": "p"}).SendToken(context.Background(), "alice")
	if a.Status != 307 || a.Delivered() || !a.ConfigFault() || !strings.Contains(a.String(), "set UMC_URL to the final address") {
		t.Fatalf("%v", a)
	}
	if leaked.Load() {
		t.Fatal("credentials were sent to the redirect target")
	}
}

func TestTLSIsVerifiedByDefault(t *testing.T) {
	srv := httptest.NewTLSServer(&umcstub.Server{})
	t.Cleanup(srv.Close)
	a := newClient(t, srv.URL, config.Map{}).SendToken(context.Background(), "alice")
	if a.Err == nil || !strings.Contains(a.Err.Error(), "certificate") {
		t.Fatalf("an unknown CA must fail: %v", a)
	}
	if a := newClient(t, srv.URL, config.Map{"TLS_Verify": "off"}).SendToken(context.Background(), "alice"); !a.Delivered() {
		t.Fatalf("TLS_Verify off: %v", a)
	}
	// The test server's certificate as TLS_CA_File.
	caFile := t.TempDir() + "/ca.pem"
	writePEM(t, caFile, srv.Certificate().Raw)
	u, _ := url.Parse(srv.URL)
	if a := newClient(t, "https://"+u.Host, config.Map{"TLS_CA_File": caFile}).SendToken(context.Background(), "alice"); !a.Delivered() {
		t.Fatalf("TLS_CA_File: %v", a)
	}
}

func TestMessageOf(t *testing.T) {
	for body, want := range map[string]string{
		`{"status": 503, "message": "Please retry in 10 seconds."}`: "Please retry in 10 seconds.",
		`{"message": {"detail": "x"}}`:                              `{"detail": "x"}`,
		"<!DOCTYPE html><html>Bad gateway</html>":                   "",
		"":                      "",
		"plain\ntext\x00 error": "plain text error",
	} {
		if got := messageOf([]byte(body)); got != want {
			t.Errorf("%q: got %q want %q", body, got, want)
		}
	}
	if got := messageOf([]byte(`{"message":"` + strings.Repeat("x", 500) + `"}`)); len([]rune(got)) != 301 {
		t.Errorf("long message not cut: %d", len([]rune(got)))
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if d := parseRetryAfter("7", now); d != 7*time.Second {
		t.Error(d)
	}
	if d := parseRetryAfter(now.Add(3*time.Second).Format(http.TimeFormat), now); d != 3*time.Second {
		t.Error(d)
	}
	if d := parseRetryAfter("soon", now); d != 0 {
		t.Error(d)
	}
}
