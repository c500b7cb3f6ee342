// Reactor in Zig speaking the wasmfaas ABI directly (no SDK): returns the event unchanged. Tests build_zig.
const std = @import("std");

const header_size = 64;
const allocator = std.heap.wasm_allocator;

var region: []u8 = &.{};
// The result record: status, payload pointer, payload length.
var record: [3]u32 = .{ 0, 0, 0 };

export fn wasmfaas_buffer(size: u32) ?[*]u8 {
    if (size > region.len) {
        // The old contents are dead: free, then allocate, rather than copy them over with a realloc.
        allocator.free(region);
        region = allocator.alloc(u8, size) catch {
            region = &.{};
            return null;
        };
    }
    return region.ptr;
}

export fn wasmfaas_handle(request: [*]const u8, event_len: u32) *const [3]u32 {
    const hdr = std.mem.readInt(u32, request[4..8], .little);
    record = .{ 0, @intCast(@intFromPtr(request + hdr)), event_len };
    return &record;
}
