package metrics

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"umc-invite/tests/umctest"
)

// ask sends raw on a new connection to addr and returns all it answers
// before the connection closes.
func ask(t *testing.T, addr, raw string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(c)
	return string(got)
}

// The endpoint serves GET and HEAD of /metrics, and nothing else.
func TestTheEndpointAnswersOnlyItsPage(t *testing.T) {
	addr := umctest.FreeAddr(t)
	o := attach(t, uniq("page"), addr, nil)
	defer o.Detach()
	cases := []struct {
		request, status, has string
	}{
		{"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 200 OK", "# TYPE umc_invite_invitations_total counter"},
		{"GET /metrics?x=1 HTTP/1.0\r\n\r\n", "HTTP/1.1 200 OK", "umc_invite_in_flight{"},
		{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 404 Not Found", "the metrics are at /metrics"},
		{"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", "HTTP/1.1 405 Method Not Allowed", "Allow: GET, HEAD"},
		{"hello\r\n\r\n", "HTTP/1.1 400 Bad Request", "not an HTTP/1 request line"},
	}
	for _, tc := range cases {
		got := ask(t, addr, tc.request)
		if !strings.HasPrefix(got, tc.status+"\r\n") || !strings.Contains(got, tc.has) || !strings.Contains(got, "Connection: close\r\n") {
			t.Errorf("%q answered:\n%s\nwant %s with %q", tc.request, got, tc.status, tc.has)
		}
	}
	head := ask(t, addr, "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
	if !strings.HasPrefix(head, "HTTP/1.1 200 OK\r\n") || !strings.HasSuffix(head, "\r\n\r\n") || strings.Contains(head, "# TYPE") {
		t.Errorf("HEAD answered:\n%s", head)
	}
	// And as a Prometheus scraper reads it.
	resp, err := http.Get("http://" + addr + Path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") || int64(len(body)) != resp.ContentLength {
		t.Errorf("scrape: %s, %q, %d bytes of %d", resp.Status, resp.Header.Get("Content-Type"), len(body), resp.ContentLength)
	}
}

// A request head too long, or one that never ends, is cut: a client
// cannot hold the endpoint.
func TestALongOrSlowRequestIsCut(t *testing.T) {
	defer func(old time.Duration) { headTimeout = old }(headTimeout)
	headTimeout = 200 * time.Millisecond
	addr := umctest.FreeAddr(t)
	o := attach(t, uniq("slow"), addr, nil)
	defer o.Detach()
	long := "GET /metrics HTTP/1.1\r\nX: " + strings.Repeat("a", maxHead) + "\r\n\r\n"
	if got := ask(t, addr, long); !strings.HasPrefix(got, "HTTP/1.1 400 Bad Request\r\n") {
		t.Errorf("a head of %d bytes answered:\n%.200s", len(long), got)
	}
	start := time.Now()
	if got := ask(t, addr, "GET /metrics HTTP/1.1\r\n"); !strings.HasPrefix(got, "HTTP/1.1 400 Bad Request\r\n") {
		t.Errorf("an unfinished head answered:\n%s", got)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("an unfinished head held its connection %s", took)
	}
}

// Silent connections beyond the endpoint's few are closed at once, and
// once they are gone a scrape is served again.
func TestManySilentConnectionsCannotHoldTheEndpoint(t *testing.T) {
	defer func(old time.Duration) { headTimeout = old }(headTimeout)
	headTimeout = 500 * time.Millisecond
	addr := umctest.FreeAddr(t)
	o := attach(t, uniq("crowd"), addr, nil)
	defer o.Detach()
	var silent []net.Conn
	for range maxScraping {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		silent = append(silent, c)
	}
	time.Sleep(100 * time.Millisecond) // all accepted
	extra, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	_ = extra.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, err := bufio.NewReader(extra).ReadByte(); err == nil {
		t.Errorf("one connection more than %d was served (%q)", maxScraping, n)
	}
	for _, c := range silent {
		c.Close()
	}
	time.Sleep(100 * time.Millisecond)
	if got := ask(t, addr, "GET /metrics HTTP/1.1\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 200 OK\r\n") {
		t.Errorf("after the crowd left:\n%.200s", got)
	}
}

// Closing the endpoint cuts a connection it is still reading: its
// goroutine does not wait for the client.
func TestClosingTheEndpointCutsAConnectionStillOpen(t *testing.T) {
	defer setGrace(10 * time.Millisecond)()
	addr := umctest.FreeAddr(t)
	o := attach(t, uniq("cut"), addr, nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	time.Sleep(50 * time.Millisecond) // accepted, its head awaited for 5 s
	if !detachedWithin(o, addr, 2*time.Second) {
		t.Fatal("the endpoint waited for a silent client after it was closed")
	}
}
