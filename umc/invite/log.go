package invite

import (
	"fmt"
	"io"
	"sync"
	"time"

	"umc-invite/umc/logtext"
)

// Logger writes Fluent Bit's log format, each message one bounded line: a file name cannot forge one.
type Logger struct {
	mu     sync.Mutex // one line at a time
	out    io.Writer
	name   string
	prefix string
}

// NewLogger logs for the named output instance.
func NewLogger(out io.Writer, instance string) *Logger {
	return &Logger{out: out, name: instance, prefix: "[output:umc_invite:" + instance + "] "}
}

// Name is the output instance's name: the `output` label of its metrics.
func (l *Logger) Name() string { return l.name }

func (l *Logger) write(level, format string, args []any) {
	line := fmt.Sprintf("[%s] [%5s] %s%s\n", time.Now().Format("2006/01/02 15:04:05.000"), level, l.prefix, logtext.Line(fmt.Sprintf(format, args...)))
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = io.WriteString(l.out, line)
}

func (l *Logger) Infof(format string, args ...any)  { l.write("info", format, args) }
func (l *Logger) Warnf(format string, args ...any)  { l.write("warn", format, args) }
func (l *Logger) Errorf(format string, args ...any) { l.write("error", format, args) }
