//! The records one producer puts, shared by every put workload and by the raw-RocksDB
//! ceiling, so that the ceiling writes the very bytes eddy and the peers are sent.
//!
//! Each producer has distinct random payloads of the record size, at least 16 and at
//! least 64 KiB of them, used in rotation, and 1024 random partition keys of 32 hex
//! characters (`KEY_BYTES`), used in rotation too. Random bytes keep compression from
//! making records free, and no two records within 64 KiB of each other repeat a payload,
//! so compressing a storage block (RocksDB's are 4 KiB) or a window of LZ4 (64 KiB) finds
//! nothing to gain. (Reports made before December 2026 had each producer repeat one
//! payload: eddy's LZ4-compressed SST blocks shrank that about 4×, and no peer compresses.)

use bytes::Bytes;
use rand::{Rng, RngCore};

/// What the reports say of the records put.
pub const DESCRIPTION: &str = "W1–W3 put random payloads, each producer rotating through \
    distinct ones (none repeats within 64 KiB, so they do not compress), with 32-character \
    partition keys; eddy stores records uncompressed (its default) and so does the raw \
    RocksDB ceiling";

/// Bytes of every partition key.
pub const KEY_BYTES: usize = 32;
const KEYS_PER_PRODUCER: usize = 1024;
/// At least this many distinct payloads per producer...
const MIN_PAYLOADS: usize = 16;
/// ...and at least this many bytes of them: LZ4's window.
const MIN_PAYLOAD_BYTES: usize = 64 * 1024;

pub struct ProducerRecords {
    /// Distinct random payloads, slices of one buffer.
    payloads: Vec<Bytes>,
    next_payload: usize,
    keys: Vec<String>,
    next_key: usize,
}

impl ProducerRecords {
    pub fn new(record_size: usize) -> Self {
        let mut rng = rand::rng();
        let count = MIN_PAYLOADS.max(MIN_PAYLOAD_BYTES.div_ceil(record_size.max(1)));
        let mut buffer = vec![0u8; count * record_size];
        rng.fill_bytes(&mut buffer);
        let buffer = Bytes::from(buffer);
        let payloads = (0..count)
            .map(|n| buffer.slice(n * record_size..(n + 1) * record_size))
            .collect();
        let keys = (0..KEYS_PER_PRODUCER)
            .map(|_| format!("{:032x}", rng.random::<u128>()))
            .collect();
        Self {
            payloads,
            next_payload: 0,
            keys,
            next_key: 0,
        }
    }

    /// The next payload in rotation.
    pub fn next_data(&mut self) -> Bytes {
        self.next_payload = (self.next_payload + 1) % self.payloads.len();
        self.payloads[self.next_payload].clone()
    }

    /// The next partition key in rotation.
    pub fn next_key(&mut self) -> &str {
        self.next_key = (self.next_key + 1) % self.keys.len();
        &self.keys[self.next_key]
    }

    /// The next `count` records as (partition key, data) pairs.
    pub fn next_batch(&mut self, count: usize) -> Vec<(String, Bytes)> {
        (0..count)
            .map(|_| (self.next_key().to_owned(), self.next_data()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_payload_repeats_within_64_kib_of_records() {
        for record_size in [1, 100, 1024, 65_536] {
            let mut records = ProducerRecords::new(record_size);
            let window = MIN_PAYLOAD_BYTES.div_ceil(record_size).max(MIN_PAYLOADS);
            let payloads: Vec<Bytes> = (0..window).map(|_| records.next_data()).collect();
            assert!(payloads.iter().all(|p| p.len() == record_size));
            let distinct: std::collections::HashSet<&[u8]> =
                payloads.iter().map(|p| &p[..]).collect();
            // One-byte payloads can collide by chance; longer ones cannot in practice.
            if record_size >= 100 {
                assert_eq!(distinct.len(), window, "record size {record_size}");
            }
        }
    }
}
