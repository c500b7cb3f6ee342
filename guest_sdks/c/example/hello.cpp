// The C SDK from C++: the function of hello.c, written with std::string and a static object whose constructor is
// the init code (`_initialize` runs C++ static initialisers once per execution environment: the cold start).
//
//   python -m ziglang c++ -target wasm32-wasi -mexec-model=reactor -fno-exceptions -O2 -s \
//       -Wl,-z,stack-size=1048576 -I.. hello.cpp -o hello.wasm
//   wasmfaas invoke hello.wasm '{"name": "world"}' --env GREETING=Hello
#include <cstdlib>
#include <string>

#include "wasmfaas.h"

namespace {

// Global state survives warm invocations of one environment, as in Lambda.
struct Greeter {
    std::string greeting;
    int invocations = 0;

    Greeter() {
        const char *g = std::getenv("GREETING");
        greeting = g ? g : "Hello";
    }
};

Greeter greeter;

// The decoded string field `key`, or false if there is none.
bool json_string(const uint8_t *event, size_t len, const char *key, std::string &out) {
    long n = wasmfaas_json_get_string(event, len, key, nullptr, 0);  // first ask for the length
    if (n < 0) return false;
    out.resize(static_cast<size_t>(n) + 1);
    wasmfaas_json_get_string(event, len, key, &out[0], out.size());
    out.pop_back();  // the NUL
    return true;
}

wasmfaas_result handler(const wasmfaas_context *ctx, const uint8_t *event, size_t len) {
    std::string name;
    if (!json_string(event, len, "name", name))
        return wasmfaas_error("ValidationError", "the event needs a string field \"name\"");
    greeter.invocations++;
    wasmfaas_log("hello: request %s, invocation %d of this environment", ctx->request_id, greeter.invocations);

    std::string message = greeter.greeting + ", " + name + "!";
    wasmfaas_json_writer w = WASMFAAS_JSON_WRITER_INIT;
    wasmfaas_json_begin_object(&w);
    wasmfaas_json_key(&w, "message");
    wasmfaas_json_string_n(&w, message.data(), message.size());
    wasmfaas_json_key(&w, "invocations");
    wasmfaas_json_int(&w, greeter.invocations);
    wasmfaas_json_key(&w, "function");
    wasmfaas_json_string(&w, ctx->function_name);
    wasmfaas_json_key(&w, "remaining_ms");
    wasmfaas_json_int(&w, wasmfaas_remaining_ms(ctx));
    wasmfaas_json_end_object(&w);
    return wasmfaas_ok_json(&w);
}

}  // namespace

WASMFAAS_HANDLER(handler)
