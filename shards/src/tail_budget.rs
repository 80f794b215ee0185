//! How much memory the in-memory tails may hold: one total for the whole log, split evenly
//! across every shard of every stream, and never more than a bound per shard.
//!
//! Without a total, a server's tail memory grew with its shard count (64 shards × 8 MiB =
//! 512 MiB), which an operator cannot plan for and which a fresh server first has to fault
//! in page by page. With it, a few shards keep their full per-shard tail, and many shards
//! share the total: at 64 MiB over 64 shards each tail holds 1 MiB, more than a second of
//! records at Kinesis's per-shard write limit of 1 MB/s.
//!
//! The bound counts records' bytes (see [`crate::record::Record::num_bytes`]), not the
//! memory behind them: a tail's records are slices of per-request slabs, so a shard may
//! also pin the rest of the slab its oldest record lies in (at most one request's records
//! for that shard, up to 5 MiB). A record bigger than its shard's bound does not stay in
//! the tail at all; readers get it from RocksDB.
//!
//! Invariant: after every change to the set of streams (create, delete, open), every
//! shard's tail bound is `bytes_per_shard(total shard count)`; only the writer thread
//! changes that set, and it applies the bound before anyone can write to a new shard.

use tracing::info;

use crate::shard::Catalog;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TailBudget {
    /// All tails together hold at most this many bytes.
    pub total_bytes: usize,
    /// One shard's tail holds at most this many bytes, however few shards there are.
    pub max_bytes_per_shard: usize,
}

impl TailBudget {
    /// Each shard's bound when the log has `shard_count` shards.
    pub fn bytes_per_shard(self, shard_count: usize) -> usize {
        (self.total_bytes / shard_count.max(1)).min(self.max_bytes_per_shard)
    }

    /// Sets every shard's tail bound for the current set of shards, evicting the oldest
    /// records of tails that now hold too much.
    pub(crate) fn apply(self, catalog: &Catalog) {
        let streams = catalog.all();
        let shard_count = streams.iter().map(|stream| stream.shards.len()).sum();
        let bound = self.bytes_per_shard(shard_count);
        info!(
            shards = shard_count,
            tail_bytes_per_shard = bound,
            tail_max_bytes_total = self.total_bytes,
            "tail memory split over the shards"
        );
        for shard in streams.iter().flat_map(|stream| stream.shards.iter()) {
            shard.tail.write().set_max_bytes(bound);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_the_total_and_caps_each_shard() {
        let budget = TailBudget {
            total_bytes: 64 << 20,
            max_bytes_per_shard: 8 << 20,
        };
        assert_eq!(budget.bytes_per_shard(0), 8 << 20);
        assert_eq!(budget.bytes_per_shard(4), 8 << 20);
        assert_eq!(budget.bytes_per_shard(8), 8 << 20);
        assert_eq!(budget.bytes_per_shard(64), 1 << 20);
        assert_eq!(budget.bytes_per_shard(1 << 20), 64);
    }
}
