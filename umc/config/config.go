// Package config turns Fluent Bit keys and an optional TOML file into a
// checked Config. It knows nothing of cgo: Fluent Bit's key lookup reaches
// it through the Getter interface, so tests drive it with a map.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Getter reads one key of an [OUTPUT] section; "" means not set.
type Getter interface {
	Get(key string) string
}

// Map is a Getter over a map with case-insensitive keys, as Fluent Bit's.
type Map map[string]string

// Get implements Getter.
func (m Map) Get(key string) string {
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return ""
}

// Secret is a string that never prints itself, so that a password cannot
// reach a log line through %v, %+v or %#v.
type Secret string

func (Secret) String() string   { return "[redacted]" }
func (Secret) GoString() string { return "[redacted]" }

// KeyError is a refused configuration: the key and why. Its text never
// holds a secret's value.
type KeyError struct {
	Key string
	Err error
}

func (e *KeyError) Error() string { return e.Key + ": " + e.Err.Error() }
func (e *KeyError) Unwrap() error { return e.Err }

// Config is one output instance's checked settings.
type Config struct {
	URL              *url.URL
	Command          string
	Method           string
	Language         string
	AuthUser         string
	AuthPassword     Secret
	AuthPasswordFile string
	TLSCAFile        string
	TLSCAPEM         []byte
	TLSVerify        bool
	HTTPProxy        *url.URL // nil: no proxy at all
	Timeout          time.Duration
	UsernameKey      string
	PathKey          string
	OffsetKey        string
	QueueDir         string
	DeadLetterDir    string
	IntakeDir        string // "" when off
	QueueWindow      int
	RateLimit        int // calls per minute, 0: none
	RefusalGrace     time.Duration
	MaxAge           time.Duration
	BackoffMin       time.Duration
	BackoffMax       time.Duration
	ChunkRetryLimit  int
	Concurrency      int
	QuickRetries     int
	FlushTimeout     time.Duration
	MetricsListen    string // "" when off
	OutputName       string // "" when unset: the plugin numbers the output
	ConfigFile       string

	// What the parsers leave for validate.
	rawURL         string
	rawProxy       string
	filePassword   Secret
	passwordFileID fileID // of the password file as read
	inlinePassword Secret
	endpoint       string
	offline        bool // LoadOffline: the secret files were not read
}

// Endpoint is the full URL of the UMC command.
func (c *Config) Endpoint() string { return c.endpoint }

// Load reads every key of Keys from g, then from the TOML file named by
// Config_File, then the key's default, and parses each on its own; then
// validate checks every value and every rule between keys. The first bad
// key ends it with a *KeyError naming the key.
func Load(g Getter) (*Config, error) { return loadKeys(g, false) }

func loadKeys(g Getter, offline bool) (*Config, error) {
	file, err := readFile(strings.TrimSpace(g.Get("Config_File")))
	if err != nil {
		return nil, &KeyError{"Config_File", err}
	}
	if err := retired(g, file); err != nil {
		return nil, err
	}
	c := &Config{offline: offline}
	for _, k := range Keys {
		v := strings.TrimSpace(g.Get(k.Name))
		if v == "" {
			v = file[k.TOMLName()]
		}
		if v == "" {
			v = k.Default
		}
		if offline && unreadOffline[k.Name] != nil {
			unreadOffline[k.Name](c, v)
			continue
		}
		if err := k.Parse(c, v); err != nil {
			return nil, &KeyError{k.Name, err}
		}
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// readFile returns the TOML file's values as strings, refusing keys that
// are not in Keys so that a typo is not silently ignored.
func readFile(path string) (map[string]string, error) {
	out := map[string]string{}
	if path == "" {
		return out, nil
	}
	raw, err := readRegularFile(path, maxConfigFile)
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	for _, k := range Keys {
		known[k.TOMLName()] = true
	}
	for name := range Retired {
		known[strings.ToLower(name)] = true // refused with its message by Load
	}
	var values map[string]any
	if _, err := toml.Decode(string(raw), &values); err != nil {
		return nil, tomlError(path, err, known)
	}
	var unknown []string
	for name, v := range values {
		if !known[name] {
			unknown = append(unknown, name)
			continue
		}
		switch v := v.(type) {
		case string:
			out[name] = strings.TrimSpace(v)
		case bool, int64, float64:
			out[name] = fmt.Sprint(v)
		default:
			return nil, fmt.Errorf("%s: key %q: want a string, number or boolean", path, name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("%s: unknown key %q (keys are lower case: umc_url, auth_user, …)", path, unknown[0])
	}
	return out, nil
}

// tomlError reports where the file is not TOML, never what is there: the
// parser's message quotes the offending text, which on an auth_password
// line is part of the password.
func tomlError(path string, err error, known map[string]bool) error {
	var pe toml.ParseError
	if !errors.As(err, &pe) {
		return fmt.Errorf("%s: not valid TOML", path)
	}
	where := fmt.Sprintf("%s:%d:%d", path, pe.Position.Line, pe.Position.Col)
	// The last key read is named only when it is one of ours: a name we
	// wrote cannot be anybody's secret.
	if known[pe.LastKey] {
		return fmt.Errorf("%s: not valid TOML (after key %s; the text is not repeated here, it may hold a password)", where, pe.LastKey)
	}
	return fmt.Errorf("%s: not valid TOML (the text is not repeated here, it may hold a password)", where)
}
