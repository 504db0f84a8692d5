package config

import (
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Key is one configuration key. Name is the Fluent Bit spelling; the TOML
// file uses the same name in lower case. Parse turns the (already
// defaulted) text into the key's own Config fields and nothing else: rules
// on the value, and every rule that involves another key, are in validate,
// so that no parser depends on the order of the table.
//
// Default and Help are docs/configuration.md's key table, cell for cell (checked by
// a test): an empty Default shows as "unset".
type Key struct {
	Name    string
	Default string
	Help    string
	Parse   func(c *Config, value string) error
}

// TOMLName is the key's spelling in the Config_File.
func (k Key) TOMLName() string { return strings.ToLower(k.Name) }

// Keys is the one table of every key the plugin reads, in the order of
// docs/configuration.md's key table.
var Keys = []Key{
	{
		Name:    "UMC_URL",
		Default: "",
		Help:    "**required**: base URL of UMC: `http://<release>-umc-server/univention` in a Nubus cluster (Nubus's own sender uses it), `https://<host>/univention` on UCS",
		Parse:   func(c *Config, v string) error { c.rawURL = v; return nil },
	},
	{
		Name:    "Command",
		Default: "passwordreset/send_token",
		Help:    "UMC command path below `<UMC_URL>/command/`",
		Parse:   func(c *Config, v string) error { c.Command = strings.Trim(v, "/"); return nil },
	},
	{
		Name:    "Method",
		Default: "email",
		Help:    "the `method` option of send_token",
		Parse:   func(c *Config, v string) error { c.Method = v; return nil },
	},
	{
		Name:    "Language",
		Default: "en-US",
		Help:    "sent as `Accept-Language`: the language of the e-mail, a language tag such as `de-DE` or `en`",
		Parse:   func(c *Config, v string) error { c.Language = v; return nil },
	},
	{
		Name:    "Auth_User",
		Default: "",
		Help:    "user for HTTP basic auth; optional, send_token allows anonymous calls",
		Parse:   func(c *Config, v string) error { c.AuthUser = v; return nil },
	},
	{
		Name:    "Auth_Password_File",
		Default: "",
		Help:    "file holding the password (a mounted Secret); one trailing newline is trimmed; read again when it changes, no restart needed",
		Parse:   parsePasswordFile,
	},
	{
		Name:    "Auth_Password",
		Default: "",
		Help:    "the password itself, for local tests only: prefer `Auth_Password_File`",
		Parse:   func(c *Config, v string) error { c.inlinePassword = Secret(v); return nil },
	},
	{
		Name:    "TLS_CA_File",
		Default: "",
		Help:    "PEM bundle to verify UMC's certificate with; unset: the system roots",
		Parse:   parseCAFile,
	},
	{
		Name:    "TLS_Verify",
		Default: "on",
		Help:    "verify UMC's certificate and host name",
		Parse:   func(c *Config, v string) (err error) { c.TLSVerify, err = parseBool(v); return err },
	},
	{
		Name:    "HTTP_Proxy",
		Default: "",
		Help:    "proxy for the calls to UMC, `http://host:port` or `https://host:port`; unset: no proxy, whatever the environment says",
		Parse:   func(c *Config, v string) error { c.rawProxy = v; return nil },
	},
	{
		Name:    "Timeout",
		Default: "30s",
		Help:    "time limit of one HTTP request (Go durations, or plain seconds)",
		Parse:   func(c *Config, v string) (err error) { c.Timeout, err = parseDuration(v); return err },
	},
	{
		Name:    "Username_Key",
		Default: "username",
		Help:    "record key, and key in a JSON line, holding the username",
		Parse:   func(c *Config, v string) error { c.UsernameKey = v; return nil },
	},
	{
		Name:    "Path_Key",
		Default: "path",
		Help:    "record key holding the queue file's path (tail's `Path_Key`)",
		Parse:   func(c *Config, v string) error { c.PathKey = v; return nil },
	},
	{
		Name:    "Offset_Key",
		Default: "offset",
		Help:    "record key holding the line's offset (tail's `Offset_Key`)",
		Parse:   func(c *Config, v string) error { c.OffsetKey = v; return nil },
	},
	{
		Name:    "Queue_Dir",
		Default: "",
		Help:    "the queue directory: enables removing delivered files and moving dead letters",
		Parse:   func(c *Config, v string) error { c.QueueDir = v; return nil },
	},
	{
		Name:    "Dead_Letter_Dir",
		Default: "",
		Help:    "where `dead-letter.jsonl` and the moved queue files go; unset: `<Queue_Dir>/failed`",
		Parse:   func(c *Config, v string) error { c.DeadLetterDir = v; return nil },
	},
	{
		Name:    "Intake_Dir",
		Default: "",
		Help:    "where producers queue files for the plugin to admit into `Queue_Dir`, `Queue_Window` at a time; unset: `<Queue_Dir>/incoming`; `off`: no intake",
		Parse:   func(c *Config, v string) error { c.IntakeDir = v; return nil },
	},
	{
		Name:    "Queue_Window",
		Default: "1000",
		Help:    "the most queue files kept in `Queue_Dir` for tail, admitted oldest first from `Intake_Dir` (1..100000)",
		Parse:   func(c *Config, v string) (err error) { c.QueueWindow, err = parseInt(v); return err },
	},
	{
		Name:    "Refusal_Grace",
		Default: "15m",
		Help:    "a user UMC refuses in the words of a user that cannot exist is refused only if still so this long after its first such answer (replication, a whitelist group added after the user)",
		Parse:   func(c *Config, v string) (err error) { c.RefusalGrace, err = parseDuration(v); return err },
	},
	{
		Name:    "Max_Age",
		Default: "120h",
		Help:    "a user still not served this long after its file was queued becomes an `expired` dead letter with UMC's last answer (`5d` works too)",
		Parse:   func(c *Config, v string) (err error) { c.MaxAge, err = parseDuration(v); return err },
	},
	{
		Name:    "Backoff_Min",
		Default: "5s",
		Help:    "a waiting user's first pause between its calls, and the shortest pause ever (the random part never goes below it); it doubles with every answer that leaves it waiting",
		Parse:   func(c *Config, v string) (err error) { c.BackoffMin, err = parseDuration(v); return err },
	},
	{
		Name:    "Backoff_Max",
		Default: "10m",
		Help:    "the longest pause between a waiting user's calls (the random part never goes above it)",
		Parse:   func(c *Config, v string) (err error) { c.BackoffMax, err = parseDuration(v); return err },
	},
	{
		Name:    "Chunk_Retry_Limit",
		Default: "5",
		Help:    "must equal Fluent Bit's `Retry_Limit` of this output (the plugin cannot see it; `umc-invite check` compares them): on a chunk's last try the users still waiting are carried over into new records (1..100)",
		Parse:   func(c *Config, v string) (err error) { c.ChunkRetryLimit, err = parseInt(v); return err },
	},
	{
		Name:    "Concurrency",
		Default: "8",
		Help:    "the most UMC requests in flight for this output, across Fluent Bit's workers and chunks (1..256; `1`: one after another)",
		Parse:   func(c *Config, v string) (err error) { c.Concurrency, err = parseInt(v); return err },
	},
	{
		Name:    "Rate_Limit",
		Default: "0",
		Help:    "the most UMC requests per minute for this output, spaced evenly (0: no limit; up to 600000)",
		Parse:   func(c *Config, v string) (err error) { c.RateLimit, err = parseInt(v); return err },
	},
	{
		Name:    "Quick_Retries",
		Default: "2",
		Help:    "extra tries at once for a call that cannot have reached UMC: connection refused, name resolution, TLS handshake (0..10)",
		Parse:   func(c *Config, v string) (err error) { c.QuickRetries, err = parseInt(v); return err },
	},
	{
		Name:    "Flush_Timeout",
		Default: "60s",
		Help:    "no new request starts after this long in one flush; the rest waits for Fluent Bit's retry; not shorter than `Timeout`",
		Parse:   func(c *Config, v string) (err error) { c.FlushTimeout, err = parseDuration(v); return err },
	},
	{
		Name:    "Metrics_Listen",
		Default: "",
		Help:    "address of the plugin's Prometheus endpoint `/metrics`, `host:port` or `:port`, shared by every output naming it; unset or `off`: none (see [Operations](operations.md#operations))",
		Parse:   func(c *Config, v string) error { c.MetricsListen = v; return nil },
	},
	{
		Name:    "Output_Name",
		Default: "",
		Help:    "this output's name in the log and the metrics' `output` label; unset: `umc_invite.<n>`, numbered from 0 in the order of the outputs, the same after a hot reload",
		Parse:   func(c *Config, v string) error { c.OutputName = v; return nil },
	},
	{
		Name:    "Config_File",
		Default: "",
		Help:    "TOML file with any of these keys in lower case",
		Parse:   func(c *Config, v string) error { c.ConfigFile = v; return nil },
	},
}

// Size limits of the files the keys name: far above any real password or
// CA bundle, low enough that a wrong path (a log, a device) cannot make
// the start read without end.
const (
	maxPasswordFile = 4 << 10
	maxCAFile       = 1 << 20
	maxConfigFile   = 1 << 20
)

func parsePasswordFile(c *Config, v string) error {
	if v == "" {
		return nil
	}
	secret, id, err := readPasswordFile(v)
	if err != nil {
		return err
	}
	c.AuthPasswordFile = v
	c.filePassword, c.passwordFileID = secret, id
	return nil
}

func parseCAFile(c *Config, v string) error {
	if v == "" {
		return nil
	}
	pem, err := readRegularFile(v, maxCAFile)
	if err != nil {
		return err
	}
	c.TLSCAFile = v
	c.TLSCAPEM = pem
	return nil
}

// readRegularFile reads a file of at most limit bytes. A FIFO or device
// would block the start or never end; a Kubernetes Secret's symlinks lead
// to a regular file and are followed. The error never holds the content.
func readRegularFile(path string, limit int64) ([]byte, error) {
	b, _, err := readRegularFileStat(path, limit)
	return b, err
}

// readRegularFileStat is readRegularFile that also returns what the file
// was when it was read. The open never waits (O_NONBLOCK: a FIFO without
// a writer would block the start, or every call at run time), and what
// was opened is checked before a byte is read.
func readRegularFileStat(path string, limit int64) ([]byte, os.FileInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s is not a regular file (it is %s): refused", path, fileType(st.Mode()))
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return b, st, nil
}

// fileType names what a path that should be a regular file is instead.
func fileType(m os.FileMode) string {
	switch {
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	case m.IsDir():
		return "a directory"
	}
	return "no regular file"
}

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

func parseDuration(v string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(v, "d"); ok {
		// Days, as Postfix's queue lifetime is given: "5d".
		if n, err := strconv.ParseInt(days, 10, 64); err == nil && n >= 0 && n <= maxSeconds/86400 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		// Fluent Bit users write plain seconds; accept them too.
		// Seconds beyond what a Duration holds would wrap around.
		if n, nerr := strconv.ParseInt(v, 10, 64); nerr == nil && n >= -maxSeconds && n <= maxSeconds {
			d, err = time.Duration(n)*time.Second, nil
		}
	}
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration like 30s, 2m or 5d", v)
	}
	return d, nil
}

func parseInt(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%q is not a whole number", v)
	}
	return n, nil
}

// Lookup finds a key of Keys by name, case-insensitively, as Fluent Bit
// looks keys up.
func Lookup(name string) (Key, bool) {
	for _, k := range Keys {
		if strings.EqualFold(k.Name, name) {
			return k, true
		}
	}
	return Key{}, false
}
