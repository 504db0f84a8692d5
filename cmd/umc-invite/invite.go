package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"unicode"

	"umc-invite/umc/config"
	"umc-invite/umc/probe"
	"umc-invite/umc/record"
)

// runInvite sends one real invitation, for a test user the operator names,
// through the plugin's own config and client: the end-to-end check that
// UMC, its self-service and its mail relay work (the chart's opt-in
// `helm test`). It calls send_token exactly once and passes only on 200.
func runInvite(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("invite", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfgFiles files
	fs.Var(&cfgFiles, "c", "Fluent Bit config with exactly one umc_invite output")
	kf := keyFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: umc-invite invite -c FILE USER | --umc-url URL [--auth-user U --auth-password-file F] ... USER\n"+
			"sends USER one real invitation (one send_token call) and exits 0 only on UMC's 200")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return exitUsage
	}
	username := fs.Arg(0)
	if err := checkUsername(username); err != nil {
		fmt.Fprintf(stderr, "umc-invite invite: %v\n", err)
		return exitUsage
	}
	targets, code := loadTargets("invite", cfgFiles, kf.given(fs), fs.Usage, stderr)
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
	r := probe.Invite(context.Background(), cfg, username)
	printResults(stdout, t.name+": "+cfg.Endpoint(), []probe.Result{r})
	if r.Status != probe.OK {
		return exitFindings
	}
	return exitOK
}

// checkUsername refuses what no queue file would carry: nothing, white
// space, control characters, more than UMC takes.
func checkUsername(u string) error {
	switch {
	case u == "":
		return fmt.Errorf("no user given")
	case strings.IndexFunc(u, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return fmt.Errorf("user %q holds white space or control characters", u)
	case len([]rune(u)) > record.MaxUsernameLength:
		return fmt.Errorf("user name longer than %d characters, which UMC refuses", record.MaxUsernameLength)
	}
	return nil
}
