// Command floor is an output that takes every record and does nothing,
// built as a Go c-shared plugin with fluent-bit-go exactly as the real
// one: what loading a Go runtime into Fluent Bit costs by itself. The
// end-to-end footprint benchmark (tests/e2e/footprint_test.go) measures
// it beside Fluent Bit's own null output and the real plugin.
package main

import "C"

import (
	"unsafe"

	"github.com/fluent/fluent-bit-go/output"
)

//export FLBPluginRegister
func FLBPluginRegister(def unsafe.Pointer) int {
	return output.FLBPluginRegister(def, "floor", "Takes every record and does nothing")
}

//export FLBPluginInit
func FLBPluginInit(plugin unsafe.Pointer) int { return output.FLB_OK }

//export FLBPluginFlush
func FLBPluginFlush(data unsafe.Pointer, length C.int, tag *C.char) int { return output.FLB_OK }

//export FLBPluginExit
func FLBPluginExit() int { return output.FLB_OK }

func main() {}
