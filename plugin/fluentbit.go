package main

/*
#include <stdlib.h>

// Fluent Bit's Go proxy structures, as fluent-bit-go's flb_plugin.h and
// flb_output.h declare them (Apache-2.0, Copyright (C) 2015-2017 Treasure
// Data Inc.); they match flb_plugin_proxy.h and proxy/go/go.c in Fluent Bit.
#define FLB_ERROR   0
#define FLB_OK      1
#define FLB_RETRY   2
#define FLB_PROXY_OUTPUT_PLUGIN    2
#define FLB_PROXY_GOLANG          11

struct flb_plugin_proxy_def {
    int type;
    int proxy;
    int flags;
    char *name;
    char *description;
};

struct flb_api {
    char *(*output_get_property) (char *, void *);
    char *_;
};

struct flb_plugin_proxy_context {
    void *remote_context;
};

struct flbgo_output_plugin {
    void *_;
    struct flb_api *api;
    struct flb_output_instance *o_ins;
    struct flb_plugin_proxy_context *context;
};

static char *output_get_property(char *key, void *plugin) {
    struct flbgo_output_plugin *p = plugin;
    return p->api->output_get_property(key, p->o_ins);
}
*/
import "C"

import "unsafe"

// Fluent Bit's Go proxy API, in place of fluent-bit-go's output package:
// that package's decoder imports ugorji/go/codec and with it net/rpc,
// html/template and encoding/gob, 4.4 MB of an empty plugin's 5.8 MB,
// mapped into every Fluent Bit that loads us.

const (
	flbError = C.FLB_ERROR
	flbOK    = C.FLB_OK
	flbRetry = C.FLB_RETRY
)

// register names the plugin to Fluent Bit; the strings live as long as it.
func register(def unsafe.Pointer, name, description string) int {
	p := (*C.struct_flb_plugin_proxy_def)(def)
	p._type = C.FLB_PROXY_OUTPUT_PLUGIN
	p.proxy = C.FLB_PROXY_GOLANG
	p.flags = 0
	p.name = C.CString(name)
	p.description = C.CString(description)
	return 0
}

// fluentBitKeys reads an [OUTPUT] section's keys through Fluent Bit's API.
type fluentBitKeys struct{ plugin unsafe.Pointer }

func (k fluentBitKeys) Get(key string) string {
	ckey := C.CString(key)
	defer C.free(unsafe.Pointer(ckey))
	return C.GoString(C.output_get_property(ckey, k.plugin))
}

// setContext gives the instance its handle: Fluent Bit hands the pointer
// back to each flush and exit. The C int is never freed: a late call
// must still find a number, which then names no instance.
func setContext(plugin unsafe.Pointer, handle int) {
	id := (*C.int)(C.malloc(C.sizeof_int))
	*id = C.int(handle)
	(*C.struct_flbgo_output_plugin)(plugin).context.remote_context = unsafe.Pointer(id)
}

// contextHandle reads the handle setContext gave; false for none.
func contextHandle(ctx unsafe.Pointer) (int, bool) {
	if ctx == nil {
		return 0, false
	}
	return int(*(*C.int)(ctx)), true
}
