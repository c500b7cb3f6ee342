// Reactor in C++: standard library calls that throw, which on wasm32-wasi (built with -fno-exceptions) abort
// instead. The event picks one: "at" (std::vector::at out of range), "stoi" (std::stoi of a non-number), "new"
// (operator new of 1 GiB); anything else is "ok".
#include <string>
#include <vector>

#include "wasmfaas.h"

static wasmfaas_result handler(const wasmfaas_context *, const uint8_t *event, size_t len) {
    static std::string text;
    std::string which(reinterpret_cast<const char *>(event), len);
    if (which == "\"at\"") {
        std::vector<int> three(3);
        text = std::to_string(three.at(len));
    } else if (which == "\"stoi\"") {
        text = std::to_string(std::stoi(which));
    } else if (which == "\"new\"") {
        static char *volatile kept;
        kept = new char[size_t{1} << 30];
        text = "allocated";
    } else {
        text = "ok";
    }
    return wasmfaas_ok_str(text.c_str());
}

WASMFAAS_HANDLER(handler)
