// Command plugin is the umc_invite output as a Fluent Bit Go plugin. This
// package only adapts Fluent Bit's C calls to umc/invite: it reads keys,
// decodes chunks and maps verdicts, and it recovers every panic so that
// none crosses into Fluent Bit.
package main

import "C"

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"time"
	"unsafe"

	"umc-invite/plugin/chunkdec"
	"umc-invite/umc/config"
	"umc-invite/umc/invite"
	"umc-invite/umc/record"
)

const pluginName = "umc_invite"

// The Go runtime cannot see that it shares the process (and a pod's memory
// limit) with Fluent Bit's buffers: GOGC 25 (about 4 MB less at a 2,000-file
// backlog than Go's 100, for about 3% of the plugin's CPU) and a soft limit of
// 32 MiB, at which it collects more often but never refuses memory.
// GOMEMLIMIT or GOGC win.
func init() {
	if os.Getenv("GOMEMLIMIT") == "" && os.Getenv("GOGC") == "" {
		debug.SetMemoryLimit(32 << 20)
		debug.SetGCPercent(25)
	}
}

//export FLBPluginRegister
func FLBPluginRegister(def unsafe.Pointer) (ret int) {
	defer recoverTo(&ret, -1, "register")
	return register(def, pluginName, "Self-service invitations through UMC's send_token")
}

//export FLBPluginInit
func FLBPluginInit(plugin unsafe.Pointer) (ret int) {
	defer recoverTo(&ret, flbError, "init")
	if profileDir != "" {
		startProfile()
	}
	id, name := instances.begin()
	var started instance
	defer func() { instances.end(id, started) }()
	log := invite.NewLogger(os.Stderr, name)
	cfg, err := config.Load(fluentBitKeys{plugin})
	if err != nil {
		log.Errorf("configuration refused: %v", err)
		return flbError
	}
	if cfg.OutputName != "" {
		log = invite.NewLogger(os.Stderr, cfg.OutputName)
	}
	setContext(plugin, id)
	out, err := invite.New(cfg, log, instances.claims)
	if err != nil {
		// Its own failure (a tenant's directory, CA file, port): this
		// output is disabled, Fluent Bit and the other outputs run.
		started.disabled = newDisabledOutput(log, cfg, err, time.Now())
		return flbOK
	}
	started.out = out
	log.Infof("%s", out.Describe())
	// Said once, at start: a configuration that works but leaks.
	for _, w := range cfg.Warnings() {
		log.Warnf("%s", w)
	}
	return flbOK
}

//export FLBPluginFlushCtx
func FLBPluginFlushCtx(ctx, data unsafe.Pointer, length C.int, tag *C.char) (ret int) {
	defer recoverTo(&ret, flbError, "flush")
	id, ok := contextHandle(ctx)
	in := instances.get(id)
	if !ok || in == (instance{}) {
		fmt.Fprintf(os.Stderr, "[error] [output:%s] flush for an unknown instance %d\n", pluginName, id)
		return flbError
	}
	if in.disabled != nil {
		return flbCode[in.disabled.flush(time.Now())]
	}
	out := in.out
	// The chunk is Fluent Bit's until the flush returns: records are
	// decoded from it as the flush wants them.
	chunk, tagName := unsafe.Slice((*byte)(data), int(length)), C.GoString(tag)
	var decoded int
	var decodeErr error
	verdict := out.FlushEach(context.Background(), func(yield func(record.Record) bool) {
		decoded, decodeErr = chunkdec.Each(tagName, chunk, yield)
	})
	if decodeErr != nil {
		// An undecodable record cannot be read on a retry either: say so,
		// and let the error counters see it.
		out.Logger().Errorf("chunk with tag %q: %v; the %d record(s) that decoded were handled", tagName, decodeErr, decoded)
		if verdict == invite.OK {
			verdict = invite.Error
		}
	}
	return flbCode[verdict]
}

// FLBPluginFlush serves a Fluent Bit that does not know FLBPluginFlushCtx.
// With no context it cannot tell instances apart, so it refuses.
//
//export FLBPluginFlush
func FLBPluginFlush(data unsafe.Pointer, length C.int, tag *C.char) int {
	fmt.Fprintf(os.Stderr, "[error] [output:%s] this Fluent Bit does not call FLBPluginFlushCtx; use Fluent Bit 1.8 or later\n", pluginName)
	return flbError
}

//export FLBPluginExitCtx
func FLBPluginExitCtx(ctx unsafe.Pointer) (ret int) {
	defer recoverTo(&ret, flbError, "exit")
	if profileDir != "" {
		stopProfile()
	}
	if id, ok := contextHandle(ctx); ok {
		if in := instances.remove(id); in.out != nil {
			in.out.Close()
		} else if in.disabled != nil {
			in.disabled.metrics.Detach() // as an exit does
		}
	}
	return flbOK
}

//export FLBPluginExit
func FLBPluginExit() int { return flbOK }

// flbCode is a verdict's code for Fluent Bit; anything else is FLB_ERROR (0).
var flbCode = map[invite.Verdict]int{invite.OK: flbOK, invite.Retry: flbRetry, invite.Error: flbError}

// recoverTo turns a panic into a log line and the given return code: a Go
// panic in a cgo callback would take all of Fluent Bit down.
func recoverTo(ret *int, code int, where string) {
	if r := recover(); r != nil {
		fmt.Fprintf(os.Stderr, "[error] [output:%s] %s: internal error, recovered: %v\n", pluginName, where, r)
		*ret = code
	}
}

func main() {}
