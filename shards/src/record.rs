//! A record as stored and served.

use std::sync::Arc;

use bytes::Bytes;

/// One record of a shard. Cloning is cheap: the key and the payload are shared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Per shard, strictly increasing, never reused.
    pub seq: u64,
    /// When the writer committed it, in milliseconds since the Unix epoch. Never decreases
    /// within a shard.
    pub arrival_millis: u64,
    pub partition_key: Arc<str>,
    pub data: Bytes,
}

impl Record {
    /// The bytes this record holds in memory, for the tail's byte bound.
    pub fn num_bytes(&self) -> usize {
        self.data.len() + self.partition_key.len() + 48
    }
}
