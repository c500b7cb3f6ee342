//! The Zig SDK's example function: greets the event's "name", counts warm invocations, and reports a handled error
//! for an event without a name.
//!
//!     python -m ziglang build-exe -target wasm32-wasi -O ReleaseSafe -fstrip --stack 1048576 \
//!         -mexec-model=reactor -fno-entry -rdynamic --dep wasmfaas -Mroot=hello.zig -Mwasmfaas=../wasmfaas.zig \
//!         -femit-bin=hello.wasm
//!     wasmfaas invoke hello.wasm '{"name": "world"}' --env GREETING=Hello
const std = @import("std");
const wf = @import("wasmfaas");

var invocations: u64 = 0; // global state survives warm invocations of one environment, as in Lambda

fn handler(ctx: *const wf.Context, event: []const u8) !wf.Result {
    const name = wf.getString(event, "name") orelse
        return wf.err("ValidationError", "the event needs a string field \"name\"");
    const greeting = wf.getenv("GREETING") orelse "Hello";
    invocations += 1;
    wf.log("hello: request {s}, invocation {d} of this environment", .{ ctx.request_id, invocations });

    return wf.okJson(.{
        .message = try std.fmt.allocPrint(ctx.allocator, "{s}, {s}!", .{ greeting, name }),
        .invocations = invocations,
        .function = ctx.function_name,
        .remaining_ms = ctx.remainingMs(),
    });
}

comptime {
    wf.register(handler);
}
