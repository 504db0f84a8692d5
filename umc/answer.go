package umc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"umc-invite/umc/logtext"
)

// Answer is what one send_token call came to: an HTTP status with UMC's
// message, or a transport error.
type Answer struct {
	Status     int
	Message    string
	RetryAfter time.Duration
	Location   string // of a redirect, to name it in the log
	// FromUMC: the body was a JSON object whose status agrees, as UMC
	// answers when JSON is asked for; an HTML page or an empty body is
	// someone else's (an ingress, a proxy, a login page).
	FromUMC bool
	// BodyCut: a 200 declared as JSON whose body broke off (a reset, an
	// ingress cutting the stream). The status line says UMC took the call.
	BodyCut bool
	Err     error
	Took    time.Duration
	Calls   int // HTTP calls made, quick retries included
}

// String describes the answer for a log line or a dead letter.
func (a Answer) String() string {
	var s string
	switch {
	case errors.Is(a.Err, context.DeadlineExceeded):
		s = "no answer in time: " + a.Err.Error()
	case a.Err != nil:
		s = "network error: " + a.Err.Error()
	default:
		s = fmt.Sprintf("HTTP %d", a.Status)
		if a.Message != "" {
			s += ": " + a.Message
		}
		if hint := hintFor(a); hint != "" {
			s += " (" + hint + ")"
		}
	}
	return s
}

// hintFor says what an operator should look at for answers that mean a
// configuration fault rather than a passing one.
func hintFor(a Answer) string {
	switch {
	case a.Status == http.StatusUnauthorized, a.Status == http.StatusForbidden:
		return "wrong Auth_User or password"
	case a.Status == http.StatusNotFound:
		return "wrong UMC_URL or Command, or the self-service module is not installed"
	case a.Status >= 300 && a.Status < 400:
		return "UMC redirects to " + logtext.Quote(a.Location) + "; set UMC_URL to the final address"
	case a.Status == http.StatusServiceUnavailable && a.RetryAfter > 0:
		return "retry after " + a.RetryAfter.String()
	}
	return ""
}

// messageFrom takes UMC's "message" from a JSON error body (ok when it
// decoded, field its "message"), or the start of any other body, as one
// short printable line.
func messageFrom(body []byte, ok bool, field json.RawMessage) string {
	text := ""
	if ok && len(field) > 0 && string(field) != "null" { // null: no message
		var s string
		if json.Unmarshal(field, &s) == nil {
			text = s
		} else {
			text = string(field)
		}
	} else if len(body) > 0 && !looksLikeHTML(body) {
		text = string(body)
	}
	return oneLine(text, 300)
}

// looksLikeHTML: a page (or any markup) says nothing an operator can use.
func looksLikeHTML(b []byte) bool {
	return strings.HasPrefix(strings.TrimSpace(string(b[:min(len(b), 64)])), "<")
}

func oneLine(s string, limit int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > limit {
		s = string(r[:limit]) + "…"
	}
	return s
}

// parseRetryAfter reads a Retry-After header in seconds or as an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
