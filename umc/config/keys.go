package config

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Key is one configuration key. Name is the Fluent Bit spelling; the TOML
// file uses the same name in lower case. Parse stores the (already
// defaulted) value into the Config.
type Key struct {
	Name    string
	Default string
	Help    string
	Parse   func(c *Config, value string) error
}

// TOMLName is the key's spelling in the Config_File.
func (k Key) TOMLName() string { return strings.ToLower(k.Name) }

// Keys is the one table of every key the plugin reads. The README's key
// table is checked against it by a test.
var Keys = []Key{
	{"UMC_URL", "", "base URL of UMC: http://umc-server in a Nubus cluster, https://host/univention on UCS (required)", parseURL},
	{"Command", "passwordreset/send_token", "UMC command path below <UMC_URL>/command/", func(c *Config, v string) error {
		c.Command = strings.Trim(v, "/")
		return nonEmpty(c.Command)
	}},
	{"Method", "email", "the \"method\" option of send_token", func(c *Config, v string) error { c.Method = v; return nonEmpty(v) }},
	{"Language", "en-US", "sent as Accept-Language: the language of the e-mail", func(c *Config, v string) error { c.Language = v; return nonEmpty(v) }},
	{"Auth_User", "", "user for HTTP basic auth (optional: send_token allows anonymous calls)", func(c *Config, v string) error { c.AuthUser = v; return nil }},
	{"Auth_Password_File", "", "file holding the basic-auth password (a mounted Secret); one trailing newline is trimmed", parsePasswordFile},
	{"Auth_Password", "", "the password itself: for local tests only, prefer Auth_Password_File", func(c *Config, v string) error {
		if v != "" && c.AuthPasswordFile != "" {
			return fmt.Errorf("set it or Auth_Password_File, not both")
		}
		if v != "" {
			c.AuthPassword = Secret(v)
		}
		return nil
	}},
	{"TLS_CA_File", "", "PEM bundle to verify UMC's certificate with, instead of the system roots", parseCAFile},
	{"TLS_Verify", "on", "verify UMC's TLS certificate and host name", func(c *Config, v string) (err error) { c.TLSVerify, err = parseBool(v); return err }},
	{"Timeout", "30s", "time limit of one HTTP request", func(c *Config, v string) (err error) { c.Timeout, err = parsePositiveDuration(v); return err }},
	{"Username_Key", "username", "record key (and key in a JSON log line) holding the username", func(c *Config, v string) error { c.UsernameKey = v; return nonEmpty(v) }},
	{"Path_Key", "path", "record key holding the queue file's path (tail's Path_Key)", func(c *Config, v string) error { c.PathKey = v; return nonEmpty(v) }},
	{"Offset_Key", "offset", "record key holding the line's offset (tail's Offset_Key)", func(c *Config, v string) error { c.OffsetKey = v; return nonEmpty(v) }},
	{"Queue_Dir", "", "the queue directory; enables removing delivered files and moving dead letters", parseQueueDir},
	{"Remove_Processed", "", "remove a delivered record's queue file (default: on when Queue_Dir is set)", func(c *Config, v string) (err error) {
		if v == "" {
			c.RemoveProcessed = c.QueueDir != ""
			return nil
		}
		c.RemoveProcessed, err = parseBool(v)
		if err == nil && c.RemoveProcessed && c.QueueDir == "" {
			return fmt.Errorf("needs Queue_Dir")
		}
		return err
	}},
	{"Dead_Letter_Dir", "", "where dead letters go: dead-letter.jsonl and the moved queue files (default: <Queue_Dir>/failed)", func(c *Config, v string) error {
		switch {
		case v != "":
			c.DeadLetterDir = filepath.Clean(v)
		case c.QueueDir != "":
			c.DeadLetterDir = filepath.Join(c.QueueDir, "failed")
		}
		return nil
	}},
	{"Max_Attempts", "6", "flushes a record may fail before it becomes a dead letter; keep it at Retry_Limit + 1", func(c *Config, v string) (err error) { c.MaxAttempts, err = parseIntRange(v, 1, 1000); return err }},
	{"Concurrency", "4", "UMC requests at a time within one flush (1: one after another)", func(c *Config, v string) (err error) { c.Concurrency, err = parseIntRange(v, 1, 256); return err }},
	{"Quick_Retries", "2", "extra tries within one flush for refused/reset connections, 502 and 503", func(c *Config, v string) (err error) { c.QuickRetries, err = parseIntRange(v, 0, 10); return err }},
	{"Flush_Timeout", "60s", "time limit of one flush; records not sent by then wait for Fluent Bit's retry", func(c *Config, v string) (err error) { c.FlushTimeout, err = parsePositiveDuration(v); return err }},
	{"Config_File", "", "TOML file with any of these keys in lower case; a Fluent Bit key wins over the file", func(c *Config, v string) error { c.ConfigFile = v; return nil }},
}

func nonEmpty(v string) error {
	if strings.TrimSpace(v) == "" {
		return fmt.Errorf("must not be empty")
	}
	return nil
}

func parseURL(c *Config, v string) error {
	if v == "" {
		return fmt.Errorf("is required, e.g. http://umc-server or https://ucs.example.org/univention")
	}
	u, err := url.Parse(strings.TrimRight(v, "/"))
	if err != nil {
		return fmt.Errorf("not a URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q: scheme must be http or https", v)
	}
	if u.Host == "" {
		return fmt.Errorf("%q: no host", v)
	}
	if u.User != nil {
		return fmt.Errorf("must not hold credentials: use Auth_User and Auth_Password_File")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q: must not have a query or fragment", v)
	}
	c.URL = u
	return nil
}

func parsePasswordFile(c *Config, v string) error {
	if v == "" {
		return nil
	}
	b, err := os.ReadFile(v)
	if err != nil {
		return fmt.Errorf("cannot read: %w", err)
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if s == "" {
		return fmt.Errorf("%s is empty", v)
	}
	c.AuthPassword = Secret(s)
	c.AuthPasswordFile = v
	return nil
}

func parseCAFile(c *Config, v string) error {
	if v == "" {
		return nil
	}
	pem, err := os.ReadFile(v)
	if err != nil {
		return fmt.Errorf("cannot read: %w", err)
	}
	c.TLSCAFile = v
	c.TLSCAPEM = pem
	return nil
}

func parseQueueDir(c *Config, v string) error {
	if v == "" {
		return nil
	}
	abs, err := filepath.Abs(v)
	if err != nil {
		return err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return fmt.Errorf("cannot use: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is not a directory", abs)
	}
	c.QueueDir = abs
	return nil
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

func parsePositiveDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		// Fluent Bit users write plain seconds; accept them too.
		if n, nerr := strconv.Atoi(v); nerr == nil {
			d, err = time.Duration(n)*time.Second, nil
		}
	}
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration like 30s or 2m", v)
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q must be positive", v)
	}
	return d, nil
}

func parseIntRange(v string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%q is not a whole number", v)
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("%d is outside %d..%d", n, lo, hi)
	}
	return n, nil
}
