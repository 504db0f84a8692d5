package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"

	"umc-invite/umc/config"
	"umc-invite/umc/fbconfig"
	"umc-invite/umc/spool"
)

// OutputName is the plugin's output name.
const OutputName = "umc_invite"

// genericKeys are the keys Fluent Bit consumes on every output, whatever
// the plugin: they are valid, and the plugin never sees them.
var genericKeys = []string{"Name", "Match", "Match_Regex", "Alias", "Log_Level", "Log_Suppress_Interval",
	"Retry_Limit", "Workers", "storage.total_limit_size", "Host", "Port", "tls", "processors"}

// consumedHints: generic keys that look like plugin settings but change
// nothing in the plugin, with what to use instead.
var consumedHints = map[string]string{
	"host":                 "use UMC_URL",
	"port":                 "use UMC_URL",
	"tls":                  "use an https UMC_URL",
	"tls.verify":           "use TLS_Verify",
	"tls.ca_file":          "use TLS_CA_File",
	"tls.ca_path":          "use TLS_CA_File",
	"tls.vhost":            "use UMC_URL",
	"net.proxy_env_ignore": "the plugin ignores the environment's proxies; use HTTP_Proxy",
}

func isGeneric(key string) bool {
	k := strings.ToLower(key)
	if strings.HasPrefix(k, "tls.") || strings.HasPrefix(k, "net.") {
		return true
	}
	for _, g := range genericKeys {
		if strings.EqualFold(g, k) {
			return true
		}
	}
	return false
}

// finding is one thing wrong, where it is. One that disables its output
// only (a tenant's directory) is reported but fails no check: Fluent Bit
// and the other outputs start, as they would with the plugin.
type finding struct {
	file     string
	line     int
	output   int
	msg      string
	disables bool
}

func (f finding) String() string {
	return fmt.Sprintf("%s:%d: %s output #%d: %s", f.file, f.line, OutputName, f.output, f.msg)
}

// failing reports whether any finding stops Fluent Bit itself.
func failing(findings []finding) bool {
	return slices.ContainsFunc(findings, func(f finding) bool { return !f.disables })
}

func runCheck(args []string, stdout, stderr io.Writer, env fbconfig.Env) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfgFiles files
	fs.Var(&cfgFiles, "c", "Fluent Bit config: classic, YAML, or a Kubernetes manifest with a ConfigMap (repeatable)")
	offline := fs.Bool("offline", false, "files the keys name (Auth_Password_File, TLS_CA_File, Queue_Dir, Config_File) may be missing here: check what exists, skip what does not")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: umc-invite check -c FILE [-c FILE...] [--offline]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	cfgFiles = append(cfgFiles, fs.Args()...)
	if len(cfgFiles) == 0 {
		fs.Usage()
		return exitUsage
	}
	status := exitOK
	for _, path := range cfgFiles {
		findings, notes, err := checkFile(path, env, *offline)
		if err != nil {
			var pe *fbconfig.ParseError
			if errors.As(err, &pe) {
				fmt.Fprintln(stdout, pe.Error())
				status = max(status, exitFindings)
				continue
			}
			fmt.Fprintf(stderr, "umc-invite check: %v\n", err)
			return exitUsage
		}
		for _, n := range notes {
			fmt.Fprintln(stderr, n)
		}
		for _, f := range findings {
			fmt.Fprintln(stdout, f)
		}
		if failing(findings) {
			status = max(status, exitFindings)
		}
	}
	return status
}

// checkFile returns the findings of one config, and notes on what was not
// checked; an error is a file that cannot be read or parsed.
func checkFile(path string, env fbconfig.Env, offline bool) ([]finding, []string, error) {
	cfg, err := fbconfig.Load(path, env)
	if err != nil {
		return nil, nil, err
	}
	outputs := cfg.Outputs(OutputName)
	if len(outputs) == 0 {
		return []finding{{file: path, line: 1, msg: "no output with Name umc_invite in this config"}}, nil, nil
	}
	var all []finding
	var notes []string
	for i, s := range outputs {
		f, n := checkOutput(s, i+1, offline)
		all = append(all, f...)
		notes = append(notes, n...)
	}
	if len(all) == 0 {
		notes = append(notes, fmt.Sprintf("%s: %d umc_invite output(s): all well", path, len(outputs)))
	}
	return all, notes, nil
}

func checkOutput(s fbconfig.Section, n int, offline bool) ([]finding, []string) {
	var out []finding
	var notes []string
	at := func(e fbconfig.Entry, format string, args ...any) {
		out = append(out, finding{file: e.File, line: e.Line, output: n, msg: fmt.Sprintf(format, args...)})
	}
	header := fbconfig.Entry{File: s.File, Line: s.Line}

	// Unknown, doubled and misplaced keys.
	seen := map[string]fbconfig.Entry{}
	values := config.Map{}
	for _, e := range s.Entries {
		lk := strings.ToLower(e.Key)
		if prev, dup := seen[lk]; dup {
			at(e, "%s: written twice (also on line %d): keep one", e.Key, prev.Line)
		}
		seen[lk] = e
		if msg, ok := config.RetiredKey(e.Key); ok {
			at(e, "%s: no longer read, and refused at start: %s", e.Key, msg)
			continue
		}
		if _, ok := config.Lookup(e.Key); ok {
			values[e.Key] = e.Value
			continue
		}
		if isGeneric(e.Key) {
			if hint, ok := consumedHints[lk]; ok {
				at(e, "%s: Fluent Bit's own key: the plugin never sees it (%s)", e.Key, hint)
			} else if strings.HasPrefix(lk, "tls.") || strings.HasPrefix(lk, "net.") {
				at(e, "%s: Fluent Bit's own key for its C plugins' connections: it changes nothing for this plugin", e.Key)
			}
			continue
		}
		if guess := didYouMean(e.Key); guess != "" {
			at(e, "%s: unknown key (did you mean %s?)", e.Key, guess)
		} else {
			at(e, "%s: unknown key: Fluent Bit passes it on silently and the plugin ignores it", e.Key)
		}
	}

	// Values, as the plugin checks them at init.
	skipped := offlineStandIns(values, offline)
	if len(skipped) > 0 {
		notes = append(notes, fmt.Sprintf("%s:%d: %s output #%d: --offline: not found here, not checked: %s",
			s.File, s.Line, OutputName, n, strings.Join(skipped, ", ")))
	}
	// Load stops at the first bad key: report it, take the key's default
	// and load again, so that one run names every bad value.
	var cfg *config.Config
	reported := map[string]bool{}
	for range config.Keys {
		var err error
		if cfg, err = config.Load(values); err == nil {
			break
		}
		var ke *config.KeyError
		if !errors.As(err, &ke) || reported[ke.Key] {
			break
		}
		reported[ke.Key] = true
		e, ok := s.Get(ke.Key)
		if !ok {
			e = header
		}
		if slices.Contains(skipped, "Config_File") && !ok {
			// The key may be set in the Config_File that is not here.
			notes = append(notes, fmt.Sprintf("%s:%d: %s output #%d: %v: not reported, it may be set in the Config_File", e.File, e.Line, OutputName, n, err))
		} else {
			at(e, "%v", err)
		}
		for k := range values {
			if strings.EqualFold(k, ke.Key) {
				delete(values, k)
			}
		}
	}
	chunkRetryLimit := 0
	if cfg != nil {
		if f, bad := queueDirFinding(cfg.QueueDir, s, header, n); bad {
			out = append(out, f)
		}
		chunkRetryLimit = cfg.ChunkRetryLimit
		for _, w := range cfg.Warnings() {
			notes = append(notes, fmt.Sprintf("%s:%d: %s output #%d: warning: %s", s.File, s.Line, OutputName, n, w))
		}
	} else if v, err := strconv.Atoi(strings.TrimSpace(s.Value("Chunk_Retry_Limit"))); err == nil {
		chunkRetryLimit = v
	} else if !has(s, "Chunk_Retry_Limit") {
		k, _ := config.Lookup("Chunk_Retry_Limit")
		chunkRetryLimit, _ = strconv.Atoi(k.Default)
	}

	// Retry_Limit equal to Chunk_Retry_Limit.
	if chunkRetryLimit > 0 {
		if msg := retryLimitProblem(s.Value("Retry_Limit"), has(s, "Retry_Limit"), chunkRetryLimit); msg != "" {
			e, ok := s.Get("Retry_Limit")
			if !ok {
				e = header
			}
			at(e, "%s", msg)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].line < out[j].line })
	return out, notes
}

// queueDirProblem opens the queue directory as the output does at start
// (read only): one that is missing or no directory disables that output
// alone. nil: a directory, or no Queue_Dir.
func queueDirProblem(dir string) error {
	if dir == "" {
		return nil
	}
	h, err := spool.OpenDir(dir)
	if err != nil {
		// The configured path first: a dangling link's error names only
		// its target.
		return fmt.Errorf("%s: %s: %w: this output starts disabled (it sends nothing, its files wait); Fluent Bit and the other outputs start", "Queue_Dir", dir, err)
	}
	return h.Close()
}

func queueDirFinding(dir string, s fbconfig.Section, header fbconfig.Entry, n int) (finding, bool) {
	err := queueDirProblem(dir)
	if err == nil {
		return finding{}, false
	}
	e, ok := s.Get("Queue_Dir")
	if !ok {
		e = header
	}
	return finding{file: e.File, line: e.Line, output: n, msg: err.Error(), disables: true}, true
}

func has(s fbconfig.Section, key string) bool { _, ok := s.Get(key); return ok }

// retryLimitProblem says what is wrong with a Retry_Limit for the
// plugin's Chunk_Retry_Limit, or "". Fluent Bit's default is 1; no_limits
// and False retry forever, no_retries never. Out of step, the plugin
// carries its waiting users over on a try that is not the chunk's last
// (harmless but wasteful), or never before Fluent Bit drops the chunk:
// then the waiting users stay in the queue, read and never tried again.
func retryLimitProblem(raw string, set bool, want int) string {
	v := strings.ToLower(strings.TrimSpace(raw))
	switch {
	case !set:
		return fmt.Sprintf("Retry_Limit: not set, so Fluent Bit's default 1 (2 tries of a chunk), not Chunk_Retry_Limit %d: set Retry_Limit %d", want, want)
	case v == "no_limits" || v == "false" || v == "off":
		return fmt.Sprintf("Retry_Limit: %s retries a chunk forever, not Chunk_Retry_Limit %d: set Retry_Limit %d (users wait by the plugin's own pauses, not by Fluent Bit's)", raw, want, want)
	case v == "no_retries":
		return fmt.Sprintf("Retry_Limit: no_retries (1 try of a chunk) is not Chunk_Retry_Limit %d: set Retry_Limit %d", want, want)
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return fmt.Sprintf("Retry_Limit: %q is not a number, no_limits, False or no_retries", raw)
	}
	if n != want {
		return fmt.Sprintf("Retry_Limit: %d is not Chunk_Retry_Limit %d: the plugin carries waiting users over on what it takes for a chunk's last try, try %d; Fluent Bit's last is try %d: set Retry_Limit %d and Chunk_Retry_Limit %d alike", n, want, want+1, n+1, want, want)
	}
	return ""
}

// didYouMean is the nearest plugin or Fluent Bit key to a misspelt one.
func didYouMean(key string) string {
	cands := append([]string(nil), genericKeys...)
	cands = append(cands, "tls.verify", "tls.ca_file")
	for _, k := range config.Keys {
		cands = append(cands, k.Name)
	}
	best, bestD := "", 1<<30
	for _, c := range cands {
		if d := distance(strings.ToLower(key), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	// Close enough to be a slip, not another word.
	if bestD <= 3 && bestD*3 <= len(key) {
		return best
	}
	return ""
}

// distance is the Damerau-Levenshtein (optimal string alignment) distance:
// a swapped pair of letters is one slip.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// offlineStandIns stands in, with --offline, for each file or directory a
// key names that does not exist here, so that the rest of the output is
// still checked as the plugin would; it returns the keys it stood in for.
// A file that exists is checked as it is. The stand-ins write nothing (a
// read-only root without /tmp is where the chart runs check): a missing
// password file becomes an inline password, so that a password still needs
// its user; a missing CA bundle is left out; a missing queue directory
// becomes "/", a directory every system has.
func offlineStandIns(values config.Map, offline bool) []string {
	if !offline {
		return nil
	}
	var skipped []string
	missing := func(key string) (string, bool) {
		for k, v := range values {
			if strings.EqualFold(k, key) && strings.TrimSpace(v) != "" {
				if _, err := os.Stat(strings.TrimSpace(v)); err != nil {
					return k, true
				}
			}
		}
		return "", false
	}
	if k, ok := missing("Auth_Password_File"); ok {
		delete(values, k)
		if strings.TrimSpace(values.Get("Auth_Password")) == "" {
			values["Auth_Password"] = "stand-in"
		}
		skipped = append(skipped, "Auth_Password_File")
	}
	if k, ok := missing("TLS_CA_File"); ok {
		delete(values, k)
		skipped = append(skipped, "TLS_CA_File")
	}
	if k, ok := missing("Queue_Dir"); ok {
		values[k] = "/"
		skipped = append(skipped, "Queue_Dir")
	}
	if k, ok := missing("Config_File"); ok {
		delete(values, k)
		skipped = append(skipped, "Config_File")
	}
	sort.Strings(skipped)
	return skipped
}
