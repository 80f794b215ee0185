//! What a function is to the pollers: something that takes a batch of one shard's records
//! and returns an outcome. A failing function is an outcome, never an `Err` or a panic.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use eddy_shards::Record;

use crate::event::EventSource;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A batch of consecutive records of one shard (filtered records left out).
#[derive(Clone, Debug)]
pub struct RecordBatch {
    pub source: EventSource,
    /// Payloads are shared with the log's tail: no copies.
    pub records: Vec<Record>,
}

/// A function's error, as Lambda reports it (`errorType`, `errorMessage`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionError {
    pub error_type: String,
    pub message: String,
}

/// How an invocation ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The function returned; its response body (JSON, possibly empty).
    Success(Bytes),
    /// The function failed, crashed or timed out.
    Failed(FunctionError),
}

impl Outcome {
    pub fn failed(error_type: &str, message: impl Into<String>) -> Outcome {
        Outcome::Failed(FunctionError {
            error_type: error_type.to_string(),
            message: message.into(),
        })
    }
}

/// An in-process Rust function, registered through the library API.
///
/// Contract: `handle` may be called concurrently for different shards, never twice at
/// once for the same shard of a mapping; it should return, not panic (a panic is caught
/// by the poller's task and the batch is retried as a failure).
pub trait NativeHandler: Send + Sync + 'static {
    fn handle<'a>(&'a self, batch: &'a RecordBatch) -> BoxFuture<'a, Outcome>;

    /// A direct invocation (the Invoke API) with a JSON payload. Handlers written only
    /// for event source mappings keep the default, which fails the invocation with
    /// `Runtime.InvalidEntrypoint`, as Lambda reports a handler it cannot call.
    fn invoke<'a>(&'a self, payload: Bytes) -> BoxFuture<'a, Outcome> {
        let _ = payload;
        Box::pin(async {
            Outcome::failed(
                "Runtime.InvalidEntrypoint",
                "this native handler takes event source mapping batches only",
            )
        })
    }
}

/// Any `Fn(&RecordBatch) -> Outcome` is a (synchronous) native handler.
impl<F> NativeHandler for F
where
    F: Fn(&RecordBatch) -> Outcome + Send + Sync + 'static,
{
    fn handle<'a>(&'a self, batch: &'a RecordBatch) -> BoxFuture<'a, Outcome> {
        let outcome = self(batch);
        Box::pin(async move { outcome })
    }
}

/// Runs a handler's future in place and turns a panic into an `Err` with its message, so a
/// panicking handler is a failed invocation, not a dead poller — without a task spawn (and
/// a thread wake-up) per batch.
pub(crate) struct CatchUnwind<F>(pub F);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, String>;

    fn poll(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        // SAFETY: structural pinning of the only field; it is never moved out.
        let inner = unsafe { self.map_unchecked_mut(|this| &mut this.0) };
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
            Ok(std::task::Poll::Ready(value)) => std::task::Poll::Ready(Ok(value)),
            Err(panic) => std::task::Poll::Ready(Err(panic_message(panic.as_ref()))),
        }
    }
}

/// A panic's payload as a message.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    format!("the handler panicked: {message}")
}
