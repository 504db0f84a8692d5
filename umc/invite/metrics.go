package invite

import (
	"fmt"
	"io"
	"os"
	"time"

	"umc-invite/umc"
	"umc-invite/umc/config"
	"umc-invite/umc/intake"
	"umc-invite/umc/metrics"
	"umc-invite/umc/spool"
)

// startMetrics attaches the output to its Metrics_Listen endpoint (nil
// without), named as its logger is; the client reports every call's answer.
func startMetrics(cfg *config.Config, log *Logger, client *umc.Client, waiting *waitingUsers, w *intake.Window, now func() time.Time) (*metrics.Output, error) {
	if cfg.MetricsListen == "" {
		return nil, nil
	}
	m, err := metrics.Attach(log.Name(), cfg.MetricsListen, queueFiles(w, cfg.QueueDir))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", "Metrics_Listen", err)
	}
	m.CountWaiting(func() (int, time.Duration) { return waiting.count(now()) })
	client.Observe = func(a umc.Answer) { m.Request(umc.Classify(a).Kind.String(), a.Took) }
	return m, nil
}

// invitationResult is a letter's kind as metrics count it.
func invitationResult(kind string) string {
	switch kind {
	case spool.KindRefused:
		return metrics.Refused
	case spool.KindExpired:
		return metrics.Expired
	}
	return metrics.DeadLetter
}

// queueFiles counts the files waiting, for a scrape: the window's count
// of the queue and the intake, else a listing of Queue_Dir; nil without.
func queueFiles(w *intake.Window, dir string) func() (int, error) {
	switch {
	case w != nil:
		return func() (int, error) {
			q, in, err := w.Count()
			return q + in, err
		}
	case dir != "":
		return func() (int, error) { return countSend(dir) }
	}
	return nil
}

// countSend counts the regular queue files in dir from its listing.
func countSend(dir string) (int, error) {
	f, err := os.Open(dir)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n := 0
	for {
		entries, err := f.ReadDir(1024)
		for _, e := range entries {
			if spool.IsQueueName(e.Name()) && e.Type().IsRegular() {
				n++
			}
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}
