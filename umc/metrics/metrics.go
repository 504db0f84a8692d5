// Package metrics is the plugin's own Prometheus endpoint. It is
// process-wide: Fluent Bit loads the plugin once and keeps it loaded across
// hot reloads, while its outputs come and go. So
//
//   - every output's counters live in one registry keyed by the output's
//     name (the `output` label): an output that exits and is started again
//     under the same name, as a hot reload does, continues them;
//   - every address has one listener, shared (and reference-counted) by the
//     outputs that name it, and kept for a grace period after the last one
//     exits, so that a hot reload finds it still serving;
//   - an output that has exited stays on its endpoint for that grace period,
//     then drops out of it (its counters are kept in memory, should it come
//     back).
//
// Nothing here runs on its own between scrapes: the queue size is counted
// when the endpoint is scraped.
package metrics

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Path is where the endpoint serves.
const Path = "/metrics"

// What became of an invitation (umc_invite_invitations_total's result).
const (
	Sent        = "sent"         // UMC answered 200
	Refused     = "refused"      // UMC will never mail this user; recorded beside the dead letters
	DeadLetter  = "dead_letter"  // bad input
	Expired     = "expired"      // Max_Age old and still not served: a dead letter with UMC's last answer
	CarriedOver = "carried_over" // still waiting on its chunk's last try: a new record carries it on
)

// Results are the values of the result label.
var Results = []string{Sent, Refused, DeadLetter, Expired, CarriedOver}

// Classes are the values of the class label: policy.Kind's names.
var Classes = []string{"delivered", "refused", "failed", "unavailable", "unauthorized"}

// Buckets of the request duration: 5 ms (a call on loopback) to 30 s (the
// default Timeout).
var Buckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

const ns = "umc_invite"

// Help texts, one per family.
const (
	helpInvitations = "Invitations by what became of them: sent, refused (proven: UMC will never mail the user), dead_letter (bad input), expired (Max_Age old, not served), carried_over (still waiting on the chunk's last try)."
	helpRequests    = "HTTP calls to UMC's send_token by the answer's class: delivered, refused, failed, unavailable, unauthorized."
	helpDuration    = "Time of one HTTP call to UMC, from sending to the answer read."
	helpInFlight    = "send_token calls in flight now."
	helpLastSuccess = "Unix time of UMC's last 200 for this output; 0: none since Fluent Bit started."
	helpDisabled    = "1: this output could not start (its directories, its CA file; the log says why), sends nothing, and its records wait for a restart; 0: it runs."
)

var descQueue = prometheus.NewDesc(ns+"_queue_files",
	"Queue files waiting in Queue_Dir and its intake, counted at scrape time.",
	[]string{"output"}, nil)

// Output is one output's metrics. Its methods are safe for concurrent use
// and do nothing on a nil *Output (metrics off).
type Output struct {
	name        string
	invitations map[string]prometheus.Counter
	requests    map[string]prometheus.Counter
	duration    prometheus.Histogram
	inFlight    prometheus.Gauge
	lastSuccess prometheus.Gauge
	stuck       prometheus.Counter
	disabled    prometheus.Gauge

	// Guarded by state.mu.
	live   bool
	addr   string
	exited time.Time
	queue  func() (int, error) // nil: no queue to count

	waitingMu sync.Mutex
	waiting   func() (int, time.Duration) // nil: none known

	moved atomic.Bool // a directory renamed away under the output
}

func newOutput(name string) *Output {
	o := &Output{name: name, invitations: map[string]prometheus.Counter{}, requests: map[string]prometheus.Counter{}}
	labels := func(kv ...string) prometheus.Labels {
		l := prometheus.Labels{"output": name}
		for i := 0; i+1 < len(kv); i += 2 {
			l[kv[i]] = kv[i+1]
		}
		return l
	}
	// Every label combination exists from the start, at 0, so that rate()
	// and increase() work from the first scrape.
	for _, r := range Results {
		o.invitations[r] = prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "_invitations_total", Help: helpInvitations, ConstLabels: labels("result", r)})
	}
	for _, c := range Classes {
		o.requests[c] = prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "_umc_requests_total", Help: helpRequests, ConstLabels: labels("class", c)})
	}
	o.duration = prometheus.NewHistogram(prometheus.HistogramOpts{Name: ns + "_umc_request_duration_seconds", Help: helpDuration, Buckets: Buckets, ConstLabels: labels()})
	o.inFlight = prometheus.NewGauge(prometheus.GaugeOpts{Name: ns + "_in_flight", Help: helpInFlight, ConstLabels: labels()})
	o.lastSuccess = prometheus.NewGauge(prometheus.GaugeOpts{Name: ns + "_last_success_timestamp_seconds", Help: helpLastSuccess, ConstLabels: labels()})
	o.stuck = prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "_remove_failures_total", Help: helpStuck, ConstLabels: labels()})
	o.disabled = prometheus.NewGauge(prometheus.GaugeOpts{Name: ns + "_output_disabled", Help: helpDisabled, ConstLabels: labels()})
	return o
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
	if o == nil {
		return
	}
	if c := o.invitations[result]; c != nil {
		c.Inc()
	}
}

// Request counts one HTTP call to UMC: its answer's class (one of
// Classes) and how long it took.
func (o *Output) Request(class string, took time.Duration) {
	if o == nil {
		return
	}
	if c := o.requests[class]; c != nil {
		c.Inc()
	}
	o.duration.Observe(took.Seconds())
	if class == "delivered" {
		o.lastSuccess.SetToCurrentTime()
	}
}

// Disable shows the output as disabled (umc_invite_output_disabled 1)
// until it is attached again, by a restart or a hot reload.
func (o *Output) Disable() {
	if o == nil {
		return
	}
	o.disabled.Set(1)
}

// Begin counts a send_token call in flight until the returned func is called.
func (o *Output) Begin() (end func()) {
	if o == nil {
		return func() {}
	}
	o.inFlight.Inc()
	return o.inFlight.Dec
}

// collect sends the output's metrics.
func (o *Output) collect(ch chan<- prometheus.Metric, queue func() (int, error)) {
	for _, r := range Results {
		ch <- o.invitations[r]
	}
	for _, c := range Classes {
		ch <- o.requests[c]
	}
	ch <- o.duration
	ch <- o.inFlight
	ch <- o.lastSuccess
	ch <- o.stuck
	ch <- o.disabled
	o.collectWaiting(ch)
	if queue != nil {
		if n, err := queue(); err == nil {
			ch <- prometheus.MustNewConstMetric(descQueue, prometheus.GaugeValue, float64(n), o.name)
		} else {
			ch <- prometheus.NewInvalidMetric(descQueue, fmt.Errorf("output %s: counting the queue: %w", o.name, err))
		}
	}
	o.collectMoved(ch)
}

// grace is how long a listener outlives its last output, and an exited
// output stays on its endpoint: long enough for a hot reload to start the
// outputs again.
var grace = time.Minute

// logTo receives the endpoint's own errors, in Fluent Bit's log format.
var logTo io.Writer = os.Stderr

// state is the process-wide registry.
var state = struct {
	mu        sync.Mutex
	outputs   map[string]*Output
	listeners map[string]*listener
}{outputs: map[string]*Output{}, listeners: map[string]*listener{}}

// Attach starts name's metrics on the endpoint at addr, binding it if no
// other output has: an address that cannot be bound (taken, or not this
// host's) is an error. An output that had this name before (before a hot
// reload) continues its counters. Two live outputs cannot share a name.
// queue, when not nil, counts the files waiting, at scrape time.
func Attach(name, addr string, queue func() (int, error)) (*Output, error) {
	state.mu.Lock()
	defer state.mu.Unlock()
	o := state.outputs[name]
	if o != nil && o.live {
		return nil, fmt.Errorf("another umc_invite output is named %s already: give each output its own Output_Name", name)
	}
	if _, err := acquire(addr); err != nil {
		return nil, err
	}
	if o == nil {
		o = newOutput(name)
		state.outputs[name] = o
	}
	if o.addr != "" && o.addr != addr && time.Since(o.exited) < grace {
		// Moved to another endpoint by a reload: the old one stops
		// showing it now, not after the grace period.
		o.exited = time.Time{}
	}
	o.live, o.addr, o.queue = true, addr, queue
	o.disabled.Set(0)
	return o, nil
}

// Detach ends an output's part in its endpoint: the endpoint shows it
// for the grace period, then not; the listener closes once the grace
// period passes with no output on it.
func (o *Output) Detach() {
	if o == nil {
		return
	}
	state.mu.Lock()
	defer state.mu.Unlock()
	if !o.live {
		return
	}
	o.live, o.queue, o.exited = false, nil, time.Now()
	if l := state.listeners[o.addr]; l != nil {
		l.release()
	}
}

// listener is one address's endpoint.
type listener struct {
	addr string
	srv  *http.Server
	refs int         // outputs attached; guarded by state.mu
	idle *time.Timer // closes it after the grace period; guarded by state.mu
	done chan struct{}
}

// acquire returns addr's listener, binding it if need be. Called with state.mu held.
func acquire(addr string) (*listener, error) {
	if l := state.listeners[addr]; l != nil {
		if l.idle != nil {
			l.idle.Stop()
			l.idle = nil
		}
		l.refs++
		return l, nil
	}
	ln, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) && closeIdle() {
		// A listener kept for a reload that wrote the address another
		// way (":2021", then "0.0.0.0:2021") holds the port: let it go.
		ln, err = net.Listen("tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	l := &listener{addr: addr, refs: 1, done: make(chan struct{})}
	mux := http.NewServeMux()
	reg := prometheus.NewRegistry()
	reg.MustRegister(endpoint{addr})
	errLog := log.New(logTo, fmt.Sprintf("[warn] [umc_invite metrics %s] ", addr), 0)
	mux.Handle(Path, promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: errLog, ErrorHandling: promhttp.ContinueOnError}))
	l.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          errLog,
	}
	state.listeners[addr] = l
	go l.serve(ln)
	return l, nil
}

// serve is the listener's one goroutine; it ends when the server is closed.
func (l *listener) serve(ln net.Listener) {
	defer close(l.done)
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(logTo, "[error] [umc_invite metrics %s] internal error, recovered; the endpoint is down: %v\n", l.addr, r)
		}
	}()
	if err := l.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(logTo, "[error] [umc_invite metrics %s] the endpoint stopped: %v\n", l.addr, err)
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
		defer func() {
			if r := recover(); r != nil {
				fmt.Fprintf(logTo, "[error] [umc_invite metrics %s] closing: internal error, recovered: %v\n", l.addr, r)
			}
		}()
		state.mu.Lock()
		defer state.mu.Unlock()
		if l.refs == 0 && state.listeners[l.addr] == l {
			l.close()
		}
	})
}

// close stops the listener and waits for its goroutine. Called with state.mu held.
func (l *listener) close() {
	if l.idle != nil {
		l.idle.Stop()
		l.idle = nil
	}
	delete(state.listeners, l.addr)
	_ = l.srv.Close()
	<-l.done
}

// closeIdle closes every listener no output holds; it reports whether
// there was one. Called with state.mu held.
func closeIdle() bool {
	closed := false
	for _, l := range state.listeners {
		if l.refs == 0 {
			l.close()
			closed = true
		}
	}
	return closed
}

// endpoint collects the outputs shown at one address. The set of series
// changes as outputs come and go, so it describes nothing up front (an
// unchecked collector); the registry still checks what it gathers.
type endpoint struct{ addr string }

func (endpoint) Describe(chan<- *prometheus.Desc) {}

// Collect runs on a goroutine of the registry's, where a panic would take
// Fluent Bit down: it is recovered, and the scrape gets what was sent.
func (e endpoint) Collect(ch chan<- prometheus.Metric) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(logTo, "[error] [umc_invite metrics %s] collecting: internal error, recovered: %v\n", e.addr, r)
		}
	}()
	type shown struct {
		o     *Output
		queue func() (int, error)
	}
	var outs []shown
	state.mu.Lock()
	for _, o := range state.outputs {
		if o.addr == e.addr && (o.live || (!o.exited.IsZero() && time.Since(o.exited) < grace)) {
			outs = append(outs, shown{o, o.queue})
		}
	}
	state.mu.Unlock()
	sort.Slice(outs, func(a, b int) bool { return outs[a].o.name < outs[b].o.name })
	// Counting the queue reads directories: outside the lock, so that a
	// slow disk holds up no output's start or exit.
	for _, s := range outs {
		s.o.collect(ch, s.queue)
	}
}
