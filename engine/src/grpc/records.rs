//! The `eddy.v1.Records` gRPC service: put, iterators, get and subscribe.

use std::pin::Pin;
use std::sync::Arc;

use eddy_proto::v1 as pb;
use eddy_shards::limits::{check_stream_name, MAX_GET_RECORDS_BYTES, MAX_GET_RECORDS_LIMIT};
use eddy_shards::{AppendRecord, Appended, InvalidArgument, Log, ReadBatch, Record, ShardHandle};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, Streaming};

use super::put_pipeline::PutPipeline;
use super::status;
use crate::shard_reads::{self, StartingPosition};

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
        let pipeline = PutPipeline::new(
            self.log.clone(),
            request.into_inner(),
            self.shutdown.clone(),
        );
        Ok(Response::new(Box::pin(pipeline)))
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

pub(super) fn append_records(entries: Vec<pb::PutRecordsEntry>) -> Vec<AppendRecord> {
    entries
        .into_iter()
        .map(|entry| AppendRecord {
            partition_key: entry.partition_key,
            data: entry.data,
            explicit_hash_key: entry.explicit_hash_key,
        })
        .collect()
}

pub(super) fn put_results(appended: &[Appended]) -> Vec<pb::PutRecordsResult> {
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
