//go:build pprof

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"time"
)

// UMC_INVITE_PPROF=<dir>, for benchmarks (docs/performance.md): a CPU
// profile from the first init to the first exit, the allocations and the
// Go heap's peak (the live heap as it grew) into dir.
var (
	profileDir                = os.Getenv("UMC_INVITE_PPROF")
	profileStart, profileStop sync.Once
	heapStop                  = make(chan struct{}) // closed at the first exit: sampleHeap ends
)

// Every allocation sampled: the heap's peak is a few MB, below the default rate's resolution.
func init() {
	if profileDir != "" {
		runtime.MemProfileRate = 1
	}
}

func startProfile() {
	profileStart.Do(func() {
		if f, err := os.Create(filepath.Join(profileDir, "cpu.pprof")); err == nil && pprof.StartCPUProfile(f) == nil {
			go sampleHeap(heapStop)
		}
	})
}

// sampleHeap writes the live heap each time it grew by 1 MB, until stop.
func sampleHeap(stop <-chan struct{}) {
	var m runtime.MemStats
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for last := uint64(0); ; {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		if runtime.ReadMemStats(&m); m.HeapAlloc > last+1<<20 {
			last = m.HeapAlloc
			writeProfile("heap", fmt.Sprintf("HeapAlloc %d HeapInuse %d Sys-HeapReleased %d NumGC %d\n", m.HeapAlloc, m.HeapInuse, m.Sys-m.HeapReleased, m.NumGC))
		}
	}
}

func stopProfile() {
	profileStop.Do(func() {
		close(heapStop)
		pprof.StopCPUProfile()
		writeProfile("allocs", "")
	})
}

func writeProfile(name, note string) {
	if f, err := os.Create(filepath.Join(profileDir, name+".pprof")); err == nil {
		_ = pprof.Lookup(name).WriteTo(f, 0)
		f.Close()
	}
	if note != "" {
		_ = os.WriteFile(filepath.Join(profileDir, name+".txt"), []byte(note), 0o644)
	}
}
