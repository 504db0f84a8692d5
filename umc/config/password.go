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

// PasswordCheckInterval is how often, at most, PasswordFile.Password
// looks at the file again.
const PasswordCheckInterval = time.Second

// fileID is what tells a changed password file from the one read: the
// file the path leads to (a Kubernetes Secret's path stays, the ..data
// symlink behind it moves to a new directory), its inode, size and mtime.
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

// identify stats the path, following links, without reading it.
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

// readPasswordFile reads the password and says which file it came from.
// The target is resolved before the file is opened: if a rotation falls
// in between, the next check sees a new target and reads again.
func readPasswordFile(path string) (Secret, fileID, error) {
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", fileID{}, fmt.Errorf("cannot read: %w", err)
	}
	b, st, err := readRegularFileStat(path, maxPasswordFile)
	if err != nil {
		return "", fileID{}, err
	}
	return Secret(strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")), idOf(target, st), nil
}

// PasswordFile is Auth_Password_File, read again when it changes: a
// Kubernetes Secret is updated by swapping the ..data symlink to a new
// directory and deleting the old one, so the path stays and what it
// leads to changes. Password looks at most once per interval (a stat
// and a readlink or two); Recheck looks at once, for a 401. A new file
// that is empty or cannot be read leaves the password as it was, with
// one warning. It is safe for concurrent use; the password is never
// logged.
type PasswordFile struct {
	path     string
	interval time.Duration
	// Infof and Warnf, when set, are told of a change and of a file that
	// cannot be used; set them before the first Password.
	Infof, Warnf func(format string, args ...any)

	mu      sync.Mutex
	current Secret
	id      fileID
	checked time.Time
	warned  bool
	looking bool // a look at the file is under way, without mu held
	now     func() time.Time
}

// PasswordFile returns Auth_Password_File as read at start, to be read
// again when it changes; nil when the password is not from a file.
func (c *Config) PasswordFile() *PasswordFile {
	if c.AuthPasswordFile == "" {
		return nil
	}
	return &PasswordFile{path: c.AuthPasswordFile, interval: PasswordCheckInterval,
		current: c.filePassword, id: c.passwordFileID, checked: time.Now(), now: time.Now}
}

// Path is the file's path.
func (p *PasswordFile) Path() string { return p.path }

// Password is the password to send now: the file is looked at again when
// the last look is at least an interval ago. The look happens outside the
// lock: one caller looks, the others meanwhile take the password as it is.
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

// Recheck looks at the file at once, and reports whether the password
// changed: after a 401, a call with the new password cannot duplicate
// anything, since UMC refused the old one before running the command.
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

// refresh re-reads the file if it is not the one read last. The file is
// looked at and read without mu held (it never blocks on a FIFO, but a
// slow file system would hold every call); only the result is applied
// under mu.
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
