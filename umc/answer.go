package umc

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"

	"umc-invite/umc/logtext"
	"umc-invite/umc/policy"
)

// Answer is what one send_token call came to: an HTTP status with UMC's
// message, or a transport error.
type Answer struct {
	Status     int
	Message    string
	RetryAfter time.Duration
	Location   string // of a redirect, to name it in the log
	FromUMC    bool   // a JSON object whose status agrees: UMC's, not a proxy's or a login page's
	BodyCut    bool   // a 200 declared as JSON whose body broke off: UMC took the call
	Err        error
	Took       time.Duration
	Calls      int // HTTP calls made, quick retries included

	outcome Outcome // Classify's, set by the client; its Reason is never empty
}

// String describes the answer for a log line or a dead letter.
func (a Answer) String() string {
	switch {
	case errors.Is(a.Err, context.DeadlineExceeded):
		return "no answer in time: " + a.Err.Error()
	case a.Err != nil:
		return "network error: " + a.Err.Error()
	}
	s := fmt.Sprintf("HTTP %d", a.Status)
	if a.Message != "" {
		s += ": " + a.Message
	}
	// A hint for answers that mean a configuration fault, not a passing one.
	switch {
	case a.Status == http.StatusUnauthorized, a.Status == http.StatusForbidden:
		s += " (wrong Auth_User or password)"
	case a.Status == http.StatusNotFound:
		s += " (wrong UMC_URL or Command, or the self-service module is not installed)"
	case a.Status >= 300 && a.Status < 400:
		s += " (UMC redirects to " + logtext.Quote(a.Location) + "; set UMC_URL to the final address)"
	case a.Status == http.StatusServiceUnavailable && a.RetryAfter > 0:
		s += " (retry after " + a.RetryAfter.String() + ")"
	}
	return s
}

// Outcome is the classification of one answer: what it means, why, and
// whether trying again at once is safe.
type Outcome struct {
	Kind       policy.Kind
	Reason     string
	QuickRetry bool // the call cannot have reached UMC: a retry at once is no duplicate, no rate-limited call
}

// Classify is the one place an answer is given a meaning: by its status and
// whether a 200 carried UMC's JSON, never by the message, which UMC translates.
func Classify(a Answer) Outcome {
	if a.outcome.Reason != "" {
		return a.outcome
	}
	if a.Err != nil {
		return Outcome{Kind: policy.Unavailable, Reason: a.String(), QuickRetry: unreached(a.Err)}
	}
	s := a.Status
	switch {
	case s == http.StatusOK && a.FromUMC:
		return Outcome{Kind: policy.Served, Reason: "HTTP 200"}
	case s == http.StatusOK && a.BodyCut:
		// UMC writes its answer after storing the token and handing the
		// mail on: a second call would mail a link that kills the first.
		return Outcome{Kind: policy.Served, Reason: "HTTP 200, its JSON body cut short: UMC took the call"}
	case s == http.StatusOK:
		return Outcome{Kind: policy.Unavailable, Reason: "HTTP 200 without UMC's JSON body (UMC_URL points at something that is not UMC: a proxy, a login page, an ingress)"}
	case s == http.StatusBadRequest:
		// An unknown, blacklisted or address-less user, or the backend off.
		return Outcome{Kind: policy.Refusal, Reason: a.String()}
	case s == http.StatusUnauthorized, s == http.StatusForbidden:
		// The configured credentials, or anonymity, rejected (a name over
		// UMC's 403 limit never reaches UMC: it is bad input).
		return Outcome{Kind: policy.Unauthorized, Reason: a.String()}
	case s == http.StatusInternalServerError, s >= 590 && s <= 592:
		return Outcome{Kind: policy.Failure, Reason: a.String()}
	}
	// 3xx, 404, 405/406/411/422 (a client bug), 502, 503 (also UMC's
	// rate limit: a retry would extend the lockout), anything else.
	return Outcome{Kind: policy.Unavailable, Reason: a.String()}
}

// unreached reports errors that prove the call never reached UMC: nothing
// listening, no such host, no TLS session (a reset or timeout proves nothing).
func unreached(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var dnsErr *net.DNSError
	var recordErr tls.RecordHeaderError
	var certErr *tls.CertificateVerificationError
	var alert tls.AlertError
	return errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &dnsErr) || errors.As(err, &recordErr) || errors.As(err, &certErr) || errors.As(err, &alert)
}

// cutAtClose reports a body that ends at the connection's close (no length,
// no chunking: an HTTP/1.0-style proxy) and is no whole JSON: cut early.
func cutAtClose(resp *http.Response, raw []byte) bool {
	return resp.ContentLength < 0 && len(resp.TransferEncoding) == 0 && len(raw) < maxBody && !json.Valid(raw)
}

func jsonType(contentType string) bool {
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(contentType)), "application/json")
}

// umcJSONBegun reports whether a body that broke off is a prefix of a JSON
// object whose "status", if it got that far, agrees with HTTP's: UMC writes
// its JSON only after the token is stored. An empty body, a page or garbage
// cut off prove nothing of UMC.
func umcJSONBegun(body []byte, httpStatus int) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	cut := func(err error) bool { return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) }
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return false
	}
	for {
		key, err := dec.Token()
		if err != nil {
			return cut(err)
		}
		name, ok := key.(string)
		if !ok {
			return key == json.Delim('}') // a whole object: umcJSON's to judge
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return cut(err)
		}
		// A number at the very end may be cut ("20" of "200").
		if name == "status" && !statusIs(value, httpStatus) && dec.InputOffset() < int64(len(bytes.TrimRight(body, " \t\r\n"))) {
			return false
		}
	}
}

// readBody reads in one pass whether a body is UMC's JSON (as umcJSON
// says, without its map for the usual body) and its message.
func readBody(contentType string, body []byte, httpStatus int) (fromUMC bool, message string) {
	var fields struct {
		Status  json.RawMessage `json:"status"`
		Message json.RawMessage `json:"message"`
	}
	decoded := json.Unmarshal(body, &fields) == nil
	message = messageFrom(body, decoded, fields.Message)
	switch {
	case !jsonType(contentType) || !decoded:
		return false, message
	case !onlyExactStatus(body):
		// A struct's fields match keys in any case and through escapes.
		return umcJSON(contentType, body, httpStatus), message
	case bytes.HasPrefix(bytes.TrimSpace(body), []byte("null")):
		return false, message // decoded, but no object
	}
	return fields.Status == nil || statusIs(fields.Status, httpStatus), message
}

// onlyExactStatus reports a body in which every key encoding/json would
// match to a field "status" is written exactly so: no escapes, no "ſ"
// (which folds to "s"), no other case of "status" anywhere.
func onlyExactStatus(body []byte) bool {
	if bytes.IndexByte(body, '\\') >= 0 || bytes.Contains(body, []byte("\u017f")) {
		return false
	}
	for i := 0; i+len("status") <= len(body); i++ {
		if w := body[i : i+len("status")]; bytes.EqualFold(w, []byte("status")) && string(w) != "status" {
			return false
		}
	}
	return true
}

// umcJSON reports whether a body is what UMC answers when asked for JSON:
// a JSON object, whose "status", when it has one, agrees with HTTP's.
func umcJSON(contentType string, body []byte, httpStatus int) bool {
	var obj map[string]json.RawMessage
	if !jsonType(contentType) || json.Unmarshal(body, &obj) != nil || obj == nil {
		return false
	}
	status, ok := obj["status"]
	return !ok || statusIs(status, httpStatus)
}

// statusIs reports a JSON value that encoding/json reads into an int as
// want; a plain integer is read without it.
func statusIs(raw json.RawMessage, want int) bool {
	if n, err := strconv.Atoi(string(raw)); err == nil {
		return n == want
	}
	var n int
	return json.Unmarshal(raw, &n) == nil && n == want
}

// messageFrom is one short printable line: the "message" field of a body
// that decoded (ok), or else the start of any body but markup.
func messageFrom(body []byte, ok bool, field json.RawMessage) string {
	text := ""
	switch {
	case ok && len(field) > 0 && string(field) != "null": // null: no message
		if json.Unmarshal(field, &text) != nil {
			text = string(field)
		}
	case !bytes.HasPrefix(bytes.TrimSpace(body[:min(len(body), 64)]), []byte("<")):
		text = string(body)
	}
	return oneLine(text, 300)
}

// oneLine is s with its blanks and control characters as single spaces, cut
// to limit runes.
func oneLine(s string, limit int) string {
	s = strings.Join(strings.FieldsFunc(strings.ToValidUTF8(s, "\uFFFD"), func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }), " ")
	for i := range s {
		if limit--; limit < 0 {
			return s[:i] + "…"
		}
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
