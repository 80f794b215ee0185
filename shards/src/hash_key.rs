//! Kinesis routing: the 128-bit hash-key space, MD5 of partition keys, and even splits.

mod md5_lanes;

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

/// The hash key of a partition key: MD5 of its UTF-8 bytes as a big-endian `u128`.
///
/// The key is hashed as given: it is never normalised, so the NFC and NFD forms of the
/// same text are different keys, as in Kinesis.
pub fn hash_key_of_partition_key(partition_key: &str) -> u128 {
    let digest = Md5::digest(partition_key.as_bytes());
    u128::from_be_bytes(digest.into())
}

/// [`hash_key_of_partition_key`] of each key, in order; eight at a time where the CPU
/// allows (see [`md5_lanes`]).
pub fn hash_keys_of_partition_keys(partition_keys: &[&str]) -> Vec<u128> {
    md5_lanes::md5_of_each(partition_keys)
}

/// Parses an `ExplicitHashKey`: a decimal string matching `0|[1-9][0-9]{0,38}`, at most
/// 2^128−1. Returns `None` when it is not one.
pub fn parse_explicit_hash_key(text: &str) -> Option<u128> {
    let bytes = text.as_bytes();
    if bytes.is_empty() || bytes.len() > 39 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if bytes.len() > 1 && bytes[0] == b'0' {
        return None;
    }
    text.parse::<u128>().ok()
}

/// An inclusive range of hash keys owned by one shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HashKeyRange {
    pub start_inclusive: u128,
    pub end_inclusive: u128,
}

impl HashKeyRange {
    pub fn contains(&self, hash_key: u128) -> bool {
        self.start_inclusive <= hash_key && hash_key <= self.end_inclusive
    }

    /// Splits the whole 128-bit space into `shard_count` contiguous ranges that differ in
    /// size by at most one, as Kinesis does at stream creation.
    ///
    /// # Panics
    /// When `shard_count` is 0; callers validate it first.
    pub fn split_evenly(shard_count: u32) -> Vec<HashKeyRange> {
        assert!(shard_count > 0, "shard_count must be positive");
        let count = u128::from(shard_count);
        // The space has 2^128 keys; (2^128) / n computed without overflow.
        let base = u128::MAX / count;
        let remainder = u128::MAX % count + 1; // (2^128) mod n, possibly == n
        let (base, remainder) = if remainder == count {
            (base + 1, 0)
        } else {
            (base, remainder)
        };
        let mut ranges = Vec::with_capacity(shard_count as usize);
        let mut start = 0u128;
        for index in 0..count {
            let size = base + u128::from(index < remainder);
            let end = start.wrapping_add(size).wrapping_sub(1);
            ranges.push(HashKeyRange {
                start_inclusive: start,
                end_inclusive: end,
            });
            start = end.wrapping_add(1);
        }
        ranges
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_routing_matches_kinesis_example() {
        // MD5("a") = 0cc175b9c0f1b6a831c399e269772661.
        assert_eq!(
            hash_key_of_partition_key("a"),
            0x0cc175b9c0f1b6a831c399e269772661
        );
    }

    #[test]
    fn partition_keys_are_not_normalised() {
        let nfc = "\u{00e9}";
        let nfd = "e\u{0301}";
        assert_ne!(
            hash_key_of_partition_key(nfc),
            hash_key_of_partition_key(nfd)
        );
    }

    #[test]
    fn explicit_hash_keys_are_strict_decimal() {
        assert_eq!(parse_explicit_hash_key("0"), Some(0));
        assert_eq!(
            parse_explicit_hash_key("340282366920938463463374607431768211455"),
            Some(u128::MAX)
        );
        for bad in [
            "",
            "01",
            "-1",
            "+1",
            " 1",
            "1.0",
            "340282366920938463463374607431768211456",
            "9999999999999999999999999999999999999999",
        ] {
            assert_eq!(parse_explicit_hash_key(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn even_split_covers_the_space_without_gaps() {
        for count in [1u32, 2, 3, 4, 7, 64, 1000] {
            let ranges = HashKeyRange::split_evenly(count);
            assert_eq!(ranges.len(), count as usize);
            assert_eq!(ranges[0].start_inclusive, 0);
            assert_eq!(ranges.last().unwrap().end_inclusive, u128::MAX);
            for pair in ranges.windows(2) {
                assert_eq!(pair[0].end_inclusive + 1, pair[1].start_inclusive);
            }
            let sizes: Vec<u128> = ranges
                .iter()
                .map(|r| r.end_inclusive - r.start_inclusive)
                .collect();
            let max = sizes.iter().max().unwrap();
            let min = sizes.iter().min().unwrap();
            assert!(max - min <= 1, "count {count}");
        }
    }

    #[test]
    fn two_shards_split_at_the_midpoint_like_kinesis() {
        let ranges = HashKeyRange::split_evenly(2);
        assert_eq!(
            ranges[0].end_inclusive,
            170141183460469231731687303715884105727
        );
        assert_eq!(
            ranges[1].start_inclusive,
            170141183460469231731687303715884105728
        );
    }
}
