// Command: prints every environment variable it sees to stdout as a JSON object.
#include "wasmfaas.h"

extern char **environ;

int main(void) {
    wasmfaas_json_writer w = WASMFAAS_JSON_WRITER_INIT;
    wasmfaas_json_begin_object(&w);
    for (char **e = environ; *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq) continue;
        wasmfaas_json_key_n(&w, *e, (size_t)(eq - *e));
        wasmfaas_json_string(&w, eq + 1);
    }
    wasmfaas_json_end_object(&w);
    fwrite(w.buf.data, 1, w.buf.len, stdout);
    wasmfaas_json_writer_free(&w);
    return 0;
}
