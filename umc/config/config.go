// Package config turns Fluent Bit keys and an optional TOML file into a checked Config (no cgo).
package config

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"
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
func (m Map) Get(key string) string { v, _ := lookupFold(m, key); return v }

// lookupFold finds key in m case-insensitively, as Fluent Bit does.
func lookupFold[V any](m map[string]V, key string) (v V, ok bool) {
	for k, val := range m {
		if strings.EqualFold(k, key) {
			return val, true
		}
	}
	return v, false
}

// Secret is a string that never prints itself, whatever the verb.
type Secret string

func (Secret) Format(f fmt.State, _ rune) { fmt.Fprint(f, "[redacted]") }

// KeyError is a refused key and why, never a secret's value.
type KeyError struct {
	Key string
	Err error
}

func (e *KeyError) Error() string { return e.Key + ": " + e.Err.Error() }
func (e *KeyError) Unwrap() error { return e.Err }

// Config is one output instance's checked settings.
type Config struct {
	URL, HTTPProxy                        *url.URL // HTTPProxy nil: no proxy at all
	Command, Method, Language             string
	AuthUser, AuthPasswordFile, TLSCAFile string
	AuthPassword                          Secret
	TLSCAPEM                              []byte
	TLSVerify                             bool
	UsernameKey, PathKey, OffsetKey       string
	QueueDir, DeadLetterDir               string
	IntakeDir, MetricsListen              string // "" when off
	OutputName                            string // "" when unset: the plugin numbers the output

	QueueWindow, ChunkRetryLimit, Concurrency, QuickRetries int
	RateLimit                                               int // calls per minute, 0: none
	Timeout, FlushTimeout, RefusalGrace, MaxAge             time.Duration
	BackoffMin, BackoffMax                                  time.Duration

	offline bool // LoadOffline: the secret files were not read
}

// Endpoint is the full URL of the UMC command (checked at Load).
func (c *Config) Endpoint() string {
	e, _ := url.JoinPath(c.URL.String(), "command", c.Command)
	return e
}

// Load takes each key from g, else the Config_File, else its default; a bad key is a *KeyError.
func Load(g Getter) (*Config, error) { return loadKeys(g, false) }

// LoadOffline is Load without reading the secret files, for the commands that never call UMC.
func LoadOffline(g Getter) (*Config, error) { return loadKeys(g, true) }

func loadKeys(g Getter, offline bool) (*Config, error) {
	file, err := readFile(strings.TrimSpace(g.Get("Config_File")))
	if err != nil {
		return nil, &KeyError{"Config_File", err}
	}
	for name, msg := range retired {
		if _, inFile := file[strings.ToLower(name)]; inFile || strings.TrimSpace(g.Get(name)) != "" {
			return nil, &KeyError{name, errors.New(msg)}
		}
	}
	c := &Config{offline: offline}
	for _, k := range Keys {
		v := cmp.Or(strings.TrimSpace(g.Get(k.Name)), file[k.TOMLName()], k.Default)
		if err := k.Parse(c, v); err != nil {
			return nil, &KeyError{k.Name, err}
		}
	}
	for _, k := range Keys { // every key parsed: a Check may read others
		if k.Check != nil {
			if err := k.Check(c); err != nil {
				return nil, &KeyError{k.Name, err}
			}
		}
	}
	if err := c.checkDirectories(); err != nil {
		return nil, err
	}
	return c, nil
}

// retired keys are refused with what replaced them, not silently ignored.
var retired = map[string]string{
	"Max_Attempts": "users are no longer ended by a count of failures: a user waits, with a growing pause, " +
		"until UMC serves it, refuses it by evidence, or it is Max_Age old; remove Max_Attempts and set " +
		"Chunk_Retry_Limit equal to this output's Retry_Limit instead",
	"Remove_Processed": "a delivered user's queue file is always removed where there is a Queue_Dir (a file left " +
		"behind would be sent again after a restart), and there is nothing to remove without one; remove Remove_Processed",
}

// RetiredKey returns the message for a retired key name, case-insensitively.
func RetiredKey(name string) (string, bool) { return lookupFold(retired, name) }

// readFile returns the TOML file's values as strings; an unknown key (a typo) is refused.
func readFile(path string) (map[string]string, error) {
	out := map[string]string{}
	if path == "" {
		return out, nil
	}
	raw, err := readRegularFile(path, maxConfigFile)
	if err != nil {
		return nil, err
	}
	var values map[string]any
	if _, err := toml.Decode(string(raw), &values); err != nil {
		return nil, tomlError(path, err)
	}
	for _, name := range slices.Sorted(maps.Keys(values)) {
		if !known(name) {
			return nil, fmt.Errorf("%s: unknown key %q (keys are lower case: umc_url, auth_user, …)", path, name)
		}
		switch v := values[name].(type) {
		case string:
			out[name] = strings.TrimSpace(v)
		case bool, int64, float64:
			out[name] = fmt.Sprint(v)
		default:
			return nil, fmt.Errorf("%s: key %q: want a string, number or boolean", path, name)
		}
	}
	return out, nil
}

// tomlError says where the file is not TOML, never what is there: the text may be auth_password.
func tomlError(path string, err error) error {
	var pe toml.ParseError
	if !errors.As(err, &pe) {
		return fmt.Errorf("%s: not valid TOML", path)
	}
	after := ""
	if known(pe.LastKey) { // only a key of ours is named: it cannot be a secret
		after = "after key " + pe.LastKey + "; "
	}
	return fmt.Errorf("%s:%d:%d: not valid TOML (%sthe text is not repeated here, it may hold a password)",
		path, pe.Position.Line, pe.Position.Col, after)
}

// known is a key's spelling in the TOML file: lower case, ours or retired.
func known(name string) bool {
	_, ours := Lookup(name)
	_, old := RetiredKey(name)
	return (ours || old) && name == strings.ToLower(name)
}

// PasswordCheckInterval is how often, at most, Password looks at the file.
const PasswordCheckInterval = time.Second

// readPasswordFile trims one trailing newline; an empty file is an error.
func readPasswordFile(path string) (Secret, error) {
	b, err := readRegularFile(path, maxPasswordFile)
	s := Secret(strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r"))
	if err == nil && s == "" {
		err = fmt.Errorf("%s is empty", path)
	}
	return s, err
}

// PasswordFile is Auth_Password_File, read again when it changes (a rotated Secret);
// an unusable file keeps the old password, with one warning. Safe for concurrent use; never logged.
type PasswordFile struct {
	path string
	// Infof and Warnf (quiet by default), set before the first Password, hear of a change and of an unusable file.
	Infof, Warnf func(format string, args ...any)

	mu      sync.Mutex
	current Secret
	checked time.Time
	warned  bool
	looking bool // a look at the file is under way, without mu held
	now     func() time.Time
}

// PasswordFile is Auth_Password_File as read at start; nil without one.
func (c *Config) PasswordFile() *PasswordFile {
	if c.AuthPasswordFile == "" {
		return nil
	}
	quiet := func(string, ...any) {}
	return &PasswordFile{path: c.AuthPasswordFile, current: c.AuthPassword, checked: time.Now(), now: time.Now, Infof: quiet, Warnf: quiet}
}

// Password is the password to send now; one caller at a time looks at the file.
func (p *PasswordFile) Password() Secret {
	p.mu.Lock()
	due := !p.looking && p.now().Sub(p.checked) >= PasswordCheckInterval
	if due {
		p.looking, p.checked = true, p.now()
	}
	p.mu.Unlock()
	if due {
		p.refresh()
	}
	return p.Current()
}

// Recheck looks at the file at once (after a 401) and reports whether the password changed.
func (p *PasswordFile) Recheck() bool {
	p.mu.Lock()
	p.looking, p.checked = true, p.now()
	p.mu.Unlock()
	return p.refresh()
}

// Current is the password as last read, without looking at the file.
func (p *PasswordFile) Current() Secret {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.current
}

// refresh reads without mu held: a slow file system would hold every call.
func (p *PasswordFile) refresh() (changed bool) {
	secret, err := readPasswordFile(p.path)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.looking = false
	if err != nil {
		if !p.warned {
			p.Warnf("Auth_Password_File: cannot use it: %v; keeping the password read before", err)
		}
		p.warned = true
		return false
	}
	p.warned = false
	if secret == p.current {
		return false
	}
	p.current = secret
	p.Infof("Auth_Password_File: %s changed; the new password is used from now on", p.path)
	return true
}
