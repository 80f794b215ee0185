//! The Invoke API: run a function once with a JSON payload, synchronously
//! (`RequestResponse`), through the durable queue (`Event`), or only check that it could
//! run (`DryRun`).

use std::sync::Arc;

use bytes::Bytes;
use eddy_shards::{InvalidArgument, StorageError};
use thiserror::Error;

use crate::event_queue::{EnqueueError, EventQueue};
use crate::function_spec::check_function_name;
use crate::functions::Functions;
use crate::handler::Outcome;

/// Lambda's payload limits: 6 MB synchronous, 1 MB asynchronous.
pub const MAX_SYNC_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;
pub const MAX_EVENT_PAYLOAD_BYTES: usize = 1024 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvocationType {
    RequestResponse,
    Event,
    DryRun,
}

#[derive(Debug, Error)]
pub enum InvokeError {
    #[error(transparent)]
    InvalidArgument(#[from] InvalidArgument),
    /// The payload is over the limit of its invocation type.
    #[error(transparent)]
    PayloadTooLarge(InvalidArgument),
    /// The payload is not JSON.
    #[error(transparent)]
    PayloadNotJson(InvalidArgument),
    #[error("function `{0}` not found")]
    FunctionNotFound(String),
    #[error("{0}")]
    Throttled(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// How an invocation was taken.
#[derive(Debug)]
pub struct Invoked {
    pub request_id: String,
    /// The function's outcome for `RequestResponse`; `None` for `Event` (queued) and
    /// `DryRun`.
    pub outcome: Option<Outcome>,
}

pub struct Invoker {
    functions: Arc<Functions>,
    queue: Arc<EventQueue>,
}

impl Invoker {
    pub fn new(functions: Arc<Functions>, queue: Arc<EventQueue>) -> Self {
        Self { functions, queue }
    }

    pub fn queue(&self) -> &Arc<EventQueue> {
        &self.queue
    }

    /// Checks the request (function, payload size, JSON), then invokes as asked.
    pub async fn invoke(
        &self,
        name: &str,
        payload: Bytes,
        invocation_type: InvocationType,
    ) -> Result<Invoked, InvokeError> {
        check_function_name("function_name", name)?;
        let function = self
            .functions
            .get(name)
            .ok_or_else(|| InvokeError::FunctionNotFound(name.to_string()))?;
        let max_bytes = match invocation_type {
            InvocationType::Event => MAX_EVENT_PAYLOAD_BYTES,
            InvocationType::RequestResponse | InvocationType::DryRun => MAX_SYNC_PAYLOAD_BYTES,
        };
        if payload.len() > max_bytes {
            return Err(InvokeError::PayloadTooLarge(InvalidArgument::new(
                "payload",
                format!(
                    "must be at most {max_bytes} bytes for {invocation_type:?} invocations, got {}",
                    payload.len()
                ),
            )));
        }
        // Lambda takes an empty payload as `{}`-less null; anything else must be JSON.
        let payload = if payload.iter().all(u8::is_ascii_whitespace) {
            Bytes::from_static(b"{}")
        } else {
            serde_json::from_slice::<serde::de::IgnoredAny>(&payload).map_err(|err| {
                InvokeError::PayloadNotJson(InvalidArgument::new(
                    "payload",
                    format!("must be JSON: {err}"),
                ))
            })?;
            payload
        };
        let request_id = crate::ids::new_uuid();
        let outcome = match invocation_type {
            InvocationType::DryRun => None,
            InvocationType::RequestResponse => Some(function.invoke(&request_id, payload).await),
            InvocationType::Event => {
                self.queue
                    .enqueue(name, &request_id, &payload)
                    .await
                    .map_err(|err| match err {
                        EnqueueError::Throttled(message) => InvokeError::Throttled(message),
                        EnqueueError::Storage(err) => InvokeError::Storage(err),
                    })?;
                None
            }
        };
        Ok(Invoked {
            request_id,
            outcome,
        })
    }
}
