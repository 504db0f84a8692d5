//go:build !pprof

package main

// Profiles are for benchmarks (docs/performance.md): built in with
// `-tags pprof`, so the shipped library carries no profiler.
const profileDir = ""

func startProfile() {}

func stopProfile() {}
