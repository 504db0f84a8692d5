// Package umc calls UMC's send_token command and says what the answer
// means, by HTTP status alone: a JSON error body is read for its message
// when there is one, never required.
package umc

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"umc-invite/umc/config"
	"umc-invite/umc/logtext"
)

const (
	maxBody     = 64 << 10 // of an answer read: UMC's are small, an ingress's page is not worth more
	maxLocation = 200      // of a redirect's Location kept for the log: the answering server's text
)

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

	// Observe, set before the first call, is told of every HTTP call's answer.
	Observe func(Answer)
}

// NewClient builds a Client from a checked Config.
func NewClient(c *config.Config) (*Client, error) {
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: !c.TLSVerify} //nolint:gosec // only when the operator turns TLS_Verify off
	if len(c.TLSCAPEM) > 0 {
		tlsConfig.RootCAs = x509.NewCertPool()
		if !tlsConfig.RootCAs.AppendCertsFromPEM(c.TLSCAPEM) {
			return nil, fmt.Errorf("TLS_CA_File %s: no PEM certificate in it", c.TLSCAFile)
		}
	}
	// Not http.DefaultTransport, whose Proxy reads HTTP_PROXY: the calls (and
	// credentials) go to UMC or HTTP_Proxy only. One idle connection per call in flight,
	// HTTP/1.1 (built without HTTP/2: one call per connection at a time anyway).
	transport := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsConfig,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          c.Concurrency,
		MaxIdleConnsPerHost:   c.Concurrency,
	}
	if c.HTTPProxy != nil {
		transport.Proxy = http.ProxyURL(c.HTTPProxy)
	}
	endpoint, err := url.Parse(c.Endpoint())
	if err != nil {
		return nil, fmt.Errorf("UMC_URL: %w", err)
	}
	// The transport, called directly, follows no redirect (credentials reach
	// only UMC_URL's host) and keeps no cookie (no UMC XSRF check without one).
	return &Client{transport: transport, timeout: c.Timeout, endpoint: endpoint, method: c.Method, language: c.Language,
		user: c.AuthUser, password: c.AuthPassword, passwordFile: c.PasswordFile(), quickRetries: c.QuickRetries}, nil
}

// PasswordFile is Auth_Password_File, nil without one.
func (c *Client) PasswordFile() *config.PasswordFile { return c.passwordFile }

// Close drops idle connections.
func (c *Client) Close() { c.transport.CloseIdleConnections() }

// SendToken asks UMC to mail username an invitation. Only a call that
// cannot have reached UMC (Outcome.QuickRetry) is tried again at once, up
// to Quick_Retries, after full-jitter pauses from 200 ms doubling to 2 s,
// while ctx allows (ctx bounds the retries, not a call under way).
func (c *Client) SendToken(ctx context.Context, username string) Answer {
	var last Answer
	for try := 0; ctx.Err() == nil; try++ {
		calls := last.Calls
		last = c.call(ctx, username, c.method)
		last.Calls += calls
		if last.Err == nil || try == c.quickRetries || !Classify(last).QuickRetry {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(rand.N(min(200*time.Millisecond<<try, 2*time.Second))):
		}
	}
	return last
}

// call makes one HTTP call, and one more after a 401 when Auth_Password_File
// now holds another password: UMC refused the old one before the command.
func (c *Client) call(ctx context.Context, username, method string) Answer {
	used := c.password
	if c.passwordFile != nil {
		used = c.passwordFile.Password()
	}
	a := c.once(ctx, username, method, used)
	a.Calls = 1
	if a.Status == http.StatusUnauthorized && c.user != "" && c.passwordFile != nil {
		c.passwordFile.Recheck()
		if current := c.passwordFile.Current(); current != used {
			a = c.once(ctx, username, method, current)
			a.Calls = 2
		}
	}
	return a
}

// headers are the request headers for one password, shared: the transport only reads them.
type headers struct {
	password config.Secret
	header   http.Header
}

func (c *Client) headersFor(password config.Secret) http.Header {
	if h := c.headers.Load(); h != nil && h.password == password {
		return h.header
	}
	header := http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"}, "Accept-Language": {c.language}}
	if c.user != "" {
		(&http.Request{Header: header}).SetBasicAuth(c.user, string(password))
	}
	c.headers.Store(&headers{password: password, header: header})
	return header
}

// bodies are the buffers answers are read into, done with when once returns.
var bodies = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// once makes exactly one HTTP call, its answer classified once for all.
func (c *Client) once(ctx context.Context, username, method string, password config.Secret) (a Answer) {
	type options struct {
		Username string `json:"username"`
		Method   string `json:"method"`
	}
	payload, _ := json.Marshal(struct {
		Options options `json:"options"`
	}{options{username, method}}) // two strings: it cannot fail
	// A fixed Content-Length: UMC answers a chunked POST with 411. A call runs
	// to its answer or Timeout, past the flush's deadline: cutting it off
	// could not unsend it, only make its retry a duplicate.
	callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
	defer cancel()
	req := (&http.Request{
		Method:        http.MethodPost,
		URL:           c.endpoint,
		Header:        c.headersFor(password),
		Body:          io.NopCloser(bytes.NewReader(payload)),
		ContentLength: int64(len(payload)),
	}).WithContext(callCtx)
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(payload)), nil }
	start := time.Now()
	defer func() {
		a.Took = time.Since(start)
		a.outcome = Classify(a)
		if c.Observe != nil {
			c.Observe(a)
		}
	}()
	resp, err := c.transport.RoundTrip(req)
	if err != nil {
		return Answer{Err: fmt.Errorf("POST %s: %w", c.endpoint.Redacted(), err)}
	}
	defer resp.Body.Close()
	buf := bodies.Get().(*bytes.Buffer)
	defer func() { buf.Reset(); bodies.Put(buf) }()
	limited := &io.LimitedReader{R: resp.Body, N: maxBody}
	_, readErr := buf.ReadFrom(limited)
	raw := buf.Bytes()
	limited.N = maxBody // drain a little more, so the connection can be reused
	_, _ = io.Copy(io.Discard, limited)
	contentType := resp.Header.Get("Content-Type")
	fromUMC, message := readBody(contentType, raw, resp.StatusCode)
	return Answer{
		Status:     resp.StatusCode,
		FromUMC:    fromUMC,
		BodyCut:    jsonType(contentType) && (readErr != nil || cutAtClose(resp, raw)) && umcJSONBegun(raw, resp.StatusCode),
		Message:    message,
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
		Location:   logtext.Cut(resp.Header.Get("Location"), maxLocation),
	}
}
