// Reactor on the Zig SDK (guest_sdks/zig), exercising what its hello example does not: init code, std.log routed
// through the SDK, Zig errors as handled errors, escaping, JSON parsing and every context field. The event's
// "action" picks what to do.
const std = @import("std");
const wf = @import("wasmfaas");

pub const std_options: std.Options = .{ .logFn = wf.logFn };

var inits: u32 = 0;

// FAIL_INIT makes init fail: "error" by returning a Zig error, "panic" by panicking, anything else by failInit.
fn init() !void {
    inits += 1;
    const why = wf.getenv("FAIL_INIT") orelse return;
    if (std.mem.eql(u8, why, "error")) return error.ConfigMissing;
    if (std.mem.eql(u8, why, "panic")) @panic("init boom");
    wf.failInit("ConfigMissing", why);
}

// {"leaf":{}} (a void payload) or {"list":[...]}.
const Node = union(enum) { leaf, list: []const Node };

const Event = struct {
    action: []const u8,
    n: ?f64 = null,
};

fn handler(ctx: *const wf.Context, event: []const u8) !wf.Result {
    // Before parseJson, which would read the whole event: the lookups read only up to the fields they find.
    if (std.mem.eql(u8, wf.getString(event, "action") orelse "", "lookup"))
        return wf.okJson(.{ .name = wf.getString(event, "name"), .n = wf.getNumber(event, "n") });
    // "quote:" and any bytes: those bytes as a JSON string by okJson (in an array), or by err as the message.
    if (std.mem.startsWith(u8, event, "quote:")) return wf.okJson(.{event[6..]});
    if (std.mem.startsWith(u8, event, "quoteerr:")) return wf.err("Quoted", event[9..]);
    // "value:" and JSON: read into a std.json.Value and written back.
    if (std.mem.startsWith(u8, event, "value:")) return wf.okJson(try wf.parseJson(std.json.Value, event[6..]));
    const ev = try wf.parseJson(Event, event);
    const action = ev.action;
    if (std.mem.eql(u8, action, "context")) {
        return wf.okJson(.{
            .request_id = ctx.request_id,
            .function_name = ctx.function_name,
            .function_version = ctx.function_version,
            .memory_limit_mb = ctx.memory_limit_mb,
            .log_group_name = ctx.log_group_name,
            .log_stream_name = ctx.log_stream_name,
            .remaining_ms = ctx.remainingMs(),
            .inits = inits,
        });
    }
    if (std.mem.eql(u8, action, "log")) {
        std.log.info("std.log line for {s}", .{ctx.request_id});
        std.log.scoped(.db).warn("scoped line", .{});
        const long = try ctx.allocator.alloc(u8, 2000);
        @memset(long, 'x');
        wf.log("long {s} end", .{long});
        return wf.ok("logged");
    }
    if (std.mem.eql(u8, action, "error")) return wf.err("Custom\"Type", "line\nbreak\ttab \x01 \xff done");
    if (std.mem.eql(u8, action, "zig_error")) return error.SomethingBroke;
    if (std.mem.eql(u8, action, "error_trace"))
        return wf.errTrace("TraceError", "with frames", &.{ "at \"parse\"", "line\nbreak\t\x01", "bad \xff" });
    if (std.mem.eql(u8, action, "echo")) return wf.ok(event);
    if (std.mem.eql(u8, action, "empty")) return wf.ok("");
    if (std.mem.eql(u8, action, "number")) return wf.okJson(.{ .n = wf.getNumber(event, "n"), .parsed = ev.n });
    if (std.mem.eql(u8, action, "nonfinite")) {
        const inf = std.math.inf(f64);
        var list = [_]f64{ -inf, 1.5 };
        var obj: std.json.ObjectMap = .empty;
        try obj.put(ctx.allocator, "v", .{ .float = std.math.nan(f64) });
        return wf.okJson(.{
            .inf = inf,
            .nan = std.math.nan(f32),
            .opt = @as(?f64, -inf),
            .list = list[0..],
            .tuple = .{ inf, 2 },
            .value = std.json.Value{ .object = obj },
        });
    }
    if (std.mem.eql(u8, action, "unions")) { // n levels of a recursive union, in a tuple: 2n + 1 levels and a leaf
        var node: Node = .leaf;
        for (0..@intFromFloat(ev.n orelse 0)) |_| {
            const inner = try ctx.allocator.alloc(Node, 1);
            inner[0] = node;
            node = .{ .list = inner };
        }
        return wf.okJson(.{node});
    }
    if (std.mem.eql(u8, action, "panic")) @panic("boom");
    if (std.mem.eql(u8, action, "oob")) { // an index out of bounds: a panic in ReleaseSafe, build_zig's default
        const digits = [_]u8{ 1, 2, 3 };
        const i: usize = @intFromFloat(ev.n orelse 0);
        return wf.okJson(.{ .digit = digits[i] });
    }
    // Out of memory far below the limit: the handler's own allocation, then one of the SDK's (the copy of 100 MB
    // beside the original does not fit in 256 MB once the allocator has rounded both up).
    if (std.mem.eql(u8, action, "oom")) return wf.okCopy(try ctx.allocator.alloc(u8, 1 << 30));
    if (std.mem.eql(u8, action, "oom_sdk")) return wf.okCopy(try ctx.allocator.alloc(u8, 100 << 20));
    return wf.errFmt("UnknownAction", "no action {s}", .{action});
}

comptime {
    wf.registerWithInit(handler, init);
}
