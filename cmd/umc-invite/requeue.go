package main

import (
	"flag"
	"fmt"
	"io"

	"umc-invite/umc/deadletters"
)

func runRequeue(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("requeue", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var r deadletters.Requeuer
	fs.StringVar(&r.QueueDir, "queue-dir", "", "the queue directory (Queue_Dir)")
	fs.StringVar(&r.DeadLetterDir, "dead-letter-dir", "", "the dead-letter directory (default <queue-dir>/failed)")
	fs.StringVar(&r.IntakeDir, "intake-dir", "", "where new files go (default <queue-dir>/incoming when it exists, else the queue directory; off: the queue directory)")
	fs.StringVar(&r.UsernameKey, "username-key", "username", "the output's Username_Key")
	fs.BoolVar(&r.Force, "force", false, "queue users again although they were re-queued after their last dead letter")
	all := fs.Bool("all", false, "every user whose newest dead letter or refusal is not re-queued yet")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: umc-invite requeue --queue-dir Q [--dead-letter-dir D] [--intake-dir I|off] USER... | --all")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	users := fs.Args()
	if r.QueueDir == "" || (*all == (len(users) > 0)) {
		fs.Usage()
		return exitUsage
	}
	results, err := r.Requeue(users, *all)
	if err != nil {
		fmt.Fprintf(stderr, "umc-invite requeue: %v\n", err)
		return exitUsage
	}
	if *all && len(results) == 0 {
		fmt.Fprintln(stdout, "nothing to re-queue: every dead letter is re-queued already")
	}
	status := exitOK
	for _, res := range results {
		switch {
		case res.Err != nil:
			fmt.Fprintf(stdout, "%s: not re-queued: %v\n", res.Username, res.Err)
			status = exitFindings
		case res.Queued:
			fmt.Fprintf(stdout, "%s: queued as %s\n", res.Username, res.Path)
		default:
			fmt.Fprintf(stdout, "%s: %s (%s)\n", res.Username, res.Note, res.Path)
		}
	}
	return status
}
