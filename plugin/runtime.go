package main

import (
	"os"
	"runtime/debug"
)

// The Go runtime cannot see that it shares the process (and a pod's
// memory limit) with Fluent Bit's buffers. Between collections the heap
// may grow by half its live size, not the whole (GOGC 50: about 3 MB less
// at a 2,000-file backlog for a collector that costs the plugin about 1%
// of its CPU); near the soft limit it collects more often, and it never
// refuses memory. GOMEMLIMIT or GOGC in the environment win.
const (
	goMemoryLimit = 32 << 20
	gcPercent     = 50
)

func init() {
	if os.Getenv("GOMEMLIMIT") == "" && os.Getenv("GOGC") == "" {
		debug.SetMemoryLimit(goMemoryLimit)
		debug.SetGCPercent(gcPercent)
	}
}
