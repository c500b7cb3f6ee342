// The C SDK's example function: greets the event's "name", counts warm invocations, and reports a handled error
// for an event without a name.
//
//   python -m ziglang cc -target wasm32-wasi -mexec-model=reactor -O2 -s -Wl,-z,stack-size=1048576 -I.. hello.c \
//       -o hello.wasm
//   wasmfaas invoke hello.wasm '{"name": "world"}' --env GREETING=Hello
#include <stdlib.h>

#include "wasmfaas.h"

static int invocations;  // global state survives warm invocations of one environment, as in Lambda

static wasmfaas_result handler(const wasmfaas_context *ctx, const uint8_t *event, size_t len) {
    char name[128];
    if (wasmfaas_json_get_string(event, len, "name", name, sizeof name) < 0)
        return wasmfaas_error("ValidationError", "the event needs a string field \"name\"");
    const char *greeting = getenv("GREETING");
    invocations++;
    wasmfaas_log("hello: request %s, invocation %d of this environment", ctx->request_id, invocations);

    wasmfaas_json_writer w = WASMFAAS_JSON_WRITER_INIT;
    wasmfaas_json_begin_object(&w);
    wasmfaas_json_key(&w, "message");
    char message[192];
    snprintf(message, sizeof message, "%s, %s!", greeting ? greeting : "Hello", name);
    wasmfaas_json_string(&w, message);
    wasmfaas_json_key(&w, "invocations");
    wasmfaas_json_int(&w, invocations);
    wasmfaas_json_key(&w, "function");
    wasmfaas_json_string(&w, ctx->function_name);
    wasmfaas_json_key(&w, "remaining_ms");
    wasmfaas_json_int(&w, wasmfaas_remaining_ms(ctx));
    wasmfaas_json_end_object(&w);
    return wasmfaas_ok_json(&w);
}

WASMFAAS_HANDLER(handler)
