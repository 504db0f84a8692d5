// Package fluentbit finds and runs a real fluent-bit binary with the
// plugin, for `make run` and the end-to-end tests.
package fluentbit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// ErrNotFound says where a binary is looked for.
var ErrNotFound = errors.New("no fluent-bit binary: set FLUENT_BIT=/path/to/fluent-bit or put fluent-bit on PATH " +
	"(Fluent Bit's release packages or a build of its sources; v4.2 or later)")

// Binary returns the fluent-bit to use: $FLUENT_BIT, else fluent-bit on PATH.
func Binary() (string, error) {
	if bin := os.Getenv("FLUENT_BIT"); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			return "", fmt.Errorf("FLUENT_BIT=%s: %w", bin, err)
		}
		return bin, nil
	}
	if bin, err := exec.LookPath("fluent-bit"); err == nil {
		return bin, nil
	}
	return "", ErrNotFound
}

// Process is a running fluent-bit.
type Process struct {
	cmd  *exec.Cmd
	log  *LockedBuffer
	done chan struct{}
}

// Start runs bin with args (say, -e plugin.so -c fluent-bit.conf); env is
// added to this process's environment. Its output is kept (see Log) and
// copied to echo when that is not nil.
func Start(bin string, args, env []string, echo io.Writer) (*Process, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	log := &LockedBuffer{}
	var out io.Writer = log
	if echo != nil {
		out = io.MultiWriter(log, echo)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &Process{cmd: cmd, log: log, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p, nil
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Log is everything fluent-bit printed so far.
func (p *Process) Log() string { return p.log.String() }

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop asks fluent-bit to shut down gracefully and waits up to grace.
func (p *Process) Stop(grace time.Duration) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.Kill()
	}
}

// Kill ends fluent-bit at once, as a crash or an OOM kill would.
func (p *Process) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// LockedBuffer is a bytes.Buffer safe for a writing process and a reading
// test at once.
type LockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *LockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
