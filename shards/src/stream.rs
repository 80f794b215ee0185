//! The persisted description of streams and shards (what lives in the `meta` column
//! family), including shard lineage so that split and merge can come later.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::hash_key::HashKeyRange;

/// Stream ids are never reused, so a stream re-created under an old name shares no keys
/// with its predecessor.
pub type StreamId = u32;

/// The id of the first stream created in a fresh data dir.
pub const STREAM_ID_FIRST: StreamId = 1;

/// Formats a shard index the way Kinesis names shards: `shardId-000000000007`.
pub fn shard_id_of_index(index: u32) -> String {
    // Written by hand: every acknowledged record carries its shard id, and `format!`'s
    // padding machinery cost about 2 % of the put path's CPU.
    const PREFIX: &[u8] = b"shardId-";
    let mut id = [b'0'; PREFIX.len() + 12];
    id[..PREFIX.len()].copy_from_slice(PREFIX);
    let mut rest = index;
    // A u32 has at most 10 digits, so 12 always hold it.
    for digit in id.iter_mut().rev().take(10) {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    String::from_utf8(id.to_vec()).expect("ASCII digits")
}

/// Parses `shardId-NNNNNNNNNNNN` back into its index. Kinesis also accepts the bare
/// 12-digit suffix, so this does too.
pub fn shard_index_of_id(shard_id: &str) -> Option<u32> {
    let digits = shard_id.strip_prefix("shardId-").unwrap_or(shard_id);
    if digits.len() != 12 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardMeta {
    pub index: u32,
    pub hash_key_range: HashKeyRange,
    /// The first sequence number this shard hands out.
    pub starting_seq: u64,
    /// Set when the shard is closed: its last sequence number.
    pub ending_seq_opt: Option<u64>,
    pub parent_index_opt: Option<u32>,
    pub adjacent_parent_index_opt: Option<u32>,
}

impl ShardMeta {
    pub fn shard_id(&self) -> String {
        shard_id_of_index(self.index)
    }

    pub fn is_open(&self) -> bool {
        self.ending_seq_opt.is_none()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamMeta {
    pub id: StreamId,
    pub name: String,
    pub retention_hours: u32,
    pub created_at_millis: u64,
    pub shards: Vec<ShardMeta>,
    /// Kinesis tags (metadata only).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

impl StreamMeta {
    /// A new stream whose `shard_count` open shards split the hash-key space evenly.
    pub fn with_even_shards(
        id: StreamId,
        name: String,
        retention_hours: u32,
        created_at_millis: u64,
        shard_count: u32,
    ) -> Self {
        let shards = HashKeyRange::split_evenly(shard_count)
            .into_iter()
            .enumerate()
            .map(|(index, hash_key_range)| ShardMeta {
                index: index as u32,
                hash_key_range,
                starting_seq: 0,
                ending_seq_opt: None,
                parent_index_opt: None,
                adjacent_parent_index_opt: None,
            })
            .collect();
        Self {
            id,
            name,
            retention_hours,
            created_at_millis,
            shards,
            tags: BTreeMap::new(),
        }
    }

    pub fn open_shard_count(&self) -> u32 {
        self.shards.iter().filter(|shard| shard.is_open()).count() as u32
    }

    pub fn retention_millis(&self) -> u64 {
        u64::from(self.retention_hours) * 3_600_000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_ids_round_trip() {
        assert_eq!(shard_id_of_index(7), "shardId-000000000007");
        assert_eq!(shard_id_of_index(0), "shardId-000000000000");
        assert_eq!(shard_id_of_index(1234567890), "shardId-001234567890");
        assert_eq!(shard_id_of_index(u32::MAX), "shardId-004294967295");
        assert_eq!(shard_index_of_id("shardId-000000000007"), Some(7));
        assert_eq!(shard_index_of_id("000000000012"), Some(12));
        assert_eq!(shard_index_of_id("shardId-7"), None);
        assert_eq!(shard_index_of_id("shardId-00000000000x"), None);
        assert_eq!(shard_index_of_id(""), None);
    }
}
