package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

const helpStuck = "Delivered queue files whose removal failed (a sticky or read-only queue directory): each is retried, and holds no place in the window."

var (
	descWaiting = prometheus.NewDesc(ns+"_users_waiting",
		"Users known to wait: queued, not yet served, refused or expired (they wait with a growing pause of their own).",
		[]string{"output"}, nil)
	descOldest = prometheus.NewDesc(ns+"_oldest_waiting_seconds",
		"Age of the oldest waiting user, from its queue file's arrival; 0 when none. Alert on it against Max_Age.",
		[]string{"output"}, nil)
)

// CountWaiting has the output report, at scrape time, how many users wait
// and the oldest one's age.
func (o *Output) CountWaiting(f func() (int, time.Duration)) {
	if o == nil {
		return
	}
	o.waitingMu.Lock()
	defer o.waitingMu.Unlock()
	o.waiting = f
}

func (o *Output) collectWaiting(ch chan<- prometheus.Metric) {
	o.waitingMu.Lock()
	f := o.waiting
	o.waitingMu.Unlock()
	n, oldest := 0, time.Duration(0)
	if f != nil {
		n, oldest = f()
	}
	ch <- prometheus.MustNewConstMetric(descWaiting, prometheus.GaugeValue, float64(n), o.name)
	ch <- prometheus.MustNewConstMetric(descOldest, prometheus.GaugeValue, oldest.Seconds(), o.name)
}

// RemoveFailed counts a delivered queue file that could not be removed.
func (o *Output) RemoveFailed() {
	if o == nil {
		return
	}
	o.stuck.Inc()
}
