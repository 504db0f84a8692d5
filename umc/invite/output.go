// Package invite is one umc_invite output instance: it turns the records of
// a chunk into send_token calls and decides what Fluent Bit is told.
package invite

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"umc-invite/umc"
	"umc-invite/umc/config"
	"umc-invite/umc/intake"
	"umc-invite/umc/logtext"
	"umc-invite/umc/metrics"
	"umc-invite/umc/policy"
	"umc-invite/umc/record"
	"umc-invite/umc/spool"
)

// UMC is one user's send_token call and the probe's calls that mail no one; tests answer without HTTP.
type UMC interface {
	SendToken(ctx context.Context, username string) umc.Answer
	// AskBaseline runs before (if set) before each call; its error ends it.
	AskBaseline(ctx context.Context, before func() error) (umc.Baseline, error)
	Close()
}

// Output is one [OUTPUT] section of umc_invite; Flush is safe for concurrent use.
type Output struct {
	parts
	client  UMC
	tries   seenMap[int] // Fluent Bit's tries of each record
	jitter  func() float64
	slots   chan struct{} // a token per call in flight (Concurrency), for all workers
	limiter *rate.Limiter // nil without Rate_Limit
	claims  *Claims       // the directories of this process's outputs
	watch   *dirWatch     // nil without directories
	lock    *spool.Lock   // the queue's one sender across processes
	waited  bool          // another process held it at start
	rehand  rehand        // the files queued at the start that tail has not brought
	// active: this output sends; a flush holds handover for reading, a takeover for writing.
	active   atomic.Bool
	handover sync.RWMutex
	applier  applier // apply's view: the parts alone
	prober   prober
}

// parts are the state a flush shares with apply, and all apply sees.
type parts struct {
	cfg       *config.Config
	settings  policy.Settings // what policy reads of cfg
	keys      record.Keys     // where a record names its user
	ledger    *spool.Ledger[policy.User]
	queue     *spool.Queue       // nil without Queue_Dir
	dead      *spool.DeadLetters // nil: dead letters are only logged
	gate      gate               // holds calls back while UMC fails for everyone
	waiting   seenMap[time.Time] // first seen, by waiting user
	leftovers leftovers          // delivered files whose removal failed
	now       func() time.Time
	window    *intake.Window  // nil without an intake
	metrics   *metrics.Output // nil without Metrics_Listen
	log       *Logger
}

// New builds an Output from a checked Config; claims: the other live outputs' directories (nil: none).
func New(cfg *config.Config, log *Logger, claims *Claims) (_ *Output, err error) {
	client, err := umc.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	o := &Output{parts: parts{cfg: cfg, settings: settingsOf(cfg), keys: record.Keys{Username: cfg.UsernameKey, Path: cfg.PathKey}, ledger: newLedger(), log: log, now: time.Now,
		waiting: seenMap[time.Time]{ttl: time.Hour}, leftovers: leftovers{files: map[string]leftover{}}},
		client: client, claims: cmp.Or(claims, NewClaims()), slots: make(chan struct{}, cfg.Concurrency), jitter: rand.Float64, tries: seenMap[int]{ttl: 24 * time.Hour}}
	o.applier = applier{&o.parts}
	defer func() {
		if err != nil {
			o.Close()
		}
	}()
	if pf := client.PasswordFile(); pf != nil {
		pf.Infof, pf.Warnf = log.Infof, log.Warnf
	}
	if cfg.RateLimit > 0 {
		// Burst 1: calls spaced evenly, never a minute's worth at once.
		o.limiter = rate.NewLimiter(rate.Every(time.Minute/time.Duration(cfg.RateLimit)), 1)
	}
	o.prober = prober{client: client, slots: o.slots, limiter: o.limiter, gate: &o.gate, now: o.now, log: log, authUser: cfg.AuthUser}
	var held []heldDir
	hold := func(key, configured string, h *spool.Dir) {
		if configured != h.Path {
			log.Infof("%s %s is %s (resolved once, at start)", key, logtext.Quote(configured), logtext.Quote(h.Path))
		}
		held = append(held, heldDir{key: key, path: h.Configured, id: h.ID(), above: h.Above(), h: h})
	}
	// Opened once and held: every file is reached through them, never by a path again.
	if cfg.QueueDir != "" {
		if o.queue, err = spool.OpenQueue(cfg.QueueDir); err != nil {
			return nil, fmt.Errorf("Queue_Dir: %w", err)
		}
		hold("Queue_Dir", cfg.QueueDir, o.queue.Handle())
	}
	if cfg.DeadLetterDir != "" {
		if o.dead, err = spool.OpenDeadLetters(o.queue, cfg.DeadLetterDir); err != nil {
			return nil, fmt.Errorf("Dead_Letter_Dir: %w", err)
		}
		hold("Dead_Letter_Dir", cfg.DeadLetterDir, o.dead.Handle())
	}
	if cfg.IntakeDir != "" {
		if o.window, err = intake.Open(cfg.QueueDir, cfg.IntakeDir, cfg.QueueWindow); err != nil {
			return nil, fmt.Errorf("Intake_Dir: %w", err)
		}
		hold("Intake_Dir", cfg.IntakeDir, o.window.IntakeHandle())
		if o.window.LinkMode() {
			log.Warnf("Intake_Dir: this file system cannot rename without replacing; admitting by link and unlink")
		}
	}
	// Before anything moves a file: no directory shared.
	if err := o.claims.take(o, claim{name: log.Name(), dirs: held}); err != nil {
		return nil, err
	}
	if cfg.MetricsListen != "" {
		if o.metrics, err = metrics.Attach(log.Name(), cfg.MetricsListen, queueFiles(o.window, o.queue)); err != nil {
			return nil, fmt.Errorf("Metrics_Listen: %w", err)
		}
		o.metrics.CountWaiting(func() (int, time.Duration) { return countWaiting(&o.waiting, time.Now()) })
		client.Observe = func(a umc.Answer) { o.metrics.Request(umc.Classify(a).Kind.String(), a.Took) }
	}
	o.watch = watchDirs(o, held)
	o.loadLeftovers()
	if cfg.QueueDir == "" {
		o.active.Store(true) // no intake either: it needs Queue_Dir
		return o, nil
	}
	// Last, as it may start the intake (takeOver): while another process
	// holds the queue, this output sends nothing and takes over later.
	o.lock, err = spool.TakeLock(o.queue.Handle(), lockPoll, func() {
		o.waited = true
		log.Warnf("another process holds the queue lock on %s (a second Fluent Bit on this queue): this output sends nothing and admits nothing until it is gone, then takes over",
			logtext.Quote(o.queue.Root()))
	}, o.takeOver)
	if err != nil {
		return nil, fmt.Errorf("Queue_Dir: %w", err)
	}
	return o, nil
}

// Describe is the start-up line: the settings that matter, never a secret.
func (o *Output) Describe() string {
	auth, limit, admit, dead, served := "anonymous", "no rate limit", "no intake", "log only (set Queue_Dir or Dead_Letter_Dir)", "no metrics endpoint"
	if o.cfg.AuthUser != "" {
		auth = "basic auth as " + o.cfg.AuthUser
	}
	if o.cfg.RateLimit > 0 {
		limit = fmt.Sprintf("at most %d calls a minute", o.cfg.RateLimit)
	}
	if o.window != nil {
		admit = fmt.Sprintf("intake %q admitted %d files at a time", o.cfg.IntakeDir, o.cfg.QueueWindow)
	}
	if o.dead != nil {
		dead = o.dead.Dir()
	}
	if o.metrics != nil {
		served = fmt.Sprintf("metrics at http://%s%s as output=%q", o.cfg.MetricsListen, metrics.Path, o.metrics.Name())
	}
	return fmt.Sprintf("sending to %s (%s, TLS verify %t), %d calls in flight at most, %s, waiting users paused %s doubling to %s, refused only by evidence after %s, expired after %s, chunk retry limit %d, queue %q, %s, dead letters: %s, %s",
		o.cfg.Endpoint(), auth, o.cfg.TLSVerify, o.cfg.Concurrency, limit, o.cfg.BackoffMin, o.cfg.BackoffMax, o.cfg.RefusalGrace, o.cfg.MaxAge,
		o.cfg.ChunkRetryLimit, o.cfg.QueueDir, admit, dead, served)
}

func (o *Output) Close() {
	o.watch.close()
	o.lock.Close() // first: its poller may start the intake
	o.rehand.close()
	o.metrics.Detach()
	if o.window != nil {
		o.window.Close()
	}
	o.claims.release(o)
	o.queue.Close()
	o.dead.Close() // without Queue_Dir, no queue closes it
	o.client.Close()
}

func (o *Output) Logger() *Logger { return o.log }

// queueFiles counts the files waiting, queue and intake, for a scrape; nil without a queue.
func queueFiles(w *intake.Window, q *spool.Queue) func() (int, error) {
	if q == nil {
		return nil // no intake either
	}
	return func() (int, error) {
		if w != nil {
			q, in, err := w.Count()
			return q + in, err
		}
		n := 0 // names only: a scrape stats no file
		err := q.Handle().Each(func(name string, t fs.FileMode) {
			if spool.IsQueueName(name) && t.IsRegular() {
				n++
			}
		})
		return n, err
	}
}

// newLedger keeps at most 50,000 done records, each for a day untouched.
func newLedger() *spool.Ledger[policy.User] {
	return spool.NewLedger[policy.User](50_000, 24*time.Hour)
}

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

// seenMap holds a value per key, dropping what went unseen for ttl: a
// record's tries (the plugin's last try must be Fluent Bit's) and the
// waiting users the metrics count (one whose file was taken away goes).
type seenMap[V any] struct {
	mu    sync.Mutex
	ttl   time.Duration
	m     map[string]seenItem[V]
	swept time.Time
}

type seenItem[V any] struct {
	v    V
	seen time.Time
}

// update sets key's value to f of its current one and returns it.
func (s *seenMap[V]) update(key string, now time.Time, f func(V) V) V {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]seenItem[V]{}
	}
	if now.Sub(s.swept) > min(s.ttl, time.Hour) {
		s.sweep(now)
	}
	v := f(s.m[key].v)
	s.m[key] = seenItem[V]{v, now}
	return v
}

func (s *seenMap[V]) sweep(now time.Time) {
	for k, it := range s.m {
		if now.Sub(it.seen) > s.ttl {
			delete(s.m, k)
		}
	}
	s.swept = now
}

func (s *seenMap[V]) forget(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
}

// countWaiting is how many users wait and the oldest one's age.
func countWaiting(w *seenMap[time.Time], now time.Time) (int, time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sweep(now)
	var oldest time.Duration
	for _, it := range w.m {
		oldest = max(oldest, now.Sub(it.v))
	}
	return len(w.m), oldest
}
