package e2e

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umc-invite/tests/umctest"
)

// A producer that writes its queue files 0644 as another user leaves
// Fluent Bit unable to append the carry-over line. An outage longer than a
// chunk's tries must still end with every user invited once: the plugin
// carries over by a copy renamed over the file (the directory is
// writable), which tail reads as a new file. Fluent Bit runs as root
// without CAP_DAC_OVERRIDE, so file modes bind it as they bind uid 65532.
func TestCarryOverIntoFilesFluentBitMayNotWrite(t *testing.T) {
	needFluentBit(t)
	setpriv, err := exec.LookPath("setpriv")
	if os.Geteuid() != 0 || err != nil {
		t.Skip("needs root and setpriv (util-linux) to run fluent-bit bound by file modes")
	}
	t.Parallel()
	const producer = 65532
	o := &outage{status: http.StatusServiceUnavailable}
	umc := &umctest.UMC{Outage: o.answer}
	s := newSite(t, umc)
	wrapper := filepath.Join(t.TempDir(), "fluent-bit-bound-by-modes")
	script := "#!/bin/sh\nexec " + setpriv + " --bounding-set=-dac_override,-dac_read_search --inh-caps=-dac_override,-dac_read_search " + fluentBit + ` "$@"` + "\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	p := startBin(t, wrapper, []string{"-e", pluginPath, "-c", fastConfig(t)}, s.env())
	// The producer's files come after the start, which hands tail every
	// queued file again as a copy of the plugin's own.
	waitFor(t, "the output started", 10*time.Second, p, func() bool { return strings.Contains(p.Log(), "] sending to ") })
	names := users("ro-", 3)
	for _, u := range names {
		path := filepath.Join(s.queue, u+".send")
		tmp := filepath.Join(s.queue, "."+u+".tmp")
		if err := os.WriteFile(tmp, []byte(`{"username": "`+u+`"}`+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(tmp, producer, producer); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	// Two chunks given up: the first carry-over goes by a copy (the
	// producer's file), the second appends to that copy. Each new chunk
	// must reach its own last try, or the second carry-over never comes.
	waitFor(t, "second carry-over in every file", 40*time.Second, p, func() bool {
		return carriedTwice(s.queue) == len(names)
	})
	if d := umc.Delivered(); len(d) > 0 {
		t.Fatalf("delivered during the outage: %v", d)
	}
	waitFor(t, "a quiet moment to end the outage", 10*time.Second, p, func() bool { return o.endWhenQuiet(300 * time.Millisecond) })
	waitFor(t, "every user delivered", 20*time.Second, p, func() bool { return len(umc.Delivered()) == len(names) })
	waitFor(t, "empty queue", 10*time.Second, p, func() bool { return s.queued() == 0 })
	if err := umc.CheckOnce(len(names)); err != nil {
		t.Error(err)
	}
	if l := s.deadLetters(); l != "" {
		t.Errorf("dead letters: %s", l)
	}
	if log := p.Log(); !strings.Contains(log, "carried over into a copy that replaced") {
		t.Errorf("the carry-over did not go by a copy (the test proves nothing):\n%s", tail(log, 40))
	}
}

// carriedTwice counts the queue files holding two carried-over lines.
func carriedTwice(dir string) int {
	n := 0
	names, _ := filepath.Glob(filepath.Join(dir, "*.send"))
	for _, name := range names {
		if data, err := os.ReadFile(name); err == nil && bytes.Count(data, []byte(`"first_seen":`)) >= 2 {
			n++
		}
	}
	return n
}
