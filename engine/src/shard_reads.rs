//! Reading a shard by position, shared by the gRPC `Records` service and the Kinesis API:
//! resolving a starting position to a sequence number, issuing shard iterators, and one
//! GetRecords step. Both APIs go through here, so they agree on every edge: an unassigned
//! sequence number, an expired or forged iterator, a stream deleted and re-created.

use std::sync::Arc;

use eddy_shards::limits::MAX_GET_RECORDS_BYTES;
use eddy_shards::{InvalidArgument, Log, NotFound, ReadBatch, ReadError, ShardHandle};
use thiserror::Error;

use crate::shard_iterator::{self, IteratorError, ShardPosition};

/// Where reading a shard starts, as Kinesis's five iterator types say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartingPosition {
    TrimHorizon,
    Latest,
    AtSequenceNumber(u64),
    AfterSequenceNumber(u64),
    /// Epoch milliseconds: the first record that arrived at or after it.
    AtTimestamp(u64),
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ShardReadError {
    #[error(transparent)]
    InvalidArgument(#[from] InvalidArgument),
    #[error(transparent)]
    Iterator(#[from] IteratorError),
    #[error(transparent)]
    NotFound(#[from] NotFound),
    /// The iterator's stream was deleted (and perhaps re-created) since it was issued.
    #[error("stream `{0}` of this shard iterator was deleted")]
    IteratorStreamDeleted(String),
    #[error(transparent)]
    Read(#[from] ReadError),
}

/// The first sequence number `position` designates in `shard`. `seq_field` names the
/// request field that carried a sequence number, for the error when it was never
/// assigned.
pub async fn resolve_start(
    log: &Arc<Log>,
    shard: &ShardHandle,
    position: StartingPosition,
    seq_field: &str,
) -> Result<u64, ShardReadError> {
    let head = shard.head_seq_exclusive();
    let assigned = |seq: u64| {
        if seq >= head {
            return Err(InvalidArgument::new(
                seq_field,
                format!(
                    "{seq} has not been assigned in shard `{}` (its next sequence number is {head})",
                    shard.shard_id()
                ),
            ));
        }
        Ok(seq)
    };
    match position {
        StartingPosition::TrimHorizon => Ok(shard.trim_seq()),
        StartingPosition::Latest => Ok(head),
        StartingPosition::AtSequenceNumber(seq) => Ok(assigned(seq)?),
        StartingPosition::AfterSequenceNumber(seq) => Ok(assigned(seq)? + 1),
        StartingPosition::AtTimestamp(millis) => {
            let (log, shard) = (log.clone(), shard.clone());
            let found = tokio::task::spawn_blocking(move || log.seq_at_timestamp(&shard, millis))
                .await
                .map_err(|err| {
                    ReadError::Storage(eddy_shards::StorageError::Io(format!(
                        "timestamp lookup task failed: {err}"
                    )))
                })??;
            Ok(found)
        }
    }
}

/// A fresh iterator at `next_seq` of `shard`, valid for five minutes.
pub fn issue_iterator(log: &Log, shard: &ShardHandle, next_seq: u64) -> String {
    let position = ShardPosition {
        stream_id: shard.stream_id(),
        stream_name: shard.stream_name().to_string(),
        shard_index: shard.shard_index(),
        next_seq,
    };
    shard_iterator::encode(log.iterator_secret(), &position, log.now_millis())
}

/// What one GetRecords call returns.
pub struct RecordsRead {
    pub batch: ReadBatch,
    /// `None` once a closed shard has been read to its end.
    pub next_shard_iterator: Option<String>,
}

/// Reads up to `limit` records (and [`MAX_GET_RECORDS_BYTES`]) at an iterator, without
/// blocking the async runtime.
pub async fn get_records(
    log: &Arc<Log>,
    shard_iterator: &str,
    limit: usize,
) -> Result<RecordsRead, ShardReadError> {
    let now = log.now_millis();
    let position = shard_iterator::decode(log.iterator_secret(), shard_iterator, now)?;
    let shard = log
        .shard(
            &position.stream_name,
            &eddy_shards::shard_id_of_index(position.shard_index),
        )
        .map_err(|_| ShardReadError::IteratorStreamDeleted(position.stream_name.clone()))?;
    if shard.stream_id() != position.stream_id {
        return Err(ShardReadError::IteratorStreamDeleted(position.stream_name));
    }
    let batch = log
        .read_async(&shard, position.next_seq, limit, MAX_GET_RECORDS_BYTES)
        .await?;
    let shard_closed_and_read = shard.ending_seq().is_some_and(|end| batch.next_seq > end);
    let next_shard_iterator = (!shard_closed_and_read).then(|| {
        let next = ShardPosition {
            next_seq: batch.next_seq,
            ..position
        };
        shard_iterator::encode(log.iterator_secret(), &next, now)
    });
    Ok(RecordsRead {
        batch,
        next_shard_iterator,
    })
}
