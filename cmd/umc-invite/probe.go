package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"umc-invite/umc/config"
	"umc-invite/umc/fbconfig"
)

func runProbe(args []string, stdout, stderr io.Writer) int {
	fs, load := targetFlags("probe", "Fluent Bit config: probe each umc_invite output in it (repeatable)", stderr,
		"usage: umc-invite probe -c FILE | --umc-url URL [--auth-user U --auth-password-file F] [--tls-ca-file F] ... [--no-queue]")
	noQueue := fs.Bool("no-queue", false, "the queue directories are not where probe runs (helm test's Pod): skip the Queue_Dir check")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	targets, code := load(fs.Args()...)
	if code != exitOK {
		return code
	}
	status := exitOK
	for _, t := range targets {
		cfg, err := config.Load(t.values)
		results := []Result{{Check: "config", Status: Fail, Detail: fmt.Sprintf("%v (umc-invite check names the line)", err)}}
		title := t.name
		if err == nil {
			title += ": " + cfg.Endpoint()
			results = []Result{{Check: "config", Status: OK, Detail: "loaded and checked as the plugin does at start"}}
			if *noQueue && cfg.QueueDir != "" {
				results = append(results, Result{"queue", Off, fmt.Sprintf("--no-queue: Queue_Dir %s is not checked here", cfg.QueueDir)})
			} else if err := queueDirProblem(cfg.QueueDir); err != nil {
				results = append(results, Result{"queue", Fail, err.Error()})
			}
			results = append(results, probeUMC(context.Background(), cfg)...)
		}
		status = max(status, printResults(stdout, title, results))
	}
	return status
}

// runInvite makes exactly one send_token call for a test user, passing only on 200.
func runInvite(args []string, stdout, stderr io.Writer) int {
	fs, load := targetFlags("invite", "Fluent Bit config with exactly one umc_invite output", stderr,
		"usage: umc-invite invite -c FILE USER | --umc-url URL [--auth-user U --auth-password-file F] ... USER\n"+
			"sends USER one real invitation (one send_token call) and exits 0 only on UMC's 200")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return exitUsage
	}
	username := fs.Arg(0)
	if err := checkName(username); err != nil {
		fmt.Fprintf(stderr, "umc-invite invite: %v\n", err)
		return exitUsage
	}
	targets, code := load()
	if code != exitOK {
		return code
	}
	if len(targets) != 1 {
		fmt.Fprintf(stderr, "umc-invite invite: %d umc_invite outputs: give a config with one, or the key flags of one\n", len(targets))
		return exitUsage
	}
	t := targets[0]
	cfg, err := config.Load(t.values)
	if err != nil {
		fmt.Fprintf(stderr, "umc-invite invite: %s: %v (umc-invite check names the line)\n", t.name, err)
		return exitFindings
	}
	return printResults(stdout, t.name+": "+cfg.Endpoint(), []Result{inviteOne(context.Background(), cfg, username)})
}

// printResults prints a target's checks and fails when one failed or was skipped.
func printResults(stdout io.Writer, title string, results []Result) int {
	fmt.Fprintln(stdout, title)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	for _, r := range results {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", r.Status, r.Check, r.Detail)
	}
	tw.Flush()
	if slices.ContainsFunc(results, func(r Result) bool { return r.Status == Fail || r.Status == Skip }) {
		return exitFindings
	}
	return exitOK
}

// target is one umc_invite output to call.
type target struct {
	name   string
	values config.Getter
}

// targetFlags are -c and every key as a flag (UMC_URL: --umc-url); after Parse,
// load reads the key flags or every umc_invite output of the files, never both.
func targetFlags(cmd, cHelp string, stderr io.Writer, usage string) (*flag.FlagSet, func(more ...string) ([]target, int)) {
	fs := newFlags(cmd, usage, stderr)
	var cfgFiles []string
	fs.Func("c", cHelp, func(v string) error { cfgFiles = append(cfgFiles, v); return nil })
	for _, key := range config.Keys {
		fs.String(strings.ReplaceAll(strings.ToLower(key.Name), "_", "-"), "", fmt.Sprintf("the output's %s (default %s)", key.Name, cmp.Or(key.Default, "unset")))
	}
	return fs, func(more ...string) ([]target, int) {
		given := config.Map{}
		fs.Visit(func(f *flag.Flag) {
			if key, ok := config.Lookup(strings.ReplaceAll(f.Name, "-", "_")); ok {
				given[key.Name] = f.Value.String()
			}
		})
		paths := append(cfgFiles, more...)
		switch {
		case len(paths) == 0 && len(given) == 0:
			fs.Usage()
			return nil, exitUsage
		case len(paths) > 0 && len(given) > 0:
			fmt.Fprintf(stderr, "umc-invite %s: give -c or the key flags, not both\n", cmd)
			return nil, exitUsage
		case len(given) > 0:
			return []target{{"flags", given}}, exitOK
		}
		var targets []target
		for _, path := range paths {
			outs, err := fbconfig.Outputs(path, nil, OutputName)
			if err != nil {
				fmt.Fprintf(stderr, "umc-invite %s: %v\n", cmd, err)
				return nil, exitUsage
			}
			if len(outs) == 0 {
				fmt.Fprintf(stderr, "umc-invite %s: %s: no umc_invite output\n", cmd, path)
				return nil, exitFindings
			}
			for i, s := range outs {
				targets = append(targets, target{fmt.Sprintf("%s:%d: %s output #%d", s.File, s.Line, OutputName, i+1), sectionKeys{s}})
			}
		}
		return targets, exitOK
	}
}
