//! The shard poller: one task per (mapping, shard). It waits on the shard's head
//! notification (never on a timer), reads up to BatchSize records from the tail or
//! RocksDB, drops filtered records, invokes the function with one batch in flight, and
//! applies Lambda's failure handling — retries with backoff, bisect, ReportBatchItemFailures,
//! maximum record age and the on-failure destination — before it checkpoints past the
//! batch. Records are never skipped silently: each one is delivered, filtered out, sent
//! to the failure destination, or (with no destination) discarded with a counter and a
//! log line, as Lambda discards them.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use eddy_shards::limits::MAX_SYSTEM_RECORD_BYTES;
use eddy_shards::{AppendRecord, Log, ReadBatch, ReadError, Record, ShardHandle, StorageError};
use thiserror::Error;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::checkpoint::CheckpointStore;
use crate::destination::{chunk_for_destination, failure_record, FailureCondition, FailureContext};
use crate::event::{filterable_view, parse_batch_response, BatchResponse, EventSource};
use crate::filter::FilterSet;
use crate::handler::{
    panic_message, CatchUnwind, FunctionError, NativeHandler, Outcome, RecordBatch,
};
use crate::mapping::{MappingSpec, StartingPosition, MAX_BATCH_BYTES};
use crate::shard_checkpoint::ShardCheckpoint;
use crate::stats::MappingStats;

pub use crate::shard_checkpoint::CHECKPOINT_INTERVAL;

/// First retry delay; doubles per attempt up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Everything the pollers of one mapping share.
pub struct MappingContext {
    pub log: Arc<Log>,
    pub mapping_id: String,
    pub spec: MappingSpec,
    pub filters: FilterSet,
    pub function_arn: String,
    pub function_timeout: Duration,
    pub handler: Arc<dyn NativeHandler>,
    pub checkpoints: CheckpointStore,
    pub stats: Arc<MappingStats>,
    pub stream_arn: String,
    pub region: String,
}

#[derive(Debug, Error)]
pub enum PollerError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Read(#[from] ReadError),
}

/// How one invocation went, after ReportBatchItemFailures is applied.
enum Verdict {
    Success,
    /// The first `succeeded` records succeeded; the rest failed.
    Partial {
        succeeded: usize,
    },
    Failure(FunctionError),
}

/// Runs until `cancel` fires or the stream is deleted. Cancellation lands between
/// invocations, after the last checkpoint: the batch in flight is delivered again later.
pub async fn run_shard_poller(
    ctx: Arc<MappingContext>,
    shard: ShardHandle,
    cancel: CancellationToken,
) -> Result<(), PollerError> {
    let source = event_source(&ctx, &shard);
    let next_seq = starting_seq(&ctx, &shard).await?;
    if ctx.spec.parallelization_factor > 1 {
        return crate::lanes::run_lanes(ctx, shard, source, next_seq, cancel).await;
    }
    let mut next_seq = next_seq;
    let mut head_rx = shard.subscribe_head();
    let mut checkpoint = ShardCheckpoint::new(
        ctx.checkpoints.clone(),
        &ctx.mapping_id,
        &source.shard_id,
        next_seq,
    );
    loop {
        let flush_at = checkpoint.flush_at(next_seq);
        match wait_for_records_or(&ctx, &shard, &mut head_rx, next_seq, &cancel, flush_at).await {
            Waited::Records => {}
            Waited::FlushDue => {
                checkpoint.flush(next_seq).await?;
                continue;
            }
            Waited::Stop => break,
        }
        let batch = read_batch(&ctx.log, &shard, next_seq, ctx.spec.batch_size as usize).await?;
        let end_seq = batch.next_seq;
        let records = keep_matching(&ctx, batch.records);
        if !records.is_empty() && !deliver(&ctx, &source, &shard, records, &cancel).await {
            break; // cancelled mid-batch: do not checkpoint past it
        }
        next_seq = end_seq;
        checkpoint.offer(next_seq)?;
    }
    checkpoint.flush(next_seq).await
}

/// How a wait for records ended.
pub(crate) enum Waited {
    Records,
    /// The checkpoint flush deadline came first.
    FlushDue,
    /// Cancelled, or the shard is gone.
    Stop,
}

pub(crate) fn event_source(ctx: &MappingContext, shard: &ShardHandle) -> EventSource {
    EventSource {
        shard_id: shard.shard_id().to_string(),
        stream_arn: ctx.stream_arn.clone(),
        region: ctx.region.clone(),
        invoke_identity_arn: "arn:aws:iam::000000000000:role/eddy".into(),
    }
}

/// Waits until the shard has records at or after `next_seq` — on the head notification,
/// never a polling interval — then, with a batching window, until BatchSize records are
/// there or the window ends; or until `flush_at` while no record is there (a timer only
/// while a checkpoint waits to be written, so an idle poller costs nothing).
pub(crate) async fn wait_for_records_or(
    ctx: &MappingContext,
    shard: &ShardHandle,
    head_rx: &mut watch::Receiver<u64>,
    next_seq: u64,
    cancel: &CancellationToken,
    flush_at: Option<Instant>,
) -> Waited {
    loop {
        if shard.is_deleted() || cancel.is_cancelled() {
            return Waited::Stop;
        }
        if next_seq < *head_rx.borrow_and_update() {
            break;
        }
        let flush = async {
            match flush_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            changed = head_rx.changed() => if changed.is_err() { return Waited::Stop },
            _ = flush => return Waited::FlushDue,
            _ = cancel.cancelled() => return Waited::Stop,
        }
    }
    if ctx.spec.batching_window_secs > 0 {
        let deadline =
            Instant::now() + Duration::from_secs(u64::from(ctx.spec.batching_window_secs));
        while *head_rx.borrow_and_update() - next_seq < u64::from(ctx.spec.batch_size) {
            tokio::select! {
                changed = head_rx.changed() => if changed.is_err() { return Waited::Stop },
                _ = tokio::time::sleep_until(deadline) => break,
                _ = cancel.cancelled() => return Waited::Stop,
            }
        }
    }
    Waited::Records
}

/// The checkpoint, or the mapping's starting position resolved and checkpointed at once
/// (so LATEST means "after the mapping started", even across a restart).
async fn starting_seq(ctx: &Arc<MappingContext>, shard: &ShardHandle) -> Result<u64, PollerError> {
    let (ctx2, shard2) = (ctx.clone(), shard.clone());
    let seq = tokio::task::spawn_blocking(move || -> Result<u64, PollerError> {
        if let Some(seq) = ctx2.checkpoints.get(&ctx2.mapping_id, shard2.shard_id())? {
            return Ok(seq);
        }
        let seq = match ctx2.spec.starting_position {
            StartingPosition::TrimHorizon => shard2.trim_seq(),
            StartingPosition::Latest => shard2.head_seq_exclusive(),
            StartingPosition::AtTimestamp(millis) => ctx2.log.seq_at_timestamp(&shard2, millis)?,
        };
        ctx2.checkpoints
            .set(&ctx2.mapping_id, shard2.shard_id(), seq)?;
        Ok(seq)
    })
    .await
    .map_err(|err| StorageError::Io(format!("start task failed: {err}")))??;
    info!(mapping = %ctx.mapping_id, shard = shard.shard_id(), from_seq = seq, "poller started");
    Ok(seq)
}

pub(crate) async fn read_batch(
    log: &Arc<Log>,
    shard: &ShardHandle,
    from: u64,
    max_records: usize,
) -> Result<ReadBatch, PollerError> {
    Ok(log
        .read_async(shard, from, max_records, MAX_BATCH_BYTES)
        .await?)
}

pub(crate) fn keep_matching(ctx: &MappingContext, records: Vec<Record>) -> Vec<Record> {
    if ctx.filters.is_empty() {
        return records;
    }
    let total = records.len();
    let kept: Vec<Record> = records
        .into_iter()
        .filter(|record| ctx.filters.matches(&filterable_view(record)))
        .collect();
    ctx.stats
        .records_filtered
        .fetch_add((total - kept.len()) as u64, Ordering::Relaxed);
    kept
}

/// Delivers one batch to the end: every record succeeds, or goes to the failure
/// destination, or is discarded and counted. Returns `false` if cancelled first.
pub(crate) async fn deliver(
    ctx: &MappingContext,
    source: &EventSource,
    shard: &ShardHandle,
    records: Vec<Record>,
    cancel: &CancellationToken,
) -> bool {
    let mut pending: VecDeque<(Vec<Record>, u32)> = VecDeque::from([(records, 0)]);
    let mut last_error = FunctionError {
        error_type: String::new(),
        message: String::new(),
    };
    while let Some((mut records, mut attempts)) = pending.pop_front() {
        loop {
            if cancel.is_cancelled() {
                return false;
            }
            // Records past the maximum age, or already expired from the stream, stop here.
            let now = ctx.log.now_millis();
            let too_old = records.partition_point(|r| is_too_old(ctx, shard, r, now));
            if too_old > 0 {
                let expired: Vec<Record> = records.drain(..too_old).collect();
                let context = failure_context(
                    ctx,
                    FailureCondition::RecordAgeExceeded,
                    attempts,
                    &last_error,
                );
                if !give_up(ctx, source, &context, &expired, cancel).await {
                    return false;
                }
                if records.is_empty() {
                    break;
                }
            }
            let verdict = invoke(ctx, source, &records).await;
            let whole_batch_failed = match verdict {
                Verdict::Success => {
                    finish_ok(ctx, &records);
                    break;
                }
                Verdict::Partial { succeeded } => {
                    finish_ok(ctx, &records[..succeeded]);
                    records.drain(..succeeded);
                    last_error = FunctionError {
                        error_type: "BatchItemFailure".into(),
                        message: format!(
                            "the function reported sequence number {} as failed",
                            records[0].seq
                        ),
                    };
                    false
                }
                Verdict::Failure(error) => {
                    last_error = error;
                    true
                }
            };
            ctx.stats.errors.fetch_add(1, Ordering::Relaxed);
            ctx.stats.set_last_processing_result(format!(
                "PROBLEM: Function call failed: {}: {}",
                last_error.error_type, last_error.message
            ));
            // Bisect a failed batch in two; splitting does not count as a retry.
            if whole_batch_failed && ctx.spec.bisect_on_error && records.len() > 1 {
                let second = records.split_off(records.len() / 2);
                pending.push_front((second, attempts));
                pending.push_front((records, attempts));
                break;
            }
            attempts += 1;
            if ctx.spec.max_retries >= 0 && attempts > ctx.spec.max_retries as u32 {
                let context = failure_context(
                    ctx,
                    FailureCondition::RetryAttemptsExhausted,
                    attempts,
                    &last_error,
                );
                if !give_up(ctx, source, &context, &records, cancel).await {
                    return false;
                }
                break;
            }
            if !backoff(attempts, cancel).await {
                return false;
            }
        }
    }
    true
}

fn is_too_old(ctx: &MappingContext, shard: &ShardHandle, record: &Record, now: u64) -> bool {
    let past_max_age = ctx.spec.max_record_age_secs >= 0
        && now.saturating_sub(record.arrival_millis) > ctx.spec.max_record_age_secs as u64 * 1000;
    past_max_age || record.seq < shard.trim_seq()
}

fn finish_ok(ctx: &MappingContext, records: &[Record]) {
    if let Some(last) = records.last() {
        ctx.stats
            .records_delivered
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        let age = ctx.log.now_millis().saturating_sub(last.arrival_millis);
        ctx.stats.iterator_age_millis.store(age, Ordering::Relaxed);
        ctx.stats.set_last_processing_result("OK");
    }
}

fn failure_context<'a>(
    ctx: &'a MappingContext,
    condition: FailureCondition,
    attempts: u32,
    last_error: &'a FunctionError,
) -> FailureContext<'a> {
    FailureContext {
        function_arn: &ctx.function_arn,
        condition,
        approximate_invoke_count: attempts,
        function_error: if last_error.error_type.is_empty() {
            "Unhandled"
        } else {
            &last_error.error_type
        },
        error_message: &last_error.message,
        now_millis: ctx.log.now_millis(),
    }
}

async fn invoke(ctx: &MappingContext, source: &EventSource, records: &[Record]) -> Verdict {
    ctx.stats.invocations.fetch_add(1, Ordering::Relaxed);
    let batch = RecordBatch {
        source: source.clone(),
        records: records.to_vec(),
    };
    // A synchronous handler does its work inside `handle` itself: catch that too.
    let started =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ctx.handler.handle(&batch)));
    let outcome = match started {
        Err(panic) => Outcome::failed("Runtime.HandlerPanicked", panic_message(panic.as_ref())),
        Ok(future) => invoke_with_timeout(ctx, future).await,
    };
    verdict(ctx, records, outcome)
}

async fn invoke_with_timeout(
    ctx: &MappingContext,
    future: crate::handler::BoxFuture<'_, Outcome>,
) -> Outcome {
    match tokio::time::timeout(ctx.function_timeout, CatchUnwind(future)).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(panic)) => Outcome::failed("Runtime.HandlerPanicked", panic),
        Err(_) => Outcome::failed(
            "Sandbox.Timedout",
            format!(
                "Task timed out after {:.2} seconds",
                ctx.function_timeout.as_secs_f64()
            ),
        ),
    }
}

/// ReportBatchItemFailures applied to an outcome.
fn verdict(ctx: &MappingContext, records: &[Record], outcome: Outcome) -> Verdict {
    match outcome {
        Outcome::Failed(error) => Verdict::Failure(error),
        Outcome::Success(_) if !ctx.spec.report_batch_item_failures => Verdict::Success,
        Outcome::Success(body) => {
            let seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
            match parse_batch_response(&body, &seqs) {
                BatchResponse::Success => Verdict::Success,
                BatchResponse::PartialFailure { lowest_failed_seq } => Verdict::Partial {
                    succeeded: records.partition_point(|r| r.seq < lowest_failed_seq),
                },
                BatchResponse::Malformed(message) => Verdict::Failure(FunctionError {
                    error_type: "InvalidBatchItemFailures".into(),
                    message,
                }),
            }
        }
    }
}

/// Sends records that will not be retried to the failure destination, or discards them
/// with a counter and a warning when there is none. Keeps trying a failing destination
/// (the shard waits) rather than lose the records. Returns `false` if cancelled first.
async fn give_up(
    ctx: &MappingContext,
    source: &EventSource,
    context: &FailureContext<'_>,
    records: &[Record],
    cancel: &CancellationToken,
) -> bool {
    let Some(destination) = &ctx.spec.on_failure_stream else {
        warn!(
            mapping = %ctx.mapping_id,
            shard = %source.shard_id,
            first_seq = records[0].seq,
            count = records.len(),
            condition = context.condition.as_str(),
            "discarding records: retries exhausted and no failure destination"
        );
        ctx.stats
            .records_discarded
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        return true;
    };
    for chunk in chunk_for_destination(records, MAX_SYSTEM_RECORD_BYTES / 2) {
        let value = failure_record(source, context, chunk);
        let record = AppendRecord {
            partition_key: source.shard_id.clone(),
            data: serde_json::to_vec(&value).expect("json serialises").into(),
            explicit_hash_key: None,
        };
        let mut attempts = 0;
        loop {
            match ctx.log.put_system_record(destination, record.clone()).await {
                Ok(_) => break,
                Err(err) => {
                    attempts += 1;
                    warn!(mapping = %ctx.mapping_id, %destination, %err, "cannot write to the failure destination; retrying");
                    ctx.stats.set_last_processing_result(format!(
                        "PROBLEM: failure destination `{destination}` rejected the record: {err}"
                    ));
                    if !backoff(attempts, cancel).await {
                        return false;
                    }
                }
            }
        }
        ctx.stats
            .records_to_failure_destination
            .fetch_add(chunk.len() as u64, Ordering::Relaxed);
    }
    true
}

/// Waits before retry `attempt` (1-based). Returns `false` if cancelled meanwhile.
async fn backoff(attempt: u32, cancel: &CancellationToken) -> bool {
    let delay = FIRST_BACKOFF
        .saturating_mul(1 << attempt.saturating_sub(1).min(16))
        .min(MAX_BACKOFF);
    tokio::select! {
        _ = tokio::time::sleep(delay) => true,
        _ = cancel.cancelled() => false,
    }
}
