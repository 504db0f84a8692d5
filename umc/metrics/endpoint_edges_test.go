package metrics

import (
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"umc-invite/tests/umctest"
)

// The grace period ends (its timer takes the registry's lock) just as a
// scrape's head has been read: the scrape waits for the lock, and closing
// waits for the scrape. The close must still end, and the registry must
// be free again for the next output's Attach or Detach.
func TestTheGracePeriodEndingDuringAScrapeDoesNotHangThePlugin(t *testing.T) {
	addr := umctest.FreeAddr(t)
	o := attach(t, uniq("graceend"), addr, nil)
	state.mu.Lock() // what the idle timer does first
	l := state.listeners[addr]
	o.live, o.exited = false, time.Now()
	l.refs-- // the last output left (Detach's release, timer not armed)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		state.mu.Unlock()
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		state.mu.Unlock()
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the head read, the scrape waits for the lock
	closed := make(chan struct{})
	go func() { l.close(); close(closed) }() // the idle timer's body, lock held
	select {
	case <-closed:
		state.mu.Unlock()
	case <-time.After(3 * time.Second):
		t.Errorf("closing the endpoint at the end of its grace period hung: it waits for a scrape that waits for the registry's lock (every Attach and Detach of the process would hang)")
		state.mu.Unlock() // let the test end: the scrape gets the lock, the close ends
		<-closed
	}
}

// A client that sends its request with a body or a second request
// (pipelining) still reads the whole answer: the endpoint does not reset
// the connection by closing it with the client's bytes unread.
func TestAnswerIsReadWholeWhenTheClientSentMoreThanTheHead(t *testing.T) {
	addr := umctest.FreeAddr(t)
	o := attach(t, uniq("pipelined"), addr, nil)
	defer o.Detach()
	for i := range 20 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		req := "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
		more := strings.Repeat(req, 2000) // pipelined requests after the first
		go func() { _, _ = io.WriteString(c, req+more) }()
		time.Sleep(50 * time.Millisecond) // the answer written and the connection closed before it is read
		got, err := io.ReadAll(c)
		c.Close()
		head, body, _ := strings.Cut(string(got), "\r\n\r\n")
		var n int
		if _, e := fmt.Sscanf(head[strings.Index(head, "Content-Length: "):], "Content-Length: %d", &n); e != nil || !strings.HasPrefix(head, "HTTP/1.1 200 OK\r\n") || len(body) != n {
			t.Fatalf("try %d: the answer was cut: %d bytes of body read, want %d; %v", i, len(body), n, err)
		}
		if err != nil {
			t.Logf("try %d: whole answer, then %v", i, err)
		}
	}
}

// A head of exactly maxHead bytes is read and answered.
func TestAHeadOfExactlyTheLimitIsAnswered(t *testing.T) {
	addr := umctest.FreeAddr(t)
	o := attach(t, uniq("exact"), addr, nil)
	defer o.Detach()
	start := "GET /metrics HTTP/1.1\r\nX: "
	end := "\r\n\r\n"
	req := start + strings.Repeat("a", maxHead-len(start)-len(end)) + end
	if len(req) != maxHead {
		t.Fatal(len(req))
	}
	if got := ask(t, addr, req); !strings.HasPrefix(got, "HTTP/1.1 200 OK\r\n") {
		t.Errorf("a head of %d bytes answered:\n%.200s", len(req), got)
	}
	if got := ask(t, addr, start+strings.Repeat("a", maxHead-len(start)-len(end)+1)+end); !strings.HasPrefix(got, "HTTP/1.1 400 Bad Request\r\n") {
		t.Errorf("a head of %d bytes answered:\n%.200s", maxHead+1, got)
	}
}

// A client sending its head one byte at a time, each within the deadline,
// is still cut at headTimeout in all.
func TestAHeadDrippedByteByByteIsCutAtTheDeadlineInAll(t *testing.T) {
	defer func(old time.Duration) { headTimeout = old }(headTimeout)
	headTimeout = 300 * time.Millisecond
	addr := umctest.FreeAddr(t)
	o := attach(t, uniq("drip"), addr, nil)
	defer o.Detach()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, b := range []byte("GET /metrics HTTP/1.1\r\nX: " + strings.Repeat("a", 200)) {
			if _, err := c.Write([]byte{b}); err != nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, _ := io.ReadAll(c)
	if took := time.Since(start); took > 2*time.Second || !strings.HasPrefix(string(got), "HTTP/1.1 400 Bad Request\r\n") {
		t.Errorf("a dripped head held its connection %s and got:\n%s", took, got)
	}
	c.Close()
	<-done
}

// A request in absolute form (RFC 9112 3.2.2: a server must accept it)
// is a request for the page, not a 404.
func TestARequestInAbsoluteFormIsAnswered(t *testing.T) {
	addr := umctest.FreeAddr(t)
	o := attach(t, uniq("absolute"), addr, nil)
	defer o.Detach()
	if got := ask(t, addr, "GET http://"+addr+"/metrics HTTP/1.1\r\nHost: "+addr+"\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 200 OK\r\n") {
		t.Errorf("an absolute-form request answered:\n%.200s", got)
	}
}

// Thousands of connections opened and dropped at once (with or without a
// head) leave no goroutine, descriptor or serving slot behind: a scrape
// is served afterwards, and the goroutines return to what they were.
func TestConnectionsDroppedInBulkLeaveNothingBehind(t *testing.T) {
	addr := umctest.FreeAddr(t)
	o := attach(t, uniq("churn"), addr, nil)
	defer o.Detach()
	ask(t, addr, "GET /metrics HTTP/1.1\r\n\r\n")
	time.Sleep(100 * time.Millisecond)
	before := runtime.NumGoroutine()
	for i := range 2000 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			continue
		}
		if i%2 == 0 {
			_, _ = io.WriteString(c, "GET /metrics HTTP/1.1\r\n")
		}
		if tc, ok := c.(*net.TCPConn); ok && i%3 == 0 {
			_ = tc.SetLinger(0) // a reset, not a close
		}
		c.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after the connections were dropped, %d before", n, before)
	}
	for range maxScraping + 1 {
		if got := ask(t, addr, "GET /metrics HTTP/1.1\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 200 OK\r\n") {
			t.Fatalf("after the churn:\n%.200s", got)
		}
	}
}

// HEAD of a page that does not exist is answered with its length and no body.
func TestHeadOfAMissingPageHasNoBody(t *testing.T) {
	addr := umctest.FreeAddr(t)
	o := attach(t, uniq("head404"), addr, nil)
	defer o.Detach()
	got := ask(t, addr, "HEAD /nope HTTP/1.1\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 404 Not Found\r\n") || !strings.HasSuffix(got, "\r\n\r\n") || !strings.Contains(got, "Content-Length: ") {
		t.Errorf("HEAD /nope answered:\n%s", got)
	}
}
