//! eddy's durable, sharded log: streams, shards, Kinesis routing, sequence numbers,
//! RocksDB storage with group commit, in-memory tails and retention.
//!
//! This crate knows nothing of gRPC, HTTP or functions; `eddy-consumers` and the `eddy`
//! engine build on it. Only [`store`] touches RocksDB, and no RocksDB type leaves it.
//!
//! # Invariants
//! - Per shard, sequence numbers are consecutive and strictly increasing, and never handed
//!   out twice, across restarts and `kill -9` included: on open they continue after the
//!   last stored record or the trim point, whichever is higher.
//! - An append is acknowledged only after its group's RocksDB write returned (and, under
//!   [`Durability::Fsync`], after the WAL fsync), so an acknowledged record survives
//!   `kill -9` in both modes and power loss under `Fsync`.
//! - A shard's head (see [`ShardHandle::subscribe_head`]) is published only after the
//!   records below it are durable and in the tail; readers never see a record that could
//!   be lost.
//! - Arrival times never decrease within a shard, so AT_TIMESTAMP and retention are
//!   binary searches.
//! - Records older than their stream's retention are never returned, even before the
//!   background trim deletes them.
//! - A rejected request writes nothing; an overloaded writer queue rejects with
//!   [`AppendError::Overloaded`] instead of growing.
//!
//! The hot path is told in `README.md` beside this file.

pub mod clock;
pub mod codec;
mod commit_queue;
mod documents;
mod encoded_append;
pub mod error;
pub mod hash_key;
mod latency_histogram;
pub mod limits;
mod log;
pub mod record;
mod shard;
pub mod store;
pub mod stream;
mod stream_change;
pub mod sync;
mod tail;
mod tail_budget;
mod writer;

pub use clock::{Clock, ManualClock, SystemClock};
pub use commit_queue::CommitOn;
pub use documents::DocumentWrite;
pub use error::{
    AppendError, CreateStreamError, DeleteStreamError, InvalidArgument, NotFound, OpenError,
    ReadError, StorageError, UpdateStreamError,
};
pub use latency_histogram::LatencyHistogram;
pub use log::{
    AppendRecord, Appended, Durability, Log, LogConfig, PendingAppend, PendingDocuments, ReadBatch,
    ShardHandle, StreamDescription, WriteStats,
};
pub use record::{PartitionKey, Record};
pub use stream::{shard_id_of_index, shard_index_of_id, ShardMeta, StreamMeta};
pub use stream_change::StreamChange;
