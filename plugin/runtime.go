package main

import (
	"os"
	"runtime/debug"
)

// goMemoryLimit is a soft limit for the Go heap inside Fluent Bit: the Go
// runtime cannot see that it shares the process (and a pod's memory limit)
// with Fluent Bit's own buffers, so it would let the heap double between
// collections. Near the limit it collects more often instead; it never
// refuses memory. GOMEMLIMIT or GOGC in the environment win.
const goMemoryLimit = 32 << 20

func init() {
	if os.Getenv("GOMEMLIMIT") == "" && os.Getenv("GOGC") == "" {
		debug.SetMemoryLimit(goMemoryLimit)
	}
}
