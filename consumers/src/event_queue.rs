//! Asynchronous (`Event`) invocations: a durable queue in the log's documents, and the
//! dispatcher that runs them.
//!
//! An event is written to RocksDB before `enqueue` returns (in the log writer's group
//! commit, so synced under fsync durability): an accepted event survives `kill -9` and
//! restarts. The dispatcher runs due events, at most [`MAX_IN_FLIGHT`] at once (each function's pool also caps its
//! workers). A failed event is retried after `first_retry_delay`, then twice that, up to
//! the function's MaximumRetryAttempts, and never past MaximumEventAgeInSeconds; then
//! Lambda's invocation record, with the payload, goes to the function's on-failure stream.
//! An event is deleted only after it succeeded or reached its destination; an event whose
//! function or destination is gone is dropped with an error log and a counter, never
//! silently. Delivery is at-least-once: an event running at a crash runs again.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use eddy_shards::sync::Mutex;
use eddy_shards::{AppendError, AppendRecord, DocumentWrite, Log, StorageError};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::destination::{async_failure_record, FailureCondition, FailureContext};
use crate::functions::Functions;
use crate::handler::Outcome;

const NAMESPACE: &str = "invoke_events";
/// Events running at once across all functions.
pub const MAX_IN_FLIGHT: usize = 64;
/// Due events the dispatcher looks at per pass (bounds its work when the first ones all
/// belong to functions at their concurrency).
const SCAN_EVENTS: usize = 1024;

/// Bounds of the queue: past them `enqueue` answers `Throttled` (Lambda's
/// `TooManyRequestsException`) instead of growing.
#[derive(Clone, Debug)]
pub struct QueueSettings {
    pub max_events: usize,
    pub max_payload_bytes: usize,
    /// Delay before the first retry; the second waits twice as long. Lambda waits 1 and
    /// 2 minutes.
    pub first_retry_delay: Duration,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            max_events: 100_000,
            max_payload_bytes: 256 * 1024 * 1024,
            first_retry_delay: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Error)]
pub enum EnqueueError {
    #[error("the asynchronous invocation queue is full ({0}); retry later")]
    Throttled(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// What is stored per event.
#[derive(Serialize, Deserialize)]
struct StoredEvent {
    request_id: String,
    function: String,
    enqueued_at_millis: u64,
    /// Invocations made so far.
    attempts: u32,
    /// The JSON payload, as text.
    payload: String,
    /// Set once retries or age are exhausted, while the failure record waits for its
    /// destination to take it.
    #[serde(default)]
    failed_for_good: Option<FinalFailure>,
}

#[derive(Serialize, Deserialize)]
struct FinalFailure {
    condition: FailureCondition,
    error_type: String,
    message: String,
}

/// What happens to an event after an attempt.
enum Next {
    /// Succeeded, sent to its destination or dropped (with a log): deleted.
    Done,
    /// Run it again at this time (ms).
    RetryAt(u64),
    /// Shutdown came first: still stored as before, runs after a restart.
    Interrupted,
}

/// What the dispatcher keeps in memory per event (the payload stays on disk).
#[derive(Clone)]
struct Pending {
    key: String,
    function: String,
    payload_bytes: usize,
}

#[derive(Default)]
struct State {
    next_id: u64,
    /// Due time (ms) and id → event.
    due: BTreeMap<(u64, u64), Pending>,
    in_flight: usize,
    /// Running events per function: at most the function's concurrency, so that one
    /// slow function cannot hold every slot while other functions' events wait.
    in_flight_by_function: HashMap<String, usize>,
    /// Accepted events whose store has not finished yet.
    storing: usize,
    queued_payload_bytes: usize,
}

/// Counters for operators.
#[derive(Debug, Default)]
pub struct QueueStats {
    pub succeeded: AtomicU64,
    pub retried: AtomicU64,
    pub sent_to_destination: AtomicU64,
    /// Events given up with nowhere to send them (no destination, function deleted):
    /// each is logged with its request id.
    pub dropped: AtomicU64,
}

pub struct EventQueue {
    log: Arc<Log>,
    functions: Arc<Functions>,
    settings: QueueSettings,
    state: Mutex<State>,
    wake: Notify,
    cancel: CancellationToken,
    pub stats: QueueStats,
}

impl EventQueue {
    /// Loads the events left by the last run; they are due at once.
    pub fn open(
        log: Arc<Log>,
        functions: Arc<Functions>,
        settings: QueueSettings,
        cancel: CancellationToken,
    ) -> Result<Arc<Self>, StorageError> {
        let mut state = State::default();
        let now = log.now_millis();
        for (key, bytes) in log.list_documents(NAMESPACE)? {
            let id: u64 = key
                .parse()
                .map_err(|_| StorageError::Corruption(format!("invoke event key {key:?}")))?;
            let event: StoredEvent = serde_json::from_slice(&bytes)
                .map_err(|err| StorageError::Corruption(format!("invoke event {key}: {err}")))?;
            state.next_id = state.next_id.max(id + 1);
            state.queued_payload_bytes += event.payload.len();
            state.due.insert(
                (now, id),
                Pending {
                    key,
                    function: event.function.clone(),
                    payload_bytes: event.payload.len(),
                },
            );
        }
        if !state.due.is_empty() {
            info!(events = state.due.len(), "asynchronous invocations resumed");
        }
        Ok(Arc::new(Self {
            log,
            functions,
            settings,
            state: Mutex::new(state),
            wake: Notify::new(),
            cancel,
            stats: QueueStats::default(),
        }))
    }

    /// Events waiting or running.
    pub fn len(&self) -> usize {
        let state = self.state.lock();
        state.due.len() + state.in_flight
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Queues one invocation of `function` durably; returns once it is stored.
    /// The caller checked the function and the payload.
    ///
    /// # Cancel safety
    /// The store runs in a task of its own: dropping the future does not lose or strand
    /// the event (it runs, though the caller was not told it was accepted).
    pub async fn enqueue(
        self: &Arc<Self>,
        function: &str,
        request_id: &str,
        payload: &[u8],
    ) -> Result<(), EnqueueError> {
        let payload = String::from_utf8_lossy(payload).into_owned();
        let payload_bytes = payload.len();
        let id = {
            let mut state = self.state.lock();
            let events = state.due.len() + state.in_flight + state.storing;
            if events >= self.settings.max_events {
                return Err(EnqueueError::Throttled(format!(
                    "{events} events, the limit is {}",
                    self.settings.max_events
                )));
            }
            if state.queued_payload_bytes + payload_bytes > self.settings.max_payload_bytes {
                return Err(EnqueueError::Throttled(format!(
                    "{} bytes of payloads, the limit is {}",
                    state.queued_payload_bytes, self.settings.max_payload_bytes
                )));
            }
            state.queued_payload_bytes += payload_bytes;
            state.storing += 1;
            state.next_id += 1;
            state.next_id - 1
        };
        let key = format!("{id:020}");
        let now = self.log.now_millis();
        let event = StoredEvent {
            request_id: request_id.to_string(),
            function: function.to_string(),
            enqueued_at_millis: now,
            attempts: 0,
            payload,
            failed_for_good: None,
        };
        let function = event.function.clone();
        let queue = self.clone();
        // Task: enqueue-event; finishes the store and the bookkeeping even when the
        // caller goes away.
        let stored = tokio::spawn(async move {
            let written = queue.store(key.clone(), &event).await;
            let mut state = queue.state.lock();
            state.storing -= 1;
            if written.is_err() {
                state.queued_payload_bytes -= payload_bytes;
            } else {
                state.due.insert(
                    (now, id),
                    Pending {
                        key,
                        function,
                        payload_bytes,
                    },
                );
            }
            drop(state);
            queue.wake.notify_one();
            written
        });
        stored
            .await
            .map_err(|err| StorageError::Io(format!("enqueue task failed: {err}")))??;
        Ok(())
    }

    /// Runs due events until the queue's cancellation token fires, then waits for the
    /// running ones to stop. An event interrupted by shutdown is left stored as it was
    /// and runs again after a restart (at-least-once).
    pub async fn run(self: Arc<Self>) {
        loop {
            let next_due_millis = self.start_due_events();
            let sleep = match next_due_millis {
                Some(due) => Duration::from_millis(due.saturating_sub(self.log.now_millis())),
                // Nothing waits: sleep until an enqueue or a finished event wakes us.
                None => Duration::from_secs(3600),
            };
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(sleep) => {}
                _ = self.cancel.cancelled() => break,
            }
        }
        // Running events see the cancellation and return; each wakes us as it ends.
        loop {
            let busy = {
                let state = self.state.lock();
                state.in_flight + state.storing
            };
            if busy == 0 {
                return;
            }
            self.wake.notified().await;
        }
    }

    /// Starts every due event there is room for; returns when the next one is due.
    fn start_due_events(self: &Arc<Self>) -> Option<u64> {
        let now = self.log.now_millis();
        let mut state = self.state.lock();
        let mut next_due = None;
        let mut to_start = Vec::new();
        let mut starting: HashMap<&str, usize> = HashMap::new();
        let mut room = MAX_IN_FLIGHT.saturating_sub(state.in_flight);
        // Look at the first events only: events of functions at their concurrency wait,
        // and a finishing event wakes the dispatcher again.
        for (&key, pending) in state.due.iter().take(SCAN_EVENTS) {
            if key.0 > now {
                next_due = Some(key.0);
                break;
            }
            if room == 0 {
                break;
            }
            let cap = self
                .functions
                .concurrency_of(&pending.function)
                .unwrap_or(1);
            let running = state
                .in_flight_by_function
                .get(&pending.function)
                .copied()
                .unwrap_or(0);
            let also_starting = starting.entry(&pending.function).or_default();
            if running + *also_starting >= cap {
                continue;
            }
            *also_starting += 1;
            room -= 1;
            to_start.push(key);
        }
        for key in to_start {
            let pending = state.due.remove(&key).expect("the key was just seen");
            state.in_flight += 1;
            *state
                .in_flight_by_function
                .entry(pending.function.clone())
                .or_default() += 1;
            let queue = self.clone();
            // Task: invoke-event, one per running asynchronous invocation.
            tokio::spawn(async move {
                let id = key.1;
                let next = match queue.attempt(&pending).await {
                    Ok(next) => next,
                    Err(err) => {
                        // Storage failed: keep the event in memory and try again later.
                        error!(event = %pending.key, %err, "asynchronous invocation could not be stored");
                        Next::RetryAt(queue.log.now_millis() + 1000)
                    }
                };
                let mut state = queue.state.lock();
                state.in_flight -= 1;
                if let Some(running) = state.in_flight_by_function.get_mut(&pending.function) {
                    *running -= 1;
                    if *running == 0 {
                        state.in_flight_by_function.remove(&pending.function);
                    }
                }
                match next {
                    Next::RetryAt(due) => {
                        state.due.insert((due, id), pending);
                    }
                    Next::Done | Next::Interrupted => {
                        state.queued_payload_bytes -= pending.payload_bytes
                    }
                }
                drop(state);
                queue.wake.notify_one();
            });
        }
        next_due
    }

    /// Runs one event once.
    async fn attempt(&self, pending: &Pending) -> Result<Next, StorageError> {
        let Some(bytes) = self.log.get_document(NAMESPACE, &pending.key)? else {
            return Ok(Next::Done);
        };
        let Ok(mut event) = serde_json::from_slice::<StoredEvent>(&bytes) else {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            error!(event = %pending.key, "asynchronous invocation dropped: its stored form is corrupt");
            self.delete(&pending.key).await?;
            return Ok(Next::Done);
        };
        let Some(function) = self.functions.get(&event.function) else {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            error!(request_id = %event.request_id, function = %event.function,
                "asynchronous invocation dropped: its function was deleted");
            self.delete(&pending.key).await?;
            return Ok(Next::Done);
        };
        if event.failed_for_good.is_none() {
            let config = &function.spec.async_invoke;
            let now = self.log.now_millis();
            let max_age_millis = u64::from(config.max_event_age_secs) * 1000;
            if now.saturating_sub(event.enqueued_at_millis) > max_age_millis {
                event.failed_for_good = Some(FinalFailure {
                    condition: FailureCondition::EventAgeExceeded,
                    error_type: "EventAgeExceeded".into(),
                    message: format!(
                        "the event is older than MaximumEventAgeInSeconds ({})",
                        config.max_event_age_secs
                    ),
                });
            } else {
                let payload = Bytes::from(event.payload.clone().into_bytes());
                let outcome = tokio::select! {
                    outcome = function.invoke(&event.request_id, payload) => outcome,
                    // Shutting down: the attempt does not count; the event stays stored.
                    _ = self.cancel.cancelled() => return Ok(Next::Interrupted),
                };
                event.attempts += 1;
                match outcome {
                    Outcome::Success(_) => {
                        self.stats.succeeded.fetch_add(1, Ordering::Relaxed);
                        self.delete(&pending.key).await?;
                        return Ok(Next::Done);
                    }
                    Outcome::Failed(error) if event.attempts <= config.max_retries => {
                        self.stats.retried.fetch_add(1, Ordering::Relaxed);
                        warn!(request_id = %event.request_id, function = %event.function,
                            attempt = event.attempts, error_type = %error.error_type,
                            "asynchronous invocation failed; will retry");
                        self.store(pending.key.clone(), &event).await?;
                        let delay =
                            self.settings.first_retry_delay * (1 << (event.attempts - 1).min(8));
                        return Ok(Next::RetryAt(
                            self.log.now_millis() + delay.as_millis() as u64,
                        ));
                    }
                    Outcome::Failed(error) => {
                        event.failed_for_good = Some(FinalFailure {
                            condition: FailureCondition::RetriesExhausted,
                            error_type: error.error_type,
                            message: error.message,
                        });
                    }
                }
            }
        }
        match self.give_up(&function, &event).await {
            Ok(()) => {
                self.delete(&pending.key).await?;
                Ok(Next::Done)
            }
            Err(err) => {
                // The destination is busy or failing: keep the verdict, retry the send.
                warn!(request_id = %event.request_id, function = %event.function, %err,
                    "the on-failure destination refused an asynchronous invocation record; will retry");
                self.store(pending.key.clone(), &event).await?;
                Ok(Next::RetryAt(self.log.now_millis() + 1000))
            }
        }
    }

    /// Sends a failed event to the function's on-failure stream, or drops it with a log
    /// when there is none (or it was deleted). A refusal that may pass is an `Err`.
    async fn give_up(
        &self,
        function: &crate::functions::Function,
        event: &StoredEvent,
    ) -> Result<(), AppendError> {
        let failure = event
            .failed_for_good
            .as_ref()
            .expect("give_up is called with a final failure");
        let Some(stream) = &function.spec.async_invoke.on_failure_stream else {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            error!(request_id = %event.request_id, function = %event.function,
                condition = failure.condition.as_str(), error_type = %failure.error_type,
                "asynchronous invocation failed for good and the function has no on-failure destination");
            return Ok(());
        };
        let context = FailureContext {
            function_arn: &function.arn,
            condition: failure.condition,
            approximate_invoke_count: event.attempts,
            function_error: &failure.error_type,
            error_message: &failure.message,
            now_millis: self.log.now_millis(),
        };
        let record = async_failure_record(&context, &event.request_id, event.payload.as_bytes());
        let appended = self
            .log
            .put_system_record(
                stream,
                AppendRecord {
                    partition_key: event.request_id.clone(),
                    data: Bytes::from(serde_json::to_vec(&record).expect("json serialises")),
                    explicit_hash_key: None,
                },
            )
            .await;
        match appended {
            Ok(_) => {
                self.stats
                    .sent_to_destination
                    .fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(AppendError::NotFound(err)) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                error!(request_id = %event.request_id, function = %event.function, %stream, %err,
                    "asynchronous invocation failed for good and its on-failure stream is gone");
                Ok(())
            }
            Err(err) => Err(err),
        }
    }

    async fn store(&self, key: String, event: &StoredEvent) -> Result<(), StorageError> {
        let value = serde_json::to_vec(event).expect("event serialises");
        self.log
            .write_documents_async(vec![DocumentWrite::Put {
                namespace: NAMESPACE,
                key,
                value,
            }])
            .await
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.log
            .write_documents_async(vec![DocumentWrite::Delete {
                namespace: NAMESPACE,
                key: key.to_string(),
            }])
            .await
    }
}
