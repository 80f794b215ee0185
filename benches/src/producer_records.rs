//! The records one producer puts, shared by every put workload and by the raw-RocksDB
//! ceiling, so that the ceiling writes the very bytes eddy and the peers are sent.
//!
//! Each producer has one random payload of the record size, repeated (the records of one
//! source look alike, and random bytes keep compression from making them free), and 1024
//! random partition keys of 32 hex characters (`KEY_BYTES`), used in rotation.

use bytes::Bytes;
use rand::{Rng, RngCore};

/// Bytes of every partition key.
pub const KEY_BYTES: usize = 32;
const KEYS_PER_PRODUCER: usize = 1024;

pub struct ProducerRecords {
    data: Bytes,
    keys: Vec<String>,
    next_key: usize,
}

impl ProducerRecords {
    pub fn new(record_size: usize) -> Self {
        let mut rng = rand::rng();
        let mut data = vec![0u8; record_size];
        rng.fill_bytes(&mut data);
        let keys = (0..KEYS_PER_PRODUCER)
            .map(|_| format!("{:032x}", rng.random::<u128>()))
            .collect();
        Self {
            data: Bytes::from(data),
            keys,
            next_key: 0,
        }
    }

    /// The payload of every record of this producer.
    pub fn data(&self) -> &Bytes {
        &self.data
    }

    /// The next partition key in rotation.
    pub fn next_key(&mut self) -> &str {
        self.next_key = (self.next_key + 1) % self.keys.len();
        &self.keys[self.next_key]
    }

    /// The next `count` records as (partition key, data) pairs.
    pub fn next_batch(&mut self, count: usize) -> Vec<(String, Bytes)> {
        (0..count)
            .map(|_| (self.next_key().to_owned(), self.data.clone()))
            .collect()
    }
}
