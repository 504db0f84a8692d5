package main

import (
	"fmt"
	"os"

	"umc-invite/umc/config"
	"umc-invite/umc/fbconfig"
)

// DefaultConfig is the config the image runs (and the chart mounts);
// UMC_INVITE_CONFIG names another one.
const DefaultConfig = "/fluent-bit/etc/umc-invite/fluent-bit.conf"

// dirs are one umc_invite output's directories, as the plugin resolves them.
type dirs struct {
	output                         string // Output_Name, or umc_invite.N
	queue, deadLetter, usernameKey string
	intake                         string
}

// configuredDirs reads the directories of every umc_invite output from
// the config the container runs, with the container's environment: what
// the subcommands use when no directory flag is given.
func configuredDirs() ([]dirs, string, error) {
	path := DefaultConfig
	if p := os.Getenv("UMC_INVITE_CONFIG"); p != "" {
		path = p
	}
	cfg, err := fbconfig.Load(path, nil)
	if err != nil {
		return nil, path, fmt.Errorf("no directory given, and the container's config cannot be read (give --dir/--queue-dir, or UMC_INVITE_CONFIG): %w", err)
	}
	var out []dirs
	for i, s := range cfg.Outputs(OutputName) {
		d := dirs{output: s.Value("Output_Name"), queue: s.Value("Queue_Dir"), deadLetter: s.Value("Dead_Letter_Dir"),
			usernameKey: s.Value("Username_Key"), intake: s.Value("Intake_Dir")}
		if d.output == "" {
			d.output = fmt.Sprintf("%s.%d", OutputName, i)
		}
		if d.deadLetter == "" && d.queue != "" {
			d.deadLetter = config.DefaultDeadLetterDir(d.queue)
		}
		if d.queue == "" {
			return nil, path, fmt.Errorf("%s: output %s has no Queue_Dir", path, d.output)
		}
		out = append(out, d)
	}
	if len(out) == 0 {
		return nil, path, fmt.Errorf("%s: no umc_invite output", path)
	}
	return out, path, nil
}
