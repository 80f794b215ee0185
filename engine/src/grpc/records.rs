//! The `eddy.v1.Records` gRPC service: put, iterators, get and subscribe.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use eddy_proto::v1 as pb;
use eddy_shards::limits::{check_stream_name, MAX_GET_RECORDS_BYTES, MAX_GET_RECORDS_LIMIT};
use eddy_shards::{
    AppendRecord, Appended, InvalidArgument, Log, PendingAppend, ReadBatch, Record, ShardHandle,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, Streaming};

use super::status;
use crate::shard_reads::{self, StartingPosition};

/// PutRecordStream requests one call may have awaiting acknowledgement before the server
/// stops reading it.
const PUT_STREAM_IN_FLIGHT: usize = 1024;
/// At most this many PutRecordStream requests that have already arrived are submitted
/// together.
const COALESCED_REQUESTS: usize = 64;
/// Events a subscription may have queued for a slow client before the reader pauses.
const SUBSCRIPTION_QUEUE_EVENTS: usize = 4;
/// Records per subscription event.
const SUBSCRIPTION_BATCH_RECORDS: usize = 1000;

pub struct RecordsService {
    log: Arc<Log>,
    shutdown: CancellationToken,
}

impl RecordsService {
    pub fn new(log: Arc<Log>, shutdown: CancellationToken) -> Self {
        Self { log, shutdown }
    }

    fn shard(&self, stream_name: &str, shard_id: &str) -> Result<ShardHandle, Status> {
        check_stream_name("stream_name", stream_name).map_err(status::invalid_argument)?;
        self.log
            .shard(stream_name, shard_id)
            .map_err(status::not_found)
    }

    /// The first sequence number a starting position designates.
    async fn resolve_start(
        &self,
        shard: &ShardHandle,
        start: Option<pb::StartingPosition>,
    ) -> Result<u64, Status> {
        let start = start.ok_or_else(|| {
            status::invalid_argument(InvalidArgument::new("starting_position", "is required"))
        })?;
        let kind = pb::ShardIteratorType::try_from(start.r#type)
            .unwrap_or(pb::ShardIteratorType::Unspecified);
        let sequence_number = |kind: &str| {
            start.sequence_number.ok_or_else(|| {
                status::invalid_argument(InvalidArgument::new(
                    "starting_position.sequence_number",
                    format!("is required for {kind}"),
                ))
            })
        };
        let position = match kind {
            pb::ShardIteratorType::TrimHorizon => StartingPosition::TrimHorizon,
            pb::ShardIteratorType::Latest => StartingPosition::Latest,
            pb::ShardIteratorType::AtSequenceNumber => {
                StartingPosition::AtSequenceNumber(sequence_number("AT_SEQUENCE_NUMBER")?)
            }
            pb::ShardIteratorType::AfterSequenceNumber => {
                StartingPosition::AfterSequenceNumber(sequence_number("AFTER_SEQUENCE_NUMBER")?)
            }
            pb::ShardIteratorType::AtTimestamp => {
                StartingPosition::AtTimestamp(start.timestamp_millis.ok_or_else(|| {
                    status::invalid_argument(InvalidArgument::new(
                        "starting_position.timestamp_millis",
                        "is required for AT_TIMESTAMP",
                    ))
                })?)
            }
            pb::ShardIteratorType::Unspecified => return Err(status::invalid_argument(InvalidArgument::new(
                "starting_position.type",
                "must be TRIM_HORIZON, LATEST, AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER or AT_TIMESTAMP",
            ))),
        };
        shard_reads::resolve_start(
            &self.log,
            shard,
            position,
            "starting_position.sequence_number",
        )
        .await
        .map_err(status::shard_read)
    }
}

/// Reads a shard without blocking the async runtime (see [`Log::read_async`]).
pub async fn read_shard(
    log: &Arc<Log>,
    shard: &ShardHandle,
    from_seq_inclusive: u64,
    max_records: usize,
) -> Result<ReadBatch, Status> {
    log.read_async(
        shard,
        from_seq_inclusive,
        max_records,
        MAX_GET_RECORDS_BYTES,
    )
    .await
    .map_err(status::read)
}

pub fn record_to_proto(record: &Record) -> pb::Record {
    pb::Record {
        sequence_number: record.seq,
        partition_key: record.partition_key.to_string(),
        data: record.data.clone(),
        approximate_arrival_timestamp_millis: record.arrival_millis,
    }
}

type PutStream = Pin<Box<dyn Stream<Item = Result<pb::PutRecordStreamResponse, Status>> + Send>>;

type SubscribeStream =
    Pin<Box<dyn Stream<Item = Result<pb::SubscribeToShardEvent, Status>> + Send>>;

#[tonic::async_trait]
impl pb::records_server::Records for RecordsService {
    async fn put_record(
        &self,
        request: Request<pb::PutRecordRequest>,
    ) -> Result<Response<pb::PutRecordResponse>, Status> {
        let request = request.into_inner();
        check_stream_name("stream_name", &request.stream_name).map_err(status::invalid_argument)?;
        let record = AppendRecord {
            partition_key: request.partition_key,
            data: request.data,
            explicit_hash_key: request.explicit_hash_key,
        };
        let appended = self
            .log
            .put_record(
                &request.stream_name,
                record,
                request.sequence_number_for_ordering,
            )
            .await
            .map_err(status::append)?;
        Ok(Response::new(pb::PutRecordResponse {
            shard_id: eddy_shards::shard_id_of_index(appended.shard_index),
            sequence_number: appended.seq,
        }))
    }

    async fn put_records(
        &self,
        request: Request<pb::PutRecordsRequest>,
    ) -> Result<Response<pb::PutRecordsResponse>, Status> {
        let request = request.into_inner();
        check_stream_name("stream_name", &request.stream_name).map_err(status::invalid_argument)?;
        let appended = self
            .log
            .put_records(&request.stream_name, append_records(request.records))
            .await
            .map_err(status::append)?;
        Ok(Response::new(pb::PutRecordsResponse {
            failed_record_count: 0,
            records: put_results(&appended),
        }))
    }

    type PutRecordStreamStream = PutStream;

    async fn put_record_stream(
        &self,
        request: Request<Streaming<pb::PutRecordStreamRequest>>,
    ) -> Result<Response<Self::PutRecordStreamStream>, Status> {
        let requests = request.into_inner();
        let (responses_tx, responses_rx) = mpsc::channel(PUT_STREAM_IN_FLIGHT);
        let log = self.log.clone();
        let shutdown = self.shutdown.clone();
        // Task: grpc-put-stream, one per PutRecordStream call; ends when the client has
        // closed its side and every acknowledgement is out, or when the client goes away.
        tokio::spawn(pipeline_puts(log, requests, responses_tx, shutdown));
        Ok(Response::new(Box::pin(ReceiverStream::new(responses_rx))))
    }

    async fn get_shard_iterator(
        &self,
        request: Request<pb::GetShardIteratorRequest>,
    ) -> Result<Response<pb::GetShardIteratorResponse>, Status> {
        let request = request.into_inner();
        let shard = self.shard(&request.stream_name, &request.shard_id)?;
        let next_seq = self
            .resolve_start(&shard, request.starting_position)
            .await?;
        let shard_iterator = shard_reads::issue_iterator(&self.log, &shard, next_seq);
        Ok(Response::new(pb::GetShardIteratorResponse {
            shard_iterator,
        }))
    }

    async fn get_records(
        &self,
        request: Request<pb::GetRecordsRequest>,
    ) -> Result<Response<pb::GetRecordsResponse>, Status> {
        let request = request.into_inner();
        let limit = request.limit.unwrap_or(MAX_GET_RECORDS_LIMIT);
        if limit == 0 || limit > MAX_GET_RECORDS_LIMIT {
            return Err(status::invalid_argument(InvalidArgument::new(
                "limit",
                format!("must be between 1 and {MAX_GET_RECORDS_LIMIT}, got {limit}"),
            )));
        }
        let read = shard_reads::get_records(&self.log, &request.shard_iterator, limit as usize)
            .await
            .map_err(status::shard_read)?;
        Ok(Response::new(pb::GetRecordsResponse {
            records: read.batch.records.iter().map(record_to_proto).collect(),
            next_shard_iterator: read.next_shard_iterator,
            millis_behind_latest: read.batch.millis_behind_latest,
        }))
    }

    type SubscribeToShardStream = SubscribeStream;

    async fn subscribe_to_shard(
        &self,
        request: Request<pb::SubscribeToShardRequest>,
    ) -> Result<Response<Self::SubscribeToShardStream>, Status> {
        let request = request.into_inner();
        let shard = self.shard(&request.stream_name, &request.shard_id)?;
        let from_seq = self
            .resolve_start(&shard, request.starting_position)
            .await?;
        let (events_tx, events_rx) = mpsc::channel(SUBSCRIPTION_QUEUE_EVENTS);
        let log = self.log.clone();
        let shutdown = self.shutdown.clone();
        // Task: grpc-subscription, one per SubscribeToShard call, ends with its client.
        tokio::spawn(push_records(log, shard, from_seq, events_tx, shutdown));
        Ok(Response::new(Box::pin(ReceiverStream::new(events_rx))))
    }
}

fn append_records(entries: Vec<pb::PutRecordsEntry>) -> Vec<AppendRecord> {
    entries
        .into_iter()
        .map(|entry| AppendRecord {
            partition_key: entry.partition_key,
            data: entry.data,
            explicit_hash_key: entry.explicit_hash_key,
        })
        .collect()
}

fn put_results(appended: &[Appended]) -> Vec<pb::PutRecordsResult> {
    appended
        .iter()
        .map(|at| pb::PutRecordsResult {
            shard_id: eddy_shards::shard_id_of_index(at.shard_index),
            sequence_number: at.seq,
            error_code: String::new(),
            error_message: String::new(),
        })
        .collect()
}

/// A PutRecordStream request handed to the log (or refused before anything was queued).
type InFlightPut = (u64, Result<PendingAppend, Status>);

/// Serves one PutRecordStream call: submits each request to the log as it arrives, so
/// they commit in arrival order, and sends the acknowledgements back in that order while
/// reading on. Stops reading while [`PUT_STREAM_IN_FLIGHT`] requests await their
/// acknowledgement, so a fast client is held back by HTTP/2 flow control, not buffered.
async fn pipeline_puts(
    log: Arc<Log>,
    mut requests: Streaming<pb::PutRecordStreamRequest>,
    responses_tx: mpsc::Sender<Result<pb::PutRecordStreamResponse, Status>>,
    shutdown: CancellationToken,
) {
    let mut in_flight: VecDeque<InFlightPut> = VecDeque::new();
    let mut reading = true;
    // Why the call ends with an error once what was read is acknowledged: the server is
    // shutting down, or a request could not be read (too big, undecodable).
    let mut ending: Option<Status> = None;
    loop {
        if !reading && in_flight.is_empty() {
            if let Some(status) = ending {
                let _ = responses_tx.send(Err(status)).await;
            }
            return;
        }
        tokio::select! {
            outcome = oldest_outcome(&mut in_flight), if !in_flight.is_empty() => {
                let (request_id, _) = in_flight.pop_front().expect("awaited the oldest");
                let response = match outcome {
                    Ok(appended) => pb::PutRecordStreamResponse {
                        request_id,
                        records: put_results(&appended),
                        error_code: 0,
                        error_message: String::new(),
                    },
                    Err(status) => pb::PutRecordStreamResponse {
                        request_id,
                        records: Vec::new(),
                        error_code: status.code() as i32,
                        error_message: status.message().to_owned(),
                    },
                };
                if responses_tx.send(Ok(response)).await.is_err() {
                    return; // the client went away; what it sent may still be written
                }
            }
            message = requests.message(), if reading && in_flight.len() < PUT_STREAM_IN_FLIGHT => {
                match message {
                    Ok(Some(request)) => {
                        // Requests that have already arrived are submitted together: on an
                        // idle log they share one commit and one wake-up of the readers.
                        let mut batch = vec![request];
                        while batch.len() < COALESCED_REQUESTS
                            && in_flight.len() + batch.len() < PUT_STREAM_IN_FLIGHT
                        {
                            match ready_now(requests.message()) {
                                Some(Ok(Some(request))) => batch.push(request),
                                Some(Ok(None)) => {
                                    reading = false;
                                    break;
                                }
                                Some(Err(status)) => {
                                    reading = false;
                                    ending = Some(status);
                                    break;
                                }
                                None => break,
                            }
                        }
                        in_flight.extend(submit_puts(&log, batch));
                    }
                    // The client closed its side: acknowledge what was read, then end.
                    Ok(None) => reading = false,
                    // A request could not be read: acknowledge what was, then end with
                    // the reason.
                    Err(status) => {
                        reading = false;
                        ending = Some(status);
                    }
                }
            }
            _ = shutdown.cancelled(), if reading => {
                reading = false;
                ending = Some(status::shutting_down());
            }
        }
    }
}

/// Submits requests in order; one in-flight entry per request, in order.
fn submit_puts(log: &Log, requests: Vec<pb::PutRecordStreamRequest>) -> Vec<InFlightPut> {
    let mut in_flight = Vec::with_capacity(requests.len());
    let mut valid = Vec::with_capacity(requests.len());
    for request in requests {
        match check_stream_name("stream_name", &request.stream_name) {
            Ok(()) => {
                in_flight.push((request.request_id, None));
                valid.push((request.stream_name, append_records(request.records)));
            }
            Err(invalid) => in_flight.push((
                request.request_id,
                Some(Err(status::invalid_argument(invalid))),
            )),
        }
    }
    let mut submitted = log.submit_records_all(valid).into_iter();
    in_flight
        .into_iter()
        .map(|(request_id, checked)| {
            let outcome = checked.unwrap_or_else(|| {
                submitted
                    .next()
                    .expect("one outcome per valid request")
                    .map_err(status::append)
            });
            (request_id, outcome)
        })
        .collect()
}

/// The future's output if it is ready now, without waiting. Cancel safe futures only.
fn ready_now<F: Future>(future: F) -> Option<F::Output> {
    let future = std::pin::pin!(future);
    match future.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

/// The outcome of the oldest request in flight. Cancel safe: the request stays at the
/// front until its caller pops it.
async fn oldest_outcome(in_flight: &mut VecDeque<InFlightPut>) -> Result<Vec<Appended>, Status> {
    match in_flight.front_mut() {
        Some((_, Ok(pending))) => pending.await.map_err(status::append),
        Some((_, Err(status))) => Err(status.clone()),
        None => std::future::pending().await,
    }
}

/// Pushes a shard's records to a subscriber as they commit: it waits on the shard's head
/// notification, never on a timer, and pauses while the subscriber's queue is full.
async fn push_records(
    log: Arc<Log>,
    shard: ShardHandle,
    mut next_seq: u64,
    events_tx: mpsc::Sender<Result<pb::SubscribeToShardEvent, Status>>,
    shutdown: CancellationToken,
) {
    let mut head_rx = shard.subscribe_head();
    loop {
        if shard.is_deleted() {
            let _ = events_tx
                .send(Err(Status::not_found(format!(
                    "stream `{}` was deleted",
                    shard.stream_name()
                ))))
                .await;
            return;
        }
        if next_seq < *head_rx.borrow_and_update() {
            let batch = match read_shard(&log, &shard, next_seq, SUBSCRIPTION_BATCH_RECORDS).await {
                Ok(batch) => batch,
                Err(status) => {
                    let _ = events_tx.send(Err(status)).await;
                    return;
                }
            };
            next_seq = batch.next_seq;
            if !batch.records.is_empty() {
                let event = pb::SubscribeToShardEvent {
                    continuation_sequence_number: batch.next_seq.saturating_sub(1),
                    millis_behind_latest: batch.millis_behind_latest,
                    records: batch.records.iter().map(record_to_proto).collect(),
                };
                if events_tx.send(Ok(event)).await.is_err() {
                    return; // the subscriber went away
                }
            }
            continue;
        }
        tokio::select! {
            changed = head_rx.changed() => if changed.is_err() { return },
            _ = events_tx.closed() => return,
            _ = shutdown.cancelled() => {
                let _ = events_tx.send(Err(status::shutting_down())).await;
                return;
            }
        }
    }
}
