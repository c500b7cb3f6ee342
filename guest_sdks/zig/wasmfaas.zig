//! wasmfaas.zig: the Zig SDK for wasmfaas reactor guests (docs/abi.md, ABI version 1). Zig 0.17, no libc needed.
//!
//!     const wf = @import("wasmfaas");
//!
//!     fn handler(ctx: *const wf.Context, event: []const u8) !wf.Result {
//!         wf.log("request {s}", .{ctx.request_id});
//!         return wf.ok(event);
//!     }
//!
//!     comptime {
//!         wf.register(handler);
//!     }
//!
//! Build it as a reactor with this file as the named module "wasmfaas":
//!
//!     wasmfaas.toolchain.build_zig("fn.zig", exec_model="reactor", modules={"wasmfaas": ".../wasmfaas.zig"})
//!     zig build-exe -target wasm32-wasi -O ReleaseSafe -fstrip --stack 1048576 -mexec-model=reactor -fno-entry \
//!         -rdynamic --dep wasmfaas -Mroot=fn.zig -Mwasmfaas=wasmfaas.zig -femit-bin=fn.wasm
//!
//! `-O ReleaseSafe` (`build_zig`'s default) keeps Zig's safety checks: an index out of bounds, an integer overflow,
//! `unreachable` reached or a null unwrapped panics, which traps (below). `-O ReleaseSmall` or `ReleaseFast` (smaller
//! or faster code) drop those checks: the same bugs are then undefined behaviour, which in wasm typically reads or
//! writes other data of the guest's memory and goes on, with a wrong response or corrupted state.
//!
//! `--stack 1048576` (1 MiB, as `build_zig` sets unless given `stack_size=`): zig's default stack for wasm is 16 MiB
//! of linear memory, out of the function's memory limit from the start.
//!
//! (Or copy this file next to fn.zig and `@import("wasmfaas.zig")`.)
//!
//! How this maps onto the ABI:
//!   - `register(handler)` exports `wasmfaas_buffer` (an SDK-owned request region) and `wasmfaas_handle`, which reads
//!     the 64-byte request header into a `Context`, calls the handler with the event (which lives in the request
//!     region, right after the header) and returns the 12-byte result record {status, payload ptr, payload len}.
//!   - A handler returns `Result` or `!Result`. `ok*` make a response (status 0), `err` a handled error (status 1,
//!     payload `{"errorType": ..., "errorMessage": ...}`; `errTrace` adds a `"stackTrace"`): the environment stays
//!     warm. A Zig error returned by the
//!     handler is a handled error too, with the error's name as its type; except `error.OutOfMemory`, which is
//!     reported as Runtime.OutOfMemory (status 2: Unhandled, and the host replaces the environment): there is no
//!     honest response without the memory. So is an allocation of the SDK's that fails during an invocation (in
//!     `okCopy`, `okJson`, `err`, the JSON helpers): the SDK logs it, its calls go on without the memory (a JSON
//!     helper finds nothing) and the invocation fails so whatever the handler returns. `outOfMemory()` is that
//!     result.
//!   - Init code (Lambda's cold start): `registerWithInit(handler, init)` exports `_initialize`, which the host runs
//!     once per execution environment. An error returned by `init`, or a `failInit(error_type, message)` call from
//!     it, is logged and kept: the environment's first invocation reports it instead of calling the handler (status
//!     2: Unhandled, with the init error's errorType and errorMessage; the host replaces the environment, so the next
//!     invocation runs init again), as Lambda reports a failed init's own error. A panic in init traps: the cold start
//!     fails as Runtime.InitError, the reason only in the log. Global `var`s keep their values across the warm
//!     invocations of one environment.
//!   - Logs: `log` writes one line to stderr in a single `fd_write`, so lines never mix. To route `std.log` through
//!     it, declare `pub const std_options: std.Options = .{ .logFn = wf.logFn };` in the root file.
//!
//! Memory: `ctx.allocator` is an arena for the invocation, freed when the next invocation starts, so it is the
//! place for a response and anything else that must outlive the handler but not the invocation. `allocator` (the
//! wasm page allocator) is for state that lives as long as the environment. `std.heap.wasm_allocator` (under both)
//! gives a large allocation a power of two of 64 KiB pages, so one of S bytes can take up to 2S of linear memory:
//! keep each large buffer under half of memory_mb (the arena's chunks are such allocations too).
//!
//! A panic (a failed safety check included, in ReleaseSafe or Debug) traps: the host reports Runtime.Trap and discards the environment (the next invocation cold-starts).

const std = @import("std");
const builtin = @import("builtin");
const wasi = std.os.wasi;

comptime {
    if (builtin.cpu.arch != .wasm32 or builtin.os.tag != .wasi)
        @compileError("wasmfaas.zig targets wasm32-wasi (build with -target wasm32-wasi)");
}

/// The ABI version this SDK speaks and the request header size it expects.
pub const abi_version: u32 = 1;
pub const header_size: u32 = 64;

/// For state that lives as long as the execution environment (it is never reset by the SDK).
pub const allocator: std.mem.Allocator = std.heap.wasm_allocator;

/// The result record's status.
pub const Status = enum(u32) {
    ok = 0,
    handled_error = 1,
    /// The runtime failed (here: out of memory): reported Unhandled, and the host replaces the environment.
    failed = 2,
};

/// A handler's outcome; make it with `ok`, `okCopy`, `okJson` or `err`.
pub const Result = struct {
    status: Status,
    /// Must stay valid until the next invocation starts (see `ok`).
    payload: []const u8,
};

/// What Lambda's context object offers, for this invocation.
pub const Context = struct {
    /// The request id (a UUID, 36 ASCII characters).
    request_id: []const u8,
    /// Unix time in milliseconds at which the invocation times out.
    deadline_ms: u64,
    /// AWS_LAMBDA_FUNCTION_NAME ("" if unset).
    function_name: []const u8,
    /// AWS_LAMBDA_FUNCTION_VERSION ("" if unset).
    function_version: []const u8,
    /// AWS_LAMBDA_FUNCTION_MEMORY_SIZE (0 if unset).
    memory_limit_mb: u32,
    /// AWS_LAMBDA_LOG_GROUP_NAME ("" if unset).
    log_group_name: []const u8,
    /// AWS_LAMBDA_LOG_STREAM_NAME ("" if unset).
    log_stream_name: []const u8,
    /// This invocation's arena: freed when the next invocation starts.
    allocator: std.mem.Allocator,

    /// Milliseconds left before the invocation times out (0 once it has).
    pub fn remainingMs(self: *const Context) u64 {
        const now = nowMs();
        return if (self.deadline_ms > now) self.deadline_ms - now else 0;
    }
};

// ---- responses ---------------------------------------------------------------------------------------------------

/// Success with `payload` as the response, not copied: it must stay valid until the next invocation starts (a
/// literal, the event itself, memory from `ctx.allocator`, or long-lived state); otherwise use `okCopy`.
pub fn ok(payload: []const u8) Result {
    return .{ .status = .ok, .payload = payload };
}

/// Success with a copy of `payload`, made in the invocation's arena.
pub fn okCopy(payload: []const u8) Result {
    return ok(arena().dupe(u8, payload) catch return allocationFailed());
}

/// Success with `value` serialized as JSON by `std.json` (structs, anonymous structs, slices, `std.json.Value`, ...).
/// A NaN or infinite float is written as null, as the C and Rust SDKs write it (std.json would write `inf`, which is
/// not JSON); a type with its own `jsonStringify` writes its floats itself.
pub fn okJson(value: anytype) Result {
    var out: std.Io.Writer.Allocating = .init(arena());
    var jw: std.json.Stringify = .{ .writer = &out.writer, .options = .{} };
    writeJson(&jw, value) catch |e| return switch (e) {
        error.TooDeep => err("Runtime.MarshalError", "Unable to marshal response: nested deeper than 256 levels"),
        error.WriteFailed, error.OutOfMemory => allocationFailed(), // the writer fails only for want of memory
    };
    return ok(out.written());
}

/// std.json.Stringify's nesting limit in safe builds (past it, its assertion panics: the environment would be lost);
/// okJson reports deeper values as Runtime.MarshalError in every build mode.
const max_json_depth = 256;

const WriteJsonError = std.json.Stringify.Error || error{ TooDeep, OutOfMemory };

/// `jw.write(v)`, but with non-finite floats as null wherever they are nested: std.json's own walk is redone here
/// for the types that can hold a float, and the rest is left to it.
fn writeJson(jw: *std.json.Stringify, v: anytype) WriteJsonError!void {
    const T = @TypeOf(v);
    if (T == std.json.Value) return switch (v) {
        .float => |f| writeJson(jw, f),
        .array => |a| writeJson(jw, a.items),
        .string => |text| writeJson(jw, text),
        .object => |o| {
            try beginNested(jw);
            try jw.beginObject();
            var it = o.iterator();
            while (it.next()) |entry| {
                try jw.objectField(try validUtf8(entry.key_ptr.*));
                try writeJson(jw, entry.value_ptr.*);
            }
            try jw.endObject();
        },
        else => jw.write(v),
    };
    switch (@typeInfo(T)) {
        .float, .comptime_float => return if (std.math.isFinite(v)) jw.write(v) else jw.write(null),
        .optional => return if (v) |payload| writeJson(jw, payload) else jw.write(null),
        .@"struct" => |S| {
            if (std.meta.hasFn(T, "jsonStringify")) return jw.write(v);
            try beginNested(jw);
            if (S.is_tuple) try jw.beginArray() else try jw.beginObject();
            inline for (S.field_names, S.field_types) |name, F| {
                if (F == void) continue;
                if (!S.is_tuple) try jw.objectField(name);
                try writeJson(jw, @field(v, name));
            }
            return if (S.is_tuple) jw.endArray() else jw.endObject();
        },
        .@"union" => |U| {
            if (std.meta.hasFn(T, "jsonStringify") or U.tag_type == null) return jw.write(v);
            inline for (U.field_names, U.field_types) |name, F| {
                if (F != void and v == @field(U.tag_type.?, name)) {
                    try beginNested(jw);
                    try jw.beginObject();
                    try jw.objectField(name);
                    try writeJson(jw, @field(v, name));
                    return jw.endObject();
                }
            }
            // A void payload: {"tag":{}}, two levels std.json opens itself.
            if (jw.indent_level + 2 > max_json_depth) return error.TooDeep;
            return jw.write(v);
        },
        .pointer => |P| switch (P.size) {
            .one => return switch (@typeInfo(P.child)) {
                .array => writeJson(jw, @as([]const std.meta.Elem(P.child), v)),
                else => writeJson(jw, v.*),
            },
            .slice => {
                if (P.child == u8) return jw.write(try validUtf8(v)); // a string
                try beginNested(jw);
                try jw.beginArray();
                for (v) |item| try writeJson(jw, item);
                return jw.endArray();
            },
            else => return jw.write(v),
        },
        .array => return writeJson(jw, &v),
        else => return jw.write(v),
    }
}

fn beginNested(jw: *const std.json.Stringify) error{TooDeep}!void {
    if (jw.indent_level >= max_json_depth) return error.TooDeep;
}

/// `s` if it is UTF-8, else a copy with each maximal invalid subsequence replaced by U+FFFD, as the SDK's other
/// writers do (std.json would write the bytes as an array of numbers, four times the size, where a string was meant).
fn validUtf8(s: []const u8) error{OutOfMemory}![]const u8 {
    if (std.unicode.utf8ValidateSlice(s)) return s;
    var out: std.ArrayList(u8) = .empty;
    try out.ensureTotalCapacity(arena(), s.len + 2);
    var i: usize = 0;
    while (i < s.len) {
        const seq = utf8Sequence(s[i..]);
        try out.appendSlice(arena(), if (seq.valid) s[i..][0..seq.len] else "\u{FFFD}");
        i += seq.len;
    }
    return out.items;
}

/// A handled error: the payload is `{"errorType": error_type, "errorMessage": message}` (both JSON-escaped, with
/// invalid UTF-8 replaced by U+FFFD); the environment stays warm.
pub fn err(error_type: []const u8, message: []const u8) Result {
    const payload = errorPayload(arena(), error_type, message, null) catch return allocationFailed();
    return .{ .status = .handled_error, .payload = payload };
}

/// A handled error with a stack trace: as `err`, plus `"stackTrace": [frames...]` (each frame JSON-escaped, invalid
/// UTF-8 replaced), reported as the invocation's stackTrace, as Lambda's runtimes report an exception's frames.
pub fn errTrace(error_type: []const u8, message: []const u8, frames: []const []const u8) Result {
    const payload = errorPayload(arena(), error_type, message, frames) catch return allocationFailed();
    return .{ .status = .handled_error, .payload = payload };
}

fn errorPayload(
    a: std.mem.Allocator,
    error_type: []const u8,
    message: []const u8,
    frames: ?[]const []const u8,
) error{OutOfMemory}![]const u8 {
    var out: std.ArrayList(u8) = .empty;
    try out.appendSlice(a, "{\"errorType\":");
    try appendJsonString(&out, a, error_type);
    try out.appendSlice(a, ",\"errorMessage\":");
    try appendJsonString(&out, a, message);
    if (frames) |list| {
        try out.appendSlice(a, ",\"stackTrace\":[");
        for (list, 0..) |frame, i| {
            if (i > 0) try out.append(a, ',');
            try appendJsonString(&out, a, frame);
        }
        try out.append(a, ']');
    }
    try out.append(a, '}');
    return out.items;
}

/// A handled error whose message is formatted (`std.fmt` syntax).
pub fn errFmt(error_type: []const u8, comptime fmt: []const u8, args: anytype) Result {
    return err(error_type, std.fmt.allocPrint(arena(), fmt, args) catch return allocationFailed());
}

/// For init code that cannot go on (an error returned by `init` comes here too): logs "wasmfaas: init failed: <type>:
/// <message>" and returns; the environment's first invocation then reports this error without calling the handler
/// (status 2: Unhandled, with this errorType and errorMessage) and the host replaces the environment, so the next
/// invocation runs init again. A trap would leave the caller only "Runtime.InitError: ... unreachable". The first
/// call wins. Called from a handler, it fails that invocation (and the environment) the same way.
pub fn failInit(error_type: []const u8, message: []const u8) void {
    if (state.init_error != null) return;
    log("wasmfaas: init failed: {s}: {s}", .{ error_type, message });
    // Not the arena: the error outlives the invocations that report it.
    state.init_error = errorPayload(allocator, error_type, message, null) catch {
        _ = allocationFailed(); // traps in init code
        return;
    };
}

/// The invocation fails with Runtime.OutOfMemory (status 2: Unhandled, and the host replaces the environment), as
/// when the handler returns `error.OutOfMemory`.
pub fn outOfMemory() Result {
    return .{ .status = .failed, .payload = out_of_memory_payload };
}

// Static: reporting the failure needs no memory.
const out_of_memory_payload = "{\"errorType\":\"Runtime.OutOfMemory\"," ++
    "\"errorMessage\":\"Runtime exited with error: out of memory (an allocation failed)\"}";

// ---- environment, logs -------------------------------------------------------------------------------------------

/// The value of an environment variable of the function (its configuration plus Lambda's AWS_LAMBDA_* ones).
pub fn getenv(name: []const u8) ?[]const u8 {
    for (environ()) |entry| {
        if (entry.len > name.len and entry[name.len] == '=' and std.mem.eql(u8, entry[0..name.len], name))
            return entry[name.len + 1 ..];
    }
    return null;
}

/// One line (a newline is added) to stderr, formatted with `std.fmt`, in a single write.
pub fn log(comptime fmt: []const u8, args: anytype) void {
    var small: [512]u8 = undefined;
    const n = std.fmt.count(fmt, args);
    if (n < small.len) {
        const line = std.fmt.bufPrint(&small, fmt ++ "\n", args) catch unreachable; // n + 1 bytes fit
        writeAll(2, line);
        return;
    }
    const line = std.fmt.allocPrint(allocator, fmt ++ "\n", args) catch {
        // Better a cut line than none: the first bytes, marked as cut.
        const cut = std.fmt.bufPrint(&small, fmt, args) catch small[0 .. small.len - 5];
        writeAll(2, cut[0..@min(cut.len, small.len - 5)]);
        writeAll(2, "...\n");
        return;
    };
    defer allocator.free(line);
    writeAll(2, line);
}

/// A `std.Options.logFn` that writes `std.log` lines through `log`, prefixed with the level (and scope).
pub fn logFn(
    comptime level: std.log.Level,
    comptime scope: @EnumLiteral(),
    comptime format: []const u8,
    args: anytype,
) void {
    const prefix = "[" ++ comptime level.asText() ++ "] " ++
        (if (scope == .default) "" else "(" ++ @tagName(scope) ++ ") ");
    log(prefix ++ format, args);
}

// ---- JSON reading ------------------------------------------------------------------------------------------------

/// Parse `json` (usually the event) into a `T` with `std.json`, in the invocation's arena. Fields of the JSON that
/// `T` lacks are ignored; give `T`'s optional fields defaults (`name: ?[]const u8 = null`) to allow them missing.
pub fn parseJson(comptime T: type, json: []const u8) !T {
    return std.json.parseFromSliceLeaky(T, arena(), json, .{
        .ignore_unknown_fields = true,
        .allocate = .alloc_always, // the event's region is reused by the next request: copy what we keep
    });
}

/// The string value of the top-level `key` of the JSON object `json`, decoded (escapes resolved; invalid UTF-8 and
/// lone surrogates become U+FFFD); null if `json` is not an object, the key is absent, its value is not a string, or
/// the JSON up to it is malformed. The first occurrence of a repeated key wins. Allocates the decoded string in the
/// invocation's arena.
///
/// Like the other SDKs' lookups, this scans the text without building a tree: other values are skipped (counting
/// brackets outside strings), so a large event costs no memory beyond the string returned.
pub fn getString(json: []const u8, key: []const u8) ?[]const u8 {
    const at = findKey(json, key) orelse return null;
    if (json[at] != '"') return null;
    var out: std.ArrayList(u8) = .empty;
    var i = at + 1;
    var ch: [4]u8 = undefined;
    while (true) {
        // A run of characters that decode to themselves is copied whole; escapes and invalid UTF-8 one by one.
        const start = i;
        i = plainRunEnd(json, i);
        if (i > start) out.appendSlice(arena(), json[start..i]) catch {
            _ = allocationFailed();
            return null;
        };
        const n = jsonChar(json, &i, &ch) orelse return null;
        if (n == 0) return out.items;
        out.appendSlice(arena(), ch[0..n]) catch {
            _ = allocationFailed();
            return null;
        };
    }
}

/// The end of the run of string-body bytes from `from` that need no decoding: valid UTF-8 other than `"`, `\` and
/// control characters.
fn plainRunEnd(s: []const u8, from: usize) usize {
    var i = from;
    while (i < s.len) {
        const c = s[i];
        if (c >= 0x80) {
            const seq = utf8Sequence(s[i..]);
            if (!seq.valid) break;
            i += seq.len;
        } else if (c >= 0x20 and c != '"' and c != '\\') {
            i += 1;
        } else break;
    }
    return i;
}

/// The number value of the top-level `key` of the JSON object `json`; null if absent, not a number per JSON's
/// grammar (`01`, `1.`, `+1`, `.5` are not), or the JSON up to it is malformed.
pub fn getNumber(json: []const u8, key: []const u8) ?f64 {
    const at = findKey(json, key) orelse return null;
    const end = numberEnd(json, at) orelse return null;
    if (end < json.len and !endsValue(json[end])) return null;
    return std.fmt.parseFloat(f64, json[at..end]) catch null;
}

fn skipWs(s: []const u8, from: usize) usize {
    var i = from;
    while (i < s.len and (s[i] == ' ' or s[i] == '\t' or s[i] == '\n' or s[i] == '\r')) i += 1;
    return i;
}

/// Whether `c` may follow a value: whitespace, a comma, or the end of an object or array.
fn endsValue(c: u8) bool {
    return switch (c) {
        ' ', '\t', '\n', '\r', ',', '}', ']' => true,
        else => false,
    };
}

fn hex4(s: []const u8, at: usize) ?u21 {
    if (at + 4 > s.len) return null;
    return std.fmt.parseInt(u16, s[at .. at + 4], 16) catch null;
}

/// One character of a string body at `i.*` (advanced past it), decoded into `out`: its length in bytes, 0 at the
/// closing quote, null if malformed. Lone surrogate escapes and invalid UTF-8 become U+FFFD.
fn jsonChar(s: []const u8, i: *usize, out: *[4]u8) ?usize {
    if (i.* >= s.len) return null;
    const c = s[i.*];
    if (c == '"') {
        i.* += 1;
        return 0;
    }
    if (c < 0x20) return null;
    if (c >= 0x80) {
        const seq = utf8Sequence(s[i.*..]);
        i.* += seq.len;
        if (!seq.valid) {
            out[0..3].* = "\xef\xbf\xbd".*;
            return 3;
        }
        @memcpy(out[0..seq.len], s[i.* - seq.len .. i.*]);
        return seq.len;
    }
    i.* += 1;
    if (c != '\\') {
        out[0] = c;
        return 1;
    }
    if (i.* >= s.len) return null;
    const e = s[i.*];
    i.* += 1;
    var cp: u21 = switch (e) {
        '"' => '"',
        '\\' => '\\',
        '/' => '/',
        'b' => 0x08,
        'f' => 0x0C,
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'u' => blk: {
            const hi = hex4(s, i.*) orelse return null;
            i.* += 4;
            const lo = if (i.* + 1 < s.len and s[i.*] == '\\' and s[i.* + 1] == 'u') hex4(s, i.* + 2) else null;
            if (hi >= 0xD800 and hi <= 0xDBFF and lo != null and lo.? >= 0xDC00 and lo.? <= 0xDFFF) {
                i.* += 6;
                break :blk 0x10000 + ((hi - 0xD800) << 10) + (lo.? - 0xDC00);
            }
            break :blk hi;
        },
        else => return null,
    };
    if (cp >= 0xD800 and cp <= 0xDFFF) cp = 0xFFFD; // a lone surrogate
    return std.unicode.utf8Encode(cp, out) catch unreachable; // a scalar value below 0x110000
}

/// The position after the number at `from`, per JSON's grammar, or null.
fn numberEnd(s: []const u8, from: usize) ?usize {
    var i = from;
    if (i < s.len and s[i] == '-') i += 1;
    if (i >= s.len) return null;
    if (s[i] == '0') {
        i += 1;
    } else if (std.ascii.isDigit(s[i])) {
        i = digitsEnd(s, i);
    } else return null;
    if (i < s.len and s[i] == '.') {
        const e = digitsEnd(s, i + 1);
        if (e == i + 1) return null;
        i = e;
    }
    if (i < s.len and (s[i] == 'e' or s[i] == 'E')) {
        i += 1;
        if (i < s.len and (s[i] == '+' or s[i] == '-')) i += 1;
        const e = digitsEnd(s, i);
        if (e == i) return null;
        i = e;
    }
    return i;
}

fn digitsEnd(s: []const u8, from: usize) usize {
    var i = from;
    while (i < s.len and std.ascii.isDigit(s[i])) i += 1;
    return i;
}

/// The position after the value at `from` (of any kind), or null if malformed. Nesting is tracked by counting
/// brackets outside strings, not checked pairwise.
fn skipValue(s: []const u8, from: usize) ?usize {
    if (from >= s.len) return null;
    var i = from;
    var ch: [4]u8 = undefined;
    switch (s[i]) {
        '"' => {
            i += 1;
            while (true) {
                i = plainRunEnd(s, i);
                const n = jsonChar(s, &i, &ch) orelse return null;
                if (n == 0) return i;
            }
        },
        '{', '[' => {
            var depth: usize = 0;
            while (i < s.len) {
                const c = s[i];
                if (c == '"') {
                    i = skipValue(s, i) orelse return null;
                    continue;
                }
                i += 1;
                if (c == '{' or c == '[') {
                    depth += 1;
                } else if (c == '}' or c == ']') {
                    depth -= 1;
                    if (depth == 0) return i;
                }
            }
            return null;
        },
        '-', '0'...'9' => return numberEnd(s, i),
        else => {
            for ([_][]const u8{ "true", "false", "null" }) |word| {
                if (std.mem.startsWith(u8, s[i..], word)) return i + word.len;
            }
            return null;
        },
    }
}

/// Whether the string at `from` (its opening quote) decodes to exactly `key`; the position after it, or null if
/// malformed.
fn keyEquals(s: []const u8, from: usize, key: []const u8, equal: *bool) ?usize {
    if (from >= s.len or s[from] != '"') return null;
    var i = from + 1;
    var k: usize = 0;
    var eq = true;
    var ch: [4]u8 = undefined;
    while (true) {
        const n = jsonChar(s, &i, &ch) orelse return null;
        if (n == 0) break;
        if (eq and n <= key.len - k and std.mem.eql(u8, key[k .. k + n], ch[0..n])) k += n else eq = false;
    }
    equal.* = eq and k == key.len;
    return i;
}

/// The position of the value of top-level `key` in the object `s`, or null (absent, not an object, or malformed
/// before it).
fn findKey(s: []const u8, key: []const u8) ?usize {
    var i = skipWs(s, 0);
    if (i >= s.len or s[i] != '{') return null;
    i = skipWs(s, i + 1);
    if (i < s.len and s[i] == '}') return null;
    while (true) {
        var equal = false;
        i = skipWs(s, keyEquals(s, i, key, &equal) orelse return null);
        if (i >= s.len or s[i] != ':') return null;
        i = skipWs(s, i + 1);
        if (equal) return if (i < s.len) i else null;
        i = skipWs(s, skipValue(s, i) orelse return null);
        if (i >= s.len or s[i] != ',') return null; // '}' (the end) or malformed
        i = skipWs(s, i + 1);
    }
}

// ---- the exports -------------------------------------------------------------------------------------------------

/// Export the wasmfaas ABI around `handler`: `fn (*const Context, []const u8) Result` (or `!Result`). Call it once,
/// in a `comptime` block of the root file.
pub fn register(comptime handler: anytype) void {
    checkHandler(@TypeOf(handler));
    const Exports = struct {
        fn handle(request: [*]const u8, event_len: u32) callconv(.c) *const [3]u32 {
            return handleRequest(handler, request, event_len);
        }
    };
    @export(&Exports.handle, .{ .name = "wasmfaas_handle" });
    @export(&buffer, .{ .name = "wasmfaas_buffer" });
}

/// As `register`, plus `init` (`fn () void` or `fn () !void`) as the init code: run once per execution environment,
/// before its first invocation. An error from it is `failInit(@errorName(e), "init returned error.<name>")`: the
/// first invocation reports it. The root file must not also have a `pub fn main` (which Zig's start code would make
/// `_initialize` too).
pub fn registerWithInit(comptime handler: anytype, comptime init: anytype) void {
    register(handler);
    const Exports = struct {
        fn initialize() callconv(.c) void {
            const ret = init();
            if (@typeInfo(@TypeOf(ret)) == .error_union) {
                _ = ret catch |e| {
                    var buf: [256]u8 = undefined;
                    const name = @errorName(e);
                    failInit(name, std.fmt.bufPrint(&buf, "init returned error.{s}", .{name}) catch name);
                };
            }
        }
    };
    @export(&Exports.initialize, .{ .name = "_initialize" });
}

fn checkHandler(comptime H: type) void {
    const want = "a handler is fn (*const wasmfaas.Context, []const u8) Result or !Result";
    const info = switch (@typeInfo(H)) {
        .@"fn" => |f| f,
        else => @compileError(want ++ ", not " ++ @typeName(H)),
    };
    const params = info.param_types;
    if (params.len != 2 or params[0] != *const Context or params[1] != []const u8)
        @compileError(want ++ ", not " ++ @typeName(H));
    const R = info.return_type orelse @compileError(want);
    const payload = switch (@typeInfo(R)) {
        .error_union => |eu| eu.payload,
        else => R,
    };
    if (payload != Result) @compileError(want ++ ", not " ++ @typeName(H));
}

const State = struct {
    region: []u8 = &.{}, // handed to the host by wasmfaas_buffer
    record: [3]u32 = .{ 0, 0, 0 }, // the result record: status, payload pointer, payload length
    arena: std.heap.ArenaAllocator = std.heap.ArenaAllocator.init(std.heap.wasm_allocator),
    request_id: [36]u8 = @splat(0),
    ctx: ?Context = null, // built at the first invocation, from the environment
    env: ?[]const []const u8 = null,
    handling: bool = false, // inside wasmfaas_handle (else in init code)
    failed: bool = false, // an allocation failed during this invocation: it reports Runtime.OutOfMemory
    init_error: ?[]const u8 = null, // failInit's error payload, which every invocation reports
};

var state: State = .{};

// The arena keeps up to this much between invocations (so a warm invocation rarely asks for pages), and gives back
// the rest after an unusually large one.
const arena_retain_bytes = 1 << 20;

fn arena() std.mem.Allocator {
    return state.arena.allocator();
}

fn buffer(size: u32) callconv(.c) ?[*]u8 {
    if (size > state.region.len or state.region.len == 0) {
        // The old contents are dead: free, then allocate, rather than copy them over with a realloc.
        allocator.free(state.region);
        state.region = allocator.alloc(u8, @max(size, 64)) catch {
            state.region = &.{};
            return null;
        };
    }
    return state.region.ptr;
}

fn handleRequest(comptime handler: anytype, request: [*]const u8, event_len: u32) *const [3]u32 {
    state.handling = true;
    state.failed = false;
    defer state.handling = false;
    _ = state.arena.reset(.{ .retain_with_limit = arena_retain_bytes });
    const ctx = context();
    const version = std.mem.readInt(u32, request[0..4], .little);
    const hsize = std.mem.readInt(u32, request[4..8], .little);
    const made = if (version != abi_version or hsize < header_size)
        err("wasmfaas.UnsupportedABI", "the host speaks a wasmfaas ABI version this SDK does not")
    else if (state.init_error) |payload|
        initFailed(payload) // a failed init leaves nothing to run the handler on
    else blk: {
        ctx.deadline_ms = std.mem.readInt(u64, request[8..16], .little);
        @memcpy(&state.request_id, request[16..52]);
        break :blk call(handler, ctx, request[hsize..][0..event_len]);
    };
    // Whatever the handler made of the SDK's failed calls, the invocation is out of memory; and a failInit in the
    // handler fails it too.
    const result = if (state.failed) outOfMemory() else if (state.init_error) |payload| initFailed(payload) else made;
    // An empty slice may carry any pointer (even one past memory's end), which the host would check: use a real one.
    const payload: []const u8 = if (result.payload.len == 0) "" else result.payload;
    state.record = .{ @backingInt(result.status), @intCast(@intFromPtr(payload.ptr)), @intCast(payload.len) };
    return &state.record;
}

fn initFailed(payload: []const u8) Result {
    return .{ .status = .failed, .payload = payload };
}

fn call(comptime handler: anytype, ctx: *const Context, event: []const u8) Result {
    const ret = handler(ctx, event);
    if (@TypeOf(ret) == Result) return ret;
    return ret catch |e| switch (@as(anyerror, e)) {
        error.OutOfMemory => allocationFailed(),
        else => errFmt(@errorName(e), "the handler returned error.{s}", .{@errorName(e)}),
    };
}

fn context() *Context {
    if (state.ctx == null) {
        state.ctx = .{
            .request_id = &state.request_id,
            .deadline_ms = 0,
            .function_name = getenv("AWS_LAMBDA_FUNCTION_NAME") orelse "",
            .function_version = getenv("AWS_LAMBDA_FUNCTION_VERSION") orelse "",
            .memory_limit_mb = std.fmt.parseInt(u32, getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE") orelse "", 10) catch 0,
            .log_group_name = getenv("AWS_LAMBDA_LOG_GROUP_NAME") orelse "",
            .log_stream_name = getenv("AWS_LAMBDA_LOG_STREAM_NAME") orelse "",
            .allocator = arena(),
        };
    }
    return &state.ctx.?;
}

// ---- WASI --------------------------------------------------------------------------------------------------------

/// The environment as "NAME=value" entries, read from WASI once (it cannot change within an environment).
fn environ() []const []const u8 {
    if (state.env) |env| return env;
    state.env = readEnviron() catch |e| switch (e) {
        error.OutOfMemory => {
            _ = allocationFailed();
            return &.{}; // not kept: the environment is replaced
        },
        error.Unexpected => blk: {
            log("wasmfaas: cannot read the environment", .{});
            break :blk &.{};
        },
    };
    return state.env.?;
}

fn readEnviron() error{ OutOfMemory, Unexpected }![]const []const u8 {
    var count: usize = 0;
    var size: usize = 0;
    if (wasi.environ_sizes_get(&count, &size) != .SUCCESS) return error.Unexpected;
    if (count == 0) return &.{};
    const ptrs = try allocator.alloc([*:0]u8, count);
    defer allocator.free(ptrs);
    const buf = try allocator.alloc(u8, size); // kept: the entries point into it
    errdefer allocator.free(buf);
    if (wasi.environ_get(ptrs.ptr, buf.ptr) != .SUCCESS) return error.Unexpected;
    const entries = try allocator.alloc([]const u8, count);
    for (entries, ptrs) |*entry, p| entry.* = std.mem.sliceTo(p, 0);
    return entries;
}

fn nowMs() u64 {
    var ns: wasi.timestamp_t = 0;
    if (wasi.clock_time_get(.REALTIME, std.time.ns_per_ms, &ns) != .SUCCESS) return std.math.maxInt(u64);
    return ns / std.time.ns_per_ms;
}

fn writeAll(fd: wasi.fd_t, bytes: []const u8) void {
    var rest = bytes;
    while (rest.len > 0) {
        const iov = [1]wasi.ciovec_t{.{ .base = rest.ptr, .len = rest.len }};
        var written: usize = 0;
        if (wasi.fd_write(fd, &iov, 1, &written) != .SUCCESS or written == 0) return;
        rest = rest[written..];
    }
}

/// An allocation failed. There is no unwinding out of the handler in wasm: during an invocation the failure is
/// remembered and the invocation reports it (status 2) once the handler returns; in init code there is no result to
/// report it in, so it traps, failing the cold start. Returns `outOfMemory()`, for a caller that makes a Result.
fn allocationFailed() Result {
    if (!state.failed) writeAll(2, "wasmfaas: out of memory\n");
    state.failed = true;
    if (!state.handling) @trap();
    return outOfMemory();
}

// ---- JSON writing ------------------------------------------------------------------------------------------------

/// Append `s` as a JSON string literal: quotes, escapes, and U+FFFD for each maximal invalid UTF-8 subsequence.
/// Runs of bytes that need no escape are copied whole (byte by byte, a 6 MB message took ~170 ms).
fn appendJsonString(out: *std.ArrayList(u8), a: std.mem.Allocator, s: []const u8) !void {
    const hex = "0123456789abcdef";
    try out.ensureUnusedCapacity(a, s.len + 2);
    out.appendAssumeCapacity('"');
    var i: usize = 0;
    while (i < s.len) {
        const c = s[i];
        if (c < 0x20 or c == '"' or c == '\\') {
            i += 1;
            switch (c) {
                '"' => try out.appendSlice(a, "\\\""),
                '\\' => try out.appendSlice(a, "\\\\"),
                0x08 => try out.appendSlice(a, "\\b"),
                0x0C => try out.appendSlice(a, "\\f"),
                '\n' => try out.appendSlice(a, "\\n"),
                '\r' => try out.appendSlice(a, "\\r"),
                '\t' => try out.appendSlice(a, "\\t"),
                else => try out.appendSlice(a, &[6]u8{ '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] }),
            }
            continue;
        }
        const start = i;
        i = plainRunEnd(s, i);
        if (i > start) {
            try out.appendSlice(a, s[start..i]);
        } else { // not UTF-8: its maximal invalid prefix becomes one U+FFFD
            try out.appendSlice(a, "\u{FFFD}");
            i += utf8Sequence(s[i..]).len;
        }
    }
    try out.append(a, '"');
}

/// The UTF-8 sequence at the start of `s` (non-empty): its length if valid (no overlong form, surrogate or code
/// point over U+10FFFF), else the length of its maximal invalid prefix, which gets one U+FFFD (as Unicode
/// recommends).
fn utf8Sequence(s: []const u8) struct { len: usize, valid: bool } {
    const c = s[0];
    var lo: u8 = 0x80; // allowed range of the second byte
    var hi: u8 = 0xBF;
    const len: usize = switch (c) {
        0x00...0x7F => return .{ .len = 1, .valid = true },
        0xC2...0xDF => 2,
        0xE0...0xEF => blk: {
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
            break :blk 3;
        },
        0xF0...0xF4 => blk: {
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
            break :blk 4;
        },
        else => return .{ .len = 1, .valid = false },
    };
    var i: usize = 1;
    while (i < len and i < s.len and (if (i == 1) s[1] >= lo and s[1] <= hi else s[i] & 0xC0 == 0x80)) i += 1;
    return .{ .len = i, .valid = i == len };
}
