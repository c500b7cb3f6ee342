// Reactor: returns a JSON object of every environment variable the guest sees (the host must pass only its own).
#include "wasmfaas.h"

extern char **environ;

static wasmfaas_result handler(const wasmfaas_context *ctx, const uint8_t *event, size_t len) {
    (void)ctx, (void)event, (void)len;
    wasmfaas_json_writer w = WASMFAAS_JSON_WRITER_INIT;
    wasmfaas_json_begin_object(&w);
    for (char **e = environ; *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq) continue;
        wasmfaas_json_key_n(&w, *e, (size_t)(eq - *e));
        wasmfaas_json_string(&w, eq + 1);
    }
    wasmfaas_json_end_object(&w);
    return wasmfaas_ok_json(&w);
}

WASMFAAS_HANDLER(handler)
