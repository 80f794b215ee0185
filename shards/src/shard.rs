//! The live state of streams and shards: positions, the in-memory tail, and the head
//! notification that wakes readers. Persisted shape lives in [`crate::stream`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::watch;

use crate::error::NotFound;
use crate::stream::{shard_index_of_id, ShardMeta, StreamMeta};
use crate::sync::RwLock;
use crate::tail::Tail;

/// One shard while the log is open.
///
/// Invariants: `trim_seq <= next_seq`; only the writer thread advances `next_seq`,
/// `last_arrival_millis` and the tail; the head watch carries `next_seq` and is published
/// after the records it covers are durable and in the tail.
#[derive(Debug)]
pub(crate) struct ShardState {
    pub stream_id: u32,
    pub stream_name: String,
    retention_millis: AtomicU64,
    pub meta: ShardMeta,
    pub shard_id: String,
    next_seq: AtomicU64,
    last_arrival_millis: AtomicU64,
    trim_seq: AtomicU64,
    pub tail: RwLock<Tail>,
    head_tx: watch::Sender<u64>,
    deleted: AtomicBool,
}

impl ShardState {
    pub fn new(
        stream: &StreamMeta,
        meta: ShardMeta,
        next_seq: u64,
        last_arrival_millis: u64,
        trim_seq: u64,
        tail_max_bytes: usize,
    ) -> Self {
        let (head_tx, _) = watch::channel(next_seq);
        Self {
            stream_id: stream.id,
            stream_name: stream.name.clone(),
            retention_millis: AtomicU64::new(stream.retention_millis()),
            shard_id: meta.shard_id(),
            meta,
            next_seq: AtomicU64::new(next_seq),
            last_arrival_millis: AtomicU64::new(last_arrival_millis),
            trim_seq: AtomicU64::new(trim_seq),
            tail: RwLock::new(Tail::new(next_seq, tail_max_bytes)),
            head_tx,
            deleted: AtomicBool::new(false),
        }
    }

    /// Records older than this are expired (the stream's retention, which may change).
    pub fn retention_millis(&self) -> u64 {
        self.retention_millis.load(Ordering::Acquire)
    }

    pub fn set_retention_millis(&self, millis: u64) {
        self.retention_millis.store(millis, Ordering::Release);
    }

    /// The next sequence number the writer will assign (writer's view).
    pub fn next_seq(&self) -> u64 {
        self.next_seq.load(Ordering::Acquire)
    }

    pub fn set_next_seq(&self, seq: u64) {
        self.next_seq.store(seq, Ordering::Release);
    }

    pub fn last_arrival_millis(&self) -> u64 {
        self.last_arrival_millis.load(Ordering::Acquire)
    }

    pub fn set_last_arrival_millis(&self, millis: u64) {
        self.last_arrival_millis.store(millis, Ordering::Release);
    }

    /// Sequence numbers below this one are trimmed (retention) and never returned.
    pub fn trim_seq(&self) -> u64 {
        self.trim_seq.load(Ordering::Acquire)
    }

    pub fn raise_trim_seq(&self, seq: u64) {
        self.trim_seq.fetch_max(seq, Ordering::AcqRel);
    }

    /// The exclusive end of what readers may see: every record below it is committed.
    pub fn head_seq_exclusive(&self) -> u64 {
        *self.head_tx.borrow()
    }

    pub fn publish_head(&self, next_seq: u64) {
        self.head_tx.send_replace(next_seq);
    }

    pub fn subscribe_head(&self) -> watch::Receiver<u64> {
        self.head_tx.subscribe()
    }

    pub fn is_deleted(&self) -> bool {
        self.deleted.load(Ordering::Acquire)
    }

    /// Marks the shard deleted (or not, when the delete failed) and wakes its readers.
    pub fn set_deleted(&self, deleted: bool) {
        self.deleted.store(deleted, Ordering::Release);
        self.head_tx.send_modify(|_| {});
    }
}

/// One stream while the log is open.
#[derive(Debug)]
pub(crate) struct StreamState {
    pub meta: StreamMeta,
    pub shards: Vec<Arc<ShardState>>,
    /// Open shards as (starting hash key, shard position in `shards`), sorted by key.
    routes: Vec<(u128, usize)>,
}

impl StreamState {
    pub fn new(meta: StreamMeta, shards: Vec<Arc<ShardState>>) -> Self {
        let mut routes: Vec<(u128, usize)> = shards
            .iter()
            .enumerate()
            .filter(|(_, shard)| shard.meta.is_open())
            .map(|(position, shard)| (shard.meta.hash_key_range.start_inclusive, position))
            .collect();
        routes.sort_unstable();
        Self {
            meta,
            shards,
            routes,
        }
    }

    /// The position in `shards` of the open shard whose hash-key range holds `hash_key`,
    /// by binary search.
    pub fn route(&self, hash_key: u128) -> Option<usize> {
        let after = self.routes.partition_point(|(start, _)| *start <= hash_key);
        let (_, position) = self.routes.get(after.checked_sub(1)?)?;
        self.shards[*position]
            .meta
            .hash_key_range
            .contains(hash_key)
            .then_some(*position)
    }

    pub fn shard(&self, shard_id: &str) -> Result<&Arc<ShardState>, NotFound> {
        shard_index_of_id(shard_id)
            .and_then(|index| self.shards.iter().find(|s| s.meta.index == index))
            .ok_or_else(|| NotFound::Shard {
                stream: self.meta.name.clone(),
                shard_id: shard_id.to_string(),
            })
    }

    pub fn is_deleted(&self) -> bool {
        self.shards.first().is_some_and(|shard| shard.is_deleted())
    }
}

/// Streams by name. Only the writer thread inserts and removes.
#[derive(Debug, Default)]
pub(crate) struct Catalog {
    streams: RwLock<HashMap<String, Arc<StreamState>>>,
}

impl Catalog {
    pub fn get(&self, name: &str) -> Result<Arc<StreamState>, NotFound> {
        self.streams
            .read()
            .get(name)
            .cloned()
            .ok_or_else(|| NotFound::Stream(name.to_string()))
    }

    pub fn contains(&self, name: &str) -> bool {
        self.streams.read().contains_key(name)
    }

    pub fn len(&self) -> usize {
        self.streams.read().len()
    }

    pub fn insert(&self, stream: Arc<StreamState>) {
        self.streams
            .write()
            .insert(stream.meta.name.clone(), stream);
    }

    pub fn remove(&self, name: &str) {
        self.streams.write().remove(name);
    }

    pub fn all(&self) -> Vec<Arc<StreamState>> {
        let mut streams: Vec<_> = self.streams.read().values().cloned().collect();
        streams.sort_by(|a, b| a.meta.name.cmp(&b.meta.name));
        streams
    }
}

/// A stream `s` of `shard_count` even shards, all empty, for unit tests.
#[cfg(test)]
pub(crate) fn test_stream(shard_count: u32) -> StreamState {
    let meta = StreamMeta::with_even_shards(1, "s".into(), 24, 0, shard_count);
    let shards = meta
        .shards
        .iter()
        .map(|s| Arc::new(ShardState::new(&meta, s.clone(), 0, 0, 0, 1024)))
        .collect();
    StreamState::new(meta, shards)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(shard_count: u32) -> StreamState {
        test_stream(shard_count)
    }

    #[test]
    fn routes_every_key_to_the_shard_that_holds_it() {
        let stream = stream(4);
        let quarter = u128::MAX / 4;
        for (hash_key, expected) in [(0, 0), (quarter, 0), (quarter + 1, 1), (u128::MAX, 3)] {
            assert_eq!(
                stream.shards[stream.route(hash_key).unwrap()].meta.index,
                expected,
                "{hash_key}"
            );
        }
        for hash_key in (0..1000u128).map(|i| i.wrapping_mul(0x9e3779b97f4a7c15_f39cc0605cedc834)) {
            let shard = &stream.shards[stream.route(hash_key).unwrap()];
            assert!(shard.meta.hash_key_range.contains(hash_key));
        }
    }

    #[test]
    fn finds_shards_by_id() {
        let stream = stream(2);
        assert_eq!(stream.shard("shardId-000000000001").unwrap().meta.index, 1);
        assert!(matches!(
            stream.shard("shardId-000000000002"),
            Err(NotFound::Shard { .. })
        ));
        assert!(stream.shard("nonsense").is_err());
    }
}
