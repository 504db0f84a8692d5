package umc

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"umc-invite/tests/umctest"
	"umc-invite/umc/config"
	"umc-invite/umc/policy"
)

// Issue 20, item 5: only UMC's JSON counts, whatever the framing. A 200
// whose body is empty or cut off before UMC's JSON began (a proxy or a
// maintenance page answering "200 application/json" and closing) is not a
// delivery; a 200 whose body began as UMC's JSON object and then broke off
// is one (UMC wrote it after storing the token: calling again would
// duplicate).
func TestOnlyABegunJSONObjectMakesACut200ADelivery(t *testing.T) {
	const head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
	for _, c := range []struct {
		name, raw string
		delivered bool
	}{
		{"empty, Content-Length 60, closed", head + "Content-Length: 60\r\n\r\n", false},
		{"empty, Content-Length 0", head + "Content-Length: 0\r\n\r\n", false},
		{"empty, chunked, closed before the first chunk", head + "Transfer-Encoding: chunked\r\n\r\n", false},
		{"empty, chunked, an empty body", head + "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false},
		{"empty, close-delimited", head + "Connection: close\r\n\r\n", false},
		{"blanks only, Content-Length 60, closed", head + "Content-Length: 60\r\n\r\n  \r\n", false},
		{"an HTML page cut, Content-Length 60", head + "Content-Length: 60\r\n\r\n<html><bo", false},
		{"another status cut, close-delimited", head + "Connection: close\r\n\r\n{\"status\": 503, \"mess", false},
		{"garbage cut, close-delimited", head + "Connection: close\r\n\r\nMaintenance", false},
		{"UMC's JSON cut, Content-Length", head + "Content-Length: 60\r\n\r\n{\"status\": 200, \"mes", true},
		{"UMC's JSON cut, chunked", head + "Transfer-Encoding: chunked\r\n\r\n14\r\n{\"status\": 200, \"mes\r\n", true},
		{"UMC's JSON cut, close-delimited", head + "Connection: close\r\n\r\n{\"status\": 200, \"mes", true},
		{"UMC's JSON whole, close-delimited", head + "Connection: close\r\n\r\n{\"status\": 200, \"message\": null}", true},
	} {
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			conn, buf, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			fmt.Fprint(buf, c.raw)
			buf.Flush()
		})
		a := newClient(t, umctest.NewServer(t, h), config.Map{}).SendToken(context.Background(), "alice")
		if got := Classify(a).Kind == policy.Served; got != c.delivered {
			t.Errorf("%s: delivered %t, want %t (%v)", c.name, got, c.delivered, Classify(a))
		}
	}
}

// Issue 20, item 7: a redirect's Location is the answering server's text:
// a megabyte of it, or a newline in it, must not land in a log line.
func TestARedirectsLocationIsQuotedAndCut(t *testing.T) {
	long := "https://elsewhere.example/" + strings.Repeat("a", 1<<20) + "\n[info] forged"
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, buf, _ := w.(http.Hijacker).Hijack()
		defer conn.Close()
		fmt.Fprintf(buf, "HTTP/1.1 302 Found\r\nLocation: %s\r\nContent-Length: 0\r\n\r\n", strings.ReplaceAll(long, "\n", "%0A"))
		buf.Flush()
	})
	a := newClient(t, umctest.NewServer(t, h), config.Map{}).SendToken(context.Background(), "alice")
	if s := a.String(); a.Status != http.StatusFound || len(s) > 1000 || strings.Contains(s, "\n") {
		t.Fatalf("HTTP %d, %d bytes: %.200s", a.Status, len(s), s)
	}
	a = Answer{Status: http.StatusFound, Location: "x\n[info] forged"}
	if s := a.String(); strings.Contains(s, "\n") {
		t.Fatalf("a newline in Location reached the line: %q", s)
	}
}
