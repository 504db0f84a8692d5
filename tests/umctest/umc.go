// Package umctest is the one test kit of umc-invite, used like
// net/http/httptest by the unit, ABI and end-to-end tests, the benchmarks
// and `make run`: a UMC stand-in that speaks send_token as UMC does on the
// wire (see shared/umc-protocol.md) with faults to inject, queue-file
// writers, dead-letter readers, a free port and the plugin build.
package umctest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Call is one request the stand-in received.
type Call struct {
	Username string
	Method   string
	Language string
	Status   int
	Message  string // UMC's message, "" for a 200 or Drop
	Time     time.Time
	Header   http.Header
}

// UMC is a UMC stand-in, an http.Handler. Set its fields before serving
// (NewServer, or any http.Server).
type UMC struct {
	// Prefix is the part of the base URL before /command, e.g. "/univention".
	Prefix string
	// User and Password, when set, are the only basic-auth credentials
	// taken; like UMC, no credentials at all are taken too.
	User, Password string
	// Latency is added to every answer.
	Latency time.Duration
	// Fail, when set, picks the answer for the n-th call (from 1) for a
	// user: 0 or 200 means success, Drop closes the connection unanswered.
	Fail func(username string, n int) int
	// Refused, when set, names the users UMC will never mail (unknown,
	// blacklisted, without a recovery address): they get UMC's 400
	// MissingContactInformation, as every call for them does.
	Refused func(username string) bool
	// Outage, when set and answering non-zero, is the answer to every
	// call, whoever it is for: a status, or Drop.
	Outage func() int
	// HTMLErrors answers errors with an HTML page, as an ingress may.
	HTMLErrors bool
	// OnCall, when set, is told of every call.
	OnCall func(Call)

	mu    sync.Mutex
	calls []Call
	count map[string]int

	fmu sync.Mutex // guards f, the faults switched at run time (faults.go)
	f   faults
}

// Calls returns every call so far.
func (s *UMC) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// Delivered counts the 200 answers per username.
func (s *UMC) Delivered() map[string]int {
	out := map[string]int{}
	for _, c := range s.Calls() {
		if c.Status == http.StatusOK {
			out[c.Username]++
		}
	}
	return out
}

// CheckOnce returns an error unless exactly want users got a 200, each
// exactly once: every user one invitation, no duplicate.
func (s *UMC) CheckOnce(want int) error {
	d := s.Delivered()
	var twice []string
	for u, n := range d {
		if n != 1 {
			twice = append(twice, fmt.Sprintf("%s (%d)", u, n))
		}
	}
	if len(d) != want || len(twice) > 0 {
		return fmt.Errorf("%d users invited, want %d; more than once: %v", len(d), want, twice)
	}
	return nil
}

// Attempts counts the calls per username.
func (s *UMC) Attempts() map[string]int {
	out := map[string]int{}
	for _, c := range s.Calls() {
		out[c.Username]++
	}
	return out
}

// Drop, as a status, closes the connection without an answer.
const Drop = -1

// MissingContactInformation is UMC's message (English) for a user it will
// never mail: unknown, blacklisted, or without a recovery address.
const MissingContactInformation = "No address has been stored, where a password recovery token could be sent to."

func (s *UMC) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	status, message, username, method := s.answer(r)
	if s.Latency > 0 {
		time.Sleep(s.Latency)
	}
	if status == Drop {
		s.record(Call{Username: username, Method: method, Status: Drop, Time: time.Now(), Header: r.Header.Clone()})
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close()
		}
		return
	}
	s.record(Call{Username: username, Method: method, Language: r.Header.Get("Accept-Language"),
		Status: status, Message: message, Time: time.Now(), Header: r.Header.Clone()})
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "0")
	}
	if status == http.StatusOK {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status": 200, "result": true, "message": null}`)
		return
	}
	if s.HTMLErrors {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		fmt.Fprintf(w, "<html><body><h1>%d %s</h1></body></html>", status, http.StatusText(status))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"status": status, "message": message, "traceback": nil, "location": nil})
}

func (s *UMC) record(call Call) {
	s.mu.Lock()
	s.calls = append(s.calls, call)
	s.mu.Unlock()
	if s.OnCall != nil {
		s.OnCall(call)
	}
}

// answer decides the status as UMC would, then applies injected faults.
func (s *UMC) answer(r *http.Request) (status int, message, username, method string) {
	if r.URL.Path != s.Prefix+"/command/passwordreset/send_token" {
		return http.StatusNotFound, "The requested URL was not found on the server.", "", ""
	}
	if r.Method != http.MethodPost {
		return http.StatusMethodNotAllowed, "Method not allowed", "", ""
	}
	if r.ContentLength < 0 {
		return http.StatusLengthRequired, "Length required", "", ""
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		return http.StatusNotAcceptable, "Unsupported content type", "", ""
	}
	if c, err := r.Cookie("UMCSessionId"); err == nil && r.Header.Get("X-XSRF-Protection") != c.Value {
		return http.StatusForbidden, "XSRF protection failed", "", ""
	}
	if user, password, ok := r.BasicAuth(); ok && (user != s.User || password != s.Password || s.User == "") {
		return http.StatusUnauthorized, "The authentication has failed, please login again.", "", ""
	}
	var body struct {
		Options struct {
			Username *string `json:"username"`
			Method   string  `json:"method"`
		} `json:"options"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil || body.Options.Username == nil {
		return http.StatusUnprocessableEntity, "The following argument is missing: username", "", ""
	}
	username, method = *body.Options.Username, body.Options.Method
	if len([]rune(username)) > 241 {
		return http.StatusForbidden, "Username too long", username, method
	}
	s.mu.Lock()
	if s.count == nil {
		s.count = map[string]int{}
	}
	s.count[username]++
	n := s.count[username]
	s.mu.Unlock()
	if s.Outage != nil {
		if st := s.Outage(); st != 0 {
			return st, outageMessage(st), username, method
		}
	}
	if st := s.outageNow(); st != 0 {
		return st, outageMessage(st), username, method
	}
	// The passwordreset module checks, in order: the service is on, the
	// method exists, the user can be mailed.
	if s.IsDisabled() {
		return http.StatusBadRequest, Disabled, username, method
	}
	if method != "email" {
		return http.StatusBadRequest, UnknownMethod(method), username, method
	}
	// No UCS user has a ":" in its name: unknown, like a refused one.
	if strings.Contains(username, ":") || s.Refused != nil && s.Refused(username) || s.unknownNow(username) {
		return http.StatusBadRequest, MissingContactInformation, username, method
	}
	if s.throttleNow() {
		return http.StatusInternalServerError, relayFailure(username), username, method
	}
	if s.Fail != nil {
		if st := s.Fail(username, n); st != 0 && st != http.StatusOK {
			return st, fmt.Sprintf("Error sending token: injected failure %d for %s", n, username), username, method
		}
	}
	return http.StatusOK, "", username, method
}

// outageMessage is what UMC says when it fails everyone with status.
func outageMessage(status int) string {
	switch status {
	case http.StatusBadRequest:
		return Disabled
	case http.StatusInternalServerError:
		return "Error sending token: [Errno 111] Connection refused"
	case http.StatusServiceUnavailable:
		return "The self-service is currently not available. Please retry in one minute."
	}
	return http.StatusText(status)
}
