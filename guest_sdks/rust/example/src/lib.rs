//! The Rust SDK's example function: greets the event's "name", counts warm invocations, and reports a handled error
//! for an event without a name.
//!
//!     RUSTC=/usr/bin/rustc /usr/bin/cargo build --release --offline --target wasm32-wasi
//!     (or wasmfaas.toolchain.build_rust(this directory), which does that, cached)
//!     wasmfaas invoke target/wasm32-wasi/release/hello.wasm '{"name": "world"}' --env GREETING=Hello
//!
//! That is Debian's rustc 1.63. With rustup's current Rust the target is `wasm32-wasip1` (`wasm32-wasi` only works
//! on old compilers such as Debian's): `rustup target add wasm32-wasip1`, then
//! `cargo build --release --target wasm32-wasip1` and `target/wasm32-wasip1/release/hello.wasm`.
use std::sync::atomic::{AtomicU64, Ordering};

use wasmfaas::{json, Context, Error};

// Global state survives warm invocations of one environment, as in Lambda.
static INVOCATIONS: AtomicU64 = AtomicU64::new(0);

fn handle(ctx: &Context, event: &[u8]) -> Result<String, Error> {
    let name = json::get_string(event, "name")
        .ok_or_else(|| Error::new("ValidationError", "the event needs a string field \"name\""))?;
    let greeting = std::env::var("GREETING").unwrap_or_else(|_| String::from("Hello"));
    let invocations = INVOCATIONS.fetch_add(1, Ordering::Relaxed) + 1;
    wasmfaas::log!("hello: request {}, invocation {} of this environment", ctx.request_id, invocations);

    Ok(json::Object::new()
        .string("message", &format!("{}, {}!", greeting, name))
        .uint("invocations", invocations)
        .string("function", &ctx.function_name)
        .uint("remaining_ms", ctx.remaining_ms())
        .finish())
}

wasmfaas::handler!(handle);
