package config

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// validate checks every parsed value and every rule between keys, once,
// after all keys are parsed, in the order of Keys: the first bad key is
// the one reported. It also fills in the defaults that derive from other
// keys and builds the endpoint.
func (c *Config) validate() error {
	checks := []struct {
		key   string
		check func() error
	}{
		{"UMC_URL", func() (err error) { c.URL, err = checkHTTPURL(c.rawURL, true); return err }},
		{"Command", c.checkCommand},
		{"Method", func() error { return nonEmpty(c.Method) }},
		{"Language", func() error { return checkLanguage(c.Language) }},
		{"Auth_User", c.checkUser},
		{"Auth_Password_File", func() error {
			if c.AuthPasswordFile != "" && c.filePassword == "" && !c.offline {
				return fmt.Errorf("%s is empty", c.AuthPasswordFile)
			}
			return nil
		}},
		{"Auth_Password", c.checkPassword},
		{"TLS_CA_File", c.checkCA},
		{"HTTP_Proxy", func() (err error) {
			if c.rawProxy != "" {
				c.HTTPProxy, err = checkHTTPURL(c.rawProxy, false)
			}
			return err
		}},
		{"Timeout", func() error { return positive(c.Timeout.String(), c.Timeout > 0) }},
		{"Username_Key", func() error { return nonEmpty(c.UsernameKey) }},
		{"Path_Key", func() error { return nonEmpty(c.PathKey) }},
		{"Offset_Key", func() error { return nonEmpty(c.OffsetKey) }},
		{"Queue_Dir", c.checkQueueDir},
		{"Dead_Letter_Dir", func() error {
			switch {
			case c.DeadLetterDir != "":
				abs, err := filepath.Abs(c.DeadLetterDir)
				if err != nil {
					return err
				}
				c.DeadLetterDir = abs
			case c.QueueDir != "":
				c.DeadLetterDir = DefaultDeadLetterDir(c.QueueDir)
			}
			return nil
		}},
		{"Intake_Dir", c.checkIntakeDir},
		{"Queue_Window", func() error { return inRange(c.QueueWindow, 1, 100000) }},
		{"Refusal_Grace", func() error { return atLeast(c.RefusalGrace, 0) }},
		{"Max_Age", func() error { return atLeast(c.MaxAge, time.Second) }},
		{"Backoff_Min", func() error { return atLeast(c.BackoffMin, 100*time.Millisecond) }},
		{"Backoff_Max", func() error {
			if c.BackoffMax < c.BackoffMin {
				return fmt.Errorf("%s is shorter than Backoff_Min %s", c.BackoffMax, c.BackoffMin)
			}
			return nil
		}},
		{"Chunk_Retry_Limit", func() error { return inRange(c.ChunkRetryLimit, 1, 100) }},
		{"Concurrency", func() error { return inRange(c.Concurrency, 1, 256) }},
		{"Rate_Limit", func() error { return inRange(c.RateLimit, 0, 600000) }},
		{"Quick_Retries", func() error { return inRange(c.QuickRetries, 0, 10) }},
		{"Flush_Timeout", func() error {
			if err := positive(c.FlushTimeout.String(), c.FlushTimeout > 0); err != nil {
				return err
			}
			// A flush shorter than one request would cut every slow
			// request's successors off before they could start.
			if c.FlushTimeout < c.Timeout {
				return fmt.Errorf("%s is shorter than Timeout %s", c.FlushTimeout, c.Timeout)
			}
			return nil
		}},
		{"Metrics_Listen", c.checkMetricsListen},
		{"Output_Name", c.checkOutputName},
	}
	for _, ch := range checks {
		if err := ch.check(); err != nil {
			return &KeyError{ch.key, err}
		}
	}
	if err := c.checkDirectories(); err != nil {
		return err
	}
	endpoint, err := url.JoinPath(c.URL.String(), "command", c.Command)
	if err != nil {
		return &KeyError{"Command", fmt.Errorf("cannot join it to UMC_URL: %w", err)}
	}
	c.endpoint = endpoint
	return nil
}

// Warnings are the start-up warnings of a configuration that works but
// should not be used as is; the output logs each once.
func (c *Config) Warnings() []string {
	if c.URL == nil || c.URL.Scheme != "http" || c.AuthUser == "" {
		return nil
	}
	// The in-cluster Nubus UMC is plain HTTP, so this cannot be refused.
	if isLoopback(c.URL.Hostname()) && (c.HTTPProxy == nil || isLoopback(c.HTTPProxy.Hostname())) {
		return nil
	}
	return []string{fmt.Sprintf("UMC_URL is plain http to %s, not a loopback address: "+
		"the basic-auth password of %s crosses the network unencrypted; use https unless this network is trusted",
		c.URL.Host, c.AuthUser)}
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkHTTPURL checks a UMC_URL or HTTP_Proxy value. Its errors name
// parts of the value, never the value: it may hold a password.
func checkHTTPURL(raw string, isUMC bool) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("is required, e.g. http://umc-server or https://ucs.example.org/univention")
	}
	if hasUserinfo(raw) {
		if isUMC {
			return nil, errors.New("must not hold credentials: use Auth_User and Auth_Password_File")
		}
		return nil, errors.New("must not hold credentials: a proxy that needs them is not supported")
	}
	if strings.IndexFunc(raw, unicode.IsSpace) >= 0 {
		return nil, errors.New("must not contain spaces")
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error quotes the whole value; its cause names only a part.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("not a URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("scheme %q: must be http or https", u.Scheme)
	}
	if u.User != nil {
		return nil, errors.New("must not hold credentials")
	}
	if u.Opaque != "" || u.Hostname() == "" {
		return nil, errors.New("has no host, e.g. http://umc-server")
	}
	if strings.HasSuffix(u.Host, ":") {
		return nil, errors.New("has an empty port")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("port %s is outside 1..65535", p)
		}
	}
	// A bare "?" or "#" parses to nothing (ForceQuery, an empty fragment)
	// but says the value is not what the operator meant: refuse it too.
	if u.RawQuery != "" || u.ForceQuery || strings.Contains(raw, "?") {
		return nil, errors.New("must not have a query")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return nil, errors.New("must not have a fragment")
	}
	if !isUMC && u.Path != "" && u.Path != "/" {
		return nil, errors.New("must not have a path: a proxy is http://host:port")
	}
	return u, nil
}

// hasUserinfo tells whether the authority part of a URL holds an "@",
// without parsing it: url.Parse's errors would quote the password.
func hasUserinfo(raw string) bool {
	_, rest, ok := strings.Cut(raw, "//")
	if !ok {
		return false
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	return strings.Contains(rest, "@")
}

// commandRe: path segments of letters, digits, "_" and "-". No dots, so no
// ".." can climb out of /command/, and no "?" or "#".
var commandRe = regexp.MustCompile(`^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$`)

func (c *Config) checkCommand() error {
	if c.Command == "" {
		return errors.New("must not be empty")
	}
	if !commandRe.MatchString(c.Command) {
		return fmt.Errorf("%q: want path segments of letters, digits, _ and -, like passwordreset/send_token", c.Command)
	}
	return nil
}

// languageRe is one language-range of Accept-Language (RFC 9110, RFC 4647:
// 1*8ALPHA *("-" 1*8alphanum)), with the primary subtag narrowed to the 2 or
// 3 letters of a BCP 47 language: de, de-DE, en-US, gsw-CH. A regexp and not
// golang.org/x/text/language: that parser accepts more (underscores,
// extensions, private use) and canonicalizes, while this value goes into a
// header exactly as written.
var languageRe = regexp.MustCompile(`^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$`)

func checkLanguage(v string) error {
	if v == "" {
		return errors.New("must not be empty")
	}
	if strings.IndexFunc(v, unicode.IsControl) >= 0 {
		return fmt.Errorf("%q holds control characters (CR, LF, …): not a header value", v)
	}
	if len(v) > 64 || !languageRe.MatchString(v) {
		return fmt.Errorf("%q is not a language tag like de-DE, en-US or en", v)
	}
	return nil
}

func (c *Config) checkUser() error {
	if c.AuthUser == "" {
		if c.filePassword != "" || c.inlinePassword != "" {
			return errors.New("must be set when a password is given")
		}
		return nil
	}
	// Basic auth joins user and password with ":" (RFC 7617).
	if strings.ContainsRune(c.AuthUser, ':') || strings.IndexFunc(c.AuthUser, unicode.IsControl) >= 0 {
		return errors.New("must not contain \":\" or control characters")
	}
	return nil
}

func (c *Config) checkPassword() error {
	if c.inlinePassword != "" && c.AuthPasswordFile != "" {
		return errors.New("set it or Auth_Password_File, not both")
	}
	c.AuthPassword = c.filePassword
	if c.inlinePassword != "" {
		c.AuthPassword = c.inlinePassword
	}
	return nil
}

// checkCA refuses a bundle without a certificate now, not at the first
// call.
func (c *Config) checkCA() error {
	if c.TLSCAFile == "" || c.offline {
		return nil
	}
	if !x509.NewCertPool().AppendCertsFromPEM(c.TLSCAPEM) {
		return fmt.Errorf("%s: no PEM certificate in it", c.TLSCAFile)
	}
	return nil
}

// checkQueueDir only makes the path absolute: whether it is a directory
// is found out when the output opens it at start, where a tenant's bad
// directory disables that output alone, not the whole configuration.
func (c *Config) checkQueueDir() error {
	if c.QueueDir == "" {
		return nil
	}
	abs, err := filepath.Abs(c.QueueDir)
	if err != nil {
		return fmt.Errorf("cannot use: %w", err)
	}
	c.QueueDir = abs
	return nil
}

func nonEmpty(v string) error {
	if strings.TrimSpace(v) == "" {
		return errors.New("must not be empty")
	}
	return nil
}

func positive(shown string, ok bool) error {
	if !ok {
		return fmt.Errorf("%s must be positive", shown)
	}
	return nil
}

func inRange(n, lo, hi int) error {
	if n < lo || n > hi {
		return fmt.Errorf("%d is outside %d..%d", n, lo, hi)
	}
	return nil
}

// checkIntakeDir fills in the default intake below the queue directory;
// the intake package checks at start that it is usable (same mount).
func (c *Config) checkIntakeDir() error {
	switch {
	case strings.EqualFold(c.IntakeDir, "off"):
		c.IntakeDir = ""
	case c.IntakeDir != "" && c.QueueDir == "":
		return errors.New("needs Queue_Dir")
	case c.IntakeDir != "":
		abs, err := filepath.Abs(c.IntakeDir)
		if err != nil {
			return err
		}
		c.IntakeDir = abs
	case c.QueueDir != "":
		c.IntakeDir = filepath.Join(c.QueueDir, "incoming")
	}
	return nil
}

// checkMetricsListen takes host:port or :port, the host an IP address or
// localhost (a name that resolves differently later would move the
// endpoint), the port 1..65535. Whether the address is free is found out
// at start, by binding it.
func (c *Config) checkMetricsListen() error {
	if strings.EqualFold(c.MetricsListen, "off") {
		c.MetricsListen = ""
	}
	if c.MetricsListen == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(c.MetricsListen)
	if err != nil {
		return fmt.Errorf("%q is not host:port or :port, e.g. :2021 or 127.0.0.1:2021", c.MetricsListen)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: port %q is outside 1..65535", c.MetricsListen, port)
	}
	if host != "" && !strings.EqualFold(host, "localhost") && net.ParseIP(host) == nil {
		return fmt.Errorf("%q: host %q is not an IP address or localhost", c.MetricsListen, host)
	}
	return nil
}

// outputNameRe: what Fluent Bit's own instance names and aliases look
// like, and safe in a log prefix and a Prometheus label.
var outputNameRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}$`)

func (c *Config) checkOutputName() error {
	if c.OutputName != "" && !outputNameRe.MatchString(c.OutputName) {
		return fmt.Errorf("%q: want 1 to 64 letters, digits, _ . : -, like tenant_a", c.OutputName)
	}
	return nil
}

// DefaultDeadLetterDir is where dead letters go without Dead_Letter_Dir:
// beside the queue, where tail's *.send pattern does not reach.
func DefaultDeadLetterDir(queueDir string) string { return filepath.Join(queueDir, "failed") }

func atLeast(d, lo time.Duration) error {
	if d < lo {
		return fmt.Errorf("%s is shorter than %s", d, lo)
	}
	return nil
}
