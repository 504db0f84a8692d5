package metrics

import (
	"testing"

	"umc-invite/tests/umctest"
)

// A directory renamed away under an output shows as 1 on that output's
// own series, 0 from the start and again once it is back.
func TestAMovedDirectoryShowsOnItsOutput(t *testing.T) {
	addr := umctest.FreeAddr(t)
	a, b := attach(t, uniq("a"), addr, nil), attach(t, uniq("b"), addr, nil)
	defer a.Detach()
	defer b.Detach()
	moved := func(o *Output) float64 {
		v, ok := scrape(t, addr)[series("umc_invite_directory_moved", "output", o.Name())]
		if !ok {
			t.Fatalf("no umc_invite_directory_moved for %s", o.Name())
		}
		return v
	}
	if moved(a) != 0 || moved(b) != 0 {
		t.Fatal("moved from the start")
	}
	a.DirectoryMoved(true)
	if moved(a) != 1 || moved(b) != 0 {
		t.Errorf("a moved: a %v, b %v; want 1 and 0", moved(a), moved(b))
	}
	a.DirectoryMoved(false)
	if moved(a) != 0 {
		t.Error("back in place: still 1")
	}
}
