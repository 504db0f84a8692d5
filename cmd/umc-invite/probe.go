package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"umc-invite/umc"
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
		results, title := []Result{{Check: "config", Status: Fail, Detail: fmt.Sprintf("%v (umc-invite check names the line)", err)}}, t.name
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

// targetFlags are -c and every key as a flag (--umc-url); load reads the key flags or the files' outputs, never both.
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

// Status of one check: skip, not run as an earlier one failed; off, left out by the operator.
type Status string

const (
	OK   Status = "ok"
	Warn Status = "warn" // passes, but look at it
	Fail Status = "FAIL"
	Skip Status = "skip"
	Off  Status = "off"
)

// Result is one check's line.
type Result struct {
	Check  string
	Status Status
	Detail string
}

// probeUMC checks DNS, TCP, TLS, then calls send_token twice for a user that cannot exist, up to the first failure.
func probeUMC(ctx context.Context, cfg *config.Config) []Result {
	user, bogusMethod := umc.ImpossibleUsername(), umc.MadeUpMethod() // random: no shared rate-limit counter
	var out []Result
	add := func(check string, s Status, format string, args ...any) Status {
		out = append(out, Result{check, s, fmt.Sprintf(format, args...)})
		return s
	}
	all := []string{"dns", "tcp", "tls", "endpoint", "auth", "send_token", "method"}
	skipRest := func(why string) []Result {
		for _, c := range all[len(out):] {
			add(c, Skip, "not tried: %s", why)
		}
		return out
	}
	fail := func(why, check, format string, args ...any) []Result {
		add(check, Fail, format, args...)
		return skipRest(why)
	}

	target, key, via := cfg.URL, "UMC_URL", ""
	if cfg.HTTPProxy != nil {
		target, key, via = cfg.HTTPProxy, "HTTP_Proxy", " (HTTP_Proxy)"
	}
	host, port := target.Hostname(), cmp.Or(target.Port(), map[string]string{"https": "443"}[target.Scheme], "80")

	// dns
	addrs := []string{host}
	if ip := net.ParseIP(host); ip != nil {
		add("dns", OK, "%s%s is an IP address: nothing to resolve", host, via)
	} else {
		dctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		found, err := net.DefaultResolver.LookupHost(dctx, host)
		cancel()
		if err != nil {
			return fail("no address", "dns", "cannot resolve %s%s: %v: check the host name in %s and the DNS where the plugin runs", host, via, err, key)
		}
		addrs = found
		add("dns", OK, "%s%s resolves to %s", host, via, strings.Join(found, ", "))
	}

	// tcp
	dialer, start := &net.Dialer{Timeout: cfg.Timeout}, time.Now()
	var conn net.Conn
	var dialErr error
	for _, a := range addrs {
		if conn, dialErr = dialer.DialContext(ctx, "tcp", net.JoinHostPort(a, port)); dialErr == nil {
			break
		}
	}
	if dialErr != nil {
		hint := "a firewall, a network policy, or the wrong address"
		if errors.Is(dialErr, syscall.ECONNREFUSED) {
			hint = "nothing listens there: check the port in " + key + " and that UMC (or its ingress) runs"
		}
		return fail("no connection", "tcp", "cannot connect to %s%s: %v: %s", net.JoinHostPort(host, port), via, dialErr, hint)
	}
	defer conn.Close()
	add("tcp", OK, "connected to %s%s in %s", conn.RemoteAddr(), via, time.Since(start).Round(100*time.Microsecond))

	// tls
	switch {
	case cfg.URL.Scheme != "https":
		add("tls", OK, "UMC_URL is plain http: no TLS to check")
	case cfg.HTTPProxy != nil:
		add("tls", OK, "through HTTP_Proxy: UMC's certificate is checked by the calls below")
	default:
		if s := checkTLS(conn, cfg, host, add); s == Fail {
			return skipRest("TLS failed")
		}
	}

	// endpoint, auth, send_token: one call for a user that cannot exist.
	first, err := call(ctx, cfg, cfg.Method, user)
	if err != nil {
		return fail("no client", "endpoint", "%v", err)
	}
	endpoint := cfg.Endpoint()
	switch {
	case first.Err != nil:
		return fail("no answer", "endpoint", "POST %s: %s", endpoint, first)
	case first.Status >= 300 && first.Status < 400:
		return fail("redirected", "endpoint", "POST %s: HTTP %d, a redirect to %s: set UMC_URL to the final address (redirects are never followed)", endpoint, first.Status, first.Location)
	case first.Status == http.StatusNotFound:
		return fail("not found", "endpoint", "POST %s: HTTP 404: wrong UMC_URL (…/univention: https://<host>/univention on UCS, http://<release>-umc-server/univention in Nubus) or Command, or the self-service module is not installed", endpoint)
	case !first.FromUMC:
		return fail("not UMC", "endpoint", "POST %s: HTTP %d without UMC's JSON body: something else answers there (an ingress, a proxy, a login page)", endpoint, first.Status)
	}
	add("endpoint", OK, "POST %s: UMC answers (HTTP %d, JSON)", endpoint, first.Status)

	if first.Status == http.StatusUnauthorized || first.Status == http.StatusForbidden {
		return fail("credentials refused", "auth", "%s", refusal(cfg, first))
	}
	if cfg.AuthUser == "" {
		add("auth", OK, "no Auth_User: anonymous calls, which send_token allows")
	} else {
		add("auth", OK, "Auth_User %q and its password are accepted (not 401)", cfg.AuthUser)
	}

	switch first.Status {
	case http.StatusBadRequest:
		add("send_token", OK, "HTTP 400 for the impossible user %q, as UMC refuses users it does not know: the passwordreset module runs and takes calls", user)
	case http.StatusOK:
		return fail("not UMC's send_token", "send_token", "HTTP 200 for the user %q, which cannot exist: that is not UMC's send_token (a stand-in that takes anyone?)", user)
	case http.StatusServiceUnavailable:
		return fail("send_token unavailable", "send_token", "HTTP 503 %q: the self-service is off (UCR umc/self-service/enabled), cannot reach its backend or LDAP, or a rate limit holds: see the message", first.Message)
	default:
		return fail("unexpected answer", "send_token", "%s: not UMC's answer for an unknown user", first)
	}

	// UMC checks the reset switch, the method, then the user: refusals are compared, never read (translated).
	second, err := call(ctx, cfg, bogusMethod, user)
	switch {
	case err != nil || second.Err != nil || second.Status != http.StatusBadRequest || !second.FromUMC:
		add("method", Fail, "a second call, with a made-up method, got %s: cannot compare", second)
	case first.Message == "":
		add("method", Warn, "UMC's answers carry no message: cannot tell whether Method %q is known", cfg.Method)
	case first.Message == second.Message:
		add("method", Fail, "UMC refuses every send_token before it looks at the method (%q): the password reset is switched off (UCR umc/self-service/passwordreset/backend/enabled)", first.Message)
	case first.Message == strings.ReplaceAll(second.Message, bogusMethod, cfg.Method):
		add("method", Fail, "UMC does not know Method %q (%q): fix Method, or enable that way of sending on UMC (e.g. UCR umc/self-service/passwordreset/email/enabled)", cfg.Method, first.Message)
	default:
		add("method", OK, "Method %q is known and the password reset is on: UMC refused the made-up method differently (%q)", cfg.Method, second.Message)
	}
	return out
}

// refusal says what a 401 or 403 means for these credentials.
func refusal(cfg *config.Config, a umc.Answer) string {
	who := "anonymous calls (no Auth_User, no password)"
	fix := "set Auth_User and Auth_Password_File to a UMC account that may call it, or let UMC take anonymous calls as Nubus's own sender makes them"
	if cfg.AuthUser != "" {
		// Where the password comes from, never the password.
		source := "no password (Auth_Password_File unset)"
		if cfg.AuthPasswordFile != "" {
			source = "the password in Auth_Password_File " + cfg.AuthPasswordFile
		} else if cfg.AuthPassword != "" {
			source = "the inline Auth_Password"
		}
		who = fmt.Sprintf("Auth_User %q with %s", cfg.AuthUser, source)
		fix = "fix Auth_User or the password, or remove both: send_token takes anonymous calls, as Nubus's own sender makes them"
	}
	what := map[bool]string{false: "refuses", true: "forbids send_token to"}[a.Status == http.StatusForbidden]
	msg := map[bool]string{true: fmt.Sprintf(" (%q)", a.Message)}[a.Message != ""]
	return fmt.Sprintf("HTTP %d%s: UMC %s %s: %s; waiting does not heal this, the plugin holds every invitation until it is fixed", a.Status, msg, what, who, fix)
}

// call makes exactly one send_token call through the plugin's client.
func call(ctx context.Context, cfg *config.Config, method, username string) (umc.Answer, error) {
	c := *cfg
	c.Method, c.QuickRetries = method, 0
	client, err := umc.NewClient(&c)
	if err != nil {
		return umc.Answer{}, err
	}
	defer client.Close()
	return client.SendToken(ctx, username), nil
}

// checkTLS shakes hands over conn as the client would.
func checkTLS(conn net.Conn, cfg *config.Config, host string, add func(string, Status, string, ...any) Status) Status {
	tc := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12, InsecureSkipVerify: !cfg.TLSVerify} //nolint:gosec // as the operator configured
	roots := "the system's roots"
	if len(cfg.TLSCAPEM) > 0 { // read from TLS_CA_File
		roots, tc.RootCAs = "TLS_CA_File "+cfg.TLSCAFile, x509.NewCertPool()
		tc.RootCAs.AppendCertsFromPEM(cfg.TLSCAPEM)
	}
	_ = conn.SetDeadline(time.Now().Add(cfg.Timeout))
	t := tls.Client(conn, tc)
	if err := t.Handshake(); err != nil {
		if unknown, ok := errors.AsType[x509.UnknownAuthorityError](err); ok {
			issuer := ""
			if unknown.Cert != nil {
				issuer = " (issuer " + unknown.Cert.Issuer.String() + ")"
			}
			return add("tls", Fail, "UMC's certificate%s is not signed by a CA in %s: set TLS_CA_File to the CA bundle that signed it", issuer, roots)
		} else if hostErr, ok := errors.AsType[x509.HostnameError](err); ok {
			return add("tls", Fail, "UMC's certificate is for %s, not %s: UMC_URL must name a host the certificate holds", names(hostErr.Certificate), host)
		} else if invalid, ok := errors.AsType[x509.CertificateInvalidError](err); ok && invalid.Reason == x509.Expired {
			return add("tls", Fail, "UMC's certificate is expired or not yet valid (%v): renew it", err)
		}
		return add("tls", Fail, "TLS handshake with %s failed: %v (is the port plain http?)", host, err)
	}
	st := t.ConnectionState()
	leaf := st.PeerCertificates[0]
	what := fmt.Sprintf("%s, certificate for %s, issued by %s, valid until %s",
		tls.VersionName(st.Version), names(leaf), cmp.Or(leaf.Issuer.CommonName, leaf.Issuer.String()), leaf.NotAfter.UTC().Format("2006-01-02"))
	if !cfg.TLSVerify {
		return add("tls", Warn, "%s: NOT verified (TLS_Verify off): anyone in between can read the password", what)
	}
	if time.Until(leaf.NotAfter) < 14*24*time.Hour {
		return add("tls", Warn, "%s: verified, but it expires within 14 days", what)
	}
	return add("tls", OK, "%s: verified against %s", what, roots)
}

func names(c *x509.Certificate) string {
	if c == nil {
		return "?"
	}
	n := slices.Clone(c.DNSNames)
	for _, ip := range c.IPAddresses {
		n = append(n, ip.String())
	}
	return cmp.Or(strings.Join(n, ", "), c.Subject.CommonName)
}

// inviteOne makes exactly one real send_token call, passing only on UMC's 200.
func inviteOne(ctx context.Context, cfg *config.Config, username string) Result {
	a, err := call(ctx, cfg, cfg.Method, username)
	endpoint := cfg.Endpoint()
	detail := fmt.Sprintf("POST %s: %s", endpoint, a)
	switch {
	case err != nil:
		detail = err.Error()
	case a.Err != nil:
		detail += ": no answer; run umc-invite probe"
	case a.Status == http.StatusOK:
		return Result{"invite", OK, fmt.Sprintf("UMC answered 200 for %q: it sent the invitation (check that the mail arrives)", username)}
	case !a.FromUMC:
		detail = fmt.Sprintf("POST %s: HTTP %d without UMC's JSON body: run umc-invite probe", endpoint, a.Status)
	case a.Status == http.StatusUnauthorized || a.Status == http.StatusForbidden && a.Message != "Username too long":
		detail = refusal(cfg, a)
	case a.Status == http.StatusBadRequest:
		detail = fmt.Sprintf("HTTP 400 %q: UMC mails no one for %q: the user is unknown, has no PasswordRecoveryEmail, "+
			"is outside the self-service's groups, or the password reset or its e-mail method is off", a.Message, username)
	case a.Status >= 500:
		detail = fmt.Sprintf("HTTP %d %q: UMC could not send it; a message about the mail server means Nubus has no working SMTP "+
			"(nubusStackDataUms.stackDataContext.smtpHost and friends, nubusUmcServer.smtp)", a.Status, a.Message)
	}
	return Result{"invite", Fail, detail}
}
