//! The Rust SDK for wasmfaas reactor guests (docs/abi.md, ABI version 1). No dependencies; Rust 1.63 or later.
//!
//! ```ignore
//! use wasmfaas::{Context, Error};
//!
//! fn handle(ctx: &Context, event: &[u8]) -> Result<Vec<u8>, Error> {
//!     wasmfaas::log!("request {}", ctx.request_id);
//!     Ok(event.to_vec())
//! }
//!
//! wasmfaas::handler!(handle);
//! ```
//!
//! The function is a `cdylib` crate built for WASI preview 1 (`[lib] crate-type = ["cdylib"]`), for example with
//! `wasmfaas.toolchain.build_rust(crate_dir)` (Debian's rustc 1.63, whose target is still named `wasm32-wasi`) or,
//! with rustup, `rustup target add wasm32-wasip1` and `cargo build --release --target wasm32-wasip1`: current Rust
//! names the target `wasm32-wasip1`, and the old name `wasm32-wasi` is gone from it.
//!
//! How this maps onto the ABI:
//! - `handler!(handle)` defines the exports `wasmfaas_buffer` (an SDK-owned request region) and `wasmfaas_handle`,
//!   which reads the 64-byte request header into a [`Context`], calls `handle` with the event (which lives in the
//!   request region, right after the header), flushes stdout and returns the 12-byte result record {status, payload
//!   pointer, payload length}.
//! - The handler returns `Result<R, E>` with `R: Into<Vec<u8>>` (`Vec<u8>`, `String`, `&'static str`, ...) and
//!   `E: Into<Error>`. `Ok` is the response (status 0); `Err` is a handled error (status 1, payload
//!   `{"errorType": ..., "errorMessage": ...}`): the environment stays warm. `?` turns any `std::error::Error` into an
//!   [`Error`] named after its type, as Lambda's Rust runtime does.
//! - Init code (Lambda's cold start): `handler!(handle, init = init)` runs `init` (returning `()` or
//!   `Result<(), E>`) in `_initialize`, which the host calls once per execution environment. An `Err` is logged and
//!   kept: the environment's first invocation reports it instead of calling the handler (status 2: Unhandled, with
//!   the error's own errorType and errorMessage; the host replaces the environment, so the next invocation runs init
//!   again), as Lambda reports a failed init's own error. A panic in init traps: the cold start fails as
//!   Runtime.InitError, the reason only in the log. A `cdylib` gets no `_initialize` from rustc, so the macro always
//!   defines one, which also runs the C runtime's constructors (as WASI's reactor start-up does).
//! - Logs: stdout and stderr go to the function's logs; [`log!`] writes one line to stderr in a single write.
//!
//! State in `static`s (or `thread_local!`s) survives the warm invocations of one environment. A panic traps (wasm32
//! panics abort): the host reports Runtime.Trap and the next invocation cold-starts.
#![warn(missing_docs)]

use std::fmt;
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub mod json;

/// The ABI version this SDK speaks.
pub const ABI_VERSION: u32 = 1;
/// The request header size it expects (the event starts after it).
pub const HEADER_SIZE: u32 = 64;

/// What Lambda's context object offers, for this invocation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Context {
    /// The request id (a UUID).
    pub request_id: String,
    /// Unix time in milliseconds at which the invocation times out.
    pub deadline_ms: u64,
    /// `AWS_LAMBDA_FUNCTION_NAME` ("" if unset).
    pub function_name: String,
    /// `AWS_LAMBDA_FUNCTION_VERSION` ("" if unset).
    pub function_version: String,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` (0 if unset).
    pub memory_limit_mb: u32,
    /// `AWS_LAMBDA_LOG_GROUP_NAME` ("" if unset).
    pub log_group_name: String,
    /// `AWS_LAMBDA_LOG_STREAM_NAME` ("" if unset).
    pub log_stream_name: String,
}

impl Context {
    /// Milliseconds left before the invocation times out (0 once it has).
    pub fn remaining_ms(&self) -> u64 {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(u64::MAX);
        self.deadline_ms.saturating_sub(now)
    }

    /// The time left before the invocation times out.
    pub fn remaining_time(&self) -> Duration {
        Duration::from_millis(self.remaining_ms())
    }

    fn from_env() -> Context {
        let var = |name: &str| std::env::var(name).unwrap_or_default();
        Context {
            request_id: String::with_capacity(36),
            deadline_ms: 0,
            function_name: var("AWS_LAMBDA_FUNCTION_NAME"),
            function_version: var("AWS_LAMBDA_FUNCTION_VERSION"),
            memory_limit_mb: var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE").parse().unwrap_or(0),
            log_group_name: var("AWS_LAMBDA_LOG_GROUP_NAME"),
            log_stream_name: var("AWS_LAMBDA_LOG_STREAM_NAME"),
        }
    }
}

/// A handled error: reported as `{"errorType": error_type, "errorMessage": message}` (and `"stackTrace"`, if it has
/// one), and the environment stays warm.
///
/// It deliberately does not implement `std::error::Error`, so that `From<E: std::error::Error>` can exist and `?`
/// works on any error (the same trade-off as `anyhow::Error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// Lambda's `errorType`, such as `ValidationError`.
    pub error_type: String,
    /// Lambda's `errorMessage`.
    pub message: String,
    /// Lambda's `stackTrace`: the frames, innermost first by convention; written only when not empty.
    pub stack_trace: Vec<String>,
}

impl Error {
    /// An error of the given type and message.
    pub fn new(error_type: impl Into<String>, message: impl Into<String>) -> Error {
        Error { error_type: error_type.into(), message: message.into(), stack_trace: Vec::new() }
    }

    /// This error with these frames as its `stackTrace` (the invocation's, as Lambda's runtimes report an
    /// exception's frames): `Error::new("ParseError", "bad row").with_stack_trace(["at parse_row", "at handle"])`.
    pub fn with_stack_trace<I>(mut self, frames: I) -> Error
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.stack_trace = frames.into_iter().map(Into::into).collect();
        self
    }

    /// The error as Lambda's JSON error object.
    pub fn to_json(&self) -> String {
        let object = json::Object::new().string("errorType", &self.error_type).string("errorMessage", &self.message);
        if self.stack_trace.is_empty() {
            return object.finish();
        }
        let frames = self.stack_trace.iter().fold(json::Array::new(), |frames, frame| frames.string(frame));
        object.raw("stackTrace", &frames.finish()).finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_type, self.message)
    }
}

impl<E: std::error::Error> From<E> for Error {
    /// The error's type name (its last path segment, as `ParseIntError`) and its `Display` text.
    fn from(error: E) -> Error {
        Error::new(short_type_name(std::any::type_name::<E>()), error.to_string())
    }
}

fn short_type_name(full: &str) -> &str {
    // "core::num::error::ParseIntError" -> "ParseIntError"; generic arguments would hold "::" too, so cut them first.
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base)
}

/// Write `line` and a newline to stderr in a single write, so that lines never mix. See [`log!`].
pub fn log_line(line: &str) {
    let mut text = String::with_capacity(line.len() + 1);
    text.push_str(line);
    text.push('\n');
    // Nowhere to report a failed log write: the log is the report channel.
    let _ = std::io::stderr().write_all(text.as_bytes());
}

/// `format!`-style: one line (a newline is added) to stderr, in a single write.
#[macro_export]
macro_rules! log {
    ($($arg:tt)*) => {
        $crate::log_line(&::std::format!($($arg)*))
    };
}

/// Define the wasmfaas exports around a handler; use once, at the crate root of a `cdylib`.
///
/// `handler!(handle)` or `handler!(handle, init = init)`, where `handle` is
/// `fn(&Context, &[u8]) -> Result<R, E>` (`R: Into<Vec<u8>>`, `E: Into<Error>`) and `init` is `fn()` or
/// `fn() -> Result<(), E>`, run once per execution environment before its first invocation.
#[macro_export]
macro_rules! handler {
    ($handler:expr $(,)?) => {
        $crate::handler!($handler, init = || ());
    };
    ($handler:expr, init = $init:expr $(,)?) => {
        /// Init code: the C runtime's constructors, then the function's own init; run once per environment.
        #[no_mangle]
        pub extern "C" fn _initialize() {
            $crate::__private::initialize($init);
        }

        /// ABI: a request region of at least `size` bytes, or null.
        #[no_mangle]
        pub extern "C" fn wasmfaas_buffer(size: u32) -> *mut u8 {
            $crate::__private::buffer(size)
        }

        /// ABI: one invocation; returns the result record.
        ///
        /// # Safety
        /// Called by the host only, with `request` from `wasmfaas_buffer` holding a header and `event_len` bytes.
        #[no_mangle]
        pub unsafe extern "C" fn wasmfaas_handle(request: *const u8, event_len: u32) -> *const u32 {
            $crate::__private::handle(request, event_len, $handler)
        }
    };
}

/// The macros' runtime; not a stable API.
#[doc(hidden)]
pub mod __private {
    use super::{log_line, Context, Error, ABI_VERSION, HEADER_SIZE};
    use std::io::Write;
    use std::ptr::addr_of_mut;

    /// What an init function may return.
    pub trait InitOutcome {
        /// As a `Result`.
        fn into_result(self) -> Result<(), Error>;
    }

    impl InitOutcome for () {
        fn into_result(self) -> Result<(), Error> {
            Ok(())
        }
    }

    impl<E: Into<Error>> InitOutcome for Result<(), E> {
        fn into_result(self) -> Result<(), Error> {
            self.map_err(Into::into)
        }
    }

    struct State {
        region: Vec<u8>,      // handed to the host by wasmfaas_buffer; only its capacity is used
        response: Vec<u8>,    // the last payload, kept alive until the next invocation
        record: [u32; 3],     // the result record: status, payload pointer, payload length
        ctx: Option<Context>, // built from the environment at the first invocation
        init_error: Vec<u8>,  // the failed init's error payload, which every invocation reports (empty: none)
    }

    // wasm32-wasi guests are single-threaded and the host never re-enters the guest, so the exports are the only
    // users of this state and never overlap.
    static mut STATE: State =
        State { region: Vec::new(), response: Vec::new(), record: [0; 3], ctx: None, init_error: Vec::new() };

    fn state() -> &'static mut State {
        // SAFETY: see STATE; each export takes this reference once and handlers cannot reach it.
        unsafe { &mut *addr_of_mut!(STATE) }
    }

    pub fn initialize<F: FnOnce() -> O, O: InitOutcome>(init: F) {
        #[cfg(target_arch = "wasm32")]
        {
            extern "C" {
                // Synthesized by wasm-ld. Referencing it also tells wasm-ld that constructors are taken care of, so
                // it does not wrap every export in constructor and destructor calls (its default for modules that
                // have constructors but no `_initialize` calling them).
                fn __wasm_call_ctors();
            }
            // SAFETY: called once per instance, by the host, before any other export (`_initialize` semantics).
            unsafe { __wasm_call_ctors() };
        }
        let outcome = init().into_result();
        let _ = std::io::stdout().flush();
        if let Err(error) = outcome {
            log_line(&format!("wasmfaas: init failed: {}", error));
            // Kept for the first invocation to report: a trap would leave the caller only "Runtime.InitError: ...
            // unreachable", the error's type and message in the log alone.
            state().init_error = error.to_json().into_bytes();
        }
    }

    pub fn buffer(size: u32) -> *mut u8 {
        let region = &mut state().region;
        let size = (size as usize).max(64);
        if size > region.capacity() {
            // The old contents are dead: free, then allocate, rather than copy them over with a realloc.
            *region = Vec::new();
            if region.try_reserve_exact(size).is_err() {
                return std::ptr::null_mut();
            }
        }
        region.as_mut_ptr()
    }

    /// # Safety
    /// `request` must point at a request header followed by `event_len` bytes of event (the ABI guarantees it).
    pub unsafe fn handle<F, R, E>(request: *const u8, event_len: u32, handler: F) -> *const u32
    where
        F: FnOnce(&Context, &[u8]) -> Result<R, E>,
        R: Into<Vec<u8>>,
        E: Into<Error>,
    {
        let st = state();
        if !st.init_error.is_empty() {
            // A failed init leaves nothing to run the handler on; the host replaces the environment after this.
            st.record = [2, st.init_error.as_ptr() as usize as u32, st.init_error.len() as u32];
            return st.record.as_ptr();
        }
        st.response = Vec::new(); // the previous payload is dead once the host calls in again
        let header = std::slice::from_raw_parts(request, HEADER_SIZE as usize);
        let word = |at: usize| u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]]);
        let (version, header_size) = (word(0), word(4));
        let outcome: Result<Vec<u8>, Error> = if version != ABI_VERSION || header_size < HEADER_SIZE {
            Err(Error::new("wasmfaas.UnsupportedABI", "the host speaks a wasmfaas ABI version this SDK does not"))
        } else {
            let ctx = st.ctx.get_or_insert_with(Context::from_env);
            ctx.deadline_ms = u64::from(word(8)) | (u64::from(word(12)) << 32);
            ctx.request_id.clear();
            ctx.request_id.push_str(&String::from_utf8_lossy(&header[16..52]));
            let event = std::slice::from_raw_parts(request.add(header_size as usize), event_len as usize);
            handler(ctx, event).map(Into::into).map_err(Into::into)
        };
        let status = match outcome {
            Ok(payload) => {
                st.response = payload;
                0
            }
            Err(error) => {
                st.response = error.to_json().into_bytes();
                1
            }
        };
        // Keep stdout's partial lines in order with stderr and inside this invocation's log.
        let _ = std::io::stdout().flush();
        st.record = [status, st.response.as_ptr() as usize as u32, st.response.len() as u32];
        st.record.as_ptr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_from_std_error_is_named_after_its_type() {
        let error: Error = "x".parse::<i32>().unwrap_err().into();
        assert_eq!(error.error_type, "ParseIntError");
        assert_eq!(error.message, "invalid digit found in string");
        assert_eq!(short_type_name("a::B<c::D>"), "B");
    }

    #[test]
    fn error_json_is_escaped() {
        let error = Error::new("My\"Error", "line\nbreak\u{1}");
        assert_eq!(error.to_json(), r#"{"errorType":"My\"Error","errorMessage":"line\nbreak\u0001"}"#);
    }

    #[test]
    fn error_json_has_the_stack_trace_escaped() {
        let error = Error::new("E", "m").with_stack_trace(vec!["at \"a\"", "at b\n"]);
        assert_eq!(error.to_json(), r#"{"errorType":"E","errorMessage":"m","stackTrace":["at \"a\"","at b\n"]}"#);
        assert_eq!(Error::new("E", "m").with_stack_trace(Vec::<String>::new()), Error::new("E", "m"));
    }

    #[test]
    fn remaining_time_saturates() {
        let ctx = Context::default();
        assert_eq!(ctx.remaining_ms(), 0);
        let ctx = Context { deadline_ms: u64::MAX, ..Context::default() };
        assert!(ctx.remaining_time() > Duration::from_secs(1 << 40));
    }
}
