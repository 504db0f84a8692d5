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
	fs.StringVar(&r.QueueDir, "queue-dir", "", "the queue directory (default: the umc_invite output's Queue_Dir, and its Dead_Letter_Dir, Intake_Dir and Username_Key, in the container's config, "+DefaultConfig+" or $UMC_INVITE_CONFIG)")
	output := fs.String("output", "", "with several umc_invite outputs in the container's config: the one (Output_Name) to re-queue for")
	fs.StringVar(&r.DeadLetterDir, "dead-letter-dir", "", "the dead-letter directory (default <queue-dir>/failed)")
	fs.StringVar(&r.IntakeDir, "intake-dir", "", "where new files go (default <queue-dir>/incoming when it exists, else the queue directory; off: the queue directory)")
	fs.StringVar(&r.UsernameKey, "username-key", "", "the output's Username_Key (default: the output's in the container's config; with --queue-dir: username)")
	fs.BoolVar(&r.Force, "force", false, "queue users again although they were re-queued after their last dead letter")
	all := fs.Bool("all", false, "every user whose newest dead letter or refusal is not re-queued yet")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: umc-invite requeue [--queue-dir Q [--dead-letter-dir D] [--intake-dir I|off] | --output NAME] USER... | --all")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	users := fs.Args()
	if *all == (len(users) > 0) {
		fs.Usage()
		return exitUsage
	}
	if r.QueueDir == "" {
		outs, path, err := configuredDirs()
		if err != nil {
			fmt.Fprintf(stderr, "umc-invite requeue: %v\n", err)
			return exitUsage
		}
		var picked []dirs
		for _, d := range outs {
			if *output == "" || d.output == *output {
				picked = append(picked, d)
			}
		}
		if len(picked) != 1 {
			fmt.Fprintf(stderr, "umc-invite requeue: %s has %d umc_invite outputs matching %q: name one with --output (or give --queue-dir)\n", path, len(picked), *output)
			return exitUsage
		}
		d := picked[0]
		r.QueueDir = d.queue
		if r.DeadLetterDir == "" {
			r.DeadLetterDir = d.deadLetter
		}
		if r.IntakeDir == "" {
			r.IntakeDir = d.intake
		}
		if r.UsernameKey == "" {
			r.UsernameKey = d.usernameKey
		}
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
