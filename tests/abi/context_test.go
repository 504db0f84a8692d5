package abi

import (
	"fmt"
	"strings"
	"testing"

	"umc-invite/tests/umctest"
)

// A flush or exit with a context init never set (NULL: no init, or an init
// that refused its configuration) is an unknown instance, not a crash.
func TestFlushAndExitWithoutAContextAreAnUnknownInstance(t *testing.T) {
	out, log := host(t,
		"flush 5 /dev/null umc_invite",
		"exit 6",
		"init 0 Timeout=30s", // refused: no UMC_URL, no context set
		"flush 0 /dev/null umc_invite",
		"exit 0",
	)
	if fmt.Sprint(out) != "[flush 5 0 exit 6 1 init 0 0 flush 0 0 exit 0 1]" {
		t.Fatalf("%v\n%s", out, log)
	}
	if strings.Count(log, "flush for an unknown instance") != 2 {
		t.Fatalf("want two flushes named unknown instances:\n%s", log)
	}
}

// A flush that comes after its instance's exit finds no instance, even
// once another instance has started: handles are never reused.
func TestALateFlushAfterExitIsAnUnknownInstance(t *testing.T) {
	umc := &umctest.UMC{}
	dir := t.TempDir()
	url := umctest.NewServer(t, umc)
	c := queue(t, dir, "alice")
	out, log := host(t,
		"init 0 UMC_URL="+url+" Queue_Dir="+dir,
		"exit 0",
		"flush 0 "+c+" umc_invite",
		"init 1 UMC_URL="+url+" Queue_Dir="+dir,
		"flush 0 "+c+" umc_invite",
		"exit 1",
	)
	if fmt.Sprint(out) != "[init 0 1 exit 0 1 flush 0 0 init 1 1 flush 0 0 exit 1 1]" {
		t.Fatalf("%v\n%s", out, log)
	}
	if strings.Count(log, "flush for an unknown instance 0") != 2 {
		t.Fatalf("want both late flushes named instance 0, unknown:\n%s", log)
	}
	if d := umc.Delivered(); len(d) != 0 {
		t.Fatalf("a late flush delivered %v", d)
	}
}
