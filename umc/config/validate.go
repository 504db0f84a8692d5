package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// validate runs every key's Check in table order, then the rules between keys.
func (c *Config) validate() error {
	for _, k := range Keys {
		if k.Check == nil {
			continue
		}
		if err := k.Check(c); err != nil {
			return &KeyError{k.Name, err}
		}
	}
	if err := c.checkDirectories(); err != nil {
		return err
	}
	if _, err := url.JoinPath(c.URL.String(), "command", c.Command); err != nil {
		return &KeyError{"Command", fmt.Errorf("cannot join it to UMC_URL: %w", err)}
	}
	return nil
}

// Warnings are what the output logs once at start about a working config.
func (c *Config) Warnings() []string {
	// Not refused: the in-cluster Nubus UMC is plain HTTP.
	if c.URL == nil || c.URL.Scheme != "http" || c.AuthUser == "" ||
		isLoopback(c.URL.Hostname()) && (c.HTTPProxy == nil || isLoopback(c.HTTPProxy.Hostname())) {
		return nil
	}
	return []string{fmt.Sprintf("UMC_URL is plain http to %s, not a loopback address: "+
		"the basic-auth password of %s crosses the network unencrypted; use https unless this network is trusted",
		c.URL.Host, c.AuthUser)}
}

func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return strings.EqualFold(host, "localhost") || ip != nil && ip.IsLoopback()
}

// checkHTTPURL checks UMC_URL or HTTP_Proxy; errors never quote the value (it may hold a password).
func checkHTTPURL(raw string, isUMC bool) (*url.URL, error) {
	switch {
	case raw == "" && isUMC:
		return nil, errors.New("is required, e.g. http://umc-server or https://ucs.example.org/univention")
	case raw == "":
		return nil, nil // no proxy
	case hasUserinfo(raw):
		return nil, errors.New("must not hold credentials: " + map[bool]string{true: "use Auth_User and Auth_Password_File", false: "a proxy that needs them is not supported"}[isUMC])
	case strings.IndexFunc(raw, unicode.IsSpace) >= 0:
		return nil, errors.New("must not contain spaces")
	}
	u, err := url.Parse(raw)
	if ue, ok := err.(*url.Error); ok {
		err = ue.Err // url.Error quotes the whole value; its cause names only a part
	}
	switch {
	case err != nil:
		return nil, fmt.Errorf("not a URL: %w", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("scheme %q: must be http or https", u.Scheme)
	case u.Opaque != "" || u.Hostname() == "":
		return nil, errors.New("has no host, e.g. http://umc-server")
	case strings.HasSuffix(u.Host, ":"):
		return nil, errors.New("has an empty port")
	case u.Port() != "" && badPort(u.Port()):
		return nil, fmt.Errorf("port %s is outside 1..65535", u.Port())
	case strings.Contains(raw, "?"): // even a bare "?", which parses to nothing
		return nil, errors.New("must not have a query")
	case strings.Contains(raw, "#"):
		return nil, errors.New("must not have a fragment")
	case !isUMC && u.Path != "" && u.Path != "/":
		return nil, errors.New("must not have a path: a proxy is http://host:port")
	}
	return u, nil
}

// hasUserinfo finds an "@" in the authority without url.Parse, whose errors quote it.
func hasUserinfo(raw string) bool {
	_, rest, ok := strings.Cut(raw, "//")
	return ok && strings.Contains(rest[:strings.IndexAny(rest+"/", "/?#")], "@")
}

// commandRe: no dots (no ".." out of /command/), no "?" or "#".
var commandRe = regexp.MustCompile(`^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$`)

func checkCommand(c *Config) error {
	switch {
	case c.Command == "": // "/" trimmed
		return errors.New("must not be empty")
	case !commandRe.MatchString(c.Command):
		return fmt.Errorf("%q: want path segments of letters, digits, _ and -, like passwordreset/send_token", c.Command)
	}
	return nil
}

// languageRe: de, en-US, gsw-CH; not x/text/language, which canonicalizes (the header is sent as written).
var languageRe = regexp.MustCompile(`^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$`)

func checkLanguage(v string) error {
	switch { // never empty: "" is the default
	case strings.IndexFunc(v, unicode.IsControl) >= 0:
		return fmt.Errorf("%q holds control characters (CR, LF, …): not a header value", v)
	case len(v) > 64 || !languageRe.MatchString(v):
		return fmt.Errorf("%q is not a language tag like de-DE, en-US or en", v)
	}
	return nil
}

func checkUser(c *Config) error {
	switch {
	case c.AuthUser == "" && c.AuthPassword != "":
		return errors.New("must be set when a password is given")
	// Basic auth joins user and password with ":" (RFC 7617).
	case strings.ContainsRune(c.AuthUser, ':') || strings.IndexFunc(c.AuthUser, unicode.IsControl) >= 0:
		return errors.New("must not contain \":\" or control characters")
	}
	return nil
}

// Directories are only made absolute here: a bad one found at start disables its output alone.
func checkDeadLetterDir(c *Config) error {
	if c.DeadLetterDir == "" && c.QueueDir != "" {
		c.DeadLetterDir = DefaultDeadLetterDir(c.QueueDir)
	}
	return absolute(&c.DeadLetterDir)
}

// absolute makes a set path absolute, once, at start.
func absolute(path *string) (err error) {
	if *path != "" {
		*path, err = filepath.Abs(*path)
	}
	return err
}

// checkIntakeDir fills in the default; its use is checked at start.
func checkIntakeDir(c *Config) error {
	switch {
	case strings.EqualFold(c.IntakeDir, "off"):
		c.IntakeDir = ""
	case c.IntakeDir != "" && c.QueueDir == "":
		return errors.New("needs Queue_Dir")
	case c.IntakeDir == "" && c.QueueDir != "":
		c.IntakeDir = filepath.Join(c.QueueDir, "incoming")
	}
	return absolute(&c.IntakeDir)
}

// checkMetricsListen wants an IP address or localhost: a name could resolve elsewhere later.
func checkMetricsListen(c *Config) error {
	if strings.EqualFold(c.MetricsListen, "off") {
		c.MetricsListen = ""
	}
	switch host, port, err := net.SplitHostPort(c.MetricsListen); {
	case c.MetricsListen == "":
		return nil
	case err != nil:
		return fmt.Errorf("%q is not host:port or :port, e.g. :2021 or 127.0.0.1:2021", c.MetricsListen)
	case badPort(port):
		return fmt.Errorf("%q: port %q is outside 1..65535", c.MetricsListen, port)
	case host != "" && !strings.EqualFold(host, "localhost") && net.ParseIP(host) == nil:
		return fmt.Errorf("%q: host %q is not an IP address or localhost", c.MetricsListen, host)
	}
	return nil
}

func badPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err != nil || n < 1 || n > 65535
}

// outputNameRe: like Fluent Bit's aliases, safe in a log and a label.
var outputNameRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}$`)

func checkOutputName(c *Config) error {
	if c.OutputName != "" && !outputNameRe.MatchString(c.OutputName) {
		return fmt.Errorf("%q: want 1 to 64 letters, digits, _ . : -, like tenant_a", c.OutputName)
	}
	return nil
}

// DefaultDeadLetterDir is below the queue, where tail's *.send does not reach.
func DefaultDeadLetterDir(queueDir string) string { return filepath.Join(queueDir, "failed") }

// checkDirectories refuses overlaps; only the queue may hold the others (tail reads no deeper).
func (c *Config) checkDirectories() error {
	type dir struct{ key, path string }
	dirs := []dir{{"Queue_Dir", c.QueueDir}, {"Dead_Letter_Dir", c.DeadLetterDir}, {"Intake_Dir", c.IntakeDir}}
	for i, a := range dirs {
		for _, b := range dirs[i+1:] {
			if a.path == "" || b.path == "" {
				continue
			}
			how := ""
			switch {
			case a.path == b.path:
				how = "is"
			case inside(b.path, a.path) && a.key != "Queue_Dir":
				how = "is inside"
			case inside(a.path, b.path):
				how = "holds"
			default:
				continue
			}
			return &KeyError{b.key, fmt.Errorf("%s %s %s %s: each must be a directory of its own", b.path, how, a.key, a.path)}
		}
	}
	return nil
}

func inside(path, dir string) bool {
	return strings.HasPrefix(path, strings.TrimSuffix(dir, string(filepath.Separator))+string(filepath.Separator))
}
