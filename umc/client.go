// Package umc calls UMC's send_token command and says what the answer
// means. It decides by HTTP status alone: a JSON error body is read for its
// message when there is one, never required.
package umc

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"umc-invite/umc/config"
	"umc-invite/umc/logtext"
)

// maxBody caps what is read of an answer: UMC's answers are small, an
// ingress error page is not worth more.
const maxBody = 64 << 10

// maxLocation caps a redirect's Location kept for the log: it is the
// answering server's text, of any length.
const maxLocation = 200

// Client sends invitations to one UMC. It is safe for concurrent use.
type Client struct {
	transport    *http.Transport
	timeout      time.Duration
	endpoint     *url.URL
	method       string
	language     string
	user         string
	password     config.Secret        // Auth_Password, or the file as read at start
	passwordFile *config.PasswordFile // nil unless Auth_Password_File: read again when it changes
	quickRetries int
	headers      atomic.Pointer[headers] // for the password last used

	// Observe, when set, is told of every HTTP call's answer (a quick
	// retry's calls each); set it before the first call.
	Observe func(Answer)
}

// NewClient builds a Client from a checked Config.
func NewClient(c *config.Config) (*Client, error) {
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: !c.TLSVerify} //nolint:gosec // only when the operator turns TLS_Verify off
	if len(c.TLSCAPEM) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(c.TLSCAPEM) {
			return nil, fmt.Errorf("TLS_CA_File %s: no PEM certificate in it", c.TLSCAFile)
		}
		tlsConfig.RootCAs = pool
	}
	// Built field by field, not cloned from http.DefaultTransport, whose
	// Proxy reads HTTP_PROXY/HTTPS_PROXY: the calls (and the credentials)
	// go to UMC, or to HTTP_Proxy when it is set, and nowhere else.
	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsConfig,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
		// Keep an idle connection for every call that can be in flight,
		// so bulk sends reuse them instead of opening new ones.
		MaxIdleConns:        c.Concurrency,
		MaxIdleConnsPerHost: c.Concurrency,
	}
	if c.HTTPProxy != nil {
		transport.Proxy = http.ProxyURL(c.HTTPProxy)
	}
	endpoint, err := url.Parse(c.Endpoint())
	if err != nil {
		return nil, fmt.Errorf("UMC_URL: %w", err)
	}
	// The transport, called directly, follows no redirect (the credentials
	// reach only UMC_URL's host) and keeps no cookie (UMC's XSRF check
	// applies only with a UMCSessionId cookie).
	return &Client{
		transport:    transport,
		timeout:      c.Timeout,
		endpoint:     endpoint,
		method:       c.Method,
		language:     c.Language,
		user:         c.AuthUser,
		password:     c.AuthPassword,
		passwordFile: c.PasswordFile(),
		quickRetries: c.QuickRetries,
	}, nil
}

// PasswordFile is Auth_Password_File, nil without one: its Infof and
// Warnf say when the password changes or the new file cannot be used.
func (c *Client) PasswordFile() *config.PasswordFile { return c.passwordFile }

func (c *Client) secret() config.Secret {
	if c.passwordFile != nil {
		return c.passwordFile.Password()
	}
	return c.password
}

// call makes one HTTP call, and one more at once after a 401 when
// Auth_Password_File now holds another password (a Secret rotated): UMC
// refused the old one before running the command, so it is no duplicate.
func (c *Client) call(ctx context.Context, username, method string) (a Answer, calls int) {
	used := c.secret()
	a = c.once(ctx, username, method, used)
	calls = 1
	if a.Status == http.StatusUnauthorized && c.user != "" && c.passwordFile != nil {
		c.passwordFile.Recheck()
		if current := c.passwordFile.Current(); current != used {
			a = c.once(ctx, username, method, current)
			calls++
		}
	}
	return a, calls
}

// headers are a call's request headers for one password, built once and
// shared by every call with it: the transport only reads them.
type headers struct {
	password config.Secret
	header   http.Header
}

func (c *Client) headersFor(password config.Secret) http.Header {
	if h := c.headers.Load(); h != nil && h.password == password {
		return h.header
	}
	header := http.Header{}
	header.Set("Content-Type", "application/json")
	header.Set("Accept", "application/json")
	header.Set("Accept-Language", c.language)
	if c.user != "" {
		// As Request.SetBasicAuth sets it.
		r := &http.Request{Header: header}
		r.SetBasicAuth(c.user, string(password))
	}
	c.headers.Store(&headers{password: password, header: header})
	return header
}

// bodies are the buffers answers are read into: an answer's body is done
// with when once returns.
var bodies = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// Close drops idle connections.
func (c *Client) Close() { c.transport.CloseIdleConnections() }

type sendTokenRequest struct {
	Options struct {
		Username string `json:"username"`
		Method   string `json:"method"`
	} `json:"options"`
}

// once makes exactly one HTTP call.
func (c *Client) once(ctx context.Context, username, method string, password config.Secret) Answer {
	var body sendTokenRequest
	body.Options.Username = username
	body.Options.Method = method
	payload, err := json.Marshal(body)
	if err != nil {
		return Answer{Err: fmt.Errorf("encode request: %w", err)}
	}
	// A fixed Content-Length: UMC answers a chunked POST with 411. A call
	// once started runs to its answer or Timeout, even past the flush's
	// deadline: cutting it off could not unsend it, only make its retry a
	// duplicate.
	callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
	defer cancel()
	req := (&http.Request{
		Method:        http.MethodPost,
		URL:           c.endpoint,
		Host:          c.endpoint.Host,
		Header:        c.headersFor(password),
		Body:          io.NopCloser(bytes.NewReader(payload)),
		ContentLength: int64(len(payload)),
		Proto:         "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
	}).WithContext(callCtx)
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(payload)), nil }
	start := time.Now()
	resp, err := c.transport.RoundTrip(req)
	if err != nil {
		a := Answer{Err: fmt.Errorf("POST %s: %w", c.endpoint.Redacted(), err), Took: time.Since(start)}
		c.observe(a)
		return a
	}
	defer resp.Body.Close()
	buf := bodies.Get().(*bytes.Buffer)
	defer func() { buf.Reset(); bodies.Put(buf) }()
	limited := &io.LimitedReader{R: resp.Body, N: maxBody}
	_, readErr := buf.ReadFrom(limited)
	raw := buf.Bytes()
	// Drain a little more so the connection can be reused.
	limited.N = maxBody
	_, _ = io.Copy(io.Discard, limited)
	contentType := resp.Header.Get("Content-Type")
	fromUMC, message := readBody(contentType, raw, resp.StatusCode)
	a := Answer{
		Status:     resp.StatusCode,
		FromUMC:    fromUMC,
		BodyCut:    jsonType(contentType) && (readErr != nil || cutAtClose(resp, raw)) && umcJSONBegun(raw, resp.StatusCode),
		Message:    message,
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
		Location:   logtext.Cut(resp.Header.Get("Location"), maxLocation),
		Took:       time.Since(start),
	}
	c.observe(a)
	return a
}

func (c *Client) observe(a Answer) {
	if c.Observe != nil {
		c.Observe(a)
	}
}

// cutAtClose reports a body that ends where the connection closed (no
// length declared, no chunking: an HTTP/1.0-style proxy) and is no whole
// JSON: the close came early. A declared length catches it as a read error.
func cutAtClose(resp *http.Response, raw []byte) bool {
	return resp.ContentLength < 0 && len(resp.TransferEncoding) == 0 && len(raw) < maxBody && !json.Valid(raw)
}

func jsonType(contentType string) bool {
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(contentType)), "application/json")
}

// umcJSONBegun reports whether a body that broke off began as UMC's JSON
// object: at least its opening brace, and nothing that is not a prefix of
// a JSON object, whose "status", if it got that far, agrees with HTTP's.
// An empty body, blanks, a page or garbage cut off prove nothing of UMC:
// a proxy or a maintenance page may answer "200 application/json" and
// close. UMC writes its JSON only after the token is stored, so a body
// that began as UMC's is a delivery even when it broke off.
func umcJSONBegun(body []byte, httpStatus int) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return false
	}
	for {
		key, err := dec.Token()
		if err != nil {
			return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
		}
		name, ok := key.(string)
		if !ok {
			return key == json.Delim('}') // a whole object: umcJSON's to judge
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
		}
		if name == "status" {
			// A number at the very end may be cut ("20" of "200").
			atEnd := dec.InputOffset() >= int64(len(bytes.TrimRight(body, " \t\r\n")))
			var n int
			if (json.Unmarshal(value, &n) != nil || n != httpStatus) && !atEnd {
				return false
			}
		}
	}
}

// readBody reads an answer's body in one pass: whether it is UMC's JSON
// (umcJSON) and its message (messageOf).
func readBody(contentType string, body []byte, httpStatus int) (fromUMC bool, message string) {
	var fields struct {
		Status  json.RawMessage `json:"status"`
		Message json.RawMessage `json:"message"`
	}
	decoded := json.Unmarshal(body, &fields) == nil
	message = messageFrom(body, decoded, fields.Message)
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	switch {
	case !jsonType(contentType) || !decoded:
		return false, message
	case !onlyExactStatus(body):
		// A struct's fields match keys whatever their case ("Status"), and
		// through escapes; UMC's "status" is matched exactly.
		return umcJSON(contentType, body, httpStatus), message
	case len(trimmed) == 0 || trimmed[0] != '{':
		return false, message // null: decoded, but no object
	case fields.Status == nil:
		return true, message
	}
	// A valid JSON integer reads the same either way; anything else
	// (a fraction, a string, null) as encoding/json reads it into an int.
	if n, err := strconv.Atoi(string(fields.Status)); err == nil {
		return n == httpStatus, message
	}
	var n int
	return json.Unmarshal(fields.Status, &n) == nil && n == httpStatus, message
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
	if !jsonType(contentType) {
		return false
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) != nil || obj == nil {
		return false
	}
	if status, ok := obj["status"]; ok {
		var n int
		if json.Unmarshal(status, &n) != nil || n != httpStatus {
			return false
		}
	}
	return true
}
