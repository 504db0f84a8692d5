// Command umc-invite is the operator's tool, built from the plugin's own packages.
package main

import (
	"cmp"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"

	"umc-invite/umc/config"
	"umc-invite/umc/fbconfig"
)

const usage = `usage: umc-invite COMMAND [flags]

commands:
  check -c FILE [--offline]     find unknown keys, bad values and a Retry_Limit
                                unlike Chunk_Retry_Limit in every umc_invite output of a Fluent Bit
                                config (classic, YAML, or a Kubernetes ConfigMap)
  probe -c FILE | --umc-url URL [--auth-user U --auth-password-file F ...] [--no-queue]
                                check DNS, TCP, TLS, the endpoint, the credentials,
                                send_token and Method, inviting no one (and Queue_Dir,
                                unless --no-queue: the queues are elsewhere)
  invite -c FILE USER           send USER one real invitation (one send_token call):
                                exit 0 only on UMC's 200 (a designated test user)
  queue [--dir DIR [--username-key KEY]] [--json]
                                list the users waiting in a queue directory: age, UMC's
                                last answer, next try (no running plugin needed)
  dead-letters [--dir DIR] [--json]
                                list dead letters and refusals, newest first: age, UMC's last answer
  requeue [--queue-dir Q [--dead-letter-dir D] [--intake-dir I|off] | --output NAME] USER... | --all
                                queue users again, once
  Without a directory flag, queue, dead-letters and requeue resolve each umc_invite
  output of the container's config (/fluent-bit/etc/umc-invite/fluent-bit.conf,
  or $UMC_INVITE_CONFIG) with its environment as the plugin does, Config_File
  included (offline: no call, no secret file read).

Exit status: 0 all well, 1 findings (or failed checks), 2 usage or I/O errors.
check names a Queue_Dir that is no directory but exits 0 for it: only that
output starts disabled, Fluent Bit and the others start.
Run "umc-invite COMMAND -h" for a command's flags.
`

const (
	exitOK       = 0
	exitFindings = 1
	exitUsage    = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	commands := map[string]func([]string, io.Writer, io.Writer) int{
		"check":        func(args []string, stdout, stderr io.Writer) int { return runCheck(args, stdout, stderr, os.LookupEnv) },
		"probe":        runProbe,
		"invite":       runInvite,
		"queue":        runQueue,
		"dead-letters": runDeadLetters,
		"requeue":      runRequeue,
	}
	cmd := args[0]
	if run, ok := commands[cmd]; ok {
		return run(args[1:], stdout, stderr)
	} else if slices.Contains([]string{"-h", "-help", "--help", "help"}, cmd) {
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "umc-invite: unknown command %q\n\n%s", cmd, usage)
	return exitUsage
}

// newFlags is a command's flag set; usage is printed above its flags.
func newFlags(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, usage)
		fs.PrintDefaults()
	}
	return fs
}

// DefaultConfig is the image's config; UMC_INVITE_CONFIG names another.
const DefaultConfig = "/fluent-bit/etc/umc-invite/fluent-bit.conf"

// dirs are one umc_invite output's directories, as the plugin resolves them.
type dirs struct {
	output                         string // Output_Name, or umc_invite.N
	queue, deadLetter, usernameKey string
	intake                         string // "off" when the output has no intake
}

// configPath is the container's config: $UMC_INVITE_CONFIG, else the image's.
func configPath() string { return cmp.Or(os.Getenv("UMC_INVITE_CONFIG"), DefaultConfig) }

// configuredDirs are the container's outputs as the plugin resolves them (offline: no secret read).
func configuredDirs() ([]dirs, error) {
	path := configPath()
	outs, err := fbconfig.Outputs(path, nil, OutputName)
	if err != nil {
		return nil, fmt.Errorf("no directory given, and the container's config cannot be read (give --dir/--queue-dir, or UMC_INVITE_CONFIG): %w", err)
	}
	var out []dirs
	for i, s := range outs {
		name := cmp.Or(s.Value("Output_Name"), fmt.Sprintf("%s.%d", OutputName, i))
		c, err := config.LoadOffline(sectionKeys{s})
		if err != nil {
			return nil, fmt.Errorf("%s: output %s: %w", path, name, err)
		}
		name = cmp.Or(c.OutputName, name)
		if c.QueueDir == "" {
			return nil, fmt.Errorf("%s: output %s has no Queue_Dir", path, name)
		}
		out = append(out, dirs{output: name, queue: c.QueueDir, deadLetter: c.DeadLetterDir, usernameKey: c.UsernameKey, intake: cmp.Or(c.IntakeDir, "off")})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no umc_invite output", path)
	}
	return out, nil
}

// sectionKeys gives the plugin one output section's keys, the last of each, as Fluent Bit does.
type sectionKeys struct{ fbconfig.Section }

func (s sectionKeys) Get(key string) string { return s.Value(key) }
