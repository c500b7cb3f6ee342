// Reactor: probes the sandbox: no host files (/etc/passwd, /) and no host environment (HOME, PATH) must be visible.
#include <dirent.h>

#include "wasmfaas.h"

static wasmfaas_result handler(const wasmfaas_context *ctx, const uint8_t *event, size_t len) {
    (void)ctx, (void)event, (void)len;
    FILE *f = fopen("/etc/passwd", "r");
    if (f) fclose(f);
    DIR *d = opendir("/");
    if (d) closedir(d);
    wasmfaas_json_writer w = WASMFAAS_JSON_WRITER_INIT;
    wasmfaas_json_begin_object(&w);
    wasmfaas_json_key(&w, "passwd");
    wasmfaas_json_bool(&w, f != NULL);
    wasmfaas_json_key(&w, "root_dir");
    wasmfaas_json_bool(&w, d != NULL);
    wasmfaas_json_key(&w, "HOME");
    wasmfaas_json_string(&w, getenv("HOME"));
    wasmfaas_json_key(&w, "PATH");
    wasmfaas_json_string(&w, getenv("PATH"));
    wasmfaas_json_end_object(&w);
    return wasmfaas_ok_json(&w);
}

WASMFAAS_HANDLER(handler)
