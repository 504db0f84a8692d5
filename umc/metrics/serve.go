package metrics

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"
)

// The endpoint answers one request per connection, GET or HEAD of Path,
// and closes it: what a Prometheus scrape needs. Written out, not
// net/http's server, which would cost the loaded plugin a quarter of a
// megabyte for one read-only page.
const (
	maxHead     = 8 << 10 // bytes of a request's head read at most
	maxScraping = 16      // connections served at once; more are closed at once
)

// Deadlines of a connection: its head read within headTimeout, its
// answer written within writeTimeout. Variables for tests.
var (
	headTimeout  = 5 * time.Second
	writeTimeout = 30 * time.Second
)

// server is an address's accepting loop and the connections it serves.
// A connection's goroutine ends with its answer, its deadlines, or close,
// which cuts it; close does not wait for it: a scrape may wait for the
// registry's lock that the closer holds.
type server struct {
	ln    net.Listener
	mu    sync.Mutex
	conns map[net.Conn]bool // open now; closed by close
	busy  chan struct{}
}

func newServer(ln net.Listener) *server {
	return &server{ln: ln, conns: map[net.Conn]bool{}, busy: make(chan struct{}, maxScraping)}
}

// accept serves connections until the listener is closed.
func (s *server) accept(answer func() []byte, warn func(format string, args ...any)) {
	for {
		c, err := s.ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil { // out of descriptors, say: try again shortly
			warn("accepting a scrape: %v", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		select {
		case s.busy <- struct{}{}:
		default:
			c.Close() // too many at once: a scraper tries again
			continue
		}
		if !s.track(c, true) {
			c.Close()
			<-s.busy
			return
		}
		go func() {
			defer func() { <-s.busy }()
			defer s.track(c, false)
			defer c.Close()
			defer func() {
				if r := recover(); r != nil {
					warn("answering a scrape: internal error, recovered: %v", r)
				}
			}()
			serveOne(c, answer)
		}()
	}
}

// track adds or drops an open connection; false once closed.
func (s *server) track(c net.Conn, open bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns == nil {
		return false
	}
	if open {
		s.conns[c] = true
	} else {
		delete(s.conns, c)
	}
	return true
}

// close stops accepting and cuts the connections being served.
func (s *server) close() {
	_ = s.ln.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		_ = c.Close()
	}
	s.conns = nil
}

// serveOne reads one request's head and writes its answer.
func serveOne(c net.Conn, answer func() []byte) {
	_ = c.SetDeadline(time.Now().Add(headTimeout))
	method, path, err := readHead(bufio.NewReaderSize(io.LimitReader(c, maxHead), 1024))
	_ = c.SetDeadline(time.Now().Add(writeTimeout))
	status, extra, body := "200 OK", "Content-Type: text/plain; version=0.0.4; charset=utf-8; escaping=underscores\r\n", []byte(nil)
	switch {
	case err != nil:
		status, extra = "400 Bad Request", ""
		body = []byte("bad request: " + err.Error() + "\n")
	case path != Path:
		status, extra, body = "404 Not Found", "", []byte("not found: the metrics are at "+Path+"\n")
	case method != "GET" && method != "HEAD":
		status, extra, body = "405 Method Not Allowed", "Allow: GET, HEAD\r\n", []byte("method not allowed\n")
	default:
		body = answer()
	}
	head := fmt.Sprintf("HTTP/1.1 %s\r\n%sContent-Length: %d\r\nConnection: close\r\n\r\n", status, extra, len(body))
	if method == "HEAD" {
		body = nil
	}
	_, _ = c.Write(append([]byte(head), body...))
}

// readHead reads a request line and its headers up to the blank line;
// the headers are not needed. The path is the target without its query.
func readHead(r *bufio.Reader) (method, path string, err error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", "", headError(err)
	}
	fields := strings.Fields(line)
	if len(fields) != 3 || !strings.HasPrefix(fields[2], "HTTP/1.") {
		return "", "", errors.New("not an HTTP/1 request line")
	}
	path, _, _ = strings.Cut(originForm(fields[1]), "?")
	for {
		header, err := r.ReadString('\n')
		if err != nil {
			return "", "", headError(err)
		}
		if strings.TrimRight(header, "\r\n") == "" {
			return fields[0], path, nil
		}
	}
}

// originForm is a target's path and query: a target in absolute form
// (http://host/metrics), as a proxy sends it, without its scheme and host.
func originForm(target string) string {
	scheme, rest, ok := strings.Cut(target, "://")
	if !ok || !strings.EqualFold(scheme, "http") && !strings.EqualFold(scheme, "https") {
		return target
	}
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		return "/" + strings.TrimPrefix(rest[i:], "/")
	}
	return "/"
}

func headError(err error) error {
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("request head over %d bytes, or cut short", maxHead)
	}
	return errors.New("request head not read in time")
}
