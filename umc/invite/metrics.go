package invite

import (
	"cmp"
	"fmt"
	"io/fs"
	"time"

	"umc-invite/umc"
	"umc-invite/umc/config"
	"umc-invite/umc/intake"
	"umc-invite/umc/metrics"
	"umc-invite/umc/spool"
)

// startMetrics attaches the output to its Metrics_Listen endpoint (nil without).
func startMetrics(cfg *config.Config, log *Logger, client *umc.Client, waiting *seenMap[time.Time], w *intake.Window, q *spool.Queue, now func() time.Time) (*metrics.Output, error) {
	if cfg.MetricsListen == "" {
		return nil, nil
	}
	m, err := metrics.Attach(log.Name(), cfg.MetricsListen, queueFiles(w, q))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", "Metrics_Listen", err)
	}
	m.CountWaiting(func() (int, time.Duration) { return countWaiting(waiting, now()) })
	client.Observe = func(a umc.Answer) { m.Request(umc.Classify(a).Kind.String(), a.Took) }
	return m, nil
}

func invitationResult(kind string) string {
	return cmp.Or(map[string]string{spool.KindRefused: metrics.Refused, spool.KindExpired: metrics.Expired}[kind], metrics.DeadLetter)
}

// queueFiles counts the files waiting, for a scrape: the window's count of
// the queue and the intake, else the held queue's listing; nil without.
func queueFiles(w *intake.Window, q *spool.Queue) func() (int, error) {
	switch {
	case w != nil:
		return func() (int, error) {
			q, in, err := w.Count()
			return q + in, err
		}
	case q != nil:
		return func() (int, error) {
			n := 0
			err := q.Handle().Each(func(name string, t fs.FileMode) {
				if spool.IsQueueName(name) && t.IsRegular() {
					n++
				}
			})
			return n, err
		}
	}
	return nil
}
