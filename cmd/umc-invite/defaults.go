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

// dirs are one umc_invite output's directories and record keys, as the
// plugin resolves them.
type dirs struct {
	output                         string // Output_Name, or umc_invite.N
	queue, deadLetter, usernameKey string
	intake                         string // "off" when the output has no intake
}

// configuredDirs resolves every umc_invite output of the config the
// container runs, with the container's environment, through the plugin's
// own loader (offline: UMC is not called, the secret files are not read),
// so that every key counts wherever it may be set, the Config_File's
// included, with the plugin's defaults. It is what the subcommands use
// when no directory flag is given.
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
		name := s.Value("Output_Name")
		if name == "" {
			name = fmt.Sprintf("%s.%d", OutputName, i)
		}
		c, err := config.LoadOffline(outputValues(s))
		if err != nil {
			return nil, path, fmt.Errorf("%s: output %s: %w", path, name, err)
		}
		if c.OutputName != "" {
			name = c.OutputName
		}
		if c.QueueDir == "" {
			return nil, path, fmt.Errorf("%s: output %s has no Queue_Dir", path, name)
		}
		d := dirs{output: name, queue: c.QueueDir, deadLetter: c.DeadLetterDir, usernameKey: c.UsernameKey, intake: c.IntakeDir}
		if d.intake == "" {
			d.intake = "off"
		}
		out = append(out, d)
	}
	if len(out) == 0 {
		return nil, path, fmt.Errorf("%s: no umc_invite output", path)
	}
	return out, path, nil
}

// outputValues are the plugin's keys of one output section, as the
// plugin gets them from Fluent Bit.
func outputValues(s fbconfig.Section) config.Map {
	values := config.Map{}
	for _, e := range s.Entries {
		if _, ok := config.Lookup(e.Key); ok {
			values[e.Key] = e.Value
		}
	}
	return values
}
