package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// PasswordCheckInterval is how often, at most, Password looks at the file.
const PasswordCheckInterval = time.Second

// fileID tells a changed password file from the one read: a Secret's path
// stays while its ..data symlink moves, so the target counts too.
type fileID struct {
	target     string
	dev, ino   uint64
	size       int64
	mtimeNanos int64
}

func idOf(target string, st os.FileInfo) fileID {
	id := fileID{target: target, size: st.Size(), mtimeNanos: st.ModTime().UnixNano()}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		id.dev, id.ino = uint64(sys.Dev), sys.Ino //nolint:unconvert // Dev is not uint64 on every platform
	}
	return id
}

func identify(path string) (fileID, error) {
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return fileID{}, err
	}
	st, err := os.Stat(target)
	if err != nil {
		return fileID{}, err
	}
	return idOf(target, st), nil
}

// readPasswordFile resolves the target before it opens the file: a
// rotation in between shows as a new target at the next look.
func readPasswordFile(path string) (Secret, fileID, error) {
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", fileID{}, fmt.Errorf("cannot read: %w", err)
	}
	b, st, err := readRegularFile(path, maxPasswordFile)
	if err != nil {
		return "", fileID{}, err
	}
	return Secret(strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")), idOf(target, st), nil
}

// PasswordFile is Auth_Password_File, read again when it changes (a
// rotated Secret). Password looks at most once per interval, Recheck at
// once (after a 401). A new file that is empty or unreadable keeps the old
// password, with one warning. Safe for concurrent use; never logged.
type PasswordFile struct {
	path     string
	interval time.Duration
	// Infof and Warnf, when set (before the first Password), are told of
	// a change and of a file that cannot be used.
	Infof, Warnf func(format string, args ...any)

	mu      sync.Mutex
	current Secret
	id      fileID
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
	return &PasswordFile{path: c.AuthPasswordFile, interval: PasswordCheckInterval,
		current: c.filePassword, id: c.passwordFileID, checked: time.Now(), now: time.Now}
}

// Password is the password to send now. One caller looks at the file,
// outside the lock; the others meanwhile take the password as it is.
func (p *PasswordFile) Password() Secret {
	p.mu.Lock()
	due := !p.looking && p.now().Sub(p.checked) >= p.interval
	if due {
		p.looking, p.checked = true, p.now()
	}
	current := p.current
	p.mu.Unlock()
	if !due {
		return current
	}
	p.refresh()
	return p.Current()
}

// Recheck looks at the file at once and reports whether the password
// changed (after a 401, UMC ran nothing: a new call duplicates nothing).
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

// refresh re-reads the file if it is not the one read last, without mu
// held (a slow file system would hold every call).
func (p *PasswordFile) refresh() (changed bool) {
	p.mu.Lock()
	known := p.id
	p.mu.Unlock()
	id, lookErr := identify(p.path)
	var secret Secret
	var readID fileID
	var readErr error
	if lookErr == nil && id != known {
		secret, readID, readErr = readPasswordFile(p.path)
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	p.looking = false
	switch {
	case lookErr != nil:
		p.warnOnce("Auth_Password_File: cannot look at %s (%v); keeping the password read before", p.path, lookErr)
		return false
	case id == known:
		return false
	case readErr != nil:
		p.warnOnce("Auth_Password_File: %s changed but cannot be used (%v); keeping the password read before", p.path, readErr)
		p.id = id // not read again until it changes again
		return false
	}
	p.id = readID
	if secret == "" {
		p.warnOnce("Auth_Password_File: %s changed and is empty; keeping the password read before", p.path)
		return false
	}
	p.warned = false
	if secret == p.current {
		return false
	}
	p.current = secret
	if p.Infof != nil {
		p.Infof("Auth_Password_File: %s changed; the new password is used from now on", p.path)
	}
	return true
}

func (p *PasswordFile) warnOnce(format string, args ...any) {
	if p.warned {
		return
	}
	p.warned = true
	if p.Warnf != nil {
		p.Warnf(format, args...)
	}
}
