package main

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"

	"umc-invite/umc/config"
	"umc-invite/umc/fbconfig"
	"umc-invite/umc/spool"
)

// OutputName is the plugin's output name.
const OutputName = "umc_invite"

// genericKeys are consumed by Fluent Bit on every output: valid, never seen by the plugin.
var genericKeys = []string{"Name", "Match", "Match_Regex", "Alias", "Log_Level", "Log_Suppress_Interval",
	"Retry_Limit", "Workers", "storage.total_limit_size", "Host", "Port", "tls", "processors"}

// consumedHints: generic keys that look like plugin settings, and what to use instead.
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

// finding is one thing wrong, where; one that only disables its output fails no check.
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

func runCheck(args []string, stdout, stderr io.Writer, env fbconfig.Env) int {
	fs := newFlags("check", "usage: umc-invite check -c FILE [-c FILE...] [--offline]", stderr)
	var cfgFiles []string
	fs.Func("c", "Fluent Bit config: classic, YAML, or a Kubernetes manifest with a ConfigMap (repeatable)", func(v string) error { cfgFiles = append(cfgFiles, v); return nil })
	offline := fs.Bool("offline", false, "files the keys name (Auth_Password_File, TLS_CA_File, Queue_Dir, Config_File) may be missing here: check what exists, skip what does not")
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
		outputs, err := fbconfig.Outputs(path, env, OutputName)
		if pe, ok := errors.AsType[*fbconfig.ParseError](err); ok {
			fmt.Fprintln(stdout, pe.Error())
			status = max(status, exitFindings)
			continue
		} else if err != nil {
			fmt.Fprintf(stderr, "umc-invite check: %v\n", err)
			return exitUsage
		}
		var findings []finding
		if len(outputs) == 0 {
			findings = []finding{{file: path, line: 1, msg: "no output with Name umc_invite in this config"}}
		}
		for i, s := range outputs {
			findings = append(findings, checkOutput(s, i+1, *offline, stderr)...)
		}
		if len(outputs) > 0 && len(findings) == 0 {
			fmt.Fprintf(stderr, "%s: %d umc_invite output(s): all well\n", path, len(outputs))
		}
		for _, f := range findings {
			fmt.Fprintln(stdout, f)
		}
		if slices.ContainsFunc(findings, func(f finding) bool { return !f.disables }) {
			status = max(status, exitFindings)
		}
	}
	return status
}

// checkOutput returns what is wrong with one output; notes (nothing wrong) go to stderr.
func checkOutput(s fbconfig.Section, n int, offline bool, stderr io.Writer) []finding {
	var out []finding
	header := fbconfig.Entry{File: s.File, Line: s.Line}
	entry := func(key string) (fbconfig.Entry, bool) {
		e, ok := s.Get(key)
		return cmp.Or(e, header), ok
	}
	at := func(e fbconfig.Entry, format string, args ...any) {
		out = append(out, finding{file: e.File, line: e.Line, output: n, msg: fmt.Sprintf(format, args...)})
	}
	note := func(e fbconfig.Entry, format string, args ...any) {
		fmt.Fprintln(stderr, finding{file: e.File, line: e.Line, output: n, msg: fmt.Sprintf(format, args...)})
	}

	// Unknown, doubled and misplaced keys.
	seen := map[string]fbconfig.Entry{}
	values := config.Map{}
	for _, e := range s.Entries {
		lk := strings.ToLower(e.Key)
		if prev, dup := seen[lk]; dup {
			at(e, "%s: written twice (also on line %d): keep one", e.Key, prev.Line)
		}
		seen[lk] = e
		_, known := config.Lookup(e.Key)
		msg, retired := config.RetiredKey(e.Key)
		hint, consumed := consumedHints[lk]
		switch {
		case retired:
			at(e, "%s: no longer read, and refused at start: %s", e.Key, msg)
		case known:
			values[e.Key] = e.Value
		case consumed:
			at(e, "%s: Fluent Bit's own key: the plugin never sees it (%s)", e.Key, hint)
		case strings.HasPrefix(lk, "tls.") || strings.HasPrefix(lk, "net."):
			at(e, "%s: Fluent Bit's own key for its C plugins' connections: it changes nothing for this plugin", e.Key)
		case slices.ContainsFunc(genericKeys, func(g string) bool { return strings.EqualFold(g, lk) }):
		case didYouMean(e.Key) != "":
			at(e, "%s: unknown key (did you mean %s?)", e.Key, didYouMean(e.Key))
		default:
			at(e, "%s: unknown key: Fluent Bit passes it on silently and the plugin ignores it", e.Key)
		}
	}

	// Values, as the plugin checks them at init.
	skipped := offlineStandIns(values, offline)
	if len(skipped) > 0 {
		note(header, "--offline: not found here, not checked: %s", strings.Join(skipped, ", "))
	}
	// Load stops at the first bad key: reported, it is loaded again without it.
	var cfg *config.Config
	reported := map[string]bool{}
	for range config.Keys {
		var err error
		if cfg, err = config.Load(values); err == nil {
			break
		}
		ke, ok := errors.AsType[*config.KeyError](err)
		if !ok || reported[ke.Key] {
			break
		}
		reported[ke.Key] = true
		if e, ok := entry(ke.Key); !ok && slices.Contains(skipped, "Config_File") {
			note(e, "%v: not reported, it may be set in the Config_File", err)
		} else {
			at(e, "%v", err)
		}
		maps.DeleteFunc(values, func(k, _ string) bool { return strings.EqualFold(k, ke.Key) })
	}
	k, _ := config.Lookup("Chunk_Retry_Limit") // cfg's when loaded, else as written
	chunkRetryLimit, _ := strconv.Atoi(cmp.Or(strings.TrimSpace(values.Get(k.Name)), k.Default))
	if cfg != nil {
		if err := queueDirProblem(cfg.QueueDir); err != nil {
			e, _ := entry("Queue_Dir")
			out = append(out, finding{file: e.File, line: e.Line, output: n, msg: err.Error(), disables: true})
		}
		chunkRetryLimit = cfg.ChunkRetryLimit
		for _, w := range cfg.Warnings() {
			note(header, "warning: %s", w)
		}
	}
	if chunkRetryLimit > 0 {
		e, set := entry("Retry_Limit")
		if msg := retryLimitProblem(e.Value, set, chunkRetryLimit); msg != "" {
			at(e, "%s", msg)
		}
	}
	slices.SortStableFunc(out, func(a, b finding) int { return a.line - b.line })
	return out
}

// queueDirProblem opens Queue_Dir as the output does at start.
func queueDirProblem(dir string) error {
	if dir == "" {
		return nil
	}
	h, err := spool.OpenDir(dir)
	if err != nil {
		// The configured path first: a dangling link's error names only its target.
		return fmt.Errorf("%s: %s: %w: this output starts disabled (it sends nothing, its files wait); Fluent Bit and the other outputs start", "Queue_Dir", dir, err)
	}
	return h.Close()
}

// retryLimitProblem says what is wrong with Retry_Limit, or "": out of step, users are carried over too early or never.
func retryLimitProblem(raw string, set bool, want int) string {
	v := strings.ToLower(strings.TrimSpace(raw))
	n, err := strconv.Atoi(v)
	switch {
	case !set:
		return fmt.Sprintf("Retry_Limit: not set, so Fluent Bit's default 1 (2 tries of a chunk), not Chunk_Retry_Limit %d: set Retry_Limit %d", want, want)
	case v == "no_limits" || v == "false" || v == "off":
		return fmt.Sprintf("Retry_Limit: %s retries a chunk forever, not Chunk_Retry_Limit %d: set Retry_Limit %d (users wait by the plugin's own pauses, not by Fluent Bit's)", raw, want, want)
	case v == "no_retries":
		return fmt.Sprintf("Retry_Limit: no_retries (1 try of a chunk) is not Chunk_Retry_Limit %d: set Retry_Limit %d", want, want)
	case err != nil || n < 0:
		return fmt.Sprintf("Retry_Limit: %q is not a number, no_limits, False or no_retries", raw)
	case n != want:
		return fmt.Sprintf("Retry_Limit: %d is not Chunk_Retry_Limit %d: the plugin carries waiting users over on what it takes for a chunk's last try, try %d; Fluent Bit's last is try %d: set Retry_Limit %d and Chunk_Retry_Limit %d alike", n, want, want+1, n+1, want, want)
	}
	return ""
}

// didYouMean is the nearest plugin or Fluent Bit key to a misspelt one.
func didYouMean(key string) string {
	cands := append(slices.Clone(genericKeys), "tls.verify", "tls.ca_file")
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

// distance is the optimal string alignment distance: a swap is one slip.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		for j := range d[i] {
			if i == 0 || j == 0 {
				d[i][j] = i + j
				continue
			}
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

// offlineStandIns replaces, with --offline, each missing file a key names; nothing is written (read-only root).
func offlineStandIns(values config.Map, offline bool) []string {
	var skipped []string
	for k, v := range values {
		key, _ := config.Lookup(k)
		if !offline || strings.TrimSpace(v) == "" || !slices.Contains([]string{"Auth_Password_File", "Config_File", "Queue_Dir", "TLS_CA_File"}, key.Name) {
			continue
		} else if _, err := os.Stat(strings.TrimSpace(v)); err == nil {
			continue
		}
		skipped = append(skipped, key.Name)
		delete(values, k)
		if key.Name == "Queue_Dir" {
			values[k] = "/"
		} else if key.Name == "Auth_Password_File" && strings.TrimSpace(values.Get("Auth_Password")) == "" {
			values["Auth_Password"] = "stand-in"
		}
	}
	slices.Sort(skipped)
	return skipped
}
