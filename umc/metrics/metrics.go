// Package metrics is the plugin's Prometheus endpoint, its text format
// written by hand (a client library cost 3 MB resident). It is process-wide,
// as hot reloads keep the plugin loaded: an output's counters go on under its
// name; an address's one listener stays with its exited outputs for a grace period.
package metrics

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Path is where the endpoint serves.
const Path = "/metrics"

// What became of an invitation (umc_invite_invitations_total's result).
const (
	CarriedOver = "carried_over" // still waiting on its chunk's last try: a new record carries it on
	DeadLetter  = "dead_letter"  // bad input
	Expired     = "expired"      // Max_Age old and still not served: a dead letter with UMC's last answer
	Refused     = "refused"      // UMC will never mail this user; recorded beside the dead letters
	Sent        = "sent"         // UMC answered 200
)

// Results and Classes (policy.Kind's names) are the values of the result
// and class labels, sorted as the text format's series are.
var (
	Results = []string{CarriedOver, DeadLetter, Expired, Refused, Sent}
	Classes = []string{"delivered", "failed", "refused", "unauthorized", "unavailable"}
)

// buckets of the request duration: 5 ms (loopback) to 30 s (the default Timeout).
var buckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, math.Inf(1)}

// Output is one output's metrics. Its methods are safe for concurrent use
// and do nothing on a nil *Output (metrics off).
type Output struct {
	name        string
	invitations [5]atomic.Uint64 // by Results' index
	requests    [5]atomic.Uint64 // by Classes' index
	inFlight    atomic.Int64
	end         func()        // Begin's, made once
	lastSuccess atomic.Uint64 // float64 bits
	stuck       atomic.Uint64
	disabled    atomic.Bool
	moved       atomic.Bool // a directory renamed away under the output

	histMu sync.Mutex
	counts [13]uint64 // by bucket; not cumulative
	sum    float64

	// Guarded by state.mu.
	live    bool
	addr    string
	exited  time.Time
	queue   func() (int, error)         // nil: no queue to count
	waiting func() (int, time.Duration) // nil: none known
}

// Name is the output label.
func (o *Output) Name() string {
	if o == nil {
		return ""
	}
	return o.name
}

// Invitation counts what became of one invitation: one of Results.
func (o *Output) Invitation(result string) {
	if i := slices.Index(Results, result); o != nil && i >= 0 {
		o.invitations[i].Add(1)
	}
}

// Request counts one HTTP call to UMC: its answer's class (one of
// Classes) and how long it took.
func (o *Output) Request(class string, took time.Duration) {
	if o == nil {
		return
	}
	if i := slices.Index(Classes, class); i >= 0 {
		o.requests[i].Add(1)
	}
	v := took.Seconds()
	o.histMu.Lock()
	i, _ := slices.BinarySearch(buckets, v) // the first bucket whose le is >= v
	o.counts[i]++
	o.sum += v
	o.histMu.Unlock()
	if class == "delivered" {
		o.lastSuccess.Store(math.Float64bits(float64(time.Now().UnixNano()) / 1e9))
	}
}

// Disable shows the output as disabled (umc_invite_output_disabled 1)
// until it is attached again, by a restart or a hot reload.
func (o *Output) Disable() {
	if o != nil {
		o.disabled.Store(true)
	}
}

// Begin counts a send_token call in flight until the returned func is called.
func (o *Output) Begin() (end func()) {
	if o == nil {
		return func() {}
	}
	o.inFlight.Add(1)
	return o.end
}

// DirectoryMoved says whether a directory of the output is no longer the
// one at its path.
func (o *Output) DirectoryMoved(moved bool) {
	if o != nil {
		o.moved.Store(moved)
	}
}

// RemoveFailed counts a delivered queue file that could not be removed.
func (o *Output) RemoveFailed() {
	if o != nil {
		o.stuck.Add(1)
	}
}

// CountWaiting has the output report, at scrape time, how many users wait
// and the oldest one's age.
func (o *Output) CountWaiting(f func() (int, time.Duration)) {
	if o == nil {
		return
	}
	state.mu.Lock()
	defer state.mu.Unlock()
	o.waiting = f
}

var (
	grace = time.Minute // a listener and an exited output stay: a hot reload starts it again
	// logTo receives the endpoint's own errors, in Fluent Bit's log format.
	logTo io.Writer = os.Stderr
)

// state is the process-wide registry.
var state = struct {
	mu        sync.Mutex
	outputs   map[string]*Output
	listeners map[string]*listener
}{outputs: map[string]*Output{}, listeners: map[string]*listener{}}

// Attach shows name's metrics on the endpoint at addr, binding it if no other
// output has, with the counters name had before a hot reload; queue, if not
// nil, counts the files waiting.
func Attach(name, addr string, queue func() (int, error)) (*Output, error) {
	state.mu.Lock()
	defer state.mu.Unlock()
	o := state.outputs[name]
	if o != nil && o.live {
		return nil, fmt.Errorf("another umc_invite output is named %s already: give each output its own Output_Name", name)
	}
	if err := acquire(addr); err != nil {
		return nil, err
	}
	if o == nil {
		o = &Output{name: name}
		o.end = func() { o.inFlight.Add(-1) }
		state.outputs[name] = o
	}
	o.live, o.addr, o.queue = true, addr, queue
	o.disabled.Store(false)
	return o, nil
}

// Detach takes the output off its endpoint after the grace period.
func (o *Output) Detach() {
	if o == nil {
		return
	}
	state.mu.Lock()
	defer state.mu.Unlock()
	if !o.live {
		return
	}
	o.live, o.queue, o.waiting, o.exited = false, nil, nil, time.Now() // nothing of the exited output is asked, or kept alive
	if l := state.listeners[o.addr]; l != nil {
		l.release()
	}
}

// listener is one address's endpoint.
type listener struct {
	addr string
	srv  *server
	refs int         // outputs attached; guarded by state.mu
	idle *time.Timer // closes it after the grace period; guarded by state.mu
	done chan struct{}
}

// acquire holds addr's listener, binding it if need be. Called with state.mu held.
func acquire(addr string) error {
	if l := state.listeners[addr]; l != nil {
		if l.idle != nil {
			l.idle.Stop() // else it could close the listener early after a later release
		}
		l.refs++
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		// A listener kept for a reload that wrote the address another way
		// (":2021", then "0.0.0.0:2021") may hold the port: let idle ones go.
		for _, l := range state.listeners {
			if l.refs == 0 {
				l.close()
			}
		}
		ln, err = net.Listen("tcp", addr)
	}
	if err != nil {
		return err
	}
	l := &listener{addr: addr, refs: 1, done: make(chan struct{})}
	l.srv = newServer(ln)
	state.listeners[addr] = l
	go l.serve()
	return nil
}

// serve is the listener's one goroutine; it ends when the listener is
// closed (the connections it served are cut, not waited for).
func (l *listener) serve() {
	defer close(l.done)
	defer l.recovered("the endpoint is down")
	l.srv.accept(l.scrape, func(format string, args ...any) {
		fmt.Fprintf(logTo, "[warn] [umc_invite metrics %s] %s\n", l.addr, fmt.Sprintf(format, args...))
	})
}

// recovered logs a panic instead of letting it take Fluent Bit down.
func (l *listener) recovered(what string) {
	if r := recover(); r != nil {
		fmt.Fprintf(logTo, "[error] [umc_invite metrics %s] %s: internal error, recovered: %v\n", l.addr, what, r)
	}
}

// release drops one output's hold; the last one's leaves the listener
// running for the grace period. Called with state.mu held.
func (l *listener) release() {
	l.refs--
	if l.refs > 0 {
		return
	}
	l.idle = time.AfterFunc(grace, func() {
		defer l.recovered("closing")
		state.mu.Lock()
		defer state.mu.Unlock()
		if l.refs == 0 && state.listeners[l.addr] == l {
			l.close()
		}
	})
}

// close stops the listener and waits for its goroutine (its idle timer,
// if any, finds it gone). Called with state.mu held.
func (l *listener) close() {
	delete(state.listeners, l.addr)
	l.srv.close()
	<-l.done
}

// shown is one output's values as one scrape shows them.
type shown struct {
	o              *Output
	label          string // output="..."
	queue, waiting int
	hasQueue       bool
	oldest         time.Duration
	sum            float64
	counts         [13]uint64
	count          func() (int, error)         // the output's queue, nil: none
	wait           func() (int, time.Duration) // the output's waiting, nil: none
}

// scrape is the text format of the outputs shown at the listener's
// address. A panic while gathering (counting the queue, say) is logged and
// the scrape gets what was gathered.
func (l *listener) scrape() []byte {
	var outs []*shown
	func() {
		defer l.recovered("collecting")
		state.mu.Lock()
		for _, o := range state.outputs {
			if o.addr == l.addr && (o.live || (!o.exited.IsZero() && time.Since(o.exited) < grace)) {
				outs = append(outs, &shown{o: o, count: o.queue, wait: o.waiting})
			}
		}
		state.mu.Unlock()
		// Counting reads directories: outside the lock, so that a slow
		// disk holds up no output's start or exit.
		for _, s := range outs {
			s.label = `output="` + escape(s.o.name) + `"`
			s.o.histMu.Lock()
			s.counts, s.sum = s.o.counts, s.o.sum
			s.o.histMu.Unlock()
			if s.wait != nil {
				s.waiting, s.oldest = s.wait()
			}
			if s.count != nil {
				n, err := s.count()
				if err != nil {
					fmt.Fprintf(logTo, "[warn] [umc_invite metrics %s] output %s: counting the queue: %v\n", l.addr, s.o.name, err)
				}
				s.queue, s.hasQueue = n, err == nil
			}
		}
	}()
	slices.SortFunc(outs, func(a, b *shown) int { return strings.Compare(a.o.name, b.o.name) })
	var b bytes.Buffer
	for _, f := range families {
		started := false
		f.samples(outs, func(suffix, labels string, v float64) {
			if !started {
				fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", f.name, f.help, f.name, f.kind)
				started = true // a family without samples is left out
			}
			fmt.Fprintf(&b, "%s%s{%s} %s\n", f.name, suffix, labels, formatFloat(v))
		})
	}
	return b.Bytes()
}

type emit = func(suffix, labels string, v float64)

// families are in the order of their names, and each family's series in
// the order of their label values (label names sorted), as Prometheus'
// client writes them.
var families = []struct {
	name, kind, help string
	samples          func([]*shown, emit)
}{
	{"umc_invite_directory_moved", "gauge", "1 while a directory of this output (Queue_Dir, its intake, Dead_Letter_Dir) is no longer the one at its configured path: renamed away or replaced under the running plugin.",
		each(func(s *shown) float64 { return b2f(s.o.moved.Load()) })},
	{"umc_invite_in_flight", "gauge", "send_token calls in flight now.",
		each(func(s *shown) float64 { return float64(s.o.inFlight.Load()) })},
	{"umc_invite_invitations_total", "counter", "Invitations by what became of them: sent, refused (proven: UMC will never mail the user), dead_letter (bad input), expired (Max_Age old, not served), carried_over (still waiting on the chunk's last try).",
		func(outs []*shown, e emit) {
			for _, s := range outs {
				for i, r := range Results {
					e("", s.label+`,result="`+r+`"`, float64(s.o.invitations[i].Load()))
				}
			}
		}},
	{"umc_invite_last_success_timestamp_seconds", "gauge", "Unix time of UMC's last 200 for this output; 0: none since Fluent Bit started.",
		each(func(s *shown) float64 { return math.Float64frombits(s.o.lastSuccess.Load()) })},
	{"umc_invite_oldest_waiting_seconds", "gauge", "Age of the oldest waiting user, from its queue file's arrival; 0 when none. Alert on it against Max_Age.",
		each(func(s *shown) float64 { return s.oldest.Seconds() })},
	{"umc_invite_output_disabled", "gauge", "1: this output could not start (its directories, its CA file; the log says why), sends nothing, and its records wait for a restart; 0: it runs.",
		each(func(s *shown) float64 { return b2f(s.o.disabled.Load()) })},
	{"umc_invite_queue_files", "gauge", "Queue files waiting in Queue_Dir and its intake, counted at scrape time.",
		func(outs []*shown, e emit) {
			for _, s := range outs {
				if s.hasQueue {
					e("", s.label, float64(s.queue))
				}
			}
		}},
	{"umc_invite_remove_failures_total", "counter", "Delivered queue files whose removal failed (a sticky or read-only queue directory): each is retried, and holds no place in the window.",
		each(func(s *shown) float64 { return float64(s.o.stuck.Load()) })},
	{"umc_invite_umc_request_duration_seconds", "histogram", "Time of one HTTP call to UMC, from sending to the answer read.",
		func(outs []*shown, e emit) {
			for _, s := range outs {
				total := uint64(0)
				for i, n := range s.counts {
					total += n
					e("_bucket", s.label+`,le="`+formatFloat(buckets[i])+`"`, float64(total))
				}
				e("_sum", s.label, s.sum)
				e("_count", s.label, float64(total))
			}
		}},
	{"umc_invite_umc_requests_total", "counter", "HTTP calls to UMC's send_token by the answer's class: delivered, refused, failed, unavailable, unauthorized.",
		func(outs []*shown, e emit) {
			for i, c := range Classes {
				for _, s := range outs {
					e("", `class="`+c+`",`+s.label, float64(s.o.requests[i].Load()))
				}
			}
		}},
	{"umc_invite_users_waiting", "gauge", "Users known to wait: queued, not yet served, refused or expired (they wait with a growing pause of their own).",
		each(func(s *shown) float64 { return float64(s.waiting) })},
}

// each is a family of one series per output.
func each(value func(*shown) float64) func([]*shown, emit) {
	return func(outs []*shown, e emit) {
		for _, s := range outs {
			e("", s.label, value(s))
		}
	}
}

// formatFloat writes a value as the text format does ("+Inf" included).
func formatFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

var escape = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`).Replace

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
