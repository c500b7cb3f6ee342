// Reactor exporting none of the wasmfaas ABI (only memory and _initialize): the host must refuse it.
__attribute__((export_name("something_else"))) int something_else(int x) { return x * 2; }
