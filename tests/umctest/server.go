package umctest

import (
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// Server serves a handler (a *UMC) on a loopback port that can go away and
// come back: while down, nothing listens there and every connection is
// refused, as when UMC's host or its pod is gone. Safe for concurrent use.
type Server struct {
	// URL is the base URL, without UMC.Prefix; it stays the same across
	// Down and Up.
	URL string

	h    http.Handler
	addr string
	mu   sync.Mutex
	srv  *http.Server // nil while down
}

// NewSwitchableServer serves h on loopback until the test ends.
func NewSwitchableServer(t testing.TB, h http.Handler) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{h: h, addr: ln.Addr().String()}
	s.URL = "http://" + s.addr
	s.serve(ln)
	t.Cleanup(s.Down)
	return s
}

func (s *Server) serve(ln net.Listener) {
	srv := &http.Server{Handler: s.h, ReadHeaderTimeout: 10 * time.Second}
	s.srv = srv
	go func() { _ = srv.Serve(ln) }()
}

// Down closes the listener and every open connection: from now on a
// connection is refused. Down when down does nothing.
func (s *Server) Down() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		_ = s.srv.Close()
		s.srv = nil
	}
}

// Up listens on the same address again; it retries for a few seconds
// should the port still be held.
func (s *Server) Up() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return nil
	}
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var ln net.Listener
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			s.serve(ln)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("listen again on %s: %w", s.addr, err)
		}
	}
}

// IsUp reports whether the server listens.
func (s *Server) IsUp() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srv != nil
}
