package config

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

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
