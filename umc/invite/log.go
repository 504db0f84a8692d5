package invite

import (
	"fmt"
	"io"
	"sync"
	"time"

	"umc-invite/umc/logtext"
)

// Logger writes Fluent Bit's log format to its stderr, each message one
// bounded line (logtext.Line): a file name cannot forge a line.
type Logger struct {
	mu     sync.Mutex
	out    io.Writer
	name   string
	prefix string
	line   []byte // reused for each line
}

// NewLogger logs for the named output instance.
func NewLogger(out io.Writer, instance string) *Logger {
	return &Logger{out: out, name: instance, prefix: "[output:umc_invite:" + instance + "] "}
}

// Name is the output instance's name: the `output` label of its metrics.
func (l *Logger) Name() string { return l.name }

func (l *Logger) write(level, format string, args []any) {
	now := time.Now()
	message := logtext.Line(fmt.Sprintf(format, args...))
	l.mu.Lock()
	defer l.mu.Unlock()
	// "[time] [level] prefix message", level right-aligned in 5.
	line := append(l.line[:0], '[')
	line = now.AppendFormat(line, "2006/01/02 15:04:05.000")
	line = append(line, "] ["...)
	for range 5 - min(len(level), 5) {
		line = append(line, ' ')
	}
	line = append(line, level...)
	line = append(line, "] "...)
	line = append(line, l.prefix...)
	line = append(line, message...)
	line = append(line, '\n')
	l.line = line
	_, _ = l.out.Write(line)
}

func (l *Logger) Infof(format string, args ...any)  { l.write("info", format, args) }
func (l *Logger) Warnf(format string, args ...any)  { l.write("warn", format, args) }
func (l *Logger) Errorf(format string, args ...any) { l.write("error", format, args) }
