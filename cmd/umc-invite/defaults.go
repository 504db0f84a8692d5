package main

import (
	"fmt"
	"io"
	"os"

	"umc-invite/umc/config"
	"umc-invite/umc/fbconfig"
)

// DefaultConfig is the image's config; UMC_INVITE_CONFIG names another.
const DefaultConfig = "/fluent-bit/etc/umc-invite/fluent-bit.conf"

// dirs are one umc_invite output's directories, as the plugin resolves them.
type dirs struct {
	output                         string // Output_Name, or umc_invite.N
	queue, deadLetter, usernameKey string
	intake                         string // "off" when the output has no intake
}

// configuredDirs resolves every umc_invite output of the container's
// config with the plugin's own loader (offline: no secret file read), for
// the commands given no directory flag.
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

// dirsOr is given when a directory flag is set (dir), else every output's
// directories in the container's config.
func dirsOr(cmd, dir string, given dirs, stderr io.Writer) ([]dirs, bool) {
	if dir != "" {
		return []dirs{given}, true
	}
	outs, _, err := configuredDirs()
	if err != nil {
		fmt.Fprintf(stderr, "umc-invite %s: %v\n", cmd, err)
	}
	return outs, err == nil
}

// outputValues are the plugin's keys of one output section.
func outputValues(s fbconfig.Section) config.Map {
	values := config.Map{}
	for _, e := range s.Entries {
		if _, ok := config.Lookup(e.Key); ok {
			values[e.Key] = e.Value
		}
	}
	return values
}
