package config

import (
	"cmp"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
)

// Key is one key of Fluent Bit, the TOML file (lower case) and the command;
// Default and Help are docs/configuration.md's table ("" is "unset").
type Key struct {
	Name, Default, Help string
	Parse               func(c *Config, value string) error
	Check               func(c *Config) error // nil: every parsed value is fine
}

// TOMLName is the key's spelling in the Config_File.
func (k Key) TOMLName() string { return strings.ToLower(k.Name) }

// Keys is every key the plugin reads, in the order of the documented table.
var Keys = []Key{
	{"UMC_URL", "", "**required**: base URL of UMC: `http://<release>-umc-server/univention` in a Nubus cluster (Nubus's own sender uses it), `https://<host>/univention` on UCS",
		func(c *Config, v string) (err error) { c.URL, err = checkHTTPURL(v, true); return err }, nil},
	{"Command", "passwordreset/send_token", "UMC command path below `<UMC_URL>/command/`",
		func(c *Config, v string) error { c.Command = strings.Trim(v, "/"); return nil }, checkCommand},
	{"Method", "email", "the `method` option of send_token",
		text(func(c *Config) *string { return &c.Method }), nil},
	{"Language", "en-US", "sent as `Accept-Language`: the language of the e-mail, a language tag such as `de-DE` or `en`",
		text(func(c *Config) *string { return &c.Language }), func(c *Config) error { return checkLanguage(c.Language) }},
	{"Auth_User", "", "user for HTTP basic auth; optional, send_token allows anonymous calls",
		text(func(c *Config) *string { return &c.AuthUser }), checkUser},
	{"Auth_Password_File", "", "file holding the password (a mounted Secret); one trailing newline is trimmed; read again when it changes, no restart needed",
		parsePasswordFile, nil},
	{"Auth_Password", "", "the password itself, for local tests only: prefer `Auth_Password_File`",
		func(c *Config, v string) error {
			if v != "" && c.AuthPasswordFile != "" {
				return errors.New("set it or Auth_Password_File, not both")
			}
			c.AuthPassword = cmp.Or(Secret(v), c.AuthPassword)
			return nil
		}, nil},
	{"TLS_CA_File", "", "PEM bundle to verify UMC's certificate with; unset: the system roots", parseCAFile, nil},
	{"TLS_Verify", "on", "verify UMC's certificate and host name",
		func(c *Config, v string) (err error) { c.TLSVerify, err = parseBool(v); return err }, nil},
	{"HTTP_Proxy", "", "proxy for the calls to UMC, `http://host:port` or `https://host:port`; unset: no proxy, whatever the environment says",
		func(c *Config, v string) (err error) { c.HTTPProxy, err = checkHTTPURL(v, false); return err }, nil},
	durationKey("Timeout", "30s", "time limit of one HTTP request (Go durations, or plain seconds)",
		func(c *Config) *time.Duration { return &c.Timeout }, positive),
	{"Username_Key", "username", "record key, and key in a JSON line, holding the username",
		text(func(c *Config) *string { return &c.UsernameKey }), nil},
	{"Path_Key", "path", "record key holding the queue file's path (tail's `Path_Key`)",
		text(func(c *Config) *string { return &c.PathKey }), nil},
	{"Offset_Key", "offset", "record key holding the line's offset (tail's `Offset_Key`)",
		text(func(c *Config) *string { return &c.OffsetKey }), nil},
	{"Queue_Dir", "", "the queue directory: enables removing delivered files and moving dead letters",
		text(func(c *Config) *string { return &c.QueueDir }), func(c *Config) error { return absolute(&c.QueueDir) }},
	{"Dead_Letter_Dir", "", "where `dead-letter.jsonl` and the moved queue files go; unset: `<Queue_Dir>/failed`",
		text(func(c *Config) *string { return &c.DeadLetterDir }), checkDeadLetterDir},
	{"Intake_Dir", "", "where producers queue files for the plugin to admit into `Queue_Dir`, `Queue_Window` at a time; unset: `<Queue_Dir>/incoming`; `off`: no intake",
		text(func(c *Config) *string { return &c.IntakeDir }), checkIntakeDir},
	intKey("Queue_Window", "1000", "the most queue files kept in `Queue_Dir` for tail, admitted oldest first from `Intake_Dir` (1..100000)",
		func(c *Config) *int { return &c.QueueWindow }, 1, 100000),
	durationKey("Refusal_Grace", "15m", "a user UMC refuses in the words of a user that cannot exist is refused only if still so this long after its first such answer (replication, a whitelist group added after the user)",
		func(c *Config) *time.Duration { return &c.RefusalGrace }, atLeast(0)),
	durationKey("Max_Age", "120h", "a user still not served this long after its file was queued becomes an `expired` dead letter with UMC's last answer (`5d` works too)",
		func(c *Config) *time.Duration { return &c.MaxAge }, atLeast(time.Second)),
	durationKey("Backoff_Min", "5s", "a waiting user's first pause between its calls, and the shortest pause ever (the random part never goes below it); it doubles with every answer that leaves it waiting",
		func(c *Config) *time.Duration { return &c.BackoffMin }, atLeast(100*time.Millisecond)),
	durationKey("Backoff_Max", "10m", "the longest pause between a waiting user's calls (the random part never goes above it)",
		func(c *Config) *time.Duration { return &c.BackoffMax }, func(c *Config, d time.Duration) error { return notShorter(d, c.BackoffMin, "Backoff_Min ") }),
	intKey("Chunk_Retry_Limit", "5", "must equal Fluent Bit's `Retry_Limit` of this output (the plugin cannot see it; `umc-invite check` compares them): on a chunk's last try the users still waiting are carried over into new records (1..100)",
		func(c *Config) *int { return &c.ChunkRetryLimit }, 1, 100),
	intKey("Concurrency", "8", "the most UMC requests in flight for this output, across Fluent Bit's workers and chunks (1..256; `1`: one after another)",
		func(c *Config) *int { return &c.Concurrency }, 1, 256),
	intKey("Rate_Limit", "0", "the most UMC requests per minute for this output, spaced evenly (0: no limit; up to 600000)",
		func(c *Config) *int { return &c.RateLimit }, 0, 600000),
	intKey("Quick_Retries", "2", "extra tries at once for a call that cannot have reached UMC: connection refused, name resolution, TLS handshake (0..10)",
		func(c *Config) *int { return &c.QuickRetries }, 0, 10),
	durationKey("Flush_Timeout", "60s", "no new request starts after this long in one flush; the rest waits for Fluent Bit's retry; not shorter than `Timeout`",
		// Shorter than one request, a slow request would cut its successors off.
		func(c *Config) *time.Duration { return &c.FlushTimeout }, func(c *Config, d time.Duration) error {
			return cmp.Or(positive(c, d), notShorter(d, c.Timeout, "Timeout "))
		}),
	{"Metrics_Listen", "", "address of the plugin's Prometheus endpoint `/metrics`, `host:port` or `:port`, shared by every output naming it; unset or `off`: none (see [Operations](operations.md#operations))",
		text(func(c *Config) *string { return &c.MetricsListen }), checkMetricsListen},
	{"Output_Name", "", "this output's name in the log and the metrics' `output` label; unset: `umc_invite.<n>`, numbered from 0 in the order of the outputs, the same after a hot reload",
		text(func(c *Config) *string { return &c.OutputName }), checkOutputName},
	{"Config_File", "", "TOML file with any of these keys in lower case",
		func(*Config, string) error { return nil }, nil}, // read first, by Load
}

func text(field func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error { *field(c) = v; return nil }
}

func intKey(name, def, help string, field func(*Config) *int, lo, hi int) Key {
	return Key{name, def, help,
		func(c *Config, v string) (err error) {
			if *field(c), err = strconv.Atoi(v); err != nil {
				err = fmt.Errorf("%q is not a whole number", v)
			}
			return err
		},
		func(c *Config) error {
			if n := *field(c); n < lo || n > hi {
				return fmt.Errorf("%d is outside %d..%d", n, lo, hi)
			}
			return nil
		}}
}

func durationKey(name, def, help string, field func(*Config) *time.Duration, check func(*Config, time.Duration) error) Key {
	return Key{name, def, help,
		func(c *Config, v string) (err error) { *field(c), err = parseDuration(v); return err },
		func(c *Config) error { return check(c, *field(c)) }}
}

func positive(_ *Config, d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("%s must be positive", d)
	}
	return nil
}

func atLeast(lo time.Duration) func(*Config, time.Duration) error {
	return func(_ *Config, d time.Duration) error { return notShorter(d, lo, "") }
}

// notShorter refuses d below lo, which key names if it is another key's value.
func notShorter(d, lo time.Duration, key string) error {
	if d < lo {
		return fmt.Errorf("%s is shorter than %s%s", d, key, lo)
	}
	return nil
}

// Far above any real file, low enough that a wrong path (a log) cannot stall the start.
const (
	maxPasswordFile = 4 << 10
	maxCAFile       = 1 << 20
	maxConfigFile   = 1 << 20
)

// The secret files are named but not read offline (LoadOffline).
func parsePasswordFile(c *Config, v string) (err error) {
	if c.AuthPasswordFile = v; v != "" && !c.offline {
		c.AuthPassword, err = readPasswordFile(v)
	}
	return err
}

func parseCAFile(c *Config, v string) (err error) {
	if c.TLSCAFile = v; v != "" && !c.offline { // a bundle without a certificate is refused now, not at the first call
		if c.TLSCAPEM, err = readRegularFile(v, maxCAFile); err == nil && !x509.NewCertPool().AppendCertsFromPEM(c.TLSCAPEM) {
			err = fmt.Errorf("%s: no PEM certificate in it", v)
		}
	}
	return err
}

// readRegularFile refuses a FIFO unread, never waiting on it; errors never hold the content.
func readRegularFile(path string, limit int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("cannot read: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		kind := cmp.Or(fileTypes[st.Mode().Type()&^os.ModeCharDevice], "no regular file")
		return nil, fmt.Errorf("%s is not a regular file (it is %s): refused", path, kind)
	}
	var b []byte
	if err == nil {
		b, err = io.ReadAll(io.LimitReader(f, limit+1))
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return b, nil
}

var fileTypes = map[os.FileMode]string{os.ModeNamedPipe: "a FIFO", os.ModeSocket: "a socket", os.ModeDevice: "a device", os.ModeDir: "a directory"}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "on", "true", "yes", "1":
		return true, nil
	case "off", "false", "no", "0":
		return false, nil
	}
	return false, fmt.Errorf("%q is not on/off", v)
}

const maxSeconds = math.MaxInt64 / int64(time.Second)

// parseDuration takes Go durations, days ("5d") and plain seconds, refusing overflow.
func parseDuration(v string) (time.Duration, error) {
	if d, err := time.ParseDuration(v); err == nil {
		return d, nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= -maxSeconds && n <= maxSeconds {
		return time.Duration(n) * time.Second, nil
	}
	if days, ok := strings.CutSuffix(v, "d"); ok {
		if n, err := strconv.ParseInt(days, 10, 64); err == nil && n >= 0 && n <= maxSeconds/86400 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	}
	return 0, fmt.Errorf("%q is not a duration like 30s, 2m or 5d", v)
}

// Lookup finds a key by name, case-insensitively, as Fluent Bit does.
func Lookup(name string) (Key, bool) {
	for _, k := range Keys {
		if strings.EqualFold(k.Name, name) {
			return k, true
		}
	}
	return Key{}, false
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
	case hasUserinfo(raw) && isUMC:
		return nil, errors.New("must not hold credentials: use Auth_User and Auth_Password_File")
	case hasUserinfo(raw):
		return nil, errors.New("must not hold credentials: a proxy that needs them is not supported")
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

// isCommand: path segments of [A-Za-z0-9_-]+; no dots (no ".." out of
// /command/), no "?" or "#".
func isCommand(v string) bool {
	for seg := range strings.SplitSeq(v, "/") {
		if seg == "" || !allBytes(seg, func(b byte) bool { return isAlnum(b) || b == '_' || b == '-' }) {
			return false
		}
	}
	return true
}

func checkCommand(c *Config) error {
	switch _, err := url.JoinPath(c.URL.String(), "command", c.Command); {
	case c.Command == "": // "/" trimmed
		return errors.New("must not be empty")
	case !isCommand(c.Command):
		return fmt.Errorf("%q: want path segments of letters, digits, _ and -, like passwordreset/send_token", c.Command)
	case err != nil:
		return fmt.Errorf("cannot join it to UMC_URL: %w", err)
	}
	return nil
}

// isLanguage: [A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*, like de, en-US, gsw-CH;
// not x/text/language, which canonicalizes (the header is sent as written).
func isLanguage(v string) bool {
	primary, rest, tagged := strings.Cut(v, "-")
	if len(primary) < 2 || len(primary) > 3 || !allBytes(primary, isLetter) {
		return false
	}
	if !tagged {
		return true
	}
	for sub := range strings.SplitSeq(rest, "-") {
		if len(sub) < 1 || len(sub) > 8 || !allBytes(sub, isAlnum) {
			return false
		}
	}
	return true
}

func checkLanguage(v string) error {
	switch { // never empty: "" is the default
	case strings.IndexFunc(v, unicode.IsControl) >= 0:
		return fmt.Errorf("%q holds control characters (CR, LF, …): not a header value", v)
	case len(v) > 64 || !isLanguage(v):
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

// isOutputName: [A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}, like Fluent Bit's
// aliases, safe in a log and a label.
func isOutputName(v string) bool {
	return len(v) >= 1 && len(v) <= 64 && (isAlnum(v[0]) || v[0] == '_') &&
		allBytes(v, func(b byte) bool { return isAlnum(b) || strings.IndexByte("_.:-", b) >= 0 })
}

// Checks of ASCII syntax, written out: the regexp package would cost the
// loaded plugin a quarter of a megabyte for four patterns.
func allBytes(s string, ok func(byte) bool) bool {
	for i := range len(s) {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

func isLetter(b byte) bool { return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' }
func isAlnum(b byte) bool  { return isLetter(b) || '0' <= b && b <= '9' }

func checkOutputName(c *Config) error {
	if c.OutputName != "" && !isOutputName(c.OutputName) {
		return fmt.Errorf("%q: want 1 to 64 letters, digits, _ . : -, like tenant_a", c.OutputName)
	}
	return nil
}

// DefaultDeadLetterDir is below the queue, where tail's *.send does not reach.
func DefaultDeadLetterDir(queueDir string) string { return filepath.Join(queueDir, "failed") }

// checkDirectories refuses overlaps; only the queue may hold the others (tail reads no deeper).
func (c *Config) checkDirectories() error {
	dirs := []struct{ key, path string }{{"Queue_Dir", c.QueueDir}, {"Dead_Letter_Dir", c.DeadLetterDir}, {"Intake_Dir", c.IntakeDir}}
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
