package umc

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"umc-invite/tests/umctest"
	"umc-invite/umc/config"
	"umc-invite/umc/policy"
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

func TestDeliveredWithUMCsHeaders(t *testing.T) {
	stub := &umctest.UMC{Prefix: "/univention"}
	c := newClient(t, umctest.NewServer(t, stub)+"/univention", config.Map{"Language": "de-DE"})
	a := c.SendToken(context.Background(), "alice")
	if !served(a) || a.Calls != 1 {
		t.Fatalf("answer %v (calls %d)", a, a.Calls)
	}
	call := stub.Calls()[0]
	if call.Username != "alice" || call.Method != "email" || call.Language != "de-DE" ||
		call.Header.Get("Accept") != "application/json" || call.Header.Get("Authorization") != "" {
		t.Errorf("call %+v", call)
	}
}

func TestBasicAuth(t *testing.T) {
	stub := &umctest.UMC{User: "invite", Password: "right"}
	base := umctest.NewServer(t, stub)
	if a := newClient(t, base, config.Map{"Auth_User": "invite", "Auth_Password": "right"}).SendToken(context.Background(), "alice"); !served(a) {
		t.Fatalf("right credentials: %v", a)
	}
	a := newClient(t, base, config.Map{"Auth_User": "invite", "Auth_Password": "wrong", "Quick_Retries": "0"}).SendToken(context.Background(), "alice")
	if a.Status != 401 || Classify(a).Kind != policy.Unauthorized || !strings.Contains(a.String(), "wrong Auth_User or password") {
		t.Fatalf("wrong credentials: %v", a)
	}
	if strings.Contains(a.String(), "wrong\"") || strings.Contains(a.String(), "right") {
		t.Fatalf("the answer text shows a password: %v", a)
	}
}

func TestErrorBodies(t *testing.T) {
	for _, html := range []bool{false, true} {
		stub := &umctest.UMC{HTMLErrors: html, Fail: func(string, int) int { return 500 }}
		a := newClient(t, umctest.NewServer(t, stub), config.Map{}).SendToken(context.Background(), "alice")
		if a.Status != 500 || Classify(a).Kind != policy.Failure || a.Calls != 1 {
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
		status int
		kind   policy.Kind
		hint   string
	}{
		{400, policy.Refusal, ""},
		{401, policy.Unauthorized, "Auth_User"},
		{403, policy.Unauthorized, "Auth_User"},
		{404, policy.Unavailable, "wrong UMC_URL"},
		{405, policy.Unavailable, ""},
		{411, policy.Unavailable, ""},
		{422, policy.Unavailable, ""},
		{500, policy.Failure, ""},
		{590, policy.Failure, ""},
		{591, policy.Failure, ""},
		{592, policy.Failure, ""},
		{502, policy.Unavailable, ""},
		{503, policy.Unavailable, ""},
	}
	for _, tc := range cases {
		status := tc.status
		stub := &umctest.UMC{Fail: func(string, int) int { return status }}
		a := newClient(t, umctest.NewServer(t, stub), config.Map{"Quick_Retries": "0"}).SendToken(context.Background(), "alice")
		o := Classify(a)
		if a.Status != status || o.Kind != tc.kind || o.QuickRetry || !strings.Contains(o.Reason, tc.hint) {
			t.Errorf("%d: got %v, want %v", status, o, tc.kind)
		}
	}
}

// Only UMC's own JSON answer is a delivery: a proxy's or login page's 200
// is not, and says so.
func TestOnlyUMCsAnswerIsADelivery(t *testing.T) {
	for name, h := range map[string]http.HandlerFunc{
		"html": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, "<html><body>Welcome to the proxy</body></html>")
		},
		"empty": func(w http.ResponseWriter, r *http.Request) {},
		"json array": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, "[]")
		},
		"json, but another status": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"status": 401, "message": "login"}`)
		},
	} {
		a := newClient(t, umctest.NewServer(t, h), config.Map{}).SendToken(context.Background(), "alice")
		if o := Classify(a); a.Status != 200 || o.Kind != policy.Unavailable || !strings.Contains(o.Reason, "not UMC") {
			t.Errorf("%s: %v", name, o)
		}
	}
	a := newClient(t, umctest.NewServer(t, &umctest.UMC{}), config.Map{}).SendToken(context.Background(), "alice")
	if o := Classify(a); o.Kind != policy.Served {
		t.Fatalf("UMC's own 200: %v", o)
	}
}

func TestWrongPathIs404(t *testing.T) {
	stub := &umctest.UMC{Prefix: "/univention"}
	a := newClient(t, umctest.NewServer(t, stub), config.Map{}).SendToken(context.Background(), "alice")
	if a.Status != 404 || Classify(a).Kind != policy.Unavailable {
		t.Fatalf("%v", a)
	}
}

// UMC sets a session cookie; a client that sent it back without the XSRF
// header would get 403 on its next call.
func TestNoCookiesKept(t *testing.T) {
	stub := &umctest.UMC{}
	base := umctest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "UMCSessionId", Value: "abc", Path: "/"})
		stub.ServeHTTP(w, r)
	}))
	c := newClient(t, base, config.Map{})
	for _, user := range []string{"alice", "bob"} {
		if a := c.SendToken(context.Background(), user); !served(a) {
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
	stub := &umctest.UMC{}
	base := umctest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lengths = append(lengths, r.ContentLength)
		stub.ServeHTTP(w, r)
	}))
	if a := newClient(t, base, config.Map{}).SendToken(context.Background(), "alice"); !served(a) || lengths[0] <= 0 {
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
	stub := &umctest.UMC{Latency: 2 * time.Second}
	start := time.Now()
	a := newClient(t, umctest.NewServer(t, stub), config.Map{"Timeout": "200ms"}).SendToken(context.Background(), "alice")
	if o := Classify(a); a.Err == nil || o.Kind != policy.Unavailable || o.QuickRetry || a.Calls != 1 || time.Since(start) > 1900*time.Millisecond {
		t.Fatalf("%v after %s", a, time.Since(start))
	}
}

// A call that may have reached UMC is never retried at once: a reset, a
// timeout or a 502 may hide a processed call (a second mail), and a 503 may
// be UMC's rate limit, which counts the retry too.
func TestQuickRetriesOnlyForCallsThatCannotHaveReachedUMC(t *testing.T) {
	for _, status := range []int{503, 502, 500, 400, 401} {
		stub := &umctest.UMC{Fail: func(string, int) int { return status }}
		a := newClient(t, umctest.NewServer(t, stub), config.Map{"Quick_Retries": "2"}).SendToken(context.Background(), "alice")
		if a.Calls != 1 || len(stub.Calls()) != 1 || a.Status != status {
			t.Errorf("%d: %d calls, want 1 (%v)", status, len(stub.Calls()), a)
		}
	}
	// A connection reset after the request was sent: not retried.
	var resets atomic.Int32
	reset := umctest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resets.Add(1)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.(*net.TCPConn).SetLinger(0)
			conn.Close()
		}
	}))
	a := newClient(t, reset, config.Map{"Quick_Retries": "2"}).SendToken(context.Background(), "alice")
	if o := Classify(a); a.Err == nil || o.QuickRetry || o.Kind != policy.Unavailable || resets.Load() != 1 {
		t.Fatalf("reset: %v, %d calls", o, resets.Load())
	}
}

// Each call of a quick retry is observed (the metrics count it), with the
// class the sender reads of the last one.
func TestQuickRetryOnRefusedConnection(t *testing.T) {
	srv := httptest.NewServer(&umctest.UMC{})
	base := srv.URL
	srv.Close() // nothing listens there now
	c := newClient(t, base, config.Map{"Quick_Retries": "1"})
	var observed []Outcome
	c.Observe = func(a Answer) { observed = append(observed, Classify(a)) }
	a := c.SendToken(context.Background(), "alice")
	if o := Classify(a); a.Err == nil || a.Calls != 2 || o.Kind != policy.Unavailable || !o.QuickRetry || !strings.HasPrefix(a.String(), "network error") {
		t.Fatalf("%v (calls %d)", a, a.Calls)
	}
	if len(observed) != 2 || observed[1] != Classify(a) {
		t.Fatalf("observed %v, want 2 calls, the last one classified as %v", observed, Classify(a))
	}
}

func TestQuickRetryOnUnknownHost(t *testing.T) {
	a := newClient(t, "http://umc.invalid", config.Map{"Quick_Retries": "1"}).SendToken(context.Background(), "alice")
	if o := Classify(a); a.Err == nil || a.Calls != 2 || !o.QuickRetry {
		t.Fatalf("%v (calls %d)", a, a.Calls)
	}
}

// Credentials must reach the configured host only.
func TestRedirectsAreNotFollowed(t *testing.T) {
	var leaked atomic.Bool
	elsewhere := umctest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			leaked.Store(true)
		}
	}))
	base := umctest.NewServer(t, http.RedirectHandler(elsewhere+"/command/passwordreset/send_token", http.StatusTemporaryRedirect))
	a := newClient(t, base, config.Map{"Auth_User": "u", "Auth_Password": "p"}).SendToken(context.Background(), "alice")
	if a.Status != 307 || Classify(a).Kind != policy.Unavailable || !strings.Contains(a.String(), "set UMC_URL to the final address") {
		t.Fatalf("%v", a)
	}
	if leaked.Load() {
		t.Fatal("credentials were sent to the redirect target")
	}
}

func TestTLSIsVerifiedByDefault(t *testing.T) {
	srv := httptest.NewTLSServer(&umctest.UMC{})
	t.Cleanup(srv.Close)
	a := newClient(t, srv.URL, config.Map{}).SendToken(context.Background(), "alice")
	if a.Err == nil || !strings.Contains(a.Err.Error(), "certificate") {
		t.Fatalf("an unknown CA must fail: %v", a)
	}
	if a := newClient(t, srv.URL, config.Map{"TLS_Verify": "off"}).SendToken(context.Background(), "alice"); !served(a) {
		t.Fatalf("TLS_Verify off: %v", a)
	}
	// The test server's certificate as TLS_CA_File.
	caFile := t.TempDir() + "/ca.pem"
	writePEM(t, caFile, srv.Certificate().Raw)
	u, _ := url.Parse(srv.URL)
	if a := newClient(t, "https://"+u.Host, config.Map{"TLS_CA_File": caFile}).SendToken(context.Background(), "alice"); !served(a) {
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
	for _, c := range []string{"x", "ä"} { // cut at 300 characters, not bytes
		if got := messageOf([]byte(`{"message":"` + strings.Repeat(c, 500) + `"}`)); got != strings.Repeat(c, 300)+"…" {
			t.Errorf("long message not cut at 300 characters: %d", len([]rune(got)))
		}
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

// served reports whether UMC took the call: a 200 with UMC's JSON.
func served(a Answer) bool { return Classify(a).Kind == policy.Served }
