package invite

import (
	"fmt"
	"io"
	"os"
	"time"

	"umc-invite/umc"
	"umc-invite/umc/metrics"
	"umc-invite/umc/queue"
)

// startMetrics attaches the output to its Metrics_Listen endpoint, named
// as its logger is, and has the client report every call's answer.
func (o *Output) startMetrics(client *umc.Client) error {
	if o.cfg.MetricsListen == "" {
		return nil
	}
	m, err := metrics.Attach(o.log.Name(), o.cfg.MetricsListen, o.queueFiles())
	if err != nil {
		return fmt.Errorf("%s: %w", "Metrics_Listen", err)
	}
	o.metrics = m
	m.CountWaiting(func() (int, time.Duration) { return o.waiting.count(o.now()) })
	client.Observe = func(a umc.Answer) { m.Request(umc.Classify(a).Kind.String(), a.Took) }
	return nil
}

// invitationResult is a letter's kind as metrics count it: bad input
// is a dead letter too.
func invitationResult(kind string) string {
	switch kind {
	case queue.KindRefused:
		return metrics.Refused
	case queue.KindExpired:
		return metrics.Expired
	}
	return metrics.DeadLetter
}

// queueFiles counts the files waiting, for a scrape: the window's count
// of the queue and the intake, or a listing of Queue_Dir without an
// intake; nil without Queue_Dir.
func (o *Output) queueFiles() func() (int, error) {
	switch {
	case o.window != nil:
		w := o.window
		return func() (int, error) {
			q, in, err := w.Count()
			return q + in, err
		}
	case o.cfg.QueueDir != "":
		dir := o.cfg.QueueDir
		return func() (int, error) { return countSend(dir) }
	}
	return nil
}

// countSend counts the regular *.send files directly in dir, from the
// directory listing alone where the file system reports entry types.
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
			if queue.IsQueueName(e.Name()) && e.Type().IsRegular() {
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
