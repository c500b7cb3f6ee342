//! Reactor on the Rust SDK (guest_sdks/rust), exercising what its hello example does not: init code run once, `?`
//! on std errors, escaping, stdout flushing, JSON lookups and every context field. The event's "action" picks what
//! to do.
use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};

use wasmfaas::{json, Context, Error};

static INITS: AtomicU32 = AtomicU32::new(0);

// FAIL_INIT makes init fail: "panic" by panicking, anything else by returning an error.
fn init() -> Result<(), Error> {
    INITS.fetch_add(1, Ordering::Relaxed);
    match std::env::var("FAIL_INIT").as_deref() {
        Ok("panic") => panic!("init boom"),
        Ok(why) => Err(Error::new("ConfigMissing", why)),
        Err(_) => Ok(()),
    }
}

fn handle(ctx: &Context, event: &[u8]) -> Result<Vec<u8>, Error> {
    let action = json::get_string(event, "action").unwrap_or_default();
    match action.as_str() {
        "context" => Ok(json::Object::new()
            .string("request_id", &ctx.request_id)
            .string("function_name", &ctx.function_name)
            .string("function_version", &ctx.function_version)
            .uint("memory_limit_mb", u64::from(ctx.memory_limit_mb))
            .string("log_group_name", &ctx.log_group_name)
            .string("log_stream_name", &ctx.log_stream_name)
            .uint("remaining_ms", ctx.remaining_ms())
            .uint("inits", u64::from(INITS.load(Ordering::Relaxed)))
            .finish()
            .into_bytes()),
        "log" => {
            print!("partial stdout line for {}", ctx.request_id); // no newline: the SDK flushes it
            let _ = std::io::stdout().flush();
            wasmfaas::log!("\nstderr line for {}", ctx.request_id);
            Ok(b"logged".to_vec())
        }
        "error" => Err(Error::new("Custom\"Type", "line\nbreak\ttab \u{1} done")),
        "error_trace" => {
            Err(Error::new("TraceError", "with frames").with_stack_trace(["at \"parse\"", "line\nbreak\t\u{1}"]))
        }
        "parse" => {
            let text = json::get_string(event, "text").unwrap_or_default();
            let n: i64 = text.parse()?; // a ParseIntError becomes a handled error named after its type
            Ok(json::Object::new().int("n", n).finish().into_bytes())
        }
        "lookup" => Ok(json::Object::new()
            .raw("name", &json::get_string(event, "name").map(|s| json::quote(&s)).unwrap_or_else(|| "null".into()))
            .raw("n", &json::get_number(event, "n").map(|n| format!("{:?}", n)).unwrap_or_else(|| "null".into()))
            .raw("flag", &json::get_bool(event, "flag").map(|b| b.to_string()).unwrap_or_else(|| "null".into()))
            .finish()
            .into_bytes()),
        "echo" => Ok(event.to_vec()),
        "empty" => Ok(Vec::new()),
        "panic" => panic!("boom"),
        other => Err(Error::new("UnknownAction", format!("no action {}", other))),
    }
}

wasmfaas::handler!(handle, init = init);
