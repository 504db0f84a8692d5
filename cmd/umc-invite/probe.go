package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"umc-invite/umc/config"
	"umc-invite/umc/fbconfig"
	"umc-invite/umc/probe"
)

// flagName is a key's flag: UMC_URL is --umc-url.
func flagName(key string) string { return strings.ReplaceAll(strings.ToLower(key), "_", "-") }

func runProbe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfgFiles files
	fs.Var(&cfgFiles, "c", "Fluent Bit config: probe each umc_invite output in it (repeatable)")
	noQueue := fs.Bool("no-queue", false, "the queue directories are not where probe runs (helm test's Pod): skip the Queue_Dir check")
	kf := keyFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: umc-invite probe -c FILE | --umc-url URL [--auth-user U --auth-password-file F] [--tls-ca-file F] ... [--no-queue]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	cfgFiles = append(cfgFiles, fs.Args()...)
	targets, code := loadTargets("probe", cfgFiles, kf.given(fs), fs.Usage, stderr)
	if code != exitOK {
		return code
	}

	status := exitOK
	for _, t := range targets {
		cfg, err := config.Load(t.values)
		var results []probe.Result
		title := t.name
		if err != nil {
			results = []probe.Result{{Check: "config", Status: probe.Fail, Detail: fmt.Sprintf("%v (umc-invite check names the line)", err)}}
		} else {
			title += ": " + cfg.Endpoint()
			results = []probe.Result{{Check: "config", Status: probe.OK, Detail: "loaded and checked as the plugin does at start"}}
			results = append(results, queueResult(cfg.QueueDir, *noQueue)...)
			results = append(results, probe.Run(context.Background(), cfg, probe.Options{})...)
		}
		printResults(stdout, title, results)
		if !probe.Passed(results) {
			status = exitFindings
		}
	}
	return status
}

// queueResult is the queue check's line: none for a Queue_Dir the output
// can open, a failure naming it otherwise. With --no-queue the queues are
// elsewhere (the node's hostPath, not a test Pod's): not checked, and said so.
func queueResult(dir string, noQueue bool) []probe.Result {
	if noQueue {
		if dir == "" {
			return nil
		}
		return []probe.Result{{Check: "queue", Status: probe.Off, Detail: fmt.Sprintf("--no-queue: Queue_Dir %s is not checked here", dir)}}
	}
	if err := queueDirProblem(dir); err != nil {
		return []probe.Result{{Check: "queue", Status: probe.Fail, Detail: err.Error()}}
	}
	return nil
}

// printResults prints a target's title and its checks, one a line.
func printResults(stdout io.Writer, title string, results []probe.Result) {
	fmt.Fprintln(stdout, title)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	for _, r := range results {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", r.Status, r.Check, r.Detail)
	}
	tw.Flush()
}

// keys are the plugin's keys as flags of one command, from the one key
// table: UMC_URL is --umc-url.
type keys map[string]*string

func keyFlags(fs *flag.FlagSet) keys {
	k := keys{}
	for _, key := range config.Keys {
		def := key.Default
		if def == "" {
			def = "unset"
		}
		k[key.Name] = fs.String(flagName(key.Name), "", fmt.Sprintf("the output's %s (default %s)", key.Name, def))
	}
	return k
}

// given returns the keys set on the command line.
func (k keys) given(fs *flag.FlagSet) config.Map {
	flags := config.Map{}
	fs.Visit(func(f *flag.Flag) {
		for name, v := range k {
			if flagName(name) == f.Name {
				flags[name] = *v
			}
		}
	})
	return flags
}

// target is one umc_invite output to call: from the key flags or a
// Fluent Bit config file.
type target struct {
	name   string
	values config.Map
}

// loadTargets reads the outputs a command works on: the key flags, or
// every umc_invite output of the config files, never both.
func loadTargets(cmd string, cfgFiles []string, flags config.Map, usage func(), stderr io.Writer) ([]target, int) {
	if len(cfgFiles) == 0 && len(flags) == 0 {
		usage()
		return nil, exitUsage
	}
	if len(cfgFiles) > 0 && len(flags) > 0 {
		fmt.Fprintf(stderr, "umc-invite %s: give -c or the key flags, not both\n", cmd)
		return nil, exitUsage
	}
	var targets []target
	if len(flags) > 0 {
		targets = append(targets, target{"flags", flags})
	}
	for _, path := range cfgFiles {
		cfg, err := fbconfig.Load(path, nil)
		if err != nil {
			fmt.Fprintf(stderr, "umc-invite %s: %v\n", cmd, err)
			return nil, exitUsage
		}
		outs := cfg.Outputs(OutputName)
		if len(outs) == 0 {
			fmt.Fprintf(stderr, "umc-invite %s: %s: no umc_invite output\n", cmd, path)
			return nil, exitFindings
		}
		for i, s := range outs {
			targets = append(targets, target{fmt.Sprintf("%s:%d: %s output #%d", s.File, s.Line, OutputName, i+1), outputValues(s)})
		}
	}
	return targets, exitOK
}
